#include "headroom/graph/op.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace headroom {

std::string_view to_string(Phase p) { return p == Phase::Prefill ? "prefill" : "decode"; }

std::string_view to_string(OpKind k) {
  switch (k) {
    case OpKind::Embedding: return "embedding";
    case OpKind::RmsNorm: return "rmsnorm";
    case OpKind::Gemm: return "gemm";
    case OpKind::Rope: return "rope";
    case OpKind::KvWrite: return "kv_write";
    case OpKind::Attention: return "attention";
    case OpKind::Swiglu: return "swiglu";
    case OpKind::Residual: return "residual";
    case OpKind::MoeRouter: return "moe_router";
    case OpKind::MoeExperts: return "moe_experts";
    case OpKind::Collective: return "collective";
    case OpKind::Copy: return "copy";
    case OpKind::Read: return "read";
    case OpKind::Write: return "write";
    case OpKind::Launch: return "launch";
  }
  return "?";
}

std::string_view to_string(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::AllReduce: return "all_reduce";
    case CollectiveKind::AllGather: return "all_gather";
    case CollectiveKind::ReduceScatter: return "reduce_scatter";
    case CollectiveKind::AllToAll: return "all_to_all";
  }
  return "?";
}

double gemm_output_bytes(DType dtype) {
  switch (dtype) {
    case DType::FP8:
    case DType::FP4:
    case DType::INT4: return 2.0;  // low-precision GEMMs write bf16
    case DType::INT8: return 4.0;  // int32 accumulators
    default: return bytes_per_element(dtype);
  }
}

Op make_gemm(std::string name, int64_t m, int64_t n, int64_t k, DType dtype, int64_t batch) {
  Op op;
  op.name = std::move(name);
  op.kind = OpKind::Gemm;
  op.dtype = dtype;
  op.shape = GemmShape{m, n, k, batch};
  const double b = static_cast<double>(batch);
  const double e = bytes_per_element(dtype);
  op.flops = Flops(2.0 * b * m * n * k);
  op.weight_bytes = Bytes(b * n * k * e);
  op.bytes_read = Bytes(b * m * k * e) + op.weight_bytes;
  op.bytes_written = Bytes(b * m * n * gemm_output_bytes(dtype));
  return op;
}

double kv_row_elements(const AttentionShape& s) { return s.shared_kv ? s.qk_dim : s.qk_dim + s.v_dim; }

Op make_attention(std::string name, AttentionShape s, DType dtype, DType kv_dtype) {
  Op op;
  op.name = std::move(name);
  op.kind = OpKind::Attention;
  op.dtype = dtype;
  s.kv_bits = static_cast<float>(8.0 * bytes_per_element(kv_dtype));
  op.shape = s;
  // Score pairs (query, key) per head: causal prefill keeps the lower triangle, offset by the
  // keys already cached (kv_len - q_len).
  double pairs = static_cast<double>(s.q_len) * s.kv_len;
  if (s.causal && s.q_len > 1) {
    const double past = static_cast<double>(s.kv_len - s.q_len);
    pairs = s.q_len * past + s.q_len * (s.q_len + 1) / 2.0;
  }
  const double bh = static_cast<double>(s.batch) * s.heads;
  op.flops = Flops(2.0 * bh * pairs * (s.qk_dim + s.v_dim));
  const double e = bytes_per_element(dtype);
  const double ekv = bytes_per_element(kv_dtype);
  const double q = static_cast<double>(s.batch) * s.q_len * s.heads * s.qk_dim * e;
  const double o = static_cast<double>(s.batch) * s.q_len * s.heads * s.v_dim * e;
  const double kv = static_cast<double>(s.batch) * s.kv_len * s.kv_heads * kv_row_elements(s) * ekv;
  op.bytes_read = Bytes(q + kv);
  op.bytes_written = Bytes(o);
  if (ekv < 2.0 && ekv < e) op.dequant_elements = kv / ekv;  // an 8-bit (fp8) cache: converted as it is read
  return op;
}

Op make_row_op(std::string name, OpKind kind, int64_t rows, int64_t width, DType dtype) {
  Op op;
  op.name = std::move(name);
  op.kind = kind;
  op.dtype = dtype;
  op.shape = RowShape{rows, width};
  const double n = static_cast<double>(rows) * width;
  const double e = bytes_per_element(dtype);
  switch (kind) {
    case OpKind::RmsNorm:  // x^2, sum, rsqrt-scale, weight multiply
      op.flops = Flops(4.0 * n);
      op.weight_bytes = Bytes(width * e);
      op.bytes_read = Bytes(n * e) + op.weight_bytes;
      op.bytes_written = Bytes(n * e);
      break;
    case OpKind::Swiglu:  // width = inter; input [rows, 2*inter]; silu ~4 FLOP + 1 multiply
      op.flops = Flops(5.0 * n);
      op.bytes_read = Bytes(2.0 * n * e);
      op.bytes_written = Bytes(n * e);
      break;
    case OpKind::Residual:  // x + y: PyTorch's vectorized kernel
      op.flops = Flops(n);
      op.bytes_read = Bytes(2.0 * n * e);
      op.bytes_written = Bytes(n * e);
      op.light_kernels = 1;
      break;
    case OpKind::Rope:  // width = rotated elements per row (q and k heads x head_dim)
      op.flops = Flops(3.0 * n);
      op.bytes_read = Bytes(n * e);
      op.bytes_written = Bytes(n * e);
      break;
    case OpKind::Embedding:  // gather rows of the table
      op.flops = Flops(0.0);
      op.bytes_read = Bytes(n * e);
      op.bytes_written = Bytes(n * e);
      break;
    default:
      op.bytes_read = Bytes(n * e);
      op.bytes_written = Bytes(n * e);
      break;
  }
  return op;
}

Op make_kv_write(std::string name, int64_t tokens, int64_t width, DType kv_dtype) {
  Op op = make_row_op(std::move(name), OpKind::KvWrite, tokens, width, kv_dtype);
  op.flops = Flops(0.0);
  return op;
}

namespace {
// An eager implementation's accounting: its kernel launches and the bytes it reads and writes
// per element of the op's rows x width (intermediates included).
void set_impl(Op& op, Impl impl, int kernels, double read_per_element, double written_per_element) {
  const auto& r = op.as<RowShape>();
  const double n = static_cast<double>(r.rows) * r.width;
  op.impl = impl;
  op.kernels = kernels;
  op.bytes_read = Bytes(read_per_element * n) + op.weight_bytes;
  op.bytes_written = Bytes(written_per_element * n);
}
}  // namespace

Op make_rmsnorm(std::string name, int64_t rows, int64_t width, DType dtype, Impl impl) {
  Op op = make_row_op(std::move(name), OpKind::RmsNorm, rows, width, dtype);
  if (impl == Impl::TorchReference) {
    // Hugging Face Llama: xf = x.float() [r2 w4]; xf.pow(2) [r4 w4]; .mean(-1) [r4]; + eps;
    // rsqrt (both per row); xf * r [r4 w4]; .to(bf16) [r4 w2]; w * . [r2 w2]: 8 kernels,
    // 20 B read and 16 B written per element (bf16 in, fp32 intermediates).
    set_impl(op, impl, 8, 20.0, 16.0);
    // Profiled (traces/h200/profile/norm_kernels.jsonl): pow, + eps, rsqrt and the cast back run
    // PyTorch's vectorized kernel; the upcast (unrolled), the mean (reduce_kernel) and the two
    // broadcast multiplies do not.
    op.light_kernels = 4;
  } else if (impl == Impl::TorchFunctional) {
    // F.rms_norm: one fused row kernel, x read [r2] and written [w2] once (a second read of rows
    // too long to hold on chip is the cost model's: AnalyticalCostModel::elementwise_stream).
    // One kernel: at one token its stream time exceeds its CUDA-graph time by one kernel's
    // launch difference (traces/h200/norm.jsonl ms vs ms_graph).
    set_impl(op, impl, 1, 2.0, 2.0);
  }
  return op;
}

Op make_swiglu(std::string name, int64_t rows, int64_t inter, DType dtype, Impl impl) {
  Op op = make_row_op(std::move(name), OpKind::Swiglu, rows, inter, dtype);
  if (impl == Impl::TorchReference) {
    // F.silu(a) [r2 w2] then * b [r4 w2] per output element (bf16): 2 kernels; a and b are
    // halves of one tensor (x.chunk), so both kernels read non-contiguous views.
    set_impl(op, impl, 2, 6.0, 4.0);
    op.strided = true;
  }
  return op;
}

Op make_rope(std::string name, int64_t rows, int64_t width, int tensors, DType dtype, Impl impl) {
  Op op = make_row_op(std::move(name), OpKind::Rope, rows, width, dtype);
  if (impl == Impl::TorchReference) {
    // Rotate-half per tensor: x*cos [r2 w2]; -x2 [r1 w1]; cat [r2 w2]; *sin [r2 w2];
    // add [r4 w2]: 5 kernels, 11 B read and 9 B written per bf16 element.
    set_impl(op, impl, 5 * tensors, 11.0, 9.0);
    op.strided = true;  // q and k are views into the fused qkv output
  }
  return op;
}

double balanced_experts_touched(int64_t local, int64_t global, double copies) {
  if (global <= 0) return 0.0;
  return static_cast<double>(local) * std::min(1.0, copies / static_cast<double>(global));
}

double expected_experts_touched(int64_t experts, int64_t top_k, int64_t tokens) {
  if (experts <= 0 || tokens <= 0) return 0.0;
  const double p_miss = std::pow(1.0 - static_cast<double>(top_k) / experts, static_cast<double>(tokens));
  return experts * (1.0 - p_miss);
}

std::vector<double> zipf_inclusion(int64_t experts, int64_t top_k, double skew) {
  // Inclusion probabilities proportional to the Zipf weights, summing to top_k, none above 1:
  // the experts that would exceed 1 are always chosen and the rest share the remaining picks.
  const auto n = static_cast<size_t>(std::max<int64_t>(0, experts));
  std::vector<double> w(n), p(n);
  std::vector<bool> capped(n, false);
  for (size_t i = 0; i < n; ++i) w[i] = std::pow(static_cast<double>(i + 1), -skew);
  for (bool over = true; over;) {
    over = false;
    double free = static_cast<double>(top_k), sw = 0;
    for (size_t i = 0; i < n; ++i) {
      if (capped[i]) free -= 1.0;
      else sw += w[i];
    }
    for (size_t i = 0; i < n; ++i) {
      p[i] = capped[i] ? 1.0 : free * w[i] / sw;
      if (p[i] > 1.0 && !capped[i]) capped[i] = over = true;
    }
  }
  return p;
}

MoeLoad moe_load(int64_t experts, int64_t top_k, int64_t tokens, double skew, int64_t ep) {
  MoeLoad l;
  if (experts <= 0 || ep <= 0) return l;
  const std::vector<double> p = zipf_inclusion(experts, top_k, skew);
  for (size_t i = 0; i < p.size(); i += static_cast<size_t>(ep)) {  // GPU 0 holds experts 0, ep, 2 ep, ...
    l.share += p[i] / static_cast<double>(top_k);
    l.touched += 1.0 - std::pow(1.0 - p[i], static_cast<double>(tokens));
  }
  return l;
}

namespace {

// E[ceil(m / r)] for m ~ Binomial(n, p), each r of kMoeBlockRows, summed into out (times
// `count` experts alike). The pmf over mean +- 12 sigma (the rest is below 1e-30), from its log
// at the window's start and the ratio recurrence.
void add_binomial_blocks(double n, double p, double count, double out[3]) {
  if (n <= 0 || p <= 0) return;
  if (p >= 1) {
    for (int j = 0; j < 3; ++j) out[j] += count * std::ceil(n / static_cast<double>(kMoeBlockRows[j]));
    return;
  }
  const double mean = n * p, sd = std::sqrt(n * p * (1 - p));
  const double lo = std::max(0.0, std::floor(mean - 12 * sd - 1)), hi = std::min(n, std::ceil(mean + 12 * sd + 1));
  double logpmf = std::lgamma(n + 1) - std::lgamma(lo + 1) - std::lgamma(n - lo + 1) + lo * std::log(p) +
                  (n - lo) * std::log1p(-p);
  double pmf = std::exp(logpmf);
  const double odds = p / (1 - p);
  double acc[3] = {0, 0, 0};
  for (double m = lo; m <= hi; m += 1) {
    for (int j = 0; j < 3; ++j) acc[j] += pmf * std::ceil(m / static_cast<double>(kMoeBlockRows[j]));
    pmf *= (n - m) / (m + 1) * odds;
  }
  for (int j = 0; j < 3; ++j) out[j] += count * acc[j];
}

}  // namespace

MoeRowBlocks moe_row_blocks(const MoeShape& s) {
  MoeRowBlocks b;
  const int64_t global = s.route_experts > 0 ? s.route_experts : s.experts;
  const double n = static_cast<double>(s.route_tokens > 0 ? s.route_tokens : s.tokens);
  const int64_t stride = std::max<int64_t>(1, s.route_stride);
  b.groups = static_cast<double>(s.experts);
  if (global <= 0 || s.experts <= 0 || n <= 0) return b;
  if (s.balanced) {
    // The routed copies spread as evenly as they can: with c = n top_k copies over `global`
    // experts, c mod global experts get floor(c / global) + 1 rows and the rest floor(c / global)
    // (so with fewer copies than experts, c experts get one row each and the others none). A
    // local expert is one of the larger ones with probability (c mod global) / global.
    const double c = std::round(n * static_cast<double>(s.top_k));
    const double g = static_cast<double>(global);
    const double q = std::floor(c / g), big = (c - q * g) / g;
    for (int j = 0; j < 3; ++j) {
      const double r = static_cast<double>(kMoeBlockRows[j]);
      b.blocks[j] = b.groups * (big * std::ceil((q + 1.0) / r) + (1.0 - big) * std::ceil(q / r));
    }
    b.rows = b.groups * c / g;
    return b;
  }
  if (s.skew == 0) {  // every expert alike: one distribution
    const double p = static_cast<double>(s.top_k) / static_cast<double>(global);
    add_binomial_blocks(n, p, b.groups, b.blocks);
    b.rows = b.groups * n * p;
    return b;
  }
  const std::vector<double> p = zipf_inclusion(global, s.top_k, s.skew);
  for (int64_t g = 0; g < s.experts && g * stride < global; ++g) {
    const double pg = p[static_cast<size_t>(g * stride)];
    add_binomial_blocks(n, pg, 1.0, b.blocks);
    b.rows += n * pg;
  }
  return b;
}

Op make_moe_experts(std::string name, MoeShape s, DType dtype) {
  Op op;
  op.name = std::move(name);
  op.kind = OpKind::MoeExperts;
  op.dtype = dtype;
  if (s.experts_touched <= 0) {
    if (s.balanced) s.experts_touched = balanced_experts_touched(s.experts, s.experts, static_cast<double>(s.tokens * s.top_k));
    else if (s.skew > 0) s.experts_touched = moe_load(s.experts, s.top_k, s.tokens, s.skew, 1).touched;
    else s.experts_touched = expected_experts_touched(s.experts, s.top_k, s.tokens);
  }
  op.shape = s;
  const double e = bytes_per_element(dtype);
  const double per_expert = 3.0 * s.hidden * s.inter;  // gate, up, down
  const double routed_tokens = static_cast<double>(s.tokens) * s.top_k;
  const double shared_tokens = static_cast<double>(s.tokens) * s.shared_experts;
  op.flops = Flops(2.0 * per_expert * (routed_tokens + shared_tokens) + 5.0 * (routed_tokens + shared_tokens) * s.inter);
  op.weight_bytes = Bytes(per_expert * e * (s.experts_touched + s.shared_experts));
  // Activations: each routed copy reads hidden, writes 2*inter, reads it back, writes inter,
  // reads inter, writes hidden (gate-up -> swiglu -> down), plus the combine.
  const double act = (routed_tokens + shared_tokens) * (2.0 * s.hidden + 6.0 * s.inter) * e;
  op.bytes_read = op.weight_bytes + Bytes(act * 0.5 + s.tokens * s.hidden * e);
  op.bytes_written = Bytes(act * 0.5 + s.tokens * s.hidden * e);
  // Kernels of the reference implementations (traces/harness/torch/moe.py). grouped, as profiled
  // (traces/h200/host_ops.json): argsort (3 device copies, arange, radix sort), token index
  // (floor-divide), expert counts (2 fills, scatter-add), offsets (scan init, scan),
  // index_select, 2 grouped GEMMs (each a problem-setup kernel and the CUTLASS GEMM), silu, mul,
  // weight gather and multiply (2), zeros, index_add = 22. loop, as profiled: zeros, one_hot (fill,
  // scatter), sum, compare, nonzero (reduce, copy to host, compact, select, copy to host) = 10
  // with one host sync; then per touched expert torch.where (copy, reduce, copy to host: a sync,
  // compact, select, indices), gather, 2 GEMMs, silu, mul, weight gather, multiply, index_add = 14.
  const int touched = static_cast<int>(std::ceil(s.experts_touched));
  op.kernels = s.grouped ? 22 : 10 + 14 * touched;
  op.syncs = s.grouped ? 0 : 1 + touched;
  return op;
}

Op make_moe_router(std::string name, int64_t tokens, int64_t hidden, int64_t experts, DType dtype) {
  Op op = make_gemm(std::move(name), tokens, experts, hidden, dtype);
  op.kind = OpKind::MoeRouter;
  op.flops += Flops(6.0 * tokens * experts);  // softmax and top-k
  // The router GEMM, top-k (gatherTopK, bitonic sort), a cast to fp32, the softmax over the k
  // kept logits and the cast back: 6 kernels (Mixtral's routing as traces/harness/torch/model.py
  // writes it; profiled, traces/h200/host_ops.json).
  op.kernels = 6;
  return op;
}

Op make_collective(std::string name, CollectiveKind kind, int64_t gpus, double bytes, DType dtype) {
  Op op;
  op.name = std::move(name);
  op.kind = OpKind::Collective;
  op.dtype = dtype;
  op.shape = CollectiveShape{kind, gpus, bytes};
  const double g = static_cast<double>(gpus);
  // Bytes each rank sends with the bandwidth-optimal (ring) algorithms, NCCL's "bus" factors.
  double wire = 0;
  switch (kind) {
    case CollectiveKind::AllReduce: wire = 2.0 * (g - 1) / g * bytes; break;
    case CollectiveKind::AllGather: wire = (g - 1) * bytes; break;  // input is one shard
    case CollectiveKind::ReduceScatter: wire = (g - 1) / g * bytes; break;
    case CollectiveKind::AllToAll: wire = (g - 1) / g * bytes; break;
  }
  op.wire_bytes = Bytes(gpus > 1 ? wire : 0.0);
  if (kind == CollectiveKind::AllReduce || kind == CollectiveKind::ReduceScatter)
    op.flops = Flops(gpus > 1 ? (g - 1) / g * bytes / bytes_per_element(dtype) : 0.0);
  // Local memory traffic: read the input, write the output (all_gather's output is g x input).
  op.bytes_read = Bytes(bytes);
  op.bytes_written = Bytes(kind == CollectiveKind::AllGather   ? bytes * g
                           : kind == CollectiveKind::ReduceScatter ? bytes / g
                                                                    : bytes);
  return op;
}

Op make_stream(std::string name, OpKind kind, double bytes, bool warm_l2) {
  Op op;
  op.name = std::move(name);
  op.kind = kind;
  op.dtype = DType::FP32;
  op.shape = StreamShape{bytes, warm_l2};
  op.bytes_read = Bytes(kind == OpKind::Write ? 0.0 : bytes);
  op.bytes_written = Bytes(kind == OpKind::Read ? 0.0 : bytes);
  op.light_kernels = 1;  // one plain streaming kernel (copy, fill, sum; the harness's grid-stride loops)
  return op;
}

Op make_launch(std::string name, bool back_to_back) {
  Op op;
  op.name = std::move(name);
  op.kind = OpKind::Launch;
  op.shape = LaunchShape{back_to_back};
  return op;
}

}  // namespace headroom

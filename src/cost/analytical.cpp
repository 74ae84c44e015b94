#include "headroom/cost/analytical.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/error.hpp"

namespace headroom {

namespace {

struct Tile {
  int m, n;
  double KernelParams::*rel;  // relative efficiency parameter (nullptr = 1)
};
// CUTLASS/cuBLAS-style Hopper tile shapes (CTA tile M x N), largest first.
// (Tiles of 16 or 32 rows, for kernels that swap A and B at small batch, fitted worse on the
// measured cuBLASLt sweep: its small-m kernels pad to 64 rows.)
constexpr Tile kTiles[] = {{128, 256, nullptr}, {256, 128, nullptr}, {128, 128, &KernelParams::gemm_tile_128x128},
                           {64, 128, &KernelParams::gemm_tile_64x128}, {128, 64, &KernelParams::gemm_tile_64x128}};
// fp32 runs on the FMA units: its small-m kernels are GEMVs without padding rows.
constexpr Tile kFp32Gemv{1, 128, nullptr};
// Weight-only quantized GEMMs (Marlin-style kernels) tile the batch in 16-row steps.
constexpr Tile kMarlinTiles[] = {{16, 256, &KernelParams::gemm_tile_64x128}, {32, 256, &KernelParams::gemm_tile_64x128}};

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

OpCost finish(OpCost c) {
  c.time = std::max(c.compute, c.memory) + c.overhead;
  c.bound = c.compute >= c.memory ? Bound::Compute : Bound::Memory;
  if (c.overhead > std::max(c.compute, c.memory)) c.bound = Bound::Overhead;
  return c;
}

}  // namespace

AnalyticalCostModel::AnalyticalCostModel(const HardwareSpec& hw, OperatingPoint at)
    : AnalyticalCostModel(hw, hw.kernel_model.value_or(KernelParams{}), at) {}

AnalyticalCostModel::AnalyticalCostModel(const HardwareSpec& hw, const KernelParams& params, OperatingPoint at)
    : hw_(hw), p_(params) {
  if (at.sm_clock.value() > 0) sm_scale_ = at.sm_clock / hw.compute.clocks.boost;
  if (at.mem_clock.value() > 0 && hw.hbm.clock) mem_scale_ = at.mem_clock / *hw.hbm.clock;
  const double bw = hw.hbm.bandwidth.value() * mem_scale_;
  bw_read_ = bw * p_.hbm_read_efficiency;
  bw_write_ = bw * p_.hbm_write_efficiency;
  // The L2 runs in the SM clock domain.
  bw_l2_ = hw.hbm.bandwidth.value() * p_.l2_bandwidth_ratio * sm_scale_;
  l2_bytes_ = hw.l2.capacity.value();
  sms_ = hw.compute.sm_count;
}

Seconds AnalyticalCostModel::host_issue_time(bool cuda_graph) const {
  return host_issue_time(cuda_graph ? IssueMode::Graph : IssueMode::Torch);
}

Seconds AnalyticalCostModel::host_issue_time(IssueMode mode) const {
  switch (mode) {
    case IssueMode::Cuda: return Seconds(p_.host_issue_cuda);
    case IssueMode::Torch: return Seconds(p_.host_issue_torch);
    case IssueMode::Graph: return Seconds(0);  // the whole graph is one launch
  }
  return Seconds(0);
}

Seconds AnalyticalCostModel::host_time(const Op& op, IssueMode mode) const {
  Seconds t = host_issue_time(mode) * static_cast<double>(op.kernels);
  if (op.kind == OpKind::Collective && mode == IssueMode::Torch) t += Seconds(p_.collective_host_overhead);
  return t;
}

Seconds AnalyticalCostModel::stream(double r, double w, bool warm_l2, double efficiency) const {
  // Data already in L2 (a working set below its capacity, just written or reused) streams at the
  // L2 rate; everything else at the achievable HBM read and write rates.
  if (warm_l2 && r + w <= l2_bytes_) return Seconds((r + w) / (bw_l2_ * efficiency));
  return Seconds((r / bw_read_ + w / bw_write_) / efficiency);
}

OpCost AnalyticalCostModel::gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, double overhead,
                                 double weight_bytes, double dequant_elements) const {
  auto rate = hw_.peak_rate(d);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(d)));
  const double peak_sm = rate->value() * sm_scale_ * p_.gemm_eff(d) / sms_;
  const double e = bytes_per_element(d);
  const double out_e = gemm_output_bytes(d);
  const double b = static_cast<double>(batch);
  OpCost best;
  best.time = Seconds(1e30);
  auto consider = [&](const Tile& t) {
    const double rel = t.rel ? p_.*(t.rel) : 1.0;
    const int64_t tiles = ceil_div(m, t.m) * ceil_div(n, t.n) * batch;
    // Split-K when the tiles cannot fill the SMs and k is long enough to share (>= 256 per split).
    int64_t splits = 1;
    if (tiles < sms_) splits = std::clamp<int64_t>(sms_ / tiles, 1, std::max<int64_t>(1, k / 256));
    const int64_t ctas = tiles * splits;
    const double waves = static_cast<double>(ceil_div(ctas, sms_));
    const double k_cta = static_cast<double>(ceil_div(k, splits));
    const double t_cta = 2.0 * t.m * t.n * k_cta / (peak_sm * rel);
    const double t_c_math = waves * (t_cta + p_.gemm_wave_overhead);
    // Weights in their stored format when quantized; each CTA row of tiles expands the weights it
    // reads on the CUDA cores (Marlin-style: overlapped with the matrix math, so it adds to the
    // compute side and hides under memory time at small batch).
    const double w = weight_bytes > 0 ? weight_bytes : b * static_cast<double>(n) * k * e;
    double rd = b * static_cast<double>(m) * k * e + w;
    const double t_dq = dequant_elements * static_cast<double>(ceil_div(m, t.m)) * p_.dequant_ops_per_element /
                        (hw_.compute.vector_fp32.value() * sm_scale_);
    double wr = b * static_cast<double>(m) * n * out_e;
    if (splits > 1) {  // fp32 partial tiles written, then read back by the reduction
      rd += b * static_cast<double>(m) * n * 4.0 * splits;
      wr += b * static_cast<double>(m) * n * 4.0 * splits;
    }
    const double t_c = t_c_math + t_dq;
    const double fill = std::min(1.0, static_cast<double>(ctas) / (sms_ * p_.gemm_stream_ctas));
    const double t_m = rd / (bw_read_ * fill) + wr / (bw_write_ * fill);
    const double over = overhead + p_.gemm_overhead + (splits > 1 ? overhead : 0.0);
    const double total = std::max(t_c, t_m) + over;
    if (total < best.time.value()) {
      best.compute = Seconds(t_c);
      best.memory = Seconds(t_m);
      best.overhead = Seconds(over);
      best.time = Seconds(total);
      best.bound = t_c >= t_m ? Bound::Compute : Bound::Memory;
    }
  };
  for (const Tile& t : kTiles) consider(t);
  if (d == DType::FP32) consider(kFp32Gemv);
  if (dequant_elements > 0)
    for (const Tile& t : kMarlinTiles) consider(t);
  return best;
}

OpCost AnalyticalCostModel::attention(const Op& op, double overhead) const {
  const auto& s = op.as<AttentionShape>();
  OpCost c;
  auto rate = hw_.peak_rate(op.dtype);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(op.dtype)));
  constexpr int64_t kBlockQ = 128;  // FlashAttention-2 query block
  if (s.phase == Phase::Prefill || s.q_len > 1) {
    const double items = static_cast<double>(s.batch * s.heads * ceil_div(s.q_len, kBlockQ));
    const double waves = std::ceil(items / sms_);
    // Work spreads over waves; the last wave may be partly empty. The longest work item (the
    // last query block, which sees every key even under a causal mask) bounds the kernel from
    // below: with few items, causal attention takes as long as full attention.
    const double quant = waves / (items / sms_);
    const double rate_eff = rate->value() * sm_scale_ * p_.attn_prefill_efficiency;
    const double longest = 2.0 * std::min<int64_t>(kBlockQ, s.q_len) * s.kv_len * (s.qk_dim + s.v_dim);
    c.compute = Seconds(std::max(op.flops.value() / rate_eff * quant, longest / (rate_eff / sms_)));
    c.overhead = Seconds(waves * p_.attn_block_overhead + overhead);
    c.memory = stream(op.bytes_read.value(), op.bytes_written.value(), false);
    return finish(c);
  }
  // Decode (FlashAttention-2 with one query per sequence): the query heads of a GQA group are
  // packed into one CTA per (sequence, KV head), so each KV head is read once; when those CTAs
  // cannot fill the SMs the context is split and a combine kernel follows. An SM streaming two or
  // more KV heads at once reaches less of its bandwidth share (more concurrent DRAM streams).
  const double items = static_cast<double>(s.batch * s.kv_heads);
  const double splits = items < 0.8 * sms_ ? std::max(1.0, std::floor(sms_ / items)) : 1.0;
  const double per_sm = std::min(p_.attn_decode_ctas_per_sm, items * splits / sms_);
  const double share = per_sm <= 1.0 ? 1.0 : 1.0 - (1.0 - p_.attn_decode_shared_efficiency) * std::min(1.0, per_sm - 1.0);
  const double q_o = static_cast<double>(s.batch) * s.heads * (s.qk_dim + s.v_dim) * bytes_per_element(op.dtype);
  const double kv = op.bytes_read.value() + op.bytes_written.value() - q_o;
  c.memory = Seconds(kv / (bw_read_ * p_.attn_decode_bw_efficiency * share) + q_o / bw_write_);
  c.compute = Seconds(op.flops.value() / (rate->value() * sm_scale_ * p_.attn_prefill_efficiency) +
                      op.dequant_elements * p_.dequant_ops_per_element / (hw_.compute.vector_fp32.value() * sm_scale_));
  const double waves = std::ceil(items * splits / (sms_ * p_.attn_decode_ctas_per_sm));
  c.overhead = Seconds(waves * p_.attn_block_overhead + overhead * (splits > 1 ? 2.0 : 1.0));
  return finish(c);
}

OpCost AnalyticalCostModel::moe(const Op& op, double overhead) const {
  const auto& s = op.as<MoeShape>();
  // Routed experts: each touched expert runs gate-up, swiglu and down on its share of the
  // token copies; shared experts run on every token.
  const double touched = std::max(1.0, s.experts_touched);
  const int64_t per_expert = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(s.tokens * s.top_k / touched)));
  const int64_t groups = static_cast<int64_t>(std::ceil(touched));
  OpCost c;
  auto add = [&](const OpCost& x, double times) {
    c.compute += x.compute * times;
    c.memory += x.memory * times;
    c.overhead += x.overhead * times;
  };
  int gemm_kernels = 0;
  if (s.grouped) {
    add(gemm(per_expert, 2 * s.inter, s.hidden, groups, op.dtype, overhead), 1);
    add(gemm(per_expert, s.hidden, s.inter, groups, op.dtype, overhead), 1);
    gemm_kernels = 2;
  } else {
    add(gemm(per_expert, 2 * s.inter, s.hidden, 1, op.dtype, overhead), static_cast<double>(groups));
    add(gemm(per_expert, s.hidden, s.inter, 1, op.dtype, overhead), static_cast<double>(groups));
    gemm_kernels = 2 * static_cast<int>(groups);
  }
  if (s.shared_experts > 0) {
    add(gemm(s.tokens, 2 * s.inter * s.shared_experts, s.hidden, 1, op.dtype, overhead), 1);
    add(gemm(s.tokens, s.hidden, s.inter * s.shared_experts, 1, op.dtype, overhead), 1);
    gemm_kernels += 2;
  }
  // Gather, activation, weighting and scatter of the routed copies: PyTorch elementwise kernels
  // on data that stays in L2 when small.
  const double e = bytes_per_element(op.dtype);
  const double copies = static_cast<double>(s.tokens) * s.top_k;
  c.memory += stream(copies * (2.0 * s.hidden + 3.0 * s.inter) * e, copies * (2.0 * s.hidden + s.inter) * e, true,
                     p_.strided_elementwise_efficiency);
  c.overhead += Seconds(overhead * std::max(0, op.kernels - gemm_kernels));
  c.time = c.compute + c.memory + c.overhead;  // the kernels run one after another
  c.bound = c.compute >= c.memory ? Bound::Compute : Bound::Memory;
  return c;
}

OpCost AnalyticalCostModel::collective(const Op& op, double overhead) const {
  const auto& s = op.as<CollectiveShape>();
  OpCost c;
  if (s.gpus <= 1) {
    c.overhead = Seconds(overhead);
    c.time = c.overhead;
    c.bound = Bound::Overhead;
    return c;
  }
  // NCCL: a fixed latency that grows with the group (protocol handshakes, the slowest
  // rank), plus the bytes each rank sends (ring bus bytes, Op::wire_bytes) at the fraction of the
  // per-direction link bandwidth the algorithm reaches.
  const double g = static_cast<double>(s.gpus);
  const double eff = s.kind == CollectiveKind::AllReduce ? p_.collective_bw_efficiency : p_.collective_bw_efficiency_gather;
  c.comm = Seconds(op.wire_bytes.value() / (fabric_bandwidth(hw_).value() * eff));
  // Small all-reduces take NCCL's tree / one-shot path, whose latency hardly grows with the group
  // on one NVLink switch; the gather-type collectives' ring handshakes grow with log2 of it.
  c.overhead = Seconds(s.kind == CollectiveKind::AllReduce
                           ? p_.collective_latency
                           : p_.collective_latency_gather + (std::log2(g) - 1.0) * p_.collective_latency_per_gpu);
  c.time = c.comm + c.overhead;
  c.bound = c.comm >= c.overhead ? Bound::Communication : Bound::Overhead;
  return c;
}

OpCost AnalyticalCostModel::elementwise(const Op& op, double overhead) const {
  // Streaming kernels: copies, fills, reductions, norms, activations, residuals, RoPE, KV
  // writes, embedding gathers. Their compute is small next to their bytes.
  OpCost c;
  bool warm = false;
  if (const auto* st = std::get_if<StreamShape>(&op.shape)) warm = st->warm_l2;
  if (op.kind == OpKind::RmsNorm || op.kind == OpKind::Swiglu || op.kind == OpKind::Residual ||
      op.kind == OpKind::Rope || op.kind == OpKind::KvWrite) {
    warm = true;  // activations just written by the previous kernel
  }
  double eff = 1.0;
  if (op.impl != Impl::Fused) eff = op.strided ? p_.strided_elementwise_efficiency : p_.torch_elementwise_efficiency;
  c.memory = stream(op.bytes_read.value(), op.bytes_written.value(), warm, eff);
  c.compute = Seconds(op.flops.value() / (hw_.compute.vector_fp32.value() * sm_scale_));
  c.overhead = Seconds(overhead * op.kernels);
  return finish(c);
}

OpCost AnalyticalCostModel::cost(const Op& op, IssueMode mode) const {
  const double overhead = mode == IssueMode::Graph ? p_.graph_kernel_overhead : p_.kernel_overhead;
  switch (op.kind) {
    case OpKind::Gemm:
    case OpKind::MoeRouter: {
      const auto& g = op.as<GemmShape>();
      OpCost c = gemm(g.m, g.n, g.k, g.batch, op.dtype, overhead,
                      op.dequant_elements > 0 ? op.weight_bytes.value() : 0.0, op.dequant_elements);
      if (op.kind == OpKind::MoeRouter) {  // softmax + top-k kernels after the router GEMM
        c.overhead += Seconds(overhead * std::max(0, op.kernels - 1));
        c.time = std::max(c.compute, c.memory) + c.overhead;
      }
      return c;
    }
    case OpKind::Attention: return attention(op, overhead);
    case OpKind::MoeExperts: return moe(op, overhead);
    case OpKind::Collective: return collective(op, overhead);
    case OpKind::Launch: {
      OpCost c;
      const bool gap = op.as<LaunchShape>().back_to_back;
      c.overhead = Seconds(gap ? overhead : p_.launch_latency);
      c.time = c.overhead;
      c.bound = Bound::Overhead;
      return c;
    }
    default: return elementwise(op, overhead);
  }
}

}  // namespace headroom

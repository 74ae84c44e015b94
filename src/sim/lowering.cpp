// Op -> KernelPlans. Each lowering mirrors the analytical model's view of the same kernel
// (src/cost/analytical.cpp, cited per function) so that the two fidelities agree where the
// analytical assumptions hold, and differ only by what the simulation adds: whole waves of CTAs
// on SMs, bandwidth shared between the CTAs (and kernels) in flight, streams.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/error.hpp"
#include "headroom/sim/kernel_plan.hpp"

namespace headroom::sim {

namespace {

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Mirrors kTiles/kFp32Gemv in src/cost/analytical.cpp: CUTLASS/cuBLAS-style Hopper CTA tiles.
struct Tile {
  int m, n;
  double KernelParams::*rel;
};
constexpr Tile kTiles[] = {{128, 256, nullptr}, {256, 128, nullptr}, {128, 128, &KernelParams::gemm_tile_128x128},
                           {64, 128, &KernelParams::gemm_tile_64x128}, {128, 64, &KernelParams::gemm_tile_64x128}};
constexpr Tile kFp32Gemv{1, 128, nullptr};
// FlashAttention-2 query block (mirrors kBlockQ in analytical.cpp).
constexpr int64_t kBlockQ = 128;

}  // namespace

std::string_view to_string(Resource r) {
  switch (r) {
    case Resource::Hbm: return "hbm";
    case Resource::L2: return "l2";
    case Resource::Link: return "link";
  }
  return "?";
}

Lowering::Lowering(const HardwareSpec& hw, const KernelParams& p, OperatingPoint at, int gemm_sm_margin)
    : hw_(hw), p_(p) {
  if (hw.compute.sm_count <= 0) throw InputError(fmt::format("{}: cycle model needs sm_count > 0", hw.name));
  if (at.sm_clock.value() > 0) sm_scale_ = at.sm_clock / hw.compute.clocks.boost;
  if (at.mem_clock.value() > 0 && hw.hbm.clock) mem_scale_ = at.mem_clock / *hw.hbm.clock;
  m_.sms = hw.compute.sm_count;
  m_.sm_clock = ClockDomain(hw.compute.clocks.boost.value() * sm_scale_);
  // Without a datasheet memory clock the HBM rate is still exact; the domain is only a label.
  m_.mem_clock = ClockDomain(hw.hbm.clock ? hw.hbm.clock->value() * mem_scale_ : 1e9);
  m_.capacity[static_cast<int>(Resource::Hbm)] = hw.hbm.bandwidth.value() * mem_scale_;
  // The L2 runs in the SM clock domain (as in the analytical model).
  m_.capacity[static_cast<int>(Resource::L2)] = hw.hbm.bandwidth.value() * p_.l2_bandwidth_ratio * sm_scale_;
  m_.capacity[static_cast<int>(Resource::Link)] = fabric_bandwidth(hw).value();
  vector_per_cycle_ = hw.compute.vector_fp32.value() / hw.compute.clocks.boost.value() / m_.sms;
  l2_bytes_ = hw.l2.capacity.value();
  gemm_grid_ = std::max(1, m_.sms - std::max(0, gemm_sm_margin));
}

Tick Lowering::kernel_overhead(IssueMode mode) const {
  return seconds_to_ticks(mode == IssueMode::Graph ? p_.graph_kernel_overhead : p_.kernel_overhead);
}

double Lowering::matrix_per_cycle(DType d) const {
  auto rate = hw_.peak_rate(d);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(d)));
  return rate->value() / hw_.compute.clocks.boost.value() / m_.sms;
}

// Mirrors AnalyticalCostModel::gemm: the tile (and split-K) with the least analytical time is
// the one cuBLAS is assumed to pick; the simulation then runs its CTAs in waves.
void Lowering::lower_gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, Tick launch,
                          std::vector<KernelPlan>& out) const {
  const double per_cycle = matrix_per_cycle(d) * p_.gemm_eff(d);
  const double peak_sm = m_.sm_clock.per_second(per_cycle);  // FLOP/s, one SM at this clock
  const int sms = m_.sms;
  const double e = bytes_per_element(d);
  const double out_e = gemm_output_bytes(d);
  const double b = static_cast<double>(batch);
  const double bw_read = m_.capacity[0] * p_.hbm_read_efficiency;
  const double bw_write = m_.capacity[0] * p_.hbm_write_efficiency;
  struct Choice {
    Tile t{};
    double rel = 1;
    int64_t ctas = 0, splits = 1;
    double rd = 0, wr = 0;
    double total = 1e300;
  } best;
  auto consider = [&](const Tile& t) {
    const double rel = t.rel ? p_.*(t.rel) : 1.0;
    const int64_t tiles = ceil_div(m, t.m) * ceil_div(n, t.n) * batch;
    int64_t splits = 1;
    if (tiles < sms) splits = std::clamp<int64_t>(sms / tiles, 1, std::max<int64_t>(1, k / 256));
    const int64_t ctas = tiles * splits;
    const double waves = static_cast<double>(ceil_div(ctas, sms));
    const double k_cta = static_cast<double>(ceil_div(k, splits));
    const double t_c = waves * (2.0 * t.m * t.n * k_cta / (peak_sm * rel) + p_.gemm_wave_overhead);
    double rd = b * (static_cast<double>(m) * k + static_cast<double>(n) * k) * e;
    double wr = b * static_cast<double>(m) * n * out_e;
    if (splits > 1) {
      rd += b * static_cast<double>(m) * n * 4.0 * splits;
      wr += b * static_cast<double>(m) * n * 4.0 * splits;
    }
    const double fill = std::min(1.0, static_cast<double>(ctas) / (sms * p_.gemm_stream_ctas));
    const double t_m = rd / (bw_read * fill) + wr / (bw_write * fill);
    const double total = std::max(t_c, t_m) + (splits > 1 ? 1.0 : 0.0) * ticks_to_seconds(launch);
    if (total < best.total) best = Choice{t, rel, ctas, splits, rd, wr, total};
  };
  for (const Tile& t : kTiles) consider(t);
  if (d == DType::FP32) consider(kFp32Gemv);

  // Hopper cuBLASLt GEMMs are persistent (warp-specialized, TMA): one CTA per SM walks its tiles
  // (tile x split-K slices) round-robin, loading the next tile while it multiplies this one, so
  // memory streams across tile boundaries and only compute comes in waves. Tiles of 128x128
  // and up use most of the 228 KiB of shared memory: one CTA per SM.
  KernelPlan g;
  g.label = best.splits > 1 ? "gemm_splitk" : "gemm";
  g.work_units = best.ctas;
  g.ctas = std::min<int64_t>(best.ctas, gemm_grid_);
  g.ctas_per_sm = 1;
  const double k_cta = static_cast<double>(ceil_div(k, best.splits));
  g.cta_cycles = work_to_cycles(2.0 * best.t.m * best.t.n * k_cta, per_cycle * best.rel);
  g.cta_pipeline = seconds_to_ticks(p_.gemm_wave_overhead);
  g.cta_bytes = (best.rd / p_.hbm_read_efficiency + best.wr / p_.hbm_write_efficiency) / static_cast<double>(best.ctas);
  g.mem = Resource::Hbm;
  // analytical: a GEMM of fewer than SMs x gemm_stream_ctas tiles keeps too few loads in flight
  // to reach the HBM rate: each CTA draws at most rate / (SMs x gemm_stream_ctas). More tiles
  // reach the full rate (analytical: fill = 1).
  if (p_.gemm_stream_ctas > 0 && static_cast<double>(best.ctas) < sms * p_.gemm_stream_ctas)
    g.cta_rate_cap = m_.capacity[0] / (sms * p_.gemm_stream_ctas);
  g.launch = launch + seconds_to_ticks(p_.gemm_overhead);
  out.push_back(g);
  if (best.splits > 1) {  // the split-K reduction: a launch (its bytes are counted above)
    KernelPlan r;
    r.label = "splitk_reduce";
    r.launch = launch;
    r.library_launch = true;
    out.push_back(r);
  }
}

// Mirrors AnalyticalCostModel::stream and ::elementwise: L2-resident working sets at the L2 rate,
// everything else at the achievable HBM read and write rates, PyTorch's kernels at a fraction.
void Lowering::lower_stream(double r, double w, bool warm_l2, double efficiency, double flops, int kernels,
                            Tick launch, std::vector<KernelPlan>& out) const {
  kernels = std::max(1, kernels);
  Resource res = Resource::Hbm;
  double demand = (r / p_.hbm_read_efficiency + w / p_.hbm_write_efficiency) / efficiency;
  if (warm_l2 && r + w <= l2_bytes_) {
    res = Resource::L2;
    demand = (r + w) / efficiency;
  }
  const double per_kernel_bytes = (r + w) / kernels;
  for (int i = 0; i < kernels; ++i) {
    KernelPlan s;
    s.label = "stream";
    s.launch = launch;
    if (per_kernel_bytes > 0 || flops > 0) {
      s.ctas = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(per_kernel_bytes / kStreamCtaBytes)));
      s.ctas_per_sm = kStreamCtasPerSm;
      const double n = static_cast<double>(s.ctas) * kernels;
      s.cta_bytes = demand / n;
      s.mem = res;
      s.cta_cycles = work_to_cycles(flops / n, vector_per_cycle_);
    }
    out.push_back(s);
  }
}

// Mirrors AnalyticalCostModel::attention.
void Lowering::attention(const Op& op, Tick launch, std::vector<KernelPlan>& out) const {
  const auto& s = op.as<AttentionShape>();
  const double per_cycle = matrix_per_cycle(op.dtype) * p_.attn_prefill_efficiency;
  const int sms = m_.sms;
  KernelPlan a;
  a.launch = launch;
  a.cta_serial = seconds_to_ticks(p_.attn_block_overhead);
  a.mem = Resource::Hbm;
  if (s.phase == Phase::Prefill || s.q_len > 1) {
    // One CTA per (sequence, head, 128-query block); one resident per SM (FA2 forward, d <= 256).
    a.label = "fa2_fwd";
    a.ctas = std::max<int64_t>(1, s.batch * s.heads * ceil_div(s.q_len, kBlockQ));
    a.ctas_per_sm = 1;
    const double n = static_cast<double>(a.ctas);
    // CTAs are identical, at the average work, except that the kernel cannot end before its
    // longest item (the last query block sees every key, causal or not): one wave of few items
    // takes as long as that item (mirrors the analytical `longest` bound).
    const double longest = 2.0 * static_cast<double>(std::min<int64_t>(kBlockQ, s.q_len)) * static_cast<double>(s.kv_len) *
                           static_cast<double>(s.qk_dim + s.v_dim);
    const double waves = std::ceil(n / sms);
    a.cta_cycles = work_to_cycles(std::max(op.flops.value() / n, longest / waves), per_cycle);
    a.cta_bytes = (op.bytes_read.value() / p_.hbm_read_efficiency + op.bytes_written.value() / p_.hbm_write_efficiency) / n;
    out.push_back(a);
    return;
  }
  // Decode: one CTA per (sequence, KV head) with the GQA group packed, the context split when
  // the CTAs cannot fill the SMs (then a combine kernel follows).
  const double items = static_cast<double>(s.batch * s.kv_heads);
  const double splits = items < 0.8 * sms ? std::max(1.0, std::floor(sms / items)) : 1.0;
  const double per_sm = std::min(p_.attn_decode_ctas_per_sm, items * splits / sms);
  const double share =
      per_sm <= 1.0 ? 1.0 : 1.0 - (1.0 - p_.attn_decode_shared_efficiency) * std::min(1.0, per_sm - 1.0);
  const double q_o = static_cast<double>(s.batch) * s.heads * (s.qk_dim + s.v_dim) * bytes_per_element(op.dtype);
  const double kv = op.bytes_read.value() + op.bytes_written.value() - q_o;
  a.label = "fa2_decode";
  a.ctas = std::max<int64_t>(1, static_cast<int64_t>(items * splits));
  // The fitted occupancy is fractional (an average); an SM holds a whole number of CTAs.
  a.ctas_per_sm = std::max(1, static_cast<int>(std::lround(p_.attn_decode_ctas_per_sm)));
  const double n = static_cast<double>(a.ctas);
  a.cta_cycles = work_to_cycles(op.flops.value() / n, per_cycle);
  a.cta_bytes = (kv / (p_.hbm_read_efficiency * p_.attn_decode_bw_efficiency * share) + q_o / p_.hbm_write_efficiency) / n;
  out.push_back(a);
  if (splits > 1) {
    KernelPlan c;
    c.label = "fa2_combine";
    c.launch = launch;
    c.library_launch = true;
    out.push_back(c);
  }
}

// Mirrors AnalyticalCostModel::moe, but as the kernel sequence it describes: each GEMM runs
// pipelined on its own (the analytical model adds compute and memory of all parts instead).
void Lowering::moe(const Op& op, Tick launch, std::vector<KernelPlan>& out) const {
  const auto& s = op.as<MoeShape>();
  const double touched = std::max(1.0, s.experts_touched);
  const int64_t per_expert = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(s.tokens * s.top_k / touched)));
  const int64_t groups = static_cast<int64_t>(std::ceil(touched));
  int gemm_kernels = 0;
  auto count = [&](size_t before) {
    for (size_t i = before; i < out.size(); ++i)
      if (out[i].ctas > 0) ++gemm_kernels;
  };
  const size_t first = out.size();
  if (s.grouped) {
    lower_gemm(per_expert, 2 * s.inter, s.hidden, groups, op.dtype, launch, out);
    lower_gemm(per_expert, s.hidden, s.inter, groups, op.dtype, launch, out);
  } else {
    for (int64_t g = 0; g < groups; ++g) {
      lower_gemm(per_expert, 2 * s.inter, s.hidden, 1, op.dtype, launch, out);
      lower_gemm(per_expert, s.hidden, s.inter, 1, op.dtype, launch, out);
    }
  }
  if (s.shared_experts > 0) {
    lower_gemm(s.tokens, 2 * s.inter * s.shared_experts, s.hidden, 1, op.dtype, launch, out);
    lower_gemm(s.tokens, s.hidden, s.inter * s.shared_experts, 1, op.dtype, launch, out);
  }
  count(first);
  // The analytical model adds the expert GEMMs' compute and memory times (fitted that way on
  // traces/h200/moe.jsonl): the grouped/looped expert GEMMs are run without overlap.
  for (size_t i = first; i < out.size(); ++i) out[i].pipelined = false;
  const double e = bytes_per_element(op.dtype);
  const double copies = static_cast<double>(s.tokens) * s.top_k;
  const int rest = op.kernels - gemm_kernels;
  lower_stream(copies * (2.0 * s.hidden + 3.0 * s.inter) * e, copies * (2.0 * s.hidden + s.inter) * e, true,
               p_.strided_elementwise_efficiency, 0.0, std::max(1, rest), rest > 0 ? launch : 0, out);
}

// Mirrors AnalyticalCostModel::collective: NCCL's latency (handshakes, slowest rank) and
// ring bytes over the link at the fitted fraction of its bandwidth. The kernel holds one SM per
// channel while it runs, which is what it takes from concurrent compute.
void Lowering::collective(const Op& op, Tick launch, std::vector<KernelPlan>& out) const {
  const auto& s = op.as<CollectiveShape>();
  KernelPlan c;
  c.label = "nccl";
  if (s.gpus <= 1) {
    c.launch = launch;
    out.push_back(c);
    return;
  }
  const double g = static_cast<double>(s.gpus);
  const double eff =
      s.kind == CollectiveKind::AllReduce ? p_.collective_bw_efficiency : p_.collective_bw_efficiency_gather;
  c.ctas = std::min(kCollectiveChannels, m_.sms);
  c.ctas_per_sm = 1;
  // Small all-reduces take NCCL's tree / one-shot path (a latency that hardly grows with the
  // group on one switch); the gather-type rings' handshakes grow with log2 of the group.
  c.cta_serial = seconds_to_ticks(s.kind == CollectiveKind::AllReduce
                                      ? p_.collective_latency
                                      : p_.collective_latency_gather + (std::log2(g) - 1.0) * p_.collective_latency_per_gpu);
  c.cta_bytes = op.wire_bytes.value() / eff / static_cast<double>(c.ctas);
  c.mem = Resource::Link;
  c.launch = 0;  // the fitted latency covers the GPU side of the call, launch included
  out.push_back(c);
}

void Lowering::lower(const Op& op, IssueMode mode, std::vector<KernelPlan>& out) const {
  const Tick overhead = kernel_overhead(mode);
  switch (op.kind) {
    case OpKind::Gemm:
    case OpKind::MoeRouter: {
      const auto& g = op.as<GemmShape>();
      lower_gemm(g.m, g.n, g.k, g.batch, op.dtype, overhead, out);
      if (op.kind == OpKind::MoeRouter) {  // softmax + top-k kernels after the router GEMM
        for (int i = 1; i < op.kernels; ++i) {
          KernelPlan r;
          r.label = "router_topk";
          r.launch = overhead;
          out.push_back(r);
        }
      }
      return;
    }
    case OpKind::Attention: attention(op, overhead, out); return;
    case OpKind::MoeExperts: moe(op, overhead, out); return;
    case OpKind::Collective:
      collective(op, overhead, out);
      // As AnalyticalCostModel::host_time: an eager torch.distributed call costs the host extra.
      if (mode == IssueMode::Torch) out.back().host_extra = seconds_to_ticks(p_.collective_host_overhead);
      return;
    case OpKind::Launch: {
      KernelPlan l;
      l.label = "launch";
      l.launch = op.as<LaunchShape>().back_to_back ? overhead : seconds_to_ticks(p_.launch_latency);
      out.push_back(l);
      return;
    }
    default: break;
  }
  // Streaming kernels (mirrors AnalyticalCostModel::elementwise).
  bool warm = false;
  if (const auto* st = std::get_if<StreamShape>(&op.shape)) warm = st->warm_l2;
  if (op.kind == OpKind::RmsNorm || op.kind == OpKind::Swiglu || op.kind == OpKind::Residual ||
      op.kind == OpKind::Rope || op.kind == OpKind::KvWrite)
    warm = true;
  double eff = 1.0;
  if (op.impl != Impl::Fused) eff = op.strided ? p_.strided_elementwise_efficiency : p_.torch_elementwise_efficiency;
  lower_stream(op.bytes_read.value(), op.bytes_written.value(), warm, eff, op.flops.value(), op.kernels, overhead,
               out);
}

}  // namespace headroom::sim

// Op -> KernelPlans. Each lowering builds its CTA groups from the analytical model's plan of the
// same kernel (AnalyticalCostModel::*_plan: one tile choice, one split rule, one set of
// efficiencies for both fidelities), so that the two agree where the analytical assumptions hold
// and differ only by what the simulation adds: whole waves of CTAs on SMs, bandwidth shared
// between the CTAs (and kernels) in flight, streams.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/error.hpp"
#include "headroom/sim/kernel_plan.hpp"

namespace headroom::sim {

std::string_view to_string(Resource r) {
  switch (r) {
    case Resource::Hbm: return "hbm";
    case Resource::L2: return "l2";
    case Resource::Link: return "link";
  }
  return "?";
}

Lowering::Lowering(const HardwareSpec& hw, const KernelParams& p, OperatingPoint at, int gemm_sm_margin)
    : hw_(hw), p_(p), plans_(hw, p, at) {
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
  gemm_grid_ = std::max(1, m_.sms - std::max(0, gemm_sm_margin));
}

Tick Lowering::kernel_overhead(IssueMode mode) const { return seconds_to_ticks(plans_.kernel_overhead(mode)); }

double Lowering::matrix_per_cycle(DType d) const {
  auto rate = hw_.peak_rate(d);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(d)));
  return rate->value() / hw_.compute.clocks.boost.value() / m_.sms;
}

// The GEMM the analytical model plans (gemm_plan: the tile and split-K with the least
// analytical time are the ones cuBLAS is assumed to pick); the simulation runs its CTAs.
void Lowering::lower_gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, Tick launch,
                          std::vector<KernelPlan>& out, double weight_bytes, double dequant_elements) const {
  emit_gemm(plans_.gemm_plan(m, n, k, batch, d, ticks_to_seconds(launch), weight_bytes, dequant_elements), d, launch,
            out);
}

void Lowering::emit_gemm(const GemmPlan& best, DType d, Tick launch, std::vector<KernelPlan>& out) const {
  const double per_cycle = matrix_per_cycle(d) * p_.gemm_eff(d);
  const int sms = m_.sms;
  // Hopper cuBLASLt GEMMs are persistent (warp-specialized, TMA): one CTA per SM walks its tiles
  // (tile x split-K slices) round-robin, loading the next tile while it multiplies this one, so
  // memory streams across tile boundaries and only compute comes in waves. Tiles of 128x128
  // and up use most of the 228 KiB of shared memory: one CTA per SM.
  KernelPlan g;
  g.label = best.splits > 1 ? "gemm_splitk" : "gemm";
  // A CUDA-core kernel's CTAs share an SM in rounds (gemm_plan's waves: the CTA-times of its
  // busiest SM): as many units per SM.
  g.work_units = best.cuda_cores ? static_cast<int64_t>(std::llround(best.waves)) * sms : best.ctas;
  g.ctas = std::min<int64_t>(best.ctas, gemm_grid_);
  g.ctas_per_sm = 1;
  g.cta_cycles = work_to_cycles(best.cta_flops, per_cycle * best.tile_efficiency);
  // Quantized weights: each tile's share of the dequantization on the SM's CUDA cores, in line
  // with its matrix math (analytical: added to the compute side).
  if (best.dequant_ops > 0)
    g.cta_cycles += work_to_cycles(best.dequant_ops / static_cast<double>(best.ctas), vector_per_cycle_);
  g.cta_pipeline = seconds_to_ticks(best.wave_overhead);
  g.cta_bytes = (best.bytes_read / p_.hbm_read_efficiency + best.bytes_written / p_.hbm_write_efficiency) /
                (p_.gemm_memory_efficiency * static_cast<double>(g.work_units));
  g.mem = Resource::Hbm;
  // analytical: a GEMM of fewer than SMs x gemm_stream_ctas tiles keeps too few loads in flight
  // to reach the HBM rate (fill < 1): each CTA draws at most rate / (SMs x gemm_stream_ctas).
  // More tiles reach the full rate (fill = 1).
  if (best.fill < 1.0) g.cta_rate_cap = m_.capacity[0] / (sms * p_.gemm_stream_ctas);
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

// Streaming kernels as the analytical model's stream_plan: L2-resident working sets at the L2
// rate, everything else at the achievable HBM read and write rates, PyTorch's kernels at a fraction.
void Lowering::lower_stream(double r, double w, bool warm_l2, double efficiency, double flops, int kernels,
                            Tick launch, std::vector<KernelPlan>& out, double reread) const {
  kernels = std::max(1, kernels);
  const StreamPlan plan = plans_.stream_plan(r, w, warm_l2, efficiency, reread);
  r += reread;
  const Resource res = plan.l2 ? Resource::L2 : Resource::Hbm;
  const double per_kernel_bytes = (r + w) / kernels;
  for (int i = 0; i < kernels; ++i) {
    KernelPlan s;
    s.label = "stream";
    s.launch = launch;
    if (per_kernel_bytes > 0 || flops > 0) {
      s.ctas = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(per_kernel_bytes / kStreamCtaBytes)));
      s.ctas_per_sm = kStreamCtasPerSm;
      const double n = static_cast<double>(s.ctas) * kernels;
      s.cta_bytes = plan.nominal_bytes / n;
      s.mem = res;
      s.cta_cycles = work_to_cycles(flops / n, vector_per_cycle_);
    }
    out.push_back(s);
  }
}

// FlashAttention-2 from the analytical attention_plan (work items, decode splits, bandwidth share).
void Lowering::attention(const Op& op, Tick launch, std::vector<KernelPlan>& out) const {
  const AttentionPlan plan = plans_.attention_plan(op, ticks_to_seconds(launch));
  const double per_cycle = matrix_per_cycle(op.dtype) * p_.attention_efficiency(op.as<AttentionShape>().shared_kv);
  KernelPlan a;
  a.launch = launch;
  a.cta_serial = seconds_to_ticks(p_.attn_block_overhead);
  a.mem = Resource::Hbm;
  if (plan.prefill) {
    // One CTA per (sequence, head, 128-query block); one resident per SM (FA2 forward, d <= 256).
    a.label = "fa2_fwd";
    if (plan.causal_schedule) {
      // Causal: unequal items in a list schedule (AnalyticalCostModel::attention_plan): each SM
      // does the average share of the work plus, at the end, one longest item.
      const double share = 1.0 - 1.0 / m_.sms;
      a.ctas = m_.sms;
      a.ctas_per_sm = 1;
      a.cta_serial = seconds_to_ticks((plan.items / m_.sms + share) * p_.attn_block_overhead);
      a.cta_cycles = work_to_cycles(op.flops.value() / m_.sms + plan.longest_flops * share, per_cycle);
      a.cta_bytes = (op.bytes_read.value() / p_.hbm_read_efficiency + op.bytes_written.value() / p_.hbm_write_efficiency) / m_.sms;
      out.push_back(a);
      return;
    }
    a.ctas = std::max<int64_t>(1, static_cast<int64_t>(plan.items));
    a.ctas_per_sm = 1;
    const double n = static_cast<double>(a.ctas);
    // CTAs are identical, at the average work, except that the kernel cannot end before its
    // longest item (the last query block sees every key, causal or not): one wave of few items
    // takes as long as that item (the analytical `longest` bound).
    const double waves = std::ceil(n / m_.sms);
    a.cta_cycles = work_to_cycles(std::max(op.flops.value() / n, plan.longest_flops / waves), per_cycle);
    a.cta_bytes = (op.bytes_read.value() / p_.hbm_read_efficiency + op.bytes_written.value() / p_.hbm_write_efficiency) / n;
    out.push_back(a);
    return;
  }
  // Decode: one CTA per (sequence, KV head) with the GQA group packed, the context split when
  // the CTAs cannot fill the SMs (then a combine kernel follows).
  a.label = "fa2_decode";
  a.ctas = std::max<int64_t>(1, static_cast<int64_t>(plan.items * plan.splits));
  // The fitted occupancy is fractional (an average); an SM holds a whole number of CTAs.
  a.ctas_per_sm = std::max(1, static_cast<int>(std::lround(p_.attn_decode_ctas_per_sm)));
  const double n = static_cast<double>(a.ctas);
  a.cta_cycles = work_to_cycles(op.flops.value() / n, per_cycle);
  // A quantized KV cache: each CTA expands its share on the SM's CUDA cores.
  if (plan.dequant_ops > 0) a.cta_cycles += work_to_cycles(plan.dequant_ops / n, vector_per_cycle_);
  a.cta_bytes = (plan.kv_bytes / (p_.hbm_read_efficiency * p_.attn_decode_bw_efficiency * plan.share) +
                 plan.q_o_bytes / p_.hbm_write_efficiency) /
                n;
  out.push_back(a);
  if (plan.splits > 1) {
    KernelPlan c;
    c.label = "fa2_combine";
    c.launch = launch;
    c.library_launch = true;
    out.push_back(c);
  }
}

// The analytical moe_plan as the kernel sequence it describes: each GEMM runs on its own.
void Lowering::moe(const Op& op, Tick launch, std::vector<KernelPlan>& out) const {
  const MoePlan plan = plans_.moe_plan(op);
  const size_t first = out.size();
  // Routed experts one after another (gate-up, down per expert when not grouped), then shared.
  // Each GEMM's kernels at the fraction of the dense rates the plan gives (the analytical model's).
  auto emit = [&](const MoePlan::Gemm& g) {
    const size_t from = out.size();
    if (g.grouped) emit_gemm(g.plan, op.dtype, launch, out);
    else lower_gemm(g.m, g.n, g.k, g.batch, op.dtype, launch, out, g.weight_bytes);
    for (size_t i = from; i < out.size(); ++i) {
      out[i].cta_cycles =
          static_cast<int64_t>(std::llround(static_cast<double>(out[i].cta_cycles) / g.compute_efficiency));
      out[i].cta_bytes /= g.memory_efficiency;
    }
  };
  const int64_t times = plan.routed > 0 ? plan.gemms[0].times : 0;
  for (int64_t t = 0; t < times; ++t)
    for (int i = 0; i < plan.routed; ++i) emit(plan.gemms[i]);
  for (int i = plan.routed; i < plan.count; ++i) emit(plan.gemms[i]);
  int gemm_kernels = 0;
  for (size_t i = first; i < out.size(); ++i)
    if (out[i].ctas > 0) ++gemm_kernels;
  int rest = op.kernels - gemm_kernels;
  if (p_.scatter_add_rate > 0 && plan.scatter_elements > 0) {
    // The combine (index_add_): bound by atomic adds in L2, spread over every SM.
    KernelPlan sc;
    sc.label = "index_add";
    sc.ctas = m_.sms;
    sc.cta_cycles = static_cast<int64_t>(
        std::llround(plan.scatter_elements / p_.scatter_add_rate * hw_.compute.clocks.boost.value()));
    sc.launch = launch;
    out.push_back(sc);
    --rest;
  }
  lower_stream(plan.stream_read, plan.stream_written, true, plan.stream_efficiency, 0.0, std::max(1, rest),
               rest > 0 ? launch : 0, out);
}

// The analytical collective_plan: NCCL's latency (handshakes, slowest rank) and ring bytes over
// the link at the fitted fraction of its bandwidth. The kernel holds one SM per channel while it
// runs, which is what it takes from concurrent compute.
void Lowering::collective(const Op& op, Tick launch, std::vector<KernelPlan>& out) const {
  const CollectivePlan plan = plans_.collective_plan(op);
  KernelPlan c;
  c.label = "nccl";
  if (plan.trivial) {
    c.launch = launch;
    out.push_back(c);
    return;
  }
  c.ctas = std::min(kCollectiveChannels, m_.sms);
  c.ctas_per_sm = 1;
  c.cta_serial = seconds_to_ticks(plan.latency);
  c.cta_bytes = plan.wire_bytes / plan.efficiency / static_cast<double>(c.ctas);
  c.mem = Resource::Link;
  c.launch = 0;  // the fitted latency covers the GPU side of the call, launch included
  out.push_back(c);
}

void Lowering::lower(const Op& op, IssueMode mode, std::vector<KernelPlan>& out, bool in_sequence) const {
  const Tick overhead = kernel_overhead(mode);
  switch (op.kind) {
    case OpKind::Gemm:
    case OpKind::MoeRouter: {
      emit_gemm(plans_.gemm_plan(op, ticks_to_seconds(overhead)), op.dtype, overhead, out);
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
      if (mode == IssueMode::Torch)
        out.back().host_extra =
            seconds_to_ticks(p_.collective_host(static_cast<int>(op.as<CollectiveShape>().gpus), in_sequence));
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
  // Streaming kernels (AnalyticalCostModel::elementwise_stream).
  const ElementwiseStream es = plans_.elementwise_stream(op);
  const size_t first = out.size();
  lower_stream(op.bytes_read.value(), op.bytes_written.value(), es.warm_l2, es.efficiency, op.flops.value(),
               op.kernels, overhead, out, es.extra_read);
  // A row kernel's latency-bound walk over its row: each CTA's serial part when the rows fit in
  // one wave (more rows: bandwidth-bound, as in the analytical model's max()).
  if (es.serial > 0 && op.as<RowShape>().rows <= machine().sms)
    for (size_t i = first; i < out.size(); ++i) out[i].cta_serial = seconds_to_ticks(es.serial);
  // Plain vectorized kernels launch at their own fixed cost (AnalyticalCostModel::kernels_overhead).
  const size_t light = static_cast<size_t>(std::clamp(op.light_kernels, 0, op.kernels));
  for (size_t i = first; i < out.size() && i < first + light; ++i)
    out[i].launch = seconds_to_ticks(plans_.light_kernel_overhead(mode));
  // A PyTorch row reduction among the op's kernels (a heavy one): its threads' serial walk sets
  // that kernel's CTA time (its own bytes are few).
  if (es.chain > 0 && first + light < out.size())
    out[first + light].cta_serial = std::max(out[first + light].cta_serial, seconds_to_ticks(es.chain));
}

}  // namespace headroom::sim

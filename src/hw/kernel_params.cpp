#include "headroom/hw/kernel_params.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/yaml_reader.hpp"

namespace headroom {

namespace {
template <size_t I>
double& eff(KernelParams& p) { return p.gemm_efficiency[I]; }
constexpr size_t idx(DType d) { return static_cast<size_t>(d); }
}  // namespace

const std::vector<KernelParamInfo>& kernel_param_table() {
  static const std::vector<KernelParamInfo> t{
      {"kernel_overhead", true, 0, 50e-6,  3e-6, "GPU time per kernel launched into a stream (front end, ramp-up, tail)",
       [](KernelParams& p) -> double& { return p.kernel_overhead; }},
      {"event_pair_overhead", true, 0, 20e-6, 0.0, "GPU time of the pair of CUDA events around one queued, timed call, once per call however many kernels it runs (measured: the intercept over 1 and 8 kernels per call at 1 to 2112 CTAs, median, traces/h200/profile/kernel_fixed.jsonl)",
       [](KernelParams& p) -> double& { return p.event_pair_overhead; }, true},
      {"light_kernel_overhead", true, 0, 20e-6, 0.0, "fixed time of a plain vectorized elementwise kernel launched into a stream (measured: the per-kernel slope up to 264 CTAs, median, traces/h200/profile/kernel_fixed.jsonl); other kernels pay kernel_overhead",
       [](KernelParams& p) -> double& { return p.light_kernel_overhead; }, true},
      {"graph_light_kernel_overhead", true, 0, 20e-6, 0.0, "the same kernel as a node of a replayed CUDA graph (measured, same profile)",
       [](KernelParams& p) -> double& { return p.graph_light_kernel_overhead; }, true},
      {"graph_kernel_overhead", true, 0, 50e-6,  1.5e-6, "GPU time per kernel node of a replayed CUDA graph",
       [](KernelParams& p) -> double& { return p.graph_kernel_overhead; }},
      {"launch_latency", true, 0, 100e-6,  8e-6, "launch + synchronize round trip (also each host synchronization)",
       [](KernelParams& p) -> double& { return p.launch_latency; }},
      {"host_issue_cuda", true, 0, 50e-6,  3e-6, "CPU time per kernel issued from C++ (CUDA runtime, cuBLASLt)",
       [](KernelParams& p) -> double& { return p.host_issue_cuda; }},
      {"host_issue_torch", true, 0, 100e-6,  15e-6, "CPU time per kernel issued by eager PyTorch (Python + dispatch)",
       [](KernelParams& p) -> double& { return p.host_issue_torch; }},
      {"host_probe_reference", true, 0, 1e-3, 0.0, "the host probe (CPU time per eager op of hcommon.py host_probe's fixed op mix) read on the host these host costs describe; every host CPU cost scales by host_probe / this",
       [](KernelParams& p) -> double& { return p.host_probe_reference; }, true},
      {"host_probe", true, 0, 1e-3, 0.0, "the host probe of the host to predict (0: the reference host); a trace record's host_probe_us sets it for that record",
       [](KernelParams& p) -> double& { return p.host_probe; }, true},
      {"hbm_read_efficiency", false, 0.3, 1.0,  0.9, "fraction of datasheet HBM bandwidth reached by read streams",
       [](KernelParams& p) -> double& { return p.hbm_read_efficiency; }},
      {"hbm_write_efficiency", false, 0.3, 1.0,  0.9, "fraction of datasheet HBM bandwidth reached by write streams",
       [](KernelParams& p) -> double& { return p.hbm_write_efficiency; }},
      {"hbm_turnaround_penalty", false, 0.0, 1.0,  0.1, "mixed HBM read/write streams: extra time, as a fraction, when reads and writes are equal (DRAM bus turnarounds); scales with 2 min(r, w) / (r + w)",
       [](KernelParams& p) -> double& { return p.hbm_turnaround_penalty; }},
      {"l2_bandwidth_ratio", false, 0.5, 10.0,  2.0, "L2-resident bandwidth as a multiple of datasheet HBM bandwidth",
       [](KernelParams& p) -> double& { return p.l2_bandwidth_ratio; }},
      {"torch_elementwise_efficiency", false, 0.2, 1.0,  0.8, "PyTorch vectorized elementwise/reduction kernels: fraction of stream bandwidth",
       [](KernelParams& p) -> double& { return p.torch_elementwise_efficiency; }},
      {"strided_elementwise_efficiency", false, 0.1, 1.0,  0.5, "PyTorch non-vectorized path (non-contiguous inputs): fraction of stream bandwidth",
       [](KernelParams& p) -> double& { return p.strided_elementwise_efficiency; }},
      {"row_kernel_onchip_bytes", false, 1024.0, 262144.0, 7000.0, "row kernels (F.rms_norm, one CTA per row, two passes): the longest row, in bytes, a CTA keeps on chip for its second pass (longer rows are read again, fully from twice this)",
       [](KernelParams& p) -> double& { return p.row_kernel_onchip_bytes; }},
      {"row_kernel_cta_bandwidth", false, 1e8, 1e12, 6e9, "row kernels: bytes per second one CTA walks its row at, each of its two passes (latency-bound: sets the time when there are few rows)",
       [](KernelParams& p) -> double& { return p.row_kernel_cta_bandwidth; }},
      {"torch_reduce_element_time", true, 0, 1e-6, 5e-8, "PyTorch's row reduction (reduce_kernel, the torch-expr RMSNorm's mean): time per value each thread walks in turn, at its launch configuration's values per thread (docs/kernel-model.md; profiled: 55 ns, traces/h200/profile/norm_kernels.jsonl)",
       [](KernelParams& p) -> double& { return p.torch_reduce_element_time; }},
      {"gemm_efficiency.bf16", false, 0.1, 1.0,  0.75, "bf16 GEMM main-loop fraction of the dense peak (128x256 tile)", eff<idx(DType::BF16)>},
      {"gemm_efficiency.fp16", false, 0.1, 1.0,  0.75, "fp16 GEMM main-loop fraction of the dense peak", eff<idx(DType::FP16)>},
      {"gemm_efficiency.fp8", false, 0.1, 1.0,  0.7, "fp8 GEMM main-loop fraction of the dense peak", eff<idx(DType::FP8)>},
      {"gemm_efficiency.tf32", false, 0.1, 1.0,  0.75, "tf32 GEMM main-loop fraction of the dense peak", eff<idx(DType::TF32)>},
      {"gemm_efficiency.fp32", false, 0.1, 1.0,  0.8, "fp32 (no tensor cores) GEMM fraction of the vector peak", eff<idx(DType::FP32)>},
      {"gemm_efficiency.int8", false, 0.1, 1.0,  0.6, "int8 GEMM (torch._int_mm) main-loop fraction of the dense int8 peak", eff<idx(DType::INT8)>},
      {"gemm_overhead", true, 0, 50e-6,  2e-6, "GPU time per GEMM kernel beyond kernel_overhead (descriptors, prologue)",
       [](KernelParams& p) -> double& { return p.gemm_overhead; }},
      {"gemm_tile_intensity", false, 0.0, 512.0, 8.0, "GEMM tile size, in elements, at which a tile reaches half its tensor-core rate: a tile tm x tn runs at I / (I + this) with I = tm tn / (tm + tn) (its operand traffic per FLOP), relative to 128x256",
       [](KernelParams& p) -> double& { return p.gemm_tile_intensity; }},
      {"int8_tile_128x128", false, 0.2, 1.5, 0.8, "int8 (Ampere CUTLASS kernel): efficiency of its 128x128 tile (m x n) relative to its 256x128",
       [](KernelParams& p) -> double& { return p.int8_tile_128x128; }},
      {"int8_tile_64x128", false, 0.2, 1.5, 0.7, "int8: efficiency of its 64x128 tile (m x n) relative to its 256x128",
       [](KernelParams& p) -> double& { return p.int8_tile_64x128; }},
      {"int8_tile_64x64", false, 0.1, 1.5, 0.5, "int8: efficiency of its 64x64 tile relative to its 256x128",
       [](KernelParams& p) -> double& { return p.int8_tile_64x64; }},
      {"int8_small_tile_waves", false, 0.0, 8.0, 0.0, "int8 tile choice (cuBLASLt's heuristic, read off traces/h200/profile/torch_gemm_kernels.jsonl, not fitted): the 64x64 tile while its tiles fit in this many waves of SMs; 0 = the fastest tile by this model",
       [](KernelParams& p) -> double& { return p.int8_small_tile_waves; }, true},
      {"int8_large_tile_waves", false, 0.0, 16.0, 0.0, "int8 tile choice (not fitted): else the 256x128 tile once its tiles fill this many waves",
       [](KernelParams& p) -> double& { return p.int8_large_tile_waves; }, true},
      {"int8_deep_k", false, 0.0, 1e6, 0.0, "int8 tile choice (not fitted): else 128x128 when k is at least this, 64x128 below",
       [](KernelParams& p) -> double& { return p.int8_deep_k; }, true},
      {"gemm_wave_overhead", true, 0, 50e-6,  1e-6, "GEMM time per wave of tiles: pipeline fill and epilogue",
       [](KernelParams& p) -> double& { return p.gemm_wave_overhead; }},
      {"gemm_cold_load_latency", true, 0, 5e-6, 1.0e-6, "time for a multistage (cp.async) GEMM kernel's operand loads from HBM to reach a CTA that is alone on its SM: with s pipeline stages, s - 1 k-steps of loads are in flight, so a k-step takes at least this / (s - 1) (the int8 kernels, whose stage counts are in their names: traces/h200/profile/gemm_latency.jsonl); 0 = no floor",
       [](KernelParams& p) -> double& { return p.gemm_cold_load_latency; }},
      {"gemm_stream_ctas", false, 0.05, 8.0,  1.0, "CTAs per SM a GEMM needs in flight to reach full HBM bandwidth",
       [](KernelParams& p) -> double& { return p.gemm_stream_ctas; }},
      {"gemm_memory_efficiency", false, 0.3, 1.0, 0.9, "GEMM operand and output streams: fraction of the pure read/write stream rates (hbm_*_efficiency) they reach with all CTAs in flight",
       [](KernelParams& p) -> double& { return p.gemm_memory_efficiency; }},
      {"grouped_gemm_compute_efficiency", false, 0.1, 1.0, 0.7, "MoE grouped GEMM (torch._grouped_mm): fraction of the dense GEMM's tile rate its tiles reach",
       [](KernelParams& p) -> double& { return p.grouped_gemm_compute_efficiency; }},
      {"grouped_gemm_memory_efficiency", false, 0.1, 1.0, 0.7, "MoE grouped GEMM (torch._grouped_mm): fraction of the dense GEMM's stream rate its weight and row streams reach",
       [](KernelParams& p) -> double& { return p.grouped_gemm_memory_efficiency; }},
      {"scatter_add_rate", false, 0, 1e13, 1e11, "row scatter-add (torch index_add_ of bf16 rows: the MoE combine): element atomic adds per second in L2; 0: not limited (measured: median of 12 index_add_ kernels, traces/h200/profile/moe_kernels.jsonl)",
       [](KernelParams& p) -> double& { return p.scatter_add_rate; }},
      {"dequant_ops_per_element", false, 0.0, 64.0, 4.0, "CUDA-core operations (fp32-FLOP equivalents) to expand one quantized weight or KV element",
       [](KernelParams& p) -> double& { return p.dequant_ops_per_element; }},
      {"torch_int4_gemm_efficiency", false, 0.02, 1.0, 0.4, "torch._weight_int4pack_mm (tinygemm): fraction of the CUDA-core fp32 rate its multiply-adds and dequantization reach",
       [](KernelParams& p) -> double& { return p.torch_int4_gemm_efficiency; }},
      {"torch_int4_min_rows", false, 1.0, 16.0, 1.0, "torch._weight_int4pack_mm (tinygemm): activation rows a CTA costs at least (measured: at m = 1 the kernel takes 0.90-0.99 of its m = 2 time on all seven shapes of traces/h200/quant.jsonl)",
       [](KernelParams& p) -> double& { return p.torch_int4_min_rows; }, true},
      {"torch_int4_ctas_per_sm", false, 0.0, 32.0, 0.0, "torch._weight_int4pack_mm (tinygemm): CTAs (8 warps) an SM holds at once; more run in rounds; 0 = no limit (measured: Nsight Compute's launch__occupancy_limit_registers, 64 registers per thread, traces/h200/profile/tinygemm_ncu.txt)",
       [](KernelParams& p) -> double& { return p.torch_int4_ctas_per_sm; }, true},
      {"torch_int4_tail_ctas", false, 0.0, 32.0, 0.0, "torch._weight_int4pack_mm (tinygemm): a last, partial round of CTAs on an SM costs at least this many CTAs' time (measured: 66 CTAs beyond 4 per SM took as long as 264, traces/h200/profile/tinygemm_grid.jsonl)",
       [](KernelParams& p) -> double& { return p.torch_int4_tail_ctas; }, true},
      {"attn_prefill_efficiency", false, 0.05, 1.0,  0.5, "flash-attention prefill main-loop fraction of the dense peak",
       [](KernelParams& p) -> double& { return p.attn_prefill_efficiency; }},
      {"attn_latent_efficiency", false, 0.0, 1.0, 0.4, "multi-head latent attention's absorbed decode (all query heads against one shared latent, shared_kv: compute-bound at any batch): main-loop fraction of the dense peak; 0 = attn_prefill_efficiency. Fitted to a Triton split-KV kernel (traces/h200/mla_attention.jsonl: tiles of 16-32 heads, fewer rows than the 64 of Hopper's warpgroup MMA); FlashMLA publishes 660 TFLOP/s on H800, 0.67 of the dense bf16 peak",
       [](KernelParams& p) -> double& { return p.attn_latent_efficiency; }},
      {"attn_block_overhead", true, 0, 50e-6,  1e-6, "flash-attention time per wave of (query block, head) work items",
       [](KernelParams& p) -> double& { return p.attn_block_overhead; }},
      {"attn_decode_bw_efficiency", false, 0.1, 1.0,  0.9, "decode attention: fraction of HBM read bandwidth on the KV cache",
       [](KernelParams& p) -> double& { return p.attn_decode_bw_efficiency; }},
      {"attn_decode_ctas_per_sm", false, 1.0, 16.0,  2.0, "decode attention CTAs (one per sequence and KV head) resident per SM",
       [](KernelParams& p) -> double& { return p.attn_decode_ctas_per_sm; }},
      {"attn_decode_shared_efficiency", false, 0.1, 1.0,  0.7, "decode attention: bandwidth factor when an SM streams 2+ KV heads at once",
       [](KernelParams& p) -> double& { return p.attn_decode_shared_efficiency; }},
      {"attn_decode_split_efficiency", false, 0.3, 1.0, 0.9, "decode attention: bandwidth factor when each context is split over several CTAs (few sequences x KV heads; a combine kernel follows)",
       [](KernelParams& p) -> double& { return p.attn_decode_split_efficiency; }},
      {"kv_convert_ops_per_element", false, 0.0, 100.0, 2.0, "decode attention on an fp8 KV cache: CUDA-core operations (fp32-FLOP equivalents) to convert one element to 16 bits (fitted to the fp8/bf16 time ratios of a Triton split-KV kernel at batch 1 and 16: traces/h200/profile/attention_kvq.jsonl)",
       [](KernelParams& p) -> double& { return p.kv_convert_ops_per_element; }},
      {"kv_dequant_ops_per_element", false, 0.0, 100.0, 4.0, "decode attention on a 4-bit or 2-bit KV cache: CUDA-core operations (fp32-FLOP equivalents) to expand one element: codes, scales, zero points (fitted to the int4/bf16 time ratios of the same kernel)",
       [](KernelParams& p) -> double& { return p.kv_dequant_ops_per_element; }},
      {"collective_latency", true, 0, 500e-6, 20e-6, "GPU-side all-reduce time beyond its bytes on 2 GPUs, simple protocol (handshakes, sync)",
       [](KernelParams& p) -> double& { return p.collective_latency; }},
      {"collective_latency_gather", true, 0, 500e-6, 20e-6, "GPU-side all-gather/reduce-scatter/all-to-all time on 2 GPUs beyond its bytes, simple protocol",
       [](KernelParams& p) -> double& { return p.collective_latency_gather; }},
      {"collective_host_overhead", true, 0, 500e-6, 10e-6, "extra CPU time of an eager torch.distributed collective call",
       [](KernelParams& p) -> double& { return p.collective_host_overhead; }},
      {"collective_host_growth", false, 0, 4.0, 0.3, "the eager collective's host cost grows by this fraction per doubling of the group beyond two GPUs (beyond the slowest rank's host speed, which a record's host probe, the max over ranks, already carries)",
       [](KernelParams& p) -> double& { return p.collective_host_growth; }},
      {"collective_host_in_step", true, 0, 500e-6, 20e-6, "extra CPU time of an eager torch.distributed collective call issued among other work (a model step, an op sequence) over one issued back to back (fitted on the eager TP and PP steps whose records carry the host probe; traces/h200x2/profile/tp_host.jsonl read 36 us on one host)",
       [](KernelParams& p) -> double& { return p.collective_host_in_step; }},
      {"collective_latency_growth", false, 0, 2.0, 0.1, "all-gather and reduce-scatter latencies (every protocol) grow by this fraction per GPU beyond two (a ring: one handshake step per rank)",
       [](KernelParams& p) -> double& { return p.collective_latency_growth; }},
      {"collective_latency_growth_allreduce", false, 0, 2.0, 0.1, "all-reduce latencies (every protocol) grow by this fraction per GPU beyond two (a ring all-reduce takes 2(g-1) steps, the gathers g-1)",
       [](KernelParams& p) -> double& { return p.collective_latency_growth_allreduce; }},
      {"collective_latency_growth_alltoall", false, 0, 2.0, 0.05, "all-to-all latencies (every protocol) grow by this fraction per GPU beyond two (point-to-point sends to all peers at once, not a ring)",
       [](KernelParams& p) -> double& { return p.collective_latency_growth_alltoall; }},
      {"collective_bw_efficiency", false, 0.05, 1.0, 0.8, "all-reduce: fraction of per-direction link bandwidth NCCL reaches (many ranks; see collective_ring_bw_loss_allreduce)",
       [](KernelParams& p) -> double& { return p.collective_bw_efficiency; }},
      {"collective_bw_efficiency_gather", false, 0.05, 1.0, 0.7, "all-gather, reduce-scatter: fraction of link bandwidth (many ranks; see collective_ring_bw_loss)",
       [](KernelParams& p) -> double& { return p.collective_bw_efficiency_gather; }},
      {"collective_bw_efficiency_alltoall", false, 0.0, 1.0, 0.7, "all-to-all: fraction of link bandwidth (point-to-point to every peer at once); 0 = collective_bw_efficiency_gather",
       [](KernelParams& p) -> double& { return p.collective_bw_efficiency_alltoall; }},
      {"collective_ring_bw_loss_allreduce", false, 0.0, 1.9, 0.2, "a ring all-reduce on g GPUs reaches (1 - this / g) of collective_bw_efficiency (empirical: fewer ranks, less of the link)",
       [](KernelParams& p) -> double& { return p.collective_ring_bw_loss_allreduce; }},
      {"collective_ring_bw_loss", false, 0.0, 1.9, 0.5, "a ring all-gather / reduce-scatter on g GPUs reaches (1 - this / g) of collective_bw_efficiency_gather (empirical: measured busbw of a 1 GiB all-gather 284, 338, 358 GB/s on 2, 4, 8 H200)",
       [](KernelParams& p) -> double& { return p.collective_ring_bw_loss; }},
      {"collective_latency_ll", true, 0, 500e-6, 15e-6, "latency of NCCL's low-latency (LL) protocol on 2 GPUs, any collective",
       [](KernelParams& p) -> double& { return p.collective_latency_ll; }},
      {"collective_ll_bandwidth", false, 0.01, 1.0, 0.25, "LL protocol bandwidth as a fraction of the simple protocol's",
       [](KernelParams& p) -> double& { return p.collective_ll_bandwidth; }},
  };
  return t;
}

double KernelParams::collective_host(int gpus, bool in_sequence) const {
  if (gpus <= 1) return 0.0;
  const double base = collective_host_overhead + (in_sequence ? collective_host_in_step : 0.0);
  return host_scale() * base * (1.0 + collective_host_growth * std::max(0.0, std::log2(static_cast<double>(gpus)) - 1.0));
}

KernelParams read_kernel_params(const YamlReader& r) {
  KernelParams p;
  // Nested groups are read once, so that finish() sees every key the loop used.
  std::optional<YamlReader> gemm = r.maybe("gemm_efficiency");
  for (const auto& info : kernel_param_table()) {
    const auto dot = info.name.find('.');
    std::optional<YamlReader> node;
    if (dot == std::string::npos) {
      node = r.maybe(info.name);
    } else if (gemm) {
      node = gemm->maybe(info.name.substr(dot + 1));
    }
    if (!node) continue;
    double v = info.is_time ? node->quantity(Dim::Seconds) : node->number();
    if (v < info.lower || v > info.upper)
      node->fail(fmt::format("must lie in [{}, {}], got {}", info.lower, info.upper, node->str()));
    info.ref(p) = v;
    p.given.push_back(info.name);
  }
  if (gemm) gemm->finish();
  if (auto f = r.maybe("fitted")) {
    p.fitted_on = f->string("trace");
    p.fitted_date = f->string("date");
    p.fit_cases = static_cast<int>(f->nonnegative_int("fit_cases"));
    p.holdout_cases = static_cast<int>(f->nonnegative_int("holdout_cases"));
    p.train_mape = f->at("train_mape").number();
    p.holdout_mape = f->at("holdout_mape").number();
    f->finish();
  }
  r.finish();
  return p;
}

std::string kernel_params_yaml(const KernelParams& p) {
  std::string out = "kernel_model:\n";
  if (!p.fitted_on.empty()) {
    out += "  fitted:             # written by headroom calibrate; errors are mean absolute percentage\n";
    out += fmt::format("    trace: \"{}\"\n    date: \"{}\"\n    fit_cases: {}\n    holdout_cases: {}\n", p.fitted_on,
                       p.fitted_date, p.fit_cases, p.holdout_cases);
    out += fmt::format("    train_mape: {:.4f}\n    holdout_mape: {:.4f}\n", p.train_mape, p.holdout_mape);
  }
  bool in_gemm = false;
  KernelParams copy = p;
  for (const auto& info : kernel_param_table()) {
    const double v = info.ref(copy);
    const std::string val = info.is_time ? fmt::format("\"{:.4g} us\"", v * 1e6) : fmt::format("{:.4g}", v);
    const auto dot = info.name.find('.');
    if (dot != std::string::npos) {
      if (!in_gemm) out += fmt::format("  {}:\n", info.name.substr(0, dot));
      in_gemm = true;
      out += fmt::format("    {}: {}{}# {}\n", info.name.substr(dot + 1), val,
                         std::string(std::max<int>(1, 18 - static_cast<int>(info.name.size() - dot + val.size())), ' '),
                         info.doc);
    } else {
      in_gemm = false;
      out += fmt::format("  {}: {}{}# {}\n", info.name, val,
                         std::string(std::max<int>(1, 30 - static_cast<int>(info.name.size() + val.size())), ' '), info.doc);
    }
  }
  return out;
}

}  // namespace headroom

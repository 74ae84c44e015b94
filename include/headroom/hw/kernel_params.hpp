#pragma once
// Parameters of the analytical kernel model (cost/analytical.cpp), stored in a hardware file's
// optional `kernel_model:` section and fitted by `headroom calibrate`. Each parameter is listed
// once in kernel_param_table() with its unit, meaning, bounds and neutral default; the table
// drives YAML parsing, writing, `describe` and the fit, so nothing is a hidden constant.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "headroom/core/dtype.hpp"
#include "headroom/units/units.hpp"

namespace headroom {

class YamlReader;

struct KernelParams {
  // Fixed costs (seconds).
  double kernel_overhead = 0;        // GPU time per kernel launched into a stream (front end, ramp-up, tail)
  double graph_kernel_overhead = 0;  // GPU time per kernel node of a replayed CUDA graph
  double launch_latency = 0;         // launch + synchronize round trip (also each host sync)
  double host_issue_cuda = 0;        // CPU time per kernel issued from C++ (CUDA runtime, cuBLASLt)
  double host_issue_torch = 0;       // CPU time per kernel issued by eager PyTorch (Python + dispatch)
  // The host's speed. Every host CPU cost (host_issue_*, collective_host_*) is the cost on a host
  // whose probe (traces/harness/torch/hcommon.py host_probe: CPU seconds per eager op of a fixed
  // mix of one-kernel ops on tiny tensors) read host_probe_reference; on a host reading host_probe
  // each is scaled by host_probe / host_probe_reference (0 for either: no scaling).
  double host_probe_reference = 0;
  double host_probe = 0;
  // Memory system.
  double hbm_read_efficiency = 1;    // fraction of datasheet HBM bandwidth reached by read streams
  double hbm_write_efficiency = 1;   // ... by write streams
  double hbm_turnaround_penalty = 0; // mixed HBM streams: extra time when reads and writes are equal (bus turnarounds)
  double l2_bandwidth_ratio = 1;     // L2-resident bandwidth as a multiple of datasheet HBM bandwidth
  double torch_elementwise_efficiency = 1;  // PyTorch's vectorized elementwise/reduction kernels vs a tuned stream
  double strided_elementwise_efficiency = 1;  // PyTorch's non-vectorized path (non-contiguous views) vs a tuned stream
  double row_kernel_onchip_bytes = 262144;  // row kernels (F.rms_norm): the longest row a CTA keeps on chip between passes
  double row_kernel_cta_bandwidth = 1e12; // row kernels: bytes/s one CTA walks its row at (latency-bound); default: no limit
  double torch_reduce_element_time = 0;   // PyTorch's row reduction: seconds per value a thread walks in turn; default: none
  double event_pair_overhead = 0;         // GPU time of the CUDA event pair around one queued, timed call
  double light_kernel_overhead = 0;       // a plain vectorized elementwise kernel's fixed time, stream launch (0: kernel_overhead)
  double graph_light_kernel_overhead = 0; // ... as a CUDA-graph node (0: graph_kernel_overhead)
  // GEMM.
  std::array<double, 8> gemm_efficiency{1, 1, 1, 1, 1, 1, 1, 1};  // per DType: main-loop fraction of peak
  double gemm_overhead = 0;      // seconds per GEMM kernel beyond kernel_overhead (descriptors, prologue)
  double gemm_tile_intensity = 0;  // tile size I = tm tn / (tm + tn), elements, at which a tile reaches half its rate (0: every tile at full rate)
  double int8_tile_128x128 = 1;  // int8 (Ampere CUTLASS kernels): 128x128 tile (m x n) relative to 256x128
  double int8_tile_64x128 = 1;   // ... 64x128 tile
  double int8_tile_64x64 = 1;    // ... 64x64 tile
  // cuBLASLt's choice among those tiles (its heuristic, read off the kernel profile; 0: the
  // fastest tile by this model): the 64x64 tile while its tiles fit in this many waves ...
  double int8_small_tile_waves = 0;
  // ... else the 256x128 tile once its tiles fill this many waves ...
  double int8_large_tile_waves = 0;
  // ... else 128x128 when k is at least this deep, 64x128 below it.
  double int8_deep_k = 0;
  double gemm_wave_overhead = 0; // seconds per wave: pipeline fill and epilogue
  // seconds for a multistage GEMM's pipelined operand loads from HBM to arrive when its CTA is the
  // only one on its SM; a k-step takes at least this / (stages - 1). 0 = no latency floor.
  double gemm_cold_load_latency = 0;
  double gemm_stream_ctas = 1;   // CTAs per SM a GEMM needs in flight to reach full HBM bandwidth
  double gemm_memory_efficiency = 1;  // a GEMM's operand streams as a fraction of a pure stream's HBM rate
  double grouped_gemm_compute_efficiency = 1;  // torch._grouped_mm (MoE experts) vs a dense GEMM: compute side
  double grouped_gemm_memory_efficiency = 1;   // ... memory side
  double scatter_add_rate = 0;  // bf16 atomic adds per second of a row scatter-add (torch index_add_, the MoE combine); 0: not limited
  double dequant_ops_per_element = 0;  // CUDA-core operations to expand one quantized weight/KV element
  double torch_int4_gemm_efficiency = 1;  // torch._weight_int4pack_mm: fraction of the CUDA-core rate reached
  double torch_int4_min_rows = 1;         // ... costs at least this many activation rows (measured)
  double torch_int4_ctas_per_sm = 0;      // ... CTAs an SM holds at once; 0 = no limit (measured)
  double torch_int4_tail_ctas = 0;        // ... CTAs' time a last, partial round costs at least (measured)
  // Attention (FlashAttention-2 kernels behind PyTorch's SDPA).
  double attn_prefill_efficiency = 1;    // fraction of the dense matrix peak in the main loop
  double attn_latent_efficiency = 0;     // ... of MLA's absorbed decode kernel (0: attn_prefill_efficiency)
  // The main-loop fraction of the dense peak an attention kernel reaches: MLA's absorbed decode
  // (shared_kv) or flash attention.
  [[nodiscard]] double attention_efficiency(bool latent) const {
    return latent && attn_latent_efficiency > 0 ? attn_latent_efficiency : attn_prefill_efficiency;
  }
  double attn_block_overhead = 0;        // seconds per wave of (query block, head) work items
  double attn_decode_bw_efficiency = 1;  // fraction of HBM read bandwidth streaming the KV cache
  double attn_decode_ctas_per_sm = 1;    // decode CTAs (one per sequence and KV head) resident per SM
  double attn_decode_shared_efficiency = 1;  // bandwidth factor when an SM streams 2+ KV heads at once
  double attn_decode_split_efficiency = 1;   // bandwidth factor when the context is split over CTAs
  double kv_convert_ops_per_element = 0;   // decode attention on an fp8 cache: CUDA-core ops to convert one element
  double kv_dequant_ops_per_element = 0;   // ... on a 4-bit or 2-bit cache: to expand one element (codes, scales, zero points)
  // Collectives (NCCL over the scale-up fabric).
  double collective_latency = 0;          // GPU-side seconds per all-reduce (NCCL's tree/one-shot small-message path)
  double collective_latency_gather = 0;   // ... per all-gather / reduce-scatter / all-to-all on 2 GPUs
  double collective_host_overhead = 0;    // extra CPU seconds of an eager torch.distributed call (2 GPUs)
  double collective_host_growth = 0;      // ... grows by this fraction per doubling of the group (the slowest rank's host)
  double collective_host_in_step = 0;     // extra CPU seconds of that call when issued among other work (a model step), over back to back
  double collective_latency_growth = 0;   // all-gather/reduce-scatter latencies grow by this fraction per GPU beyond two
  double collective_latency_growth_allreduce = 0;  // ... all-reduce's (a ring all-reduce takes twice the steps)
  double collective_latency_growth_alltoall = 0;   // ... all-to-all's (point-to-point to every peer at once)
  double collective_bw_efficiency = 1;    // all-reduce: fraction of per-direction link bandwidth reached (many ranks)
  double collective_bw_efficiency_gather = 1;  // all-gather, reduce-scatter: same
  double collective_bw_efficiency_alltoall = 0;  // all-to-all: same (0: collective_bw_efficiency_gather)
  double collective_ring_bw_loss_allreduce = 0;  // a ring all-reduce on g GPUs reaches (1 - this / g) of its efficiency
  double collective_ring_bw_loss = 0;     // ... a ring all-gather / reduce-scatter
  double collective_latency_ll = 0;       // latency of NCCL's low-latency (LL) protocol, any collective
  double collective_ll_bandwidth = 1;     // LL's bandwidth as a fraction of the simple protocol's

  // The parameter names the file gave (the rest keep their neutral defaults).
  std::vector<std::string> given;

  // Provenance written by `headroom calibrate`.
  std::string fitted_on;
  std::string fitted_date;
  int fit_cases = 0;
  int holdout_cases = 0;
  double holdout_mape = 0;
  double train_mape = 0;

  [[nodiscard]] double gemm_eff(DType d) const { return gemm_efficiency[static_cast<size_t>(d)]; }
  // Extra host seconds of one eager torch.distributed collective over `gpus` ranks: the call waits
  // for the slowest rank's host, which is later the more ranks there are.
  [[nodiscard]] double collective_host(int gpus, bool in_sequence) const;
  // host_probe / host_probe_reference, 1 when either is not given.
  [[nodiscard]] double host_scale() const {
    return host_probe > 0 && host_probe_reference > 0 ? host_probe / host_probe_reference : 1.0;
  }
};

struct KernelParamInfo {
  std::string name;     // YAML key (gemm_efficiency.bf16 for the per-dtype entries)
  bool is_time;         // written as a time ("2.1 us"); otherwise a plain number
  double lower, upper;  // bounds the fit respects
  double start;         // the fit's starting guess (typical of current GPUs; not a result)
  const char* doc;
  double& (*ref)(KernelParams&);
  // Read off a measurement or profile, not fitted: calibrate keeps the base file's value, as for
  // --fix (a step in a library's kernel choice has no gradient to fit).
  bool measured = false;
};

// Every fitted parameter, in a fixed order (the fit's parameter vector).
const std::vector<KernelParamInfo>& kernel_param_table();

// Parses a `kernel_model:` section (unknown keys are errors; absent keys keep neutral defaults).
KernelParams read_kernel_params(const YamlReader& r);
// The section as YAML text (two-space indented under "kernel_model:"), with a comment per key.
std::string kernel_params_yaml(const KernelParams& p);

}  // namespace headroom

#pragma once
// The analytical kernel model: per-kernel times from the hardware's datasheet rates, shaped by
// how real kernels use the machine (GEMM tiles in waves over SMs, split-K, achievable HBM and L2
// bandwidth, flash-attention work items, fixed per-kernel costs) and scaled by parameters fitted
// to measured runs (hw file `kernel_model:`, see docs/kernel-model.md). Every time is a function
// of the SM clock and the memory clock, so a power model can lower the clock and ask again.
#include "headroom/cost/cost_model.hpp"
#include "headroom/hw/kernel_params.hpp"

namespace headroom {

// Kernel plans: how the analytical model sees one kernel (the work split into CTAs and the
// closed-form times it derives from them). The analytical model reduces a plan to an OpCost; the
// cycle-approximate model (sim::Lowering) builds its CTA groups from the same plan, so both
// fidelities share one tile choice, one split rule and one set of efficiencies.

// A GEMM: the CTA tile (and split-K) with the least modelled time, as cuBLAS is assumed to pick.
struct GemmPlan {
  int tile_m = 0, tile_n = 0;
  double tile_efficiency = 1;  // relative rate of the tile (tile_rate, or int8_tile_*)
  int64_t tiles = 0;           // output tiles (x batch)
  int64_t splits = 1;          // split-K slices per tile (a reduction kernel follows when > 1)
  int64_t ctas = 0;            // tiles x splits
  double waves = 0;            // ceil(ctas / SMs); a CUDA-core kernel (tinygemm): CTA-times of its busiest SM
  bool cuda_cores = false;     // runs on the CUDA cores, several CTAs sharing an SM (tinygemm)
  double cta_flops = 0;        // matrix FLOPs of one CTA (its tile over its k slice)
  double cta_time = 0;         // s, one CTA's matrix math at the tile's rate (or its load floor)
  double load_floor = 0;       // s, one CTA's k-loop bound by its operand loads' latency (0: none)
  double wave_overhead = 0;    // s, per wave of CTAs: pipeline fill and epilogue (gemm_wave_overhead)
  double dequant_ops = 0;      // CUDA-core ops expanding quantized weights, whole kernel
  double bytes_read = 0, bytes_written = 0;  // split-K fp32 partials included
  double fill = 1;             // fraction of the HBM rate its CTAs in flight reach
  double compute = 0, memory = 0, overhead = 0, time = 0;  // s, the closed form
};

// A FlashAttention-2 kernel: its work items and (decode) context splits.
struct AttentionPlan {
  bool prefill = false;
  double items = 0;          // (sequence, head, query block) or, decode, (sequence, KV head)
  double splits = 1;         // decode: context splits per item (a combine kernel follows when > 1)
  double waves = 0;          // prefill: ceil(items / SMs); decode: ceil(items x splits / (SMs x CTAs/SM))
  double longest_flops = 0;  // prefill: FLOPs of the longest item (the last query block)
  bool causal_schedule = false;  // prefill, causal: unequal items as a list schedule (share + one longest)
  double share = 1;          // decode: fraction of an SM's bandwidth share reached (CTAs per SM)
  double kv_bytes = 0;       // decode: KV (and split partial) traffic
  double q_o_bytes = 0;      // decode: query in and output out
  double dequant_ops = 0;    // decode: CUDA-core ops expanding a quantized KV cache
  double compute = 0, memory = 0, overhead = 0;  // s, the closed form
};

// A streaming kernel's traffic: on the L2 (warm working set within its capacity) or HBM.
struct StreamPlan {
  bool l2 = false;
  double nominal_bytes = 0;  // bytes at the resource's nominal rate, achieved efficiencies folded in
  double time = 0;           // s
};

// Which stream an elementwise op is: L2-warm or not, and the fraction of the rate it reaches.
struct ElementwiseStream {
  bool warm_l2 = false;
  double efficiency = 1;
  double extra_read = 0;  // bytes read a second time (a row kernel's second pass over rows it cannot hold on chip)
  double serial = 0;      // seconds: one CTA's latency-bound pass over its row (row kernels with few rows)
  double chain = 0;       // seconds: a PyTorch row reduction's per-thread serial walk (one of the op's
                          // kernels, added to the stream: the torch-expr RMSNorm's mean)
};

// An MoE expert op as kernels: up to four GEMMs (routed gate-up and down, each run `times` times,
// then the shared experts' gate-up and down once) and the gather/activation/scatter streams.
struct MoePlan {
  struct Gemm {
    int64_t m = 0, n = 0, k = 0, batch = 1, times = 1;
    // Fractions of a dense GEMM's rates this launch reaches (grouped: torch._grouped_mm's);
    // its compute and memory times are divided by them.
    double compute_efficiency = 1, memory_efficiency = 1;
    // Grouped (torch._grouped_mm): the plan of its tiles over the experts' rows (grouped_gemm_plan);
    // else the dense plan of m x n x k, batch, is used.
    bool grouped = false;
    GemmPlan plan;
    double weight_bytes = 0;  // not grouped: the stored bytes of its weights (0: n x k x batch in the op's dtype)
  };
  Gemm gemms[4];
  int count = 0;          // GEMM entries used
  int routed = 2;         // the first `routed` entries are the routed experts'
  int gemm_kernels = 0;   // GEMM launches (entries x times)
  double stream_read = 0, stream_written = 0, stream_efficiency = 1;  // L2-warm
  double scatter_elements = 0;  // the combine's atomic adds (index_add_ of the weighted copies)
};

// An NCCL collective: latency and ring bytes at the fitted fraction of the link bandwidth.
struct CollectivePlan {
  bool trivial = false;  // one GPU: nothing to move
  double latency = 0;    // s
  double efficiency = 1;
  double wire_bytes = 0;
};

class AnalyticalCostModel final : public CostModel {
 public:
  // Uses hw.kernel_model when present, else neutral parameters (a roofline with tiling).
  explicit AnalyticalCostModel(const HardwareSpec& hw, OperatingPoint at = {});
  AnalyticalCostModel(const HardwareSpec& hw, const KernelParams& params, OperatingPoint at = {});
  [[nodiscard]] std::string_view name() const override { return "analytical"; }
  [[nodiscard]] const HardwareSpec& hardware() const override { return hw_; }
  [[nodiscard]] OpCost cost(const Op& op) const override { return cost(op, IssueMode::Cuda); }
  [[nodiscard]] OpCost cost(const Op& op, IssueMode mode) const override;
  [[nodiscard]] Seconds sync_time() const override { return Seconds(p_.launch_latency); }
  [[nodiscard]] Seconds timing_overhead() const override { return Seconds(p_.event_pair_overhead); }
  [[nodiscard]] Seconds host_issue_time(bool cuda_graph) const override;
  [[nodiscard]] Seconds host_issue_time(IssueMode mode) const override;
  [[nodiscard]] Seconds host_time(const Op& op, IssueMode mode) const override;
  [[nodiscard]] Seconds host_time_in_sequence(const Op& op, IssueMode mode) const override;
  [[nodiscard]] const KernelParams& params() const { return p_; }

  // Parts, exposed for tests and the cycle-approximate model.
  // weight_bytes: stored weight bytes when quantized (0 = dense in d); dequant_elements: weights
  // expanded on the CUDA cores per row of tiles.
  [[nodiscard]] OpCost gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, double overhead,
                            double weight_bytes = 0, double dequant_elements = 0, bool warm_l2 = false) const;
  // reread: bytes read a second time right after the first read (a row kernel's second pass):
  // traffic on top of bytes_read, not working set (L2 holds it when bytes_read + bytes_written fit).
  [[nodiscard]] Seconds stream(double bytes_read, double bytes_written, bool warm_l2, double efficiency = 1.0,
                               double reread = 0) const;

  // Plans (see above), shared with the cycle-approximate lowering. overhead: the fixed per-kernel
  // time of the launch mode (it enters the GEMM's tile choice through split-K's extra kernel).
  // warm_l2: the operands sit in L2 (no latency floor on the k-loop while they fit).
  [[nodiscard]] GemmPlan gemm_plan(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, double overhead,
                                   double weight_bytes = 0, double dequant_elements = 0, bool warm_l2 = false) const;
  // The GEMM of a Gemm or MoeRouter op (quantized weights when the op has dequant elements).
  [[nodiscard]] GemmPlan gemm_plan(const Op& op, double overhead) const;
  [[nodiscard]] AttentionPlan attention_plan(const Op& op, double overhead) const;
  // A GEMM tile's tensor-core rate relative to the 128x256 tile's (from gemm_tile_intensity).
  [[nodiscard]] double tile_rate(int tile_m, int tile_n) const;
  [[nodiscard]] StreamPlan stream_plan(double bytes_read, double bytes_written, bool warm_l2,
                                       double efficiency = 1.0, double reread = 0) const;
  [[nodiscard]] ElementwiseStream elementwise_stream(const Op& op) const;
  [[nodiscard]] MoePlan moe_plan(const Op& op) const;
  // PyTorch's grouped GEMM (torch._grouped_mm, CUTLASS, SM90) over the groups' rows: its tile
  // (64x128 ping-pong when the mean rows per group or n is at most 128, else 128x256
  // cooperative; clusters of 2 tiles along m), the tiles per group of each one's rows, and each
  // group's weights read once per cluster of rows. At dense-GEMM rates (divide by the grouped
  // efficiencies for torch._grouped_mm's).
  // weight_element_bytes: the stored bytes of one weight (a quantized format's, scales included);
  // 0: d's element size.
  [[nodiscard]] GemmPlan grouped_gemm_plan(const MoeRowBlocks& rows, int64_t n, int64_t k, DType d,
                                           double overhead, double weight_element_bytes = 0) const;
  [[nodiscard]] CollectivePlan collective_plan(const Op& op) const;
  // Fixed per-kernel time of a launch mode (stream launch or CUDA-graph node), s.
  [[nodiscard]] double kernel_overhead(IssueMode mode) const {
    return mode == IssueMode::Graph ? p_.graph_kernel_overhead : p_.kernel_overhead;
  }
  // The same for a plain vectorized elementwise kernel (Op::light_kernels), s.
  [[nodiscard]] double light_kernel_overhead(IssueMode mode) const {
    const double l = mode == IssueMode::Graph ? p_.graph_light_kernel_overhead : p_.light_kernel_overhead;
    return l > 0 ? l : kernel_overhead(mode);
  }
  // Fixed time of an op's kernels: light ones at their own cost, the rest at `overhead`.
  [[nodiscard]] double kernels_overhead(const Op& op, IssueMode mode, double overhead) const;

 private:
  [[nodiscard]] Seconds host_cost(const Op& op, IssueMode mode, bool in_sequence) const;
  [[nodiscard]] OpCost attention(const Op& op, double overhead) const;
  [[nodiscard]] OpCost moe(const Op& op, double overhead) const;
  [[nodiscard]] OpCost collective(const Op& op, double overhead) const;
  [[nodiscard]] OpCost elementwise(const Op& op, IssueMode mode, double overhead) const;

  const HardwareSpec& hw_;
  KernelParams p_;
  double sm_scale_ = 1.0;   // SM clock / boost clock
  double mem_scale_ = 1.0;  // memory clock / nominal
  double bw_read_ = 0, bw_write_ = 0, bw_l2_ = 0;  // bytes/s
  double l2_bytes_ = 0;
  int sms_ = 1;
};

}  // namespace headroom

#pragma once
// Lowering of an Op to the kernels the cycle-approximate model simulates. A KernelPlan is one
// kernel launch: a grid of identical CTAs, how many of them an SM holds at once, each CTA's
// compute (SM cycles) and memory traffic (bytes on one shared bandwidth resource), and the fixed
// costs around them. The numbers come from the analytical model's kernel plans
// (AnalyticalCostModel::gemm_plan, attention_plan, stream_plan, moe_plan, collective_plan in
// cost/analytical.hpp): its GEMM tile choice, split-K, efficiencies and quantized-weight
// dequantization, FA2 work items and decode splits, stream efficiencies and NCCL
// latency/bandwidth; see docs/cycle-model.md.
#include <cstdint>
#include <vector>

#include "headroom/cost/analytical.hpp"
#include "headroom/cost/cost_model.hpp"
#include "headroom/hw/kernel_params.hpp"
#include "headroom/sim/ticks.hpp"

namespace headroom::sim {

// Bandwidth shared by all CTAs in flight (processor sharing, weighted by CTA count).
enum class Resource : uint8_t { Hbm, L2, Link };
inline constexpr int kResources = 3;
std::string_view to_string(Resource r);

struct KernelPlan {
  const char* label = "";   // a static string naming the kernel (for reports and tests)
  int64_t ctas = 0;         // grid size; 0 = an empty kernel (fixed costs only)
  // A persistent kernel: its CTAs share this many equal units of work round-robin (the first
  // work_units % ctas CTAs take one more); cta_cycles, cta_pipeline and cta_bytes are then per
  // unit. 0 = one unit per CTA.
  int64_t work_units = 0;
  int ctas_per_sm = 1;      // occupancy: most CTAs of this kernel resident on one SM
  // Per CTA, pipelined: compute and memory overlap, the CTA ends when both are done.
  int64_t cta_cycles = 0;   // compute, SM cycles with the whole SM (efficiency folded in); CTAs
                            // resident on one SM share its rate
  Tick cta_pipeline = 0;    // fixed time inside the pipelined part (GEMM pipeline fill/epilogue)
  double cta_bytes = 0;     // traffic on `mem`, in bytes at the resource's nominal rate
                            // (achieved efficiencies are folded in: 1 B read at 86% = 1.17 B)
  Resource mem = Resource::Hbm;
  double cta_rate_cap = 0;  // most bytes/s one CTA can draw (0 = no cap beyond its share)
  bool pipelined = true;    // false: the memory phase follows the compute phase (no overlap)
  // Fixed costs.
  Tick cta_serial = 0;      // per CTA, before its pipelined part (FA2 block setup, NCCL handshakes)
  Tick launch = 0;          // per kernel, on its stream before any CTA starts (launch gap, prologue)
  // Launched by a library inside the previous kernel's host call (split-K reduction, FA2
  // combine): no host issue time of its own.
  bool library_launch = false;
  Tick host_extra = 0;      // host time to issue it beyond the per-kernel issue time (eager
                            // torch.distributed calls)
};

// The machine the engine runs: SM count, SM clock and the nominal rate of each resource.
struct SimMachine {
  int sms = 1;
  ClockDomain sm_clock;
  ClockDomain mem_clock;
  double capacity[kResources] = {0, 0, 0};  // bytes/s at the operating point
};

// Derives plans and the machine for one hardware spec, parameter set and operating point.
class Lowering {
 public:
  // gemm_sm_margin: SMs that persistent GEMMs leave free (their grid is SMs - margin), as
  // TransformerEngine's sm_margin does to let NCCL run beside them.
  Lowering(const HardwareSpec& hw, const KernelParams& p, OperatingPoint at = {}, int gemm_sm_margin = 0);
  [[nodiscard]] const SimMachine& machine() const { return m_; }
  [[nodiscard]] const KernelParams& params() const { return p_; }
  // The analytical model whose plans (tile choice, work items, host costs) this lowering uses.
  [[nodiscard]] const AnalyticalCostModel& plans() const { return plans_; }
  // Appends the kernels of one op, in launch order. Throws InputError when the op cannot run on
  // this part (a dtype without a matrix unit). in_sequence: the op is issued among other work (a
  // model step), where an eager collective costs the host more than back to back.
  void lower(const Op& op, IssueMode mode, std::vector<KernelPlan>& out, bool in_sequence = false) const;
  // One GEMM kernel (plus the split-K reduction when split), with the analytical tile choice;
  // weight_bytes / dequant_elements as AnalyticalCostModel::gemm (quantized weights).
  void lower_gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, Tick launch,
                  std::vector<KernelPlan>& out, double weight_bytes = 0, double dequant_elements = 0) const;
  // Streaming kernels moving r bytes in and w bytes out (split evenly over `kernels` launches).
  void lower_stream(double r, double w, bool warm_l2, double efficiency, double flops, int kernels, Tick launch,
                    std::vector<KernelPlan>& out, double reread = 0) const;
  // Fixed per-kernel time for a launch mode (stream launch or CUDA-graph node).
  [[nodiscard]] Tick kernel_overhead(IssueMode mode) const;

 private:
  void attention(const Op& op, Tick launch, std::vector<KernelPlan>& out) const;
  void moe(const Op& op, Tick launch, std::vector<KernelPlan>& out) const;
  void collective(const Op& op, Tick launch, std::vector<KernelPlan>& out) const;
  // One GEMM kernel from its plan.
  void emit_gemm(const GemmPlan& plan, DType d, Tick launch, std::vector<KernelPlan>& out) const;
  [[nodiscard]] double matrix_per_cycle(DType d) const;  // FLOP per SM cycle, one SM

  const HardwareSpec& hw_;
  KernelParams p_;
  AnalyticalCostModel plans_;  // the kernel plans (tile choice, work items, efficiencies)
  SimMachine m_;
  double sm_scale_ = 1.0, mem_scale_ = 1.0;
  double vector_per_cycle_ = 0;  // fp32 FLOP per SM cycle, one SM
  int gemm_grid_ = 1;  // CTAs of a persistent GEMM
};

// Structural constants of the kernels modelled (not fitted; sources beside each).
// Streaming kernels: 256-thread CTAs (PyTorch's vectorized elementwise kernels use 128-512), so
// an SM holds 2048 / 256 = 8 (Hopper: 2048 resident threads per SM, CUDA occupancy tables).
inline constexpr int kStreamCtasPerSm = 8;
// Bytes one streaming CTA moves (256 threads x 16 B vectors x 16 iterations).
inline constexpr double kStreamCtaBytes = 65536.0;
// NCCL channels (one CTA each) of a collective on an NVLink ring; NCCL 2.2x picks 16-32 on
// H100/H200 NVLink; 16 is its minimum there (NCCL_MIN_NCHANNELS tuning notes).
inline constexpr int kCollectiveChannels = 16;

}  // namespace headroom::sim

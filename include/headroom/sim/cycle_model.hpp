#pragma once
// The cycle-approximate fidelity (`--fidelity cycle`): kernels lowered to grids of CTAs
// (sim/kernel_plan.hpp) and simulated event by event on the SMs, sharing HBM, L2 and the fabric
// (sim/engine.hpp). CycleCostModel answers the CostModel interface (one kernel alone on an idle
// GPU); simulate_step() runs a whole StepGraph with streams, launch gaps, host issue and
// contention. Deterministic: the same inputs give the same ticks. See docs/cycle-model.md.
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/step_graph.hpp"
#include "headroom/sim/kernel_plan.hpp"

namespace headroom {

class CycleCostModel final : public CostModel {
 public:
  // Uses hw.kernel_model when present, else neutral parameters.
  explicit CycleCostModel(const HardwareSpec& hw, OperatingPoint at = {});
  CycleCostModel(const HardwareSpec& hw, const KernelParams& params, OperatingPoint at = {});
  [[nodiscard]] std::string_view name() const override { return "cycle"; }
  [[nodiscard]] const HardwareSpec& hardware() const override { return hw_; }
  [[nodiscard]] OpCost cost(const Op& op) const override { return cost(op, IssueMode::Cuda); }
  // Simulates the op's kernels alone, back to back on one stream of an idle GPU. The parts
  // (compute, memory, comm, overhead) are each kernel's unshared demands summed over its waves;
  // time is the simulated end.
  [[nodiscard]] OpCost cost(const Op& op, IssueMode mode) const override;
  [[nodiscard]] Seconds sync_time() const override { return Seconds(lowering_.params().launch_latency); }
  [[nodiscard]] Seconds timing_overhead() const override { return Seconds(lowering_.params().event_pair_overhead); }
  [[nodiscard]] Seconds host_issue_time(bool cuda_graph) const override;
  [[nodiscard]] Seconds host_issue_time(IssueMode mode) const override;
  [[nodiscard]] Seconds host_time(const Op& op, IssueMode mode) const override;
  [[nodiscard]] Seconds host_time_in_sequence(const Op& op, IssueMode mode) const override;
  [[nodiscard]] const sim::Lowering& lowering() const { return lowering_; }

 private:
  const HardwareSpec& hw_;
  sim::Lowering lowering_;
};

struct SimOptions {
  // true: kernels are nodes of a replayed CUDA graph (graph per-node overheads, the GPU is fed);
  // false: eager PyTorch, the host issues each kernel (host_issue_torch) and waits at host syncs.
  bool cuda_graph = true;
  // Streams: false = one stream in the graph's topological order; true = collectives on a
  // second stream, so they overlap compute wherever the graph's dependencies allow.
  bool collectives_on_own_stream = false;
  // Dispatch priority of the collective stream over the compute stream (as NCCL streams created
  // with high priority); 0 = equal (the earlier-ready kernel dispatches first).
  int collective_priority = 1;
  // SMs persistent GEMMs leave free for concurrent kernels (TransformerEngine's sm_margin):
  // -1 = the collective's channels when collectives have their own stream, else 0. Without a
  // margin a persistent GEMM next to NCCL has CTAs waiting for SMs until the collective ends.
  int gemm_sm_margin = -1;
  OperatingPoint at{};
};

struct OpTiming {
  Seconds start;  // first kernel's launch gap begins (dependencies met, issued)
  Seconds end;    // last kernel done
  int stream = 0;
  int kernels = 0;
};

struct ResourceUtilization {
  double sm = 0;    // time-averaged fraction of SMs holding CTAs
  double hbm = 0;   // bytes moved at nominal rate / (rate x step time); efficiencies folded in
  double l2 = 0;
  double link = 0;  // scale-up fabric
};

struct StepSimulation {
  Seconds time;
  std::vector<OpTiming> ops;  // aligned with the order given (StepGraph::order())
  ResourceUtilization utilization;
  sim::Tick ticks = 0;
  int64_t kernels = 0;
  int64_t events = 0;
};

// Simulates one step. Throws InputError when an op cannot run on this hardware.
StepSimulation simulate_step(const StepGraph& g, const HardwareSpec& hw, const SimOptions& opts = {});
// The same for any operator DAG; `order` must be a topological order of g (it is the issue order
// and the order of StepSimulation::ops).
StepSimulation simulate_graph(const OpGraph& g, const std::vector<OpVertex>& order, const HardwareSpec& hw,
                              const SimOptions& opts = {});

}  // namespace headroom

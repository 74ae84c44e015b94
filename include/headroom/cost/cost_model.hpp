#pragma once
// CostModel: the one narrow interface every fidelity implements. It prices a single Op (a kernel)
// on one device at one operating point; step-level composition (launch overheads, streams,
// collectives between GPUs) is done by evaluate_step() and the simulators on top of it.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/graph/op.hpp"
#include "headroom/hw/hardware_spec.hpp"

namespace headroom {

class StepGraph;

enum class Bound { Compute, Memory, Communication, Overhead };
std::string_view to_string(Bound b);

struct OpCost {
  Seconds compute;   // arithmetic at the (effective) matrix or vector rate
  Seconds memory;    // device-memory traffic at the (effective) bandwidth
  Seconds comm;      // fabric traffic (collectives)
  Seconds overhead;  // fixed per-kernel costs (launch, tail, synchronisation)
  Seconds time;      // predicted kernel time on the GPU
  Bound bound = Bound::Memory;
};

// How kernels reach the GPU: from C++ (CUDA runtime, cuBLASLt), from eager PyTorch, or as the
// nodes of a replayed CUDA graph. Decides the CPU time per kernel.
enum class IssueMode { Cuda, Torch, Graph };
std::string_view to_string(IssueMode m);

// The clocks a prediction is made at. A power model lowers sm_clock under a cap and asks again.
struct OperatingPoint {
  Hertz sm_clock;   // 0 = the hardware's boost clock
  Hertz mem_clock;  // 0 = the hardware's nominal memory clock
};

class CostModel {
 public:
  virtual ~CostModel() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  [[nodiscard]] virtual const HardwareSpec& hardware() const = 0;
  // Kernel time of one op on one GPU. Throws InputError when the op cannot run on this part
  // (e.g. fp8 on a GPU without fp8 units).
  [[nodiscard]] virtual OpCost cost(const Op& op) const = 0;
  // The same kernel launched in a given way (fixed per-kernel costs differ between stream
  // launches and CUDA-graph nodes). Default: launch mode does not matter.
  [[nodiscard]] virtual OpCost cost(const Op& op, IssueMode) const { return cost(op); }
  // Host synchronisation round trip (launch + wait), for ops that read device results.
  [[nodiscard]] virtual Seconds sync_time() const { return Seconds(0); }
  // GPU time a measurement adds once per timed call: the pair of CUDA events around it.
  [[nodiscard]] virtual Seconds timing_overhead() const { return Seconds(0); }
  // CPU time to issue one kernel: from eager PyTorch, or as a node of a replayed CUDA graph.
  [[nodiscard]] virtual Seconds host_issue_time(bool cuda_graph) const = 0;
  [[nodiscard]] virtual Seconds host_issue_time(IssueMode mode) const {
    return host_issue_time(mode == IssueMode::Graph);
  }
  // CPU time to issue one op (all its kernels), issued back to back with itself.
  [[nodiscard]] virtual Seconds host_time(const Op& op, IssueMode mode) const {
    return host_issue_time(mode) * static_cast<double>(op.kernels);
  }
  // The same op issued among other work (a model step, an op sequence): an eager collective
  // costs the host more there than in a loop of collectives. Default: no difference.
  [[nodiscard]] virtual Seconds host_time_in_sequence(const Op& op, IssueMode mode) const {
    return host_time(op, mode);
  }
};

// The datasheet roofline: max(FLOPs / peak, bytes / HBM bandwidth, wire bytes / link bandwidth).
// No efficiencies, no overheads: an honest upper bound on speed, not a prediction.
class RooflineCostModel final : public CostModel {
 public:
  explicit RooflineCostModel(const HardwareSpec& hw, OperatingPoint at = {});
  [[nodiscard]] std::string_view name() const override { return "roofline"; }
  [[nodiscard]] const HardwareSpec& hardware() const override { return hw_; }
  [[nodiscard]] OpCost cost(const Op& op) const override;
  [[nodiscard]] Seconds host_issue_time(bool) const override { return Seconds(0); }

 private:
  const HardwareSpec& hw_;
  double clock_scale_ = 1.0;
  double mem_scale_ = 1.0;
};

// Peak rate the roofline uses for an op: matrix rate for GEMM-like ops and attention, vector
// fp32 rate for elementwise work. Throws InputError when the dtype has no unit on this part.
FlopRate roofline_peak(const HardwareSpec& hw, const Op& op);
// Per-direction bandwidth between two GPUs of a group (scale-up fabric, else PCIe).
Bandwidth fabric_bandwidth(const HardwareSpec& hw);
// Scale-up domains (nodes) a collective's group spans: the shape's own count, else as few as hold
// it (ceil(gpus / scale_up.domain)); 1 when the file gives no domain.
int64_t collective_nodes(const HardwareSpec& hw, const CollectiveShape& s);
// An all-to-all's time for its bytes over `nodes` nodes: each of the g - 1 peers gets an equal
// share at once, the on-node peers' over the scale-up fabric (`up`, bytes/s), the others' over the
// network (`net`), in parallel: the slower side sets it.
double all_to_all_split_seconds(double wire_bytes, int64_t gpus, int64_t nodes, double up, double net);

struct StepCost {
  std::vector<OpCost> ops;  // aligned with StepGraph::order()
  Seconds gpu_time;         // sum of kernel times (one stream)
  Seconds host_time;        // CPU issue time of all kernels
  Seconds time;             // predicted step time
  Seconds by_bound[4];      // GPU time per Bound
  Seconds collective_time;  // GPU time of the collective ops (TP all-reduce, EP all-to-all)
};

// Time of one op as measured back to back from the host: the GPU's time, unless issuing its
// kernels takes the CPU longer; host synchronisations inside the op serialise the two.
Seconds issued_time(const Op& op, const OpCost& c, const CostModel& cm, IssueMode mode);
// Time of one op when the GPU was kept busy while the host queued it: the GPU's time alone, and
// the event pair that times it.
inline Seconds queued_time(const OpCost& c, const CostModel& cm) { return c.time + cm.timing_overhead(); }

// Composes a step from per-op costs on one stream: the GPU runs kernels back to back unless the
// CPU cannot issue them fast enough (eager execution), so time = max(gpu, host) with a ramp term
// of one launch. With cuda_graph, host issue time is the graph's per-node cost.
StepCost evaluate_step(const StepGraph& g, const CostModel& cm, bool cuda_graph);
// The same composition for a list of ops issued in order (eager: IssueMode::Torch or Cuda; a
// replayed CUDA graph: IssueMode::Graph).
StepCost evaluate_ops(const std::vector<Op>& ops, const CostModel& cm, IssueMode mode);

}  // namespace headroom

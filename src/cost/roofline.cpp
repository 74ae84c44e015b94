#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/error.hpp"
#include "headroom/cost/cost_model.hpp"

#include <functional>
#include "headroom/graph/step_graph.hpp"

namespace headroom {

std::string_view to_string(Bound b) {
  switch (b) {
    case Bound::Compute: return "compute";
    case Bound::Memory: return "memory";
    case Bound::Communication: return "communication";
    case Bound::Overhead: return "overhead";
  }
  return "?";
}

std::string_view to_string(IssueMode m) {
  switch (m) {
    case IssueMode::Cuda: return "cuda";
    case IssueMode::Torch: return "torch";
    case IssueMode::Graph: return "graph";
  }
  return "?";
}

Seconds issued_time(const Op& op, const OpCost& c, const CostModel& cm, IssueMode mode) {
  const Seconds host = cm.host_time(op, mode);
  // Between synchronisations the GPU runs each kernel as soon as it is issued, so host and GPU
  // work overlap segment by segment (equal segments: max of the totals); every synchronisation
  // adds its round trip, during which neither side advances.
  return std::max(c.time, host) + cm.sync_time() * static_cast<double>(op.syncs);
}

FlopRate roofline_peak(const HardwareSpec& hw, const Op& op) {
  const bool matrix = op.kind == OpKind::Gemm || op.kind == OpKind::Attention || op.kind == OpKind::MoeExperts ||
                      op.kind == OpKind::MoeRouter;
  if (!matrix) return hw.compute.vector_fp32;
  auto r = hw.peak_rate(op.dtype);
  if (!r) {
    throw InputError(fmt::format("{} has no {} matrix unit (op {})", hw.name, to_string(op.dtype), op.name));
  }
  return *r;
}

Bandwidth fabric_bandwidth(const HardwareSpec& hw) {
  if (hw.scale_up) return hw.scale_up->total_per_direction();
  return hw.pcie.bandwidth;
}

int64_t collective_nodes(const HardwareSpec& hw, const CollectiveShape& s) {
  if (s.nodes > 0) return s.nodes;
  const int64_t domain = hw.scale_up ? hw.scale_up->domain : 0;
  return domain > 0 ? (s.gpus + domain - 1) / domain : 1;
}

double all_to_all_split_seconds(double wire_bytes, int64_t gpus, int64_t nodes, double up, double net) {
  const double g = static_cast<double>(gpus);
  const double local = std::ceil(g / static_cast<double>(nodes));  // this GPU's node's GPUs, itself included
  const double per_peer = wire_bytes / (g - 1.0);
  return std::max(per_peer * (local - 1.0) / up, per_peer * (g - local) / net);
}

RooflineCostModel::RooflineCostModel(const HardwareSpec& hw, OperatingPoint at) : hw_(hw) {
  if (at.sm_clock.value() > 0) clock_scale_ = at.sm_clock / hw.compute.clocks.boost;
  if (at.mem_clock.value() > 0 && hw.hbm.clock) mem_scale_ = at.mem_clock / *hw.hbm.clock;
}

OpCost RooflineCostModel::cost(const Op& op) const {
  OpCost c;
  if (op.flops.value() > 0) c.compute = op.flops / (roofline_peak(hw_, op) * clock_scale_);
  c.memory = op.bytes() / (hw_.hbm.bandwidth * mem_scale_);
  if (op.wire_bytes.value() > 0) c.comm = op.wire_bytes / fabric_bandwidth(hw_);
  if (const auto* s = std::get_if<CollectiveShape>(&op.shape); s && op.wire_bytes.value() > 0 && hw_.scale_out) {
    // A group over several scale-up domains: the ring runs at the slower fabric's line rate;
    // all-to-all sends its off-node share over the network while the rest goes over the scale-up
    // fabric (AnalyticalCostModel::collective_plan, with efficiencies).
    const int64_t nodes = collective_nodes(hw_, *s);
    if (nodes > 1) {
      const double up = fabric_bandwidth(hw_).value(), net = hw_.scale_out->bandwidth.value();
      const double w = op.wire_bytes.value();
      c.comm = Seconds(s->kind == CollectiveKind::AllToAll ? all_to_all_split_seconds(w, s->gpus, nodes, up, net)
                                                           : w / std::min(up, net));
    }
  }
  c.time = std::max({c.compute, c.memory, c.comm});
  if (c.comm >= c.compute && c.comm >= c.memory && c.comm.value() > 0) {
    c.bound = Bound::Communication;
  } else {
    c.bound = c.compute > c.memory ? Bound::Compute : Bound::Memory;
  }
  return c;
}

namespace {
template <class Ops>
StepCost compose(const Ops& ops, const CostModel& cm, IssueMode mode) {
  StepCost s;
  const Seconds issue = cm.host_issue_time(mode);  // the first kernel waits for its launch
  const bool sequence = ops.size() > 1;
  for (const Op& op : ops) {
    OpCost c = cm.cost(op, mode);
    s.gpu_time += c.time;
    s.host_time += sequence ? cm.host_time_in_sequence(op, mode) : cm.host_time(op, mode);
    s.by_bound[static_cast<int>(c.bound)] += c.time;
    if (op.kind == OpKind::Collective) s.collective_time += c.time;
    s.ops.push_back(c);
  }
  // The CPU issues kernels ahead of the GPU; the step ends when both are done. The first kernel
  // cannot start before it is issued, hence one issue time on top of the GPU's sum.
  s.time = std::max(s.gpu_time + issue, s.host_time);
  return s;
}
}  // namespace

StepCost evaluate_step(const StepGraph& g, const CostModel& cm, bool cuda_graph) {
  std::vector<std::reference_wrapper<const Op>> ops;
  ops.reserve(g.size());
  for (OpVertex v : g.order()) ops.emplace_back(g.op(v));
  return compose(ops, cm, cuda_graph ? IssueMode::Graph : IssueMode::Torch);
}

StepCost evaluate_ops(const std::vector<Op>& ops, const CostModel& cm, IssueMode mode) {
  return compose(ops, cm, mode);
}

}  // namespace headroom

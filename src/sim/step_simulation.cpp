#include <fmt/format.h>

#include "headroom/core/error.hpp"
#include "headroom/sim/cycle_model.hpp"
#include "headroom/sim/engine.hpp"

namespace headroom {

StepSimulation simulate_graph(const OpGraph& g, const std::vector<OpVertex>& order, const HardwareSpec& hw,
                              const SimOptions& opts) {
  const KernelParams params = hw.kernel_model.value_or(KernelParams{});
  const int margin = opts.gemm_sm_margin >= 0 ? opts.gemm_sm_margin
                     : opts.collectives_on_own_stream ? sim::kCollectiveChannels
                                                      : 0;
  const sim::Lowering low(hw, params, opts.at, margin);
  const IssueMode mode = opts.cuda_graph ? IssueMode::Graph : IssueMode::Torch;
  sim::Engine e(low.machine());
  const int compute = e.add_stream(0);
  const int comm = opts.collectives_on_own_stream ? e.add_stream(opts.collective_priority) : compute;
  // Eager: the host issues every kernel and waits at host synchronisations (MoE expert loops).
  if (!opts.cuda_graph)
    e.set_host(sim::seconds_to_ticks(params.host_issue_torch * params.host_scale()), sim::seconds_to_ticks(params.launch_latency));

  std::vector<int> index(boost::num_vertices(g), -1);
  std::vector<int> deps;
  std::vector<sim::KernelPlan> plans;
  std::vector<int> kernels(order.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    const OpVertex v = order[i];
    deps.clear();
    for (auto [it, last] = boost::in_edges(v, g); it != last; ++it) {
      const int d = index[boost::source(*it, g)];
      if (d < 0) throw InputError(fmt::format("cycle model: op {} comes before its input in the order", g[v].name));
      deps.push_back(d);
    }
    const Op& op = g[v];
    const int stream = op.kind == OpKind::Collective ? comm : compute;
    e.add_op(stream, deps.data(), static_cast<int>(deps.size()), opts.cuda_graph ? 0 : op.syncs);
    plans.clear();
    low.lower(op, mode, plans, order.size() > 1);
    for (const auto& k : plans) e.add_kernel(k);
    kernels[i] = static_cast<int>(plans.size());
    index[v] = static_cast<int>(i);
  }
  e.run();

  StepSimulation s;
  s.ticks = e.end();
  s.time = Seconds(sim::ticks_to_seconds(e.end()));
  s.events = e.events();
  s.kernels = static_cast<int64_t>(e.kernels().size());
  s.ops.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const sim::OpRecord& r = e.ops()[i];
    s.ops.push_back(OpTiming{Seconds(sim::ticks_to_seconds(r.start)), Seconds(sim::ticks_to_seconds(r.end)), r.stream,
                             kernels[i]});
  }
  s.utilization.sm = e.sm_utilization();
  s.utilization.hbm = e.utilization(sim::Resource::Hbm);
  s.utilization.l2 = e.utilization(sim::Resource::L2);
  s.utilization.link = e.utilization(sim::Resource::Link);
  return s;
}

StepSimulation simulate_step(const StepGraph& g, const HardwareSpec& hw, const SimOptions& opts) {
  return simulate_graph(g.graph(), g.order(), hw, opts);
}

}  // namespace headroom

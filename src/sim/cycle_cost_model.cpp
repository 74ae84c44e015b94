#include <algorithm>
#include <cmath>

#include "headroom/sim/cycle_model.hpp"
#include "headroom/sim/engine.hpp"

namespace headroom {

using sim::Tick;

CycleCostModel::CycleCostModel(const HardwareSpec& hw, OperatingPoint at)
    : CycleCostModel(hw, hw.kernel_model.value_or(KernelParams{}), at) {}

CycleCostModel::CycleCostModel(const HardwareSpec& hw, const KernelParams& params, OperatingPoint at)
    : hw_(hw), lowering_(hw, params, at) {}

// Host work is outside the GPU simulation: the analytical model's host costs (the same plans).
Seconds CycleCostModel::host_issue_time(bool cuda_graph) const { return lowering_.plans().host_issue_time(cuda_graph); }

Seconds CycleCostModel::host_issue_time(IssueMode mode) const { return lowering_.plans().host_issue_time(mode); }

Seconds CycleCostModel::host_time(const Op& op, IssueMode mode) const { return lowering_.plans().host_time(op, mode); }

Seconds CycleCostModel::host_time_in_sequence(const Op& op, IssueMode mode) const {
  return lowering_.plans().host_time_in_sequence(op, mode);
}

OpCost CycleCostModel::cost(const Op& op, IssueMode mode) const {
  std::vector<sim::KernelPlan> plans;
  lowering_.lower(op, mode, plans);
  const sim::SimMachine& m = lowering_.machine();
  sim::Engine e(m);
  e.add_stream();
  e.add_op(0, nullptr, 0);
  for (const auto& k : plans) e.add_kernel(k);
  e.run();

  OpCost c;
  double compute = 0, memory = 0, comm = 0, overhead = 0;  // ticks
  for (const auto& k : plans) {
    overhead += static_cast<double>(k.launch);
    if (k.ctas <= 0) continue;
    const int64_t slots = static_cast<int64_t>(m.sms) * std::max(1, k.ctas_per_sm);
    const int64_t units = std::max(k.work_units, k.ctas);          // persistent: units per kernel
    const int64_t per_cta = (units + k.ctas - 1) / k.ctas;            // of the busiest CTA
    const double waves = static_cast<double>((k.ctas + slots - 1) / slots);
    const int64_t per_sm = (std::min(k.ctas, slots) + m.sms - 1) / m.sms;
    compute += waves * static_cast<double>(per_cta) *
               static_cast<double>(m.sm_clock.to_ticks(k.cta_cycles * per_sm) + k.cta_pipeline);
    overhead += waves * static_cast<double>(k.cta_serial);
    double rate = m.capacity[static_cast<int>(k.mem)];
    if (k.cta_rate_cap > 0) rate = std::min(rate, static_cast<double>(std::min(k.ctas, slots)) * k.cta_rate_cap);
    const double t = rate > 0 ? k.cta_bytes * static_cast<double>(units) / rate * sim::kTicksPerSecond : 0.0;
    (k.mem == sim::Resource::Link ? comm : memory) += t;
  }
  auto sec = [](double ticks) { return Seconds(ticks / static_cast<double>(sim::kTicksPerSecond)); };
  c.compute = sec(compute);
  c.memory = sec(memory);
  c.comm = sec(comm);
  c.overhead = sec(overhead);
  c.time = Seconds(sim::ticks_to_seconds(e.end()));
  if (comm > 0) {
    c.bound = comm >= overhead ? Bound::Communication : Bound::Overhead;
  } else {
    c.bound = compute >= memory ? Bound::Compute : Bound::Memory;
    if (overhead > std::max(compute, memory)) c.bound = Bound::Overhead;
  }
  return c;
}

}  // namespace headroom

#include "headroom/cost/roofline_table.hpp"

#include <map>

namespace headroom {

RooflineTable roofline_table(const StepGraph& g, const CostModel& cm, bool cuda_graph, bool group_layers) {
  RooflineTable t;
  t.step = evaluate_step(g, cm, cuda_graph);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < g.order().size(); ++i) {
    const Op& op = g.op(g.order()[i]);
    const OpCost& c = t.step.ops[i];
    std::string key = op.name;
    if (group_layers && op.layer >= 0) key = op.name.substr(op.name.find('.') + 1);
    auto [it, fresh] = index.emplace(key, t.rows.size());
    if (fresh) {
      RooflineRow r;
      r.name = key;
      r.kind = op.kind;
      r.dtype = op.dtype;
      r.bound = c.bound;
      t.rows.push_back(r);
    }
    RooflineRow& r = t.rows[it->second];
    r.count += 1;
    r.flops += op.flops;
    r.bytes += op.bytes();
    r.wire_bytes += op.wire_bytes;
    r.compute += c.compute;
    r.memory += c.memory;
    r.comm += c.comm;
    r.time += c.time;
    t.flops += op.flops;
    t.bytes += op.bytes();
  }
  return t;
}

}  // namespace headroom

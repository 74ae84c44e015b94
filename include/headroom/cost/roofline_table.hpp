#pragma once
// A step's per-operator table (what `headroom roofline` prints and Python returns as rows):
// operators of the same name across layers are grouped into one row with a count.
#include <string>
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/step_graph.hpp"

namespace headroom {

struct RooflineRow {
  std::string name;  // "qkv" (grouped over layers) or "L3.qkv" (ungrouped)
  OpKind kind = OpKind::Gemm;
  DType dtype = DType::BF16;
  int count = 0;     // ops in the group
  Flops flops;       // totals over the group
  Bytes bytes;
  Bytes wire_bytes;
  Seconds compute, memory, comm, time;
  Bound bound = Bound::Memory;  // of a single op of the group
  [[nodiscard]] double intensity() const { return bytes.value() > 0 ? flops.value() / bytes.value() : 0.0; }
};

struct RooflineTable {
  std::vector<RooflineRow> rows;
  StepCost step;
  Flops flops;
  Bytes bytes;
};

RooflineTable roofline_table(const StepGraph& g, const CostModel& cm, bool cuda_graph, bool group_layers);

}  // namespace headroom

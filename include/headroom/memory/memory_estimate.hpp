#pragma once
// Device-memory footprint of a model step on one GPU of a tensor-parallel group: weights, KV
// cache, and their sum against the HBM capacity (the datasheet's). A quick check for roofline;
// the full plan (weight/KV formats, PP/EP, runtime overheads, paging, the memory a process can
// really allocate) is plan_memory() in memory_plan.hpp.
#include "headroom/graph/step_graph.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom {

struct MemoryEstimate {
  Bytes weights;          // per GPU
  Bytes kv_cache;         // per GPU, for batch x (tokens in cache after the step)
  Bytes kv_per_token;     // per GPU, one token of one sequence across all layers
  Bytes total;            // weights + kv_cache
  Bytes capacity;         // HBM capacity (datasheet)
  [[nodiscard]] bool fits() const { return total <= capacity; }
};

// Weights: attention and FFN matrices split by tp (KV projections replicated when tp exceeds
// the KV heads), vocabulary-parallel embedding and head, norms replicated. KV cache: layers x
// per-token elements x kv dtype bytes x batch x tokens (seq for prefill, context + 1 for decode).
MemoryEstimate estimate_memory(const ModelSpec& m, const StepConfig& cfg, const HardwareSpec& hw);

}  // namespace headroom

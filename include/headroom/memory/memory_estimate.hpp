#pragma once
// Device-memory footprint of one model step on one GPU (roofline's memory line): the weights and
// the KV cache the step's batch holds, plus the runtime's reservations, against what the process
// can use. Computed by plan_memory() (memory_plan.hpp), so both views agree.
#include "headroom/graph/step_graph.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom {

struct MemoryEstimate {
  Bytes weights;          // per GPU
  Bytes kv_cache;         // per GPU, for batch x (tokens in cache after the step)
  Bytes kv_per_token;     // per GPU, one token of one sequence across all layers
  Bytes runtime;          // CUDA context, library workspaces, NCCL buffers, activation peak
  Bytes total;            // weights + kv_cache + runtime
  Bytes capacity;         // what the process sees (measured cudaMemGetInfo total, else datasheet)
  [[nodiscard]] bool fits() const { return total <= capacity; }
};

// The step's own batch and tokens (seq for prefill, context + 1 for decode) with the plan's
// tp/ep and the step's weight and KV formats.
MemoryEstimate estimate_memory(const ModelSpec& m, const StepConfig& cfg, const HardwareSpec& hw);

}  // namespace headroom

#pragma once
// How a model is spread over GPUs: the one plan type shared by step latency (cost/step.hpp) and
// memory (memory/memory_plan.hpp).
#include <cstdint>
#include <vector>

namespace headroom {

struct ParallelPlan {
  int64_t tp = 1;  // tensor parallel (Megatron split of heads, FFN width, vocabulary)
  int64_t pp = 1;  // pipeline stages (layers split as vLLM's get_pp_indices)
  int64_t ep = 1;  // expert parallel: routed experts spread over ep GPUs of a stage (whole experts)
  int64_t dp = 1;  // data-parallel replicas (attention replicated; with ep, experts shared)
  int64_t microbatches = 1;  // pipeline micro-batches in flight (latency model)
  [[nodiscard]] int64_t gpus() const { return tp * pp * dp; }
};

// Layers per pipeline stage as vLLM's get_pp_indices splits them: even shares, the remainder to
// the stages before the last.
std::vector<int64_t> stage_layers(int64_t layers, int64_t pp);

}  // namespace headroom

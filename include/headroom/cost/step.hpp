#pragma once
// Step latency of a whole model under a parallel plan: tensor parallelism inside each stage's
// graph (Megatron split + all-reduces), expert parallelism (all-to-all around the experts),
// pipeline parallelism over `pp` stages with `microbatches` in flight (GPipe-style fill and
// drain), and data parallelism (independent replicas: throughput only).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/parallel_plan.hpp"
#include "headroom/graph/step_graph.hpp"

namespace headroom {

struct StageTime {
  int64_t first_layer = 0, layers = 0;
  Seconds time;   // one micro-batch through the stage
  Seconds comm;   // of which collectives (TP all-reduce, EP all-to-all)
  Seconds host;   // CPU issue time of the stage's kernels
  Seconds gpu;    // the GPU's time for them, all queued (one stream)
};

struct StepPrediction {
  Seconds latency;             // the whole step (all micro-batches through all stages)
  Seconds first_token_path;    // the first micro-batch's end on the last stage
  double bubble_fraction = 0;  // pipeline idle share: (pp - 1) / (microbatches + pp - 1) of stage slots
  Seconds p2p;                 // activation transfer between consecutive stages, per micro-batch
  std::vector<StageTime> stages;
  int64_t tokens = 0;          // new tokens in the step (per data-parallel replica)
  double tokens_per_s = 0;     // over all dp replicas
  Seconds comm;                // collectives on the critical path (stage sums)
};

// Throws InputError naming the constraint when the plan cannot work (pp > layers, micro-batches
// not dividing the batch, and the graph's own TP/EP checks).
StepPrediction predict_step(const ModelSpec& m, StepConfig cfg, const ParallelPlan& plan, const CostModel& cm,
                            bool cuda_graph);

// The prediction as `headroom step --json` prints it (seconds; the plan and every stage).
nlohmann::ordered_json step_json(const StepPrediction& p, const ModelSpec& m, const HardwareSpec& hw,
                                 const CostModel& cm, const ParallelPlan& plan);

}  // namespace headroom

// Quantized weights and KV caches in the kernel model: the direction and rough size of the effects
// the literature reports (MARLIN: ~4x at small batch, fading toward the compute-bound regime;
// QServe: dequantization on CUDA cores costs compute), from the model's own formulas.
#include <gtest/gtest.h>

#include "headroom/cost/analytical.hpp"
#include "headroom/graph/step_graph.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
// The gate-up GEMM of Llama-3-70B layer 0 in a decode step at `batch`, with the given weights.
Seconds gate_up(int64_t batch, const char* weights) {
  ModelSpec m = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/llama3-70b.yaml");
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = batch;
  c.context = 128;
  c.layers = 1;
  c.weight_format = parse_weight_format(weights);
  StepGraph g = StepGraph::build(m, c);
  AnalyticalCostModel cm(h200());
  for (auto v : g.order())
    if (g.op(v).name == "L0.gate_up") return cm.cost(g.op(v), IssueMode::Graph).time;
  return Seconds(0);
}
}  // namespace

TEST(Quantized, Int4WeightsSpeedUpMemoryBoundGemmsAndTheGainFades) {
  // int4-g128 stores 4.125 bits per weight: 3.88x fewer weight bytes than bf16.
  const double s1 = gate_up(1, "bf16") / gate_up(1, "int4");
  const double s512 = gate_up(512, "bf16") / gate_up(512, "int4");
  EXPECT_GT(s1, 2.5);   // near 4x, less the fixed kernel costs
  EXPECT_LT(s1, 3.9);
  EXPECT_LT(s512, 1.2);  // compute-bound: dequantization makes it no faster
  EXPECT_GT(s1, s512);
}

TEST(Quantized, QuantizedKvCacheReadsFewerBytes) {
  ModelSpec m = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/llama3-8b.yaml");
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 64;
  c.context = 8192;
  c.layers = 1;
  auto attention_bytes = [&](std::optional<KvFormat> f) {
    c.kv_format = f;
    StepGraph g = StepGraph::build(m, c);
    for (auto v : g.order())
      if (g.op(v).kind == OpKind::Attention) return g.op(v).bytes_read.value();
    return 0.0;
  };
  const double bf16 = attention_bytes(std::nullopt);
  const double int4 = attention_bytes(parse_kv_format("int4"));
  // int4 with an fp16 scale and zero-point per 128 elements: 4 + 32/128 = 4.25 bits vs 16.
  EXPECT_NEAR(int4 / bf16, 4.25 / 16.0, 0.01);
}

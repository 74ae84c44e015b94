// The datasheet roofline against hand-derived times, on both sides of the ridge point.
#include <gtest/gtest.h>

#include "headroom/core/error.hpp"
#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/step_graph.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
}  // namespace

TEST(Roofline, LargeSquareGemmIsComputeBound) {
  RooflineCostModel rl(h200());
  OpCost c = rl.cost(make_gemm("g", 4096, 4096, 4096, DType::BF16));
  EXPECT_EQ(c.bound, Bound::Compute);
  EXPECT_DOUBLE_EQ(c.time.value(), 2.0 * 4096 * 4096 * 4096 / 989.5e12);
}

TEST(Roofline, DecodeGemvIsMemoryBoundAndScalesWithBytes) {
  RooflineCostModel rl(h200());
  OpCost c = rl.cost(make_gemm("g", 1, 8192, 8192, DType::BF16));
  EXPECT_EQ(c.bound, Bound::Memory);
  EXPECT_DOUBLE_EQ(c.time.value(), (8192.0 + 8192.0 * 8192 + 8192) * 2 / 4.8e12);
  OpCost c2 = rl.cost(make_gemm("g", 1, 16384, 8192, DType::BF16));
  EXPECT_NEAR(c2.time / c.time, 2.0, 1e-3);
}

TEST(Roofline, BoundFlipsAtTheRidgePoint) {
  // A square n^3 bf16 GEMM has intensity n/3 FLOP/B; the H200 ridge is 989.5e12/4.8e12 = 206.
  RooflineCostModel rl(h200());
  EXPECT_EQ(rl.cost(make_gemm("g", 600, 600, 600, DType::BF16)).bound, Bound::Memory);    // 200
  EXPECT_EQ(rl.cost(make_gemm("g", 636, 636, 636, DType::BF16)).bound, Bound::Compute);   // 212
}

TEST(Roofline, CollectiveIsCommunicationBound) {
  RooflineCostModel rl(h200());
  OpCost c = rl.cost(make_collective("ar", CollectiveKind::AllReduce, 4, 1e9, DType::BF16));
  EXPECT_EQ(c.bound, Bound::Communication);
  EXPECT_DOUBLE_EQ(c.time.value(), 1.5e9 / 450e9);  // 2(n-1)/n x 1 GB over 18 x 25 GB/s
}

TEST(Roofline, LowerSmClockSlowsComputeNotMemory) {
  RooflineCostModel half(h200(), OperatingPoint{Hertz(990e6), Hertz(0)});
  RooflineCostModel full(h200());
  Op big = make_gemm("g", 8192, 8192, 8192, DType::BF16);
  Op gemv = make_gemm("g", 1, 8192, 8192, DType::BF16);
  EXPECT_NEAR(half.cost(big).time / full.cost(big).time, 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(half.cost(gemv).time.value(), full.cost(gemv).time.value());
}

TEST(Roofline, MissingMatrixUnitIsAnError) {
  HardwareSpec a100 = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  a100.compute.matrix_dense.erase(DType::FP8);
  RooflineCostModel rl(a100);
  EXPECT_THROW((void)rl.cost(make_gemm("g", 64, 64, 64, DType::FP8)), InputError);
}

TEST(Roofline, EagerStepIsBoundByHostOrGpu) {
  RooflineCostModel rl(h200());
  ModelSpec m = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/llama3-8b.yaml");
  StepConfig c;
  c.phase = Phase::Decode;
  c.context = 128;
  StepGraph g = StepGraph::build(m, c);
  StepCost s = evaluate_step(g, rl, false);
  // The roofline has no host cost: the step is the sum of its kernels.
  EXPECT_DOUBLE_EQ(s.time.value(), s.gpu_time.value());
  double sum = 0;
  for (const auto& oc : s.ops) sum += oc.time.value();
  EXPECT_DOUBLE_EQ(s.gpu_time.value(), sum);
}

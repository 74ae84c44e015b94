// Kernel-prediction throughput: how many single-op predictions per second one core answers.
// Run: ./build/bench/bench_predict --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/step_graph.hpp"
#include "headroom/predict/predictor.hpp"

namespace {

using namespace headroom;

const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}

std::vector<Op> gemm_cases() {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int64_t> m(1, 16384), nk(256, 32768);
  std::vector<Op> ops;
  for (int i = 0; i < 4096; ++i) ops.push_back(make_gemm("g", m(rng), nk(rng), nk(rng), DType::BF16));
  return ops;
}

void run_kernel_queries(benchmark::State& state, Fidelity f) {
  auto cm = make_cost_model(f, h200());
  const auto ops = gemm_cases();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cm->cost(ops[i]));
    i = (i + 1) & 4095;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RooflineGemm(benchmark::State& s) { run_kernel_queries(s, Fidelity::Roofline); }
BENCHMARK(BM_RooflineGemm);

void BM_BuildDecodeGraph70B(benchmark::State& state) {
  ModelSpec m = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/llama3-70b.yaml");
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 64;
  c.context = 4096;
  for (auto _ : state) benchmark::DoNotOptimize(StepGraph::build(m, c));
}
BENCHMARK(BM_BuildDecodeGraph70B)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

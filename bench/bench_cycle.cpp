// Cycle-approximate fidelity speed: a full decode step of Llama-3-70B (80 layers, every kernel,
// batch 64, context 4096) simulated on one core; goal < 50 ms per step.
// Run: ./build-sim/bench/bench_cycle --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include "headroom/graph/step_graph.hpp"
#include "headroom/sim/cycle_model.hpp"

namespace {

using namespace headroom;

const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}

StepGraph decode70b(int64_t tp) {
  static ModelSpec m = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/llama3-70b.yaml");
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 64;
  c.context = 4096;
  c.tp = tp;
  return StepGraph::build(m, c);
}

void report(benchmark::State& state, const StepSimulation& s) {
  state.counters["kernels"] = static_cast<double>(s.kernels);
  state.counters["events"] = static_cast<double>(s.events);
  state.counters["step_ms"] = s.time.value() * 1e3;
}

// arg 0: CUDA graph (GPU fed), 1: eager (the host issues every kernel).
void BM_SimulateDecodeStep70B(benchmark::State& state) {
  const StepGraph g = decode70b(1);
  SimOptions o;
  o.cuda_graph = state.range(0) == 0;
  StepSimulation s;
  for (auto _ : state) {
    s = simulate_step(g, h200(), o);
    benchmark::DoNotOptimize(s.ticks);
  }
  report(state, s);
}
BENCHMARK(BM_SimulateDecodeStep70B)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Tensor parallel (tp 4) with the all-reduces on their own stream.
void BM_SimulateDecodeStep70BTp4(benchmark::State& state) {
  const StepGraph g = decode70b(4);
  SimOptions o;
  o.collectives_on_own_stream = true;
  StepSimulation s;
  for (auto _ : state) {
    s = simulate_step(g, h200(), o);
    benchmark::DoNotOptimize(s.ticks);
  }
  report(state, s);
}
BENCHMARK(BM_SimulateDecodeStep70BTp4)->Unit(benchmark::kMillisecond);

// Single-kernel queries through the CostModel interface (what validate and predict call).
void BM_CycleCostGemm(benchmark::State& state) {
  CycleCostModel cm(h200());
  const Op op = make_gemm("g", 8192, 8192, 8192, DType::BF16);
  for (auto _ : state) benchmark::DoNotOptimize(cm.cost(op));
}
BENCHMARK(BM_CycleCostGemm)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

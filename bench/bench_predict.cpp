// Kernel-prediction throughput: how many single-op predictions per second one core answers.
// Run: ./build/bench/bench_predict --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/step_graph.hpp"
#include "headroom/predict/predictor.hpp"
#include "headroom/trace/trace.hpp"

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

// One kernel case per iteration through the cost model alone; ops.size() is a power of two.
void run_ops(benchmark::State& state, Fidelity f, const std::vector<Op>& ops) {
  auto cm = make_cost_model(f, h200());
  const size_t mask = ops.size() - 1;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cm->cost(ops[i]));
    i = (i + 1) & mask;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RooflineGemm(benchmark::State& s) { run_ops(s, Fidelity::Roofline, gemm_cases()); }
BENCHMARK(BM_RooflineGemm);

// A realistic mix of kernel cases, as trace records (docs/trace-format.md): GEMMs of every
// dtype (model projection shapes, m from 1 to 16384), attention prefill and decode (GQA),
// rmsnorm (its three implementations), copies (cold and L2-warm) and NCCL collectives.
constexpr size_t kMix = 4096;  // a power of two: the loops wrap with a mask

std::vector<nlohmann::ordered_json> mixed_records() {
  using json = nlohmann::ordered_json;
  std::mt19937 rng(7);
  auto pick = [&](auto const& v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)]; };
  auto log_uniform = [&](double lo, double hi) {
    return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng));
  };
  const std::vector<int64_t> dims{576, 1024, 2048, 4096, 5120, 6144, 7168, 8192, 10240, 14336, 28672};
  const std::vector<const char*> dtypes{"bf16", "bf16", "bf16", "bf16", "fp8", "fp8", "fp16", "tf32", "fp32"};
  const std::vector<const char*> colls{"all_reduce", "all_gather", "reduce_scatter", "all_to_all"};
  const std::vector<const char*> norms{"torch-expr", "F.rms_norm", "fused"};
  std::vector<json> recs;
  std::uniform_int_distribution<int> which(0, 99);
  while (recs.size() < kMix) {
    const int w = which(rng);
    json r;
    if (w < 40) {
      r = {{"op", "gemm"}, {"m", static_cast<int64_t>(log_uniform(1, 16384))}, {"n", pick(dims)}, {"k", pick(dims)},
           {"dtype", pick(dtypes)}};
    } else if (w < 55) {
      r = {{"op", "attention"}, {"phase", "decode"}, {"batch", static_cast<int64_t>(log_uniform(1, 256))},
           {"context", static_cast<int64_t>(log_uniform(128, 32768))}, {"heads", 32}, {"kv_heads", 8},
           {"head_dim", 128}, {"dtype", "bf16"}};
    } else if (w < 65) {
      r = {{"op", "attention"}, {"phase", "prefill"}, {"batch", static_cast<int64_t>(log_uniform(1, 16))},
           {"seq", static_cast<int64_t>(log_uniform(128, 8192))}, {"heads", 64}, {"kv_heads", 8}, {"head_dim", 128},
           {"causal", true}, {"dtype", "bf16"}};
    } else if (w < 75) {
      r = {{"op", "rmsnorm"}, {"tokens", static_cast<int64_t>(log_uniform(1, 16384))}, {"hidden", pick(dims)},
           {"dtype", "bf16"}, {"impl", pick(norms)}};
    } else if (w < 85) {
      r = {{"op", "copy"}, {"bytes", std::round(log_uniform(1 << 20, 4.0 * (1 << 30)))}, {"warm_l2", which(rng) < 30}};
    } else {
      r = {{"op", "collective"}, {"collective", pick(colls)}, {"gpus", pick(std::vector<int64_t>{2, 4, 8})},
           {"bytes", std::round(log_uniform(8192, 1 << 30))}, {"dtype", "bf16"}};
    }
    r["hw"] = "h200-sxm";
    recs.push_back(std::move(r));
  }
  return recs;
}

// The same cases as Ops, built once (parse_case outside the timed loop).
std::vector<Op> mixed_ops() {
  std::vector<Op> ops;
  for (const auto& r : mixed_records()) ops.push_back(std::get<Op>(parse_case(r, "bench")));
  return ops;
}

// Analytical fidelity on the mix.
void BM_AnalyticalMix(benchmark::State& state) { run_ops(state, Fidelity::Analytical, mixed_ops()); }
BENCHMARK(BM_AnalyticalMix);

// The datasheet roofline on the same mix, for scale.
void BM_RooflineMix(benchmark::State& state) { run_ops(state, Fidelity::Roofline, mixed_ops()); }
BENCHMARK(BM_RooflineMix);

PredictorOptions bench_predictor_options() {
  PredictorOptions o;
  o.hw = HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml";
  o.fidelity = Fidelity::Analytical;
  return o;
}

// The same mix through Predictor::predict on parsed JSON records (what `headroom predict` and
// Python's predict() do per line after parsing): field validation, Op construction, lookup.
void BM_AnalyticalMixPredictorRecord(benchmark::State& state) {
  Predictor pred(bench_predictor_options());
  const auto recs = mixed_records();
  const std::string where = "bench";
  size_t i = 0, failed = 0;
  for (auto _ : state) {
    Prediction p = pred.predict(recs[i], where);
    failed += !p.ok();
    benchmark::DoNotOptimize(p);
    i = (i + 1) & (kMix - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["failed"] = static_cast<double>(failed);  // must be 0: a failure is not a prediction
}
BENCHMARK(BM_AnalyticalMixPredictorRecord);

// The same, starting from the JSON text of each line: json::parse + Predictor::predict.
void BM_AnalyticalMixPredictorJsonLine(benchmark::State& state) {
  Predictor pred(bench_predictor_options());
  std::vector<std::string> lines;
  for (const auto& r : mixed_records()) lines.push_back(r.dump());
  const std::string where = "bench";
  size_t i = 0, failed = 0;
  for (auto _ : state) {
    auto rec = nlohmann::ordered_json::parse(lines[i]);
    Prediction p = pred.predict(rec, where);
    failed += !p.ok();
    benchmark::DoNotOptimize(p);
    i = (i + 1) & (kMix - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_AnalyticalMixPredictorJsonLine);

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

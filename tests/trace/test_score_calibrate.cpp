// validate's error arithmetic on hand-made traces, and calibrate's recovery of known parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"
#include "headroom/trace/calibrate.hpp"
#include "headroom/trace/score.hpp"

#include <fmt/format.h>

using namespace headroom;
using json = nlohmann::ordered_json;

namespace {

Trace trace_of(const std::string& text) {
  std::istringstream in(text);
  return read_trace(in, "hand.jsonl");
}

HardwareSpec h200_datasheet() {
  HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  hw.kernel_model.reset();
  return hw;
}

}  // namespace

TEST(Score, SummaryArithmetic) {
  // Signed errors +10%, -20%, +30%, -40%: MAPE 25%, bias -5%, median of {10,20,30,40} = 25%.
  std::vector<CaseResult> c{{"f", "a", "", 1.0, 1.1}, {"f", "b", "", 1.0, 0.8}, {"f", "c", "", 2.0, 2.6},
                            {"f", "d", "", 1.0, 0.6}};
  FamilyScore s = summarize("f", c);
  EXPECT_EQ(s.count, 4);
  EXPECT_NEAR(s.mape, 0.25, 1e-12);
  EXPECT_NEAR(s.bias, -0.05, 1e-12);
  EXPECT_NEAR(s.median, 0.25, 1e-12);
  EXPECT_NEAR(s.p90, 0.37, 1e-12);  // linear interpolation: 30 + 0.7 x (40 - 30)
  EXPECT_EQ(s.worst.origin, "d");
}

TEST(Score, RooflineErrorsOnAHandMadeTrace) {
  // Roofline: 4096^3 bf16 GEMM = 137.44 GFLOP / 989.5 TFLOP/s = 0.138897 ms (measured 0.2: -30.55%);
  // 1e9-byte copy = 2e9 B / 4.8 TB/s = 0.416667 ms (measured 0.5: -16.67%). A record without a
  // measurement is not a case; the unknown op is a case that could not be predicted.
  Trace t = trace_of(
      "{\"op\":\"gemm\",\"m\":4096,\"n\":4096,\"k\":4096,\"dtype\":\"bf16\",\"hw\":\"h200-sxm\",\"ms\":0.2}\n"
      "{\"op\":\"copy\",\"bytes\":1000000000,\"hw\":\"h200-sxm\",\"ms\":0.5}\n"
      "{\"op\":\"copy\",\"bytes\":1000,\"hw\":\"h200-sxm\"}\n"
      "{\"op\":\"warp\",\"hw\":\"h200-sxm\",\"ms\":1}\n");
  Predictor p{PredictorOptions{"", Fidelity::Roofline}};
  Score s = score_traces({t}, p, Subset::All);
  EXPECT_EQ(s.cases, 3);
  EXPECT_EQ(s.unpredicted, 1);
  ASSERT_EQ(s.time.size(), 2u);
  const double e_gemm = 2.0 * 4096.0 * 4096 * 4096 / 989.5e12 * 1e3 / 0.2 - 1;
  const double e_copy = 2e9 / 4.8e12 * 1e3 / 0.5 - 1;
  EXPECT_EQ(s.time[0].family, "copy");
  EXPECT_NEAR(s.time[0].mape, std::fabs(e_copy), 1e-9);
  EXPECT_EQ(s.time[1].family, "gemm.bf16");
  EXPECT_NEAR(s.time[1].bias, e_gemm, 1e-9);
  EXPECT_NEAR(s.time_overall.mape, (std::fabs(e_gemm) + std::fabs(e_copy)) / 2, 1e-9);
}

TEST(Score, HoldoutSplitIsDeterministicAndIgnoresMeasurements) {
  json a = json::parse(R"({"op":"gemm","m":64,"n":128,"k":256,"dtype":"bf16","ms":1.0,"gpu":"x"})");
  json b = json::parse(R"({"op":"gemm","m":64,"n":128,"k":256,"dtype":"bf16","ms":2.0,"reps":9})");
  EXPECT_EQ(is_holdout(a), is_holdout(b));
  int held = 0;
  for (int m = 1; m <= 1000; ++m) held += is_holdout(json{{"op", "gemm"}, {"m", m}, {"n", 8}, {"k", 8}});
  EXPECT_NEAR(held, 300, 60);  // 30% of cases, up to hashing noise
}

TEST(Calibrate, RecoversKnownParametersFromASyntheticTrace) {
  // Make a trace with the model itself: known parameters, 1% multiplicative noise.
  HardwareSpec truth = h200_datasheet();
  KernelParams k;
  for (const auto& info : kernel_param_table()) info.ref(k) = info.start;
  k.kernel_overhead = 4e-6;
  k.gemm_overhead = 2.5e-6;
  k.hbm_read_efficiency = 0.85;
  k.hbm_write_efficiency = 0.92;
  k.gemm_efficiency[static_cast<size_t>(DType::BF16)] = 0.78;
  k.gemm_efficiency[static_cast<size_t>(DType::FP8)] = 0.66;
  AnalyticalCostModel cm(truth, k);
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.01);
  std::ostringstream text;
  auto emit = [&](json r, const Op& op) {
    r["hw"] = "h200-sxm";
    r["timing"] = "queued";
    r["ms"] = cm.cost(op).time.value() * 1e3 * std::exp(noise(rng));
    text << r.dump() << "\n";
  };
  for (int64_t m : {1, 8, 64, 256, 1024, 4096, 8192})
    for (int64_t n : {1024, 4096, 14336})
      for (int64_t kk : {4096, 8192})
        for (DType d : {DType::BF16, DType::FP8}) {
          emit(json{{"op", "gemm"}, {"m", m}, {"n", n}, {"k", kk}, {"dtype", std::string(to_string(d))}},
               make_gemm("g", m, n, kk, d));
        }
  for (double bytes : {1e6, 1e7, 1e8, 3e8, 1e9, 4e9}) {
    for (const char* op : {"read", "write", "copy"}) {
      OpKind kind = std::string(op) == "read" ? OpKind::Read : std::string(op) == "write" ? OpKind::Write : OpKind::Copy;
      emit(json{{"op", op}, {"bytes", bytes}}, make_stream(op, kind, bytes, false));
    }
  }
  Trace t = trace_of(text.str());
  CalibrationResult r = calibrate({t}, truth, CalibrationOptions{});
  EXPECT_NEAR(r.params.hbm_read_efficiency, 0.85, 0.02);
  EXPECT_NEAR(r.params.hbm_write_efficiency, 0.92, 0.02);
  EXPECT_NEAR(r.params.gemm_eff(DType::BF16), 0.78, 0.03);
  EXPECT_NEAR(r.params.gemm_eff(DType::FP8), 0.66, 0.03);
  EXPECT_NEAR(r.params.kernel_overhead + r.params.gemm_overhead, 6.5e-6, 0.7e-6);
  EXPECT_LT(r.holdout_mape, 0.03);  // ~ the 1% noise, on cases the fit never saw
  EXPECT_GT(r.holdout_cases, 10);
}

TEST(Calibrate, RefusesTooFewCases) {
  Trace t = trace_of(
      "{\"op\":\"gemm\",\"m\":64,\"n\":64,\"k\":64,\"dtype\":\"bf16\",\"hw\":\"h200-sxm\",\"ms\":0.01}\n"
      "{\"op\":\"copy\",\"bytes\":1000000,\"hw\":\"h200-sxm\",\"ms\":0.01}\n");
  try {
    (void)calibrate({t}, h200_datasheet(), CalibrationOptions{});
    FAIL() << "fitted two cases";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot fit"), std::string::npos) << e.what();
  }
}

TEST(Calibrate, WritesALoadableHardwareFileWithProvenance) {
  KernelParams k;
  k.fitted_on = "traces/x.jsonl";
  k.fitted_date = "2026-11-21";
  k.fit_cases = 100;
  k.holdout_cases = 40;
  k.train_mape = 0.05;
  k.holdout_mape = 0.06;
  k.hbm_read_efficiency = 0.875;
  const std::string text = hardware_yaml_with_params(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml", k);
  HardwareSpec hw = HardwareSpec::from_yaml_string(text, "out.yaml");
  ASSERT_TRUE(hw.kernel_model.has_value());
  EXPECT_DOUBLE_EQ(hw.kernel_model->hbm_read_efficiency, 0.875);
  EXPECT_EQ(hw.kernel_model->fitted_on, "traces/x.jsonl");
  EXPECT_EQ(hw.kernel_model->holdout_cases, 40);
  // Exactly one kernel_model section, however often a file is recalibrated.
  EXPECT_EQ(text.find("kernel_model:"), text.rfind("kernel_model:"));
}

TEST(Calibrate, CommittedTracesAllParse) {
  for (const char* f : {"/traces/h200/gemm.jsonl", "/traces/h200/attention.jsonl", "/traces/h200/micro.jsonl",
                        "/traces/h200/norm.jsonl", "/traces/h200/moe.jsonl", "/traces/h200/model_step.jsonl",
                        "/traces/h200/power.jsonl", "/traces/h200x4/coll.jsonl", "/traces/h200x4/tp_step.jsonl"}) {
    Trace t = read_trace_file(std::string(HEADROOM_SOURCE_DIR) + f);
    EXPECT_GT(t.records.size(), 0u) << f;
    for (const auto& r : t.records) {
      EXPECT_NO_THROW((void)parse_case(r.obj, fmt::format("{}:{}", f, r.line))) << f << ":" << r.line;
    }
  }
}

// bf16 GEMM cases (queued timing) whose times are the analytical model's with parameters `k` on
// the H200 datasheet: a trace a fit can recover `k` from.
std::string gemm_trace_made_by(const KernelParams& k, std::initializer_list<int64_t> ms,
                               std::initializer_list<int64_t> ns, std::initializer_list<int64_t> ks) {
  const HardwareSpec hw = h200_datasheet();  // the model keeps a reference: it must outlive cm
  AnalyticalCostModel cm(hw, k);
  std::ostringstream text;
  for (int64_t m : ms)
    for (int64_t n : ns)
      for (int64_t kk : ks) {
        json r{{"op", "gemm"}, {"m", m}, {"n", n}, {"k", kk}, {"dtype", "bf16"}, {"hw", "h200-sxm"}, {"timing", "queued"}};
        r["ms"] = cm.cost(make_gemm("g", m, n, kk, DType::BF16)).time.value() * 1e3;
        text << r.dump() << "\n";
      }
  return text.str();
}

TEST(Calibrate, OnlyRefitsTheNamedParameters) {
  // GEMM cases made by the model with kernel_overhead = 4 us, small (overhead-bound) and large
  // (main-loop-bound). The base file is off in both parameters the cases inform: 5 us, and a bf16
  // efficiency 10% low. Refitting only one of them moves it and leaves the other at the base
  // file's value exactly; the report marks every other parameter fixed.
  HardwareSpec truth = h200_datasheet();
  KernelParams k;
  for (const auto& info : kernel_param_table()) info.ref(k) = info.start;
  k.kernel_overhead = 4e-6;
  const std::string text = gemm_trace_made_by(k, {1, 8, 1024, 4096}, {512, 4096, 14336}, {512, 4096, 8192});
  HardwareSpec base = truth;
  KernelParams b = k;
  b.kernel_overhead = 5e-6;
  b.gemm_efficiency[static_cast<size_t>(DType::BF16)] *= 0.9;
  for (const auto& info : kernel_param_table()) b.given.push_back(info.name);
  base.kernel_model = b;
  const std::string eff = "gemm_efficiency.bf16";
  for (const std::string& refit : {std::string("kernel_overhead"), eff}) {
    CalibrationOptions opt;
    opt.only = {refit};
    CalibrationResult r = calibrate({trace_of(text)}, base, opt);
    if (refit == eff) {
      EXPECT_DOUBLE_EQ(r.params.kernel_overhead, 5e-6);
      EXPECT_GT(r.params.gemm_eff(DType::BF16), b.gemm_eff(DType::BF16)) << "the low efficiency moves up";
    } else {
      EXPECT_DOUBLE_EQ(r.params.gemm_eff(DType::BF16), b.gemm_eff(DType::BF16));
      EXPECT_LT(r.params.kernel_overhead, 5e-6) << "the high overhead moves down";
    }
    for (const auto& p : r.report) {
      EXPECT_EQ(p.fixed, p.name != refit) << p.name;
      EXPECT_EQ(p.fitted, p.name == refit) << p.name;
    }
  }
  // Unknown names, and a name both fitted alone and fixed, are errors naming it.
  for (auto [only, fixed] : {std::pair<std::string, std::string>{"kernel_overhed", ""}, {"kernel_overhead", "kernel_overhead"}}) {
    CalibrationOptions bad;
    bad.only = {only};
    if (!fixed.empty()) bad.fixed = {fixed};
    try {
      (void)calibrate({trace_of(text)}, base, bad);
      FAIL() << "accepted --only " << only;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(only), std::string::npos) << e.what();
    }
  }
}

TEST(Calibrate, KeepsFixedParametersAtTheBaseValue) {
  // GEMM cases made by the model with kernel_overhead = 4 us; the base file says 5 us and the
  // fit is told to keep it: it stays 5 us exactly (and the fit reports it fixed, not fitted).
  HardwareSpec truth = h200_datasheet();
  KernelParams k;
  for (const auto& info : kernel_param_table()) info.ref(k) = info.start;
  k.kernel_overhead = 4e-6;
  const std::string text = gemm_trace_made_by(k, {1, 8, 64, 256, 1024, 4096}, {1024, 4096, 14336}, {1024, 4096, 8192});
  HardwareSpec base = truth;
  KernelParams b = k;
  b.kernel_overhead = 5e-6;
  for (const auto& info : kernel_param_table()) b.given.push_back(info.name);
  base.kernel_model = b;
  CalibrationOptions opt;
  opt.fixed = {"kernel_overhead"};
  CalibrationResult r = calibrate({trace_of(text)}, base, opt);
  EXPECT_DOUBLE_EQ(r.params.kernel_overhead, 5e-6);
  const auto it = std::find_if(r.report.begin(), r.report.end(), [](const CalibratedParam& p) { return p.name == "kernel_overhead"; });
  ASSERT_NE(it, r.report.end());
  EXPECT_TRUE(it->fixed);
  EXPECT_FALSE(it->fitted);
  // A name that is not a parameter is an error naming it.
  opt.fixed = {"kernel_overhed"};
  try {
    (void)calibrate({trace_of(text)}, base, opt);
    FAIL() << "accepted an unknown parameter";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("kernel_overhed"), std::string::npos) << e.what();
  }
}

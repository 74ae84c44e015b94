#pragma once
// Scoring predictions against measurements: error tables per op family, and the deterministic
// train / hold-out split shared by `validate` and `calibrate`.
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "headroom/predict/predictor.hpp"
#include "headroom/trace/trace.hpp"

namespace headroom {

// A record's half of the split: a hash of its case (op and shape fields, without measured
// values) decides, so a case stays in the same half across runs and trace files.
// `holdout_percent` of the cases are held out.
bool is_holdout(const nlohmann::ordered_json& record, int holdout_percent = 30);
// The case a record measures, as text: its op and shape fields sorted by name, without measured
// values or provenance ("dtype=\"bf16\";k=4096;m=1;..."). Two records of the same case have the
// same key whatever the order of their fields.
std::string case_key(const nlohmann::ordered_json& record);

enum class Subset { All, Train, Holdout };

struct CaseResult {
  std::string family;  // "gemm.bf16", "attention.decode", ...
  std::string origin;  // "file:line"
  std::string shape;   // compact shape text for the worst-case column
  double measured = 0;
  double predicted = 0;
  [[nodiscard]] double signed_error() const { return (predicted - measured) / measured; }  // + = over
};

struct FamilyScore {
  std::string family;
  int count = 0;
  double mape = 0;    // mean |pred - meas| / meas
  double median = 0;  // median absolute percentage error
  double p90 = 0;
  double bias = 0;    // mean signed (pred - meas) / meas
  CaseResult worst;
};

struct Score {
  std::vector<FamilyScore> time;   // per family, on "ms"
  std::vector<FamilyScore> power;  // per family, on "avg_w" where predicted
  std::vector<FamilyScore> clock;  // per family, on "sm_mhz" where predicted
  FamilyScore time_overall;
  int cases = 0;       // records considered (after the subset filter)
  int unpredicted = 0; // records the predictor could not answer
  std::vector<std::string> errors;  // the first few reasons, for the report
  std::vector<CaseResult> results;  // every scored time case
};

// Scores `traces` with `pred`; only records in `subset` are counted.
Score score_traces(const std::vector<Trace>& traces, Predictor& pred, Subset subset);
FamilyScore summarize(const std::string& family, std::vector<CaseResult> cases);
nlohmann::ordered_json to_json(const Score& s);
std::string case_family(const nlohmann::ordered_json& record);
std::string case_shape(const nlohmann::ordered_json& record);

}  // namespace headroom

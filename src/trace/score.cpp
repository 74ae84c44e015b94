#include "headroom/trace/score.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace headroom {

using json = nlohmann::ordered_json;

namespace {

// The fields that define a case (docs/trace-format.md); everything else in a record is a
// measurement or provenance and neither changes the split nor shows in reports.
bool is_case_key(const std::string& k) {
  static const char* const kKeys[] = {"op", "dtype", "m", "n", "k", "bytes", "warm_l2", "kind", "phase", "batch",
                                      "seq", "context", "heads", "kv_heads", "head_dim", "causal", "tokens", "hidden",
                                      "inter", "experts", "top_k", "impl", "collective", "gpus", "model", "tp",
                                      "layers", "cuda_graph", "issue", "sustained", "pp", "ep", "microbatches",
                                      "weight_format"};
  for (const char* m : kKeys)
    if (k == m) return true;
  return false;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p * (static_cast<double>(v.size()) - 1);
  const size_t lo = static_cast<size_t>(std::floor(idx));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (idx - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

std::string case_key(const json& record) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (auto it = record.begin(); it != record.end(); ++it)
    if (is_case_key(it.key())) fields.emplace_back(it.key(), it.value().dump());
  std::sort(fields.begin(), fields.end());
  std::string key;
  for (const auto& [k, v] : fields) key += fmt::format("{}={};", k, v);
  return key;
}

bool is_holdout(const json& record, int holdout_percent) {
  // Fields in the record's own order (the split was fixed this way; sorting would reshuffle it).
  std::string key;
  for (auto it = record.begin(); it != record.end(); ++it) {
    if (!is_case_key(it.key())) continue;
    key += it.key();
    key += '=';
    key += it.value().dump();
    key += ';';
  }
  return static_cast<int>(fnv1a(key) % 100) < holdout_percent;
}

std::string case_family(const json& r) {
  std::string f = op_family(r);
  if (f == "gemm" && r.contains("weight_format") && r["weight_format"].is_string())
    f += "." + r["weight_format"].get<std::string>();
  else if (f == "gemm" && r.contains("dtype") && r["dtype"].is_string())
    f += "." + r["dtype"].get<std::string>();
  if (r.value("sustained", false)) f = "sustained." + f;
  return f;
}

std::string case_shape(const json& r) {
  std::string s;
  for (auto it = r.begin(); it != r.end(); ++it) {
    const std::string& k = it.key();
    if (k == "op" || !is_case_key(k)) continue;
    if (!s.empty()) s += ' ';
    s += k + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
  }
  return s;
}

FamilyScore summarize(const std::string& family, std::vector<CaseResult> cases) {
  FamilyScore f;
  f.family = family;
  f.count = static_cast<int>(cases.size());
  if (cases.empty()) return f;
  std::vector<double> ape;
  double sum = 0, bias = 0;
  for (const auto& c : cases) {
    const double e = c.signed_error();
    ape.push_back(std::fabs(e));
    sum += std::fabs(e);
    bias += e;
  }
  f.mape = sum / f.count;
  f.bias = bias / f.count;
  f.median = percentile(ape, 0.5);
  f.p90 = percentile(ape, 0.9);
  auto w = std::max_element(cases.begin(), cases.end(), [](const CaseResult& a, const CaseResult& b) {
    return std::fabs(a.signed_error()) < std::fabs(b.signed_error());
  });
  f.worst = *w;
  return f;
}

Score score_traces(const std::vector<Trace>& traces, Predictor& pred, Subset subset) {
  Score s;
  std::map<std::string, std::vector<CaseResult>> time, power, clock;
  std::vector<CaseResult> all;
  for (const Trace& t : traces) {
    for (const TraceRecord& r : t.records) {
      if (subset != Subset::All && is_holdout(r.obj) != (subset == Subset::Holdout)) continue;
      // Records with nothing to score (e.g. memory-capacity measurements) are not cases here.
      if (!r.obj.contains("ms") && !r.obj.contains("avg_w") && !r.obj.contains("sm_mhz")) continue;
      ++s.cases;
      const std::string where = fmt::format("{}:{}", t.origin, r.line);
      Prediction p = pred.predict(r.obj, where);
      if (!p.ok()) {
        ++s.unpredicted;
        if (s.errors.size() < 20) s.errors.push_back(p.error);
        continue;
      }
      const std::string fam = case_family(r.obj);
      auto add = [&](std::map<std::string, std::vector<CaseResult>>& into, const char* key, std::optional<double> v) {
        auto it = r.obj.find(key);
        if (!v || it == r.obj.end() || !it->is_number() || it->get<double>() <= 0) return;
        CaseResult c{fam, where, case_shape(r.obj), it->get<double>(), *v};
        into[fam].push_back(c);
        if (&into == &time) all.push_back(c);
      };
      add(time, "ms", p.ms);
      add(power, "avg_w", p.avg_w);
      add(clock, "sm_mhz", p.sm_mhz);
    }
  }
  for (auto& [k, v] : time) s.time.push_back(summarize(k, v));
  for (auto& [k, v] : power) s.power.push_back(summarize(k, v));
  for (auto& [k, v] : clock) s.clock.push_back(summarize(k, v));
  s.results = all;
  s.time_overall = summarize("all", all);
  return s;
}

json to_json(const Score& s) {
  auto fam = [](const FamilyScore& f) {
    return json{{"family", f.family},
                {"count", f.count},
                {"mape", f.mape},
                {"median_ape", f.median},
                {"p90_ape", f.p90},
                {"bias", f.bias},
                {"worst", {{"origin", f.worst.origin},
                           {"shape", f.worst.shape},
                           {"measured", f.worst.measured},
                           {"predicted", f.worst.predicted},
                           {"error", f.count ? f.worst.signed_error() : 0.0}}}};
  };
  json j;
  j["cases"] = s.cases;
  j["unpredicted"] = s.unpredicted;
  j["errors"] = s.errors;
  for (const char* k : {"time", "power", "clock"}) j[k] = json::array();
  for (const auto& f : s.time) j["time"].push_back(fam(f));
  for (const auto& f : s.power) j["power"].push_back(fam(f));
  for (const auto& f : s.clock) j["clock"].push_back(fam(f));
  j["time_overall"] = fam(s.time_overall);
  json pts = json::array();
  for (const auto& c : s.results) pts.push_back({c.family, c.measured, c.predicted, c.origin});
  j["points"] = pts;
  return j;
}

}  // namespace headroom

#include "headroom/trace/merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "headroom/core/error.hpp"
#include "headroom/trace/score.hpp"

namespace headroom {

using json = nlohmann::ordered_json;

namespace {

double statistic(std::vector<double> v, MergeStat stat) {
  if (stat == MergeStat::Mean) return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The measured values a merged record folds; every record needs at least one.
constexpr const char* kMeasured[] = {"ms", "avg_w", "sm_mhz", "mem_mhz"};
// Folded the same way, but not a measured result: the host's speed during the run.
constexpr const char* kFolded[] = {"host_probe_us"};

struct Sample {
  const json* obj;
};

}  // namespace

std::optional<MergeStat> parse_merge_stat(std::string_view s) {
  if (s == "median") return MergeStat::Median;
  if (s == "mean") return MergeStat::Mean;
  return std::nullopt;
}

MergeResult merge_runs(const std::vector<Trace>& runs, const MergeOptions& opt) {
  if (opt.min_runs < 1) throw InputError(fmt::format("merge: min_runs must be at least 1, got {}", opt.min_runs));
  std::vector<std::string> order;
  std::unordered_map<std::string, std::vector<Sample>> cases;
  for (const Trace& t : runs) {
    for (const TraceRecord& r : t.records) {
      const std::string where = fmt::format("{}:{}", t.origin, r.line);
      bool measured = false;
      for (const char* k : kMeasured) {
        const auto f = r.obj.find(k);
        if (f == r.obj.end()) continue;
        if (!f->is_number() || !(f->get<double>() > 0))
          throw InputError(fmt::format("{}: {}: expected a positive number, got {}", where, k, f->dump()));
        measured = true;
      }
      for (const char* k : kFolded)
        if (const auto f = r.obj.find(k); f != r.obj.end() && (!f->is_number() || !(f->get<double>() > 0)))
          throw InputError(fmt::format("{}: {}: expected a positive number, got {}", where, k, f->dump()));
      if (!measured)
        throw InputError(fmt::format("{}: ms: missing (a merged record needs its measured time, or avg_w for power)", where));
      const std::string key = case_key(r.obj);
      auto [it, inserted] = cases.try_emplace(key);
      if (inserted) order.push_back(key);
      it->second.push_back({&r.obj});
    }
  }
  MergeResult out;
  for (const std::string& key : order) {
    const std::vector<Sample>& s = cases.at(key);
    if (static_cast<int>(s.size()) < opt.min_runs) {
      ++out.dropped;
      continue;
    }
    json rec = *s.front().obj;
    // A field that is not the same in every sample (a per-run spread, a derived bandwidth, the
    // host probe) describes one run, not the case: it is left out.
    std::vector<std::string> differing;
    for (auto it = rec.begin(); it != rec.end(); ++it)
      for (const Sample& x : s) {
        const auto f = x.obj->find(it.key());
        if (f == x.obj->end() || *f != it.value()) {
          differing.push_back(it.key());
          break;
        }
      }
    for (const auto& k : differing) rec.erase(k);
    auto fold = [&](const char* k) {
      std::vector<double> v;
      for (const Sample& x : s)
        if (const auto f = x.obj->find(k); f != x.obj->end()) v.push_back(f->get<double>());
      if (v.empty()) return;
      rec[k] = statistic(v, opt.stat);
      if (std::string_view(k) == "ms") rec["ms_runs"] = v;
    };
    for (const char* k : kMeasured) fold(k);
    for (const char* k : kFolded) fold(k);
    rec["runs"] = static_cast<int>(s.size());
    out.records.push_back(std::move(rec));
  }
  return out;
}

}  // namespace headroom

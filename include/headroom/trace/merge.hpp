#pragma once
// Folding several runs of the same measurement into one record per case. A single eager
// (host-bound) record samples the host in whatever state it was in for the few milliseconds of
// that case, and hosts switch between states that last seconds (docs/kernel-model.md, "Eager
// small collectives"); the median over independent runs is the case's typical time.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/trace/trace.hpp"

namespace headroom {

enum class MergeStat { Median, Mean };
// "median" or "mean"; nullopt for anything else (the caller names the option in its error).
std::optional<MergeStat> parse_merge_stat(std::string_view s);

struct MergeOptions {
  MergeStat stat = MergeStat::Median;
  int min_runs = 1;  // cases measured in fewer runs are left out (MergeResult::dropped counts them)
};

struct MergeResult {
  std::vector<nlohmann::ordered_json> records;  // one per case, in order of first appearance
  int dropped = 0;                              // cases with fewer than min_runs samples
};

// Groups the records of `runs` by case (case_key) and writes one record per case: the fields
// every sample has with the same value (the case, its provenance), in the first sample's order,
// and
//   ms, avg_w, sm_mhz, mem_mhz  the median (or mean) over the samples that have each,
//   ms_runs  those samples' ms, in the order of `runs`,
//   runs     the number of samples.
// Other fields that differ between samples (ms_p10, reps, a derived bandwidth, the host probe)
// describe one run and are left out. A record with none of the measured values, or one that is
// not a positive number, throws InputError "origin:LINE: KEY: ...".
MergeResult merge_runs(const std::vector<Trace>& runs, const MergeOptions& opt = {});

}  // namespace headroom

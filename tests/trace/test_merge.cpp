// headroom merge: one record per case from several runs, on hand-made runs.
#include <gtest/gtest.h>

#include <sstream>

#include "headroom/core/error.hpp"
#include "headroom/trace/merge.hpp"
#include "headroom/trace/score.hpp"

using namespace headroom;
using json = nlohmann::ordered_json;

namespace {

Trace run_of(const std::string& name, const std::string& text) {
  std::istringstream in(text);
  return read_trace(in, name);
}

const json* find_case(const MergeResult& m, const std::string& coll, int gpus) {
  for (const auto& r : m.records)
    if (r["collective"] == coll && r["gpus"] == gpus) return &r;
  return nullptr;
}

// Three runs of two cases; the third run lists its fields in another order and lacks one case.
std::vector<Trace> three_runs() {
  return {run_of("r0.jsonl",
                 "# env {\"host\":\"a\"}\n"
                 R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"dtype":"bf16","ms":0.040,"ms_p10":0.03,"reps":60,"issue":"torch","nccl":"2.28.9"})" "\n"
                 R"({"op":"collective","collective":"all_gather","gpus":4,"bytes":4096,"dtype":"bf16","ms":0.070,"issue":"torch"})" "\n"),
          run_of("r1.jsonl",
                 R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"dtype":"bf16","ms":0.100,"ms_p10":0.05,"reps":60,"issue":"torch","nccl":"2.28.9"})" "\n"
                 R"({"op":"collective","collective":"all_gather","gpus":4,"bytes":4096,"dtype":"bf16","ms":0.038,"issue":"torch"})" "\n"),
          run_of("r2.jsonl",
                 R"({"gpus":2,"collective":"all_reduce","op":"collective","bytes":4096,"dtype":"bf16","ms":0.044,"ms_p10":0.04,"reps":60,"issue":"torch","nccl":"2.28.9"})" "\n")};
}

}  // namespace

TEST(Merge, CaseKeyIgnoresFieldOrderAndMeasurements) {
  const json a = json::parse(R"({"op":"gemm","m":1,"n":2,"k":3,"dtype":"bf16","ms":1.0,"host_op_us":9})");
  const json b = json::parse(R"({"k":3,"dtype":"bf16","n":2,"m":1,"op":"gemm","ms":2.0,"note":"other run"})");
  const json c = json::parse(R"({"op":"gemm","m":1,"n":2,"k":4,"dtype":"bf16","ms":1.0})");
  EXPECT_EQ(case_key(a), case_key(b));
  EXPECT_NE(case_key(a), case_key(c));
}

TEST(Merge, MedianOfRunsPerCase) {
  const MergeResult m = merge_runs(three_runs());
  ASSERT_EQ(m.records.size(), 2u);
  EXPECT_EQ(m.dropped, 0);
  // all_reduce: 0.040, 0.100, 0.044 -> median 0.044 (the 0.100 run does not move it).
  const json* ar = find_case(m, "all_reduce", 2);
  ASSERT_NE(ar, nullptr);
  EXPECT_DOUBLE_EQ((*ar)["ms"].get<double>(), 0.044);
  EXPECT_EQ((*ar)["runs"], 3);
  EXPECT_EQ((*ar)["ms_runs"], json::parse("[0.040, 0.100, 0.044]"));
  // Fields the same in every run stay; the per-run spread goes; reps is 60 in all three, so it stays.
  EXPECT_EQ((*ar)["nccl"], "2.28.9");
  EXPECT_EQ((*ar)["reps"], 60);
  EXPECT_FALSE(ar->contains("ms_p10"));
  // all_gather, two runs: 0.070 and 0.038 -> median 0.054.
  const json* ag = find_case(m, "all_gather", 4);
  ASSERT_NE(ag, nullptr);
  EXPECT_NEAR((*ag)["ms"].get<double>(), 0.054, 1e-15);
  EXPECT_EQ((*ag)["runs"], 2);
  // The merged record is still a valid case and stays in the same half of the split.
  EXPECT_EQ(is_holdout(*ag), is_holdout(three_runs()[0].records[1].obj));
}

TEST(Merge, MeanAndMinRuns) {
  MergeOptions opt;
  opt.stat = MergeStat::Mean;
  opt.min_runs = 3;
  const MergeResult m = merge_runs(three_runs(), opt);
  ASSERT_EQ(m.records.size(), 1u);  // all_gather was measured in 2 runs only
  EXPECT_EQ(m.dropped, 1);
  EXPECT_NEAR(m.records[0]["ms"].get<double>(), (0.040 + 0.100 + 0.044) / 3, 1e-15);
}

TEST(Merge, IdleRecordsHavePowerOnly) {
  // Idle records carry avg_w and no ms: 75, 90, 80 W -> median 80 W, no ms_runs.
  const MergeResult m = merge_runs({run_of("a", R"({"op":"idle","avg_w":75})" "\n"),
                                    run_of("b", R"({"op":"idle","avg_w":90})" "\n"),
                                    run_of("c", R"({"op":"idle","avg_w":80})" "\n")});
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_DOUBLE_EQ(m.records[0]["avg_w"].get<double>(), 80.0);
  EXPECT_FALSE(m.records[0].contains("ms"));
  EXPECT_FALSE(m.records[0].contains("ms_runs"));
  EXPECT_EQ(m.records[0]["runs"], 3);
}

TEST(Merge, PowerFieldsFoldedLikeTime) {
  const MergeResult m = merge_runs({run_of("a", R"({"op":"idle","ms":1,"avg_w":80})" "\n"),
                                    run_of("b", R"({"op":"idle","ms":1,"avg_w":90})" "\n"),
                                    run_of("c", R"({"op":"idle","ms":1,"avg_w":120})" "\n")});
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_DOUBLE_EQ(m.records[0]["avg_w"].get<double>(), 90.0);
  EXPECT_DOUBLE_EQ(m.records[0]["ms"].get<double>(), 1.0);
}

TEST(Merge, RecordWithoutTimeNamesFileLineAndKey) {
  const std::vector<Trace> runs{run_of("good.jsonl", R"({"op":"read","bytes":1024,"ms":0.01})" "\n"),
                                run_of("bad.jsonl", "\n" R"({"op":"read","bytes":1024})" "\n")};
  try {
    merge_runs(runs);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2: ms: missing"), std::string::npos) << e.what();
  }
  const std::vector<Trace> text{run_of("t.jsonl", R"({"op":"read","bytes":1024,"ms":"fast"})" "\n")};
  EXPECT_THROW(merge_runs(text), InputError);
  const std::vector<Trace> watts{run_of("w.jsonl", R"({"op":"idle","avg_w":-3})" "\n")};
  EXPECT_THROW(merge_runs(watts), InputError);
}

TEST(Merge, HostProbeFoldedLikeTimeButIsNoMeasurement) {
  // Each run's host probe (host_probe_us, the host's speed beside the reps) differs; the merged
  // case keeps their median (9, 15, 10 -> 10) beside the median time, so it is predicted at the
  // host it ran on. A probe alone is not a measured result; a bad probe names file, line and key.
  std::vector<Trace> runs{
      run_of("a.jsonl", R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"issue":"torch","ms":0.04,"host_probe_us":9})" "\n"),
      run_of("b.jsonl", R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"issue":"torch","ms":0.07,"host_probe_us":15})" "\n"),
      run_of("c.jsonl", R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"issue":"torch","ms":0.05,"host_probe_us":10})" "\n")};
  const MergeResult m = merge_runs(runs);
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_DOUBLE_EQ(m.records[0]["host_probe_us"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(m.records[0]["ms"].get<double>(), 0.05);
  std::vector<Trace> probe_only{run_of("d.jsonl", R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"host_probe_us":9})" "\n")};
  EXPECT_THROW(merge_runs(probe_only), InputError);
  std::vector<Trace> bad{run_of("e.jsonl", "\n" R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"ms":0.04,"host_probe_us":"slow"})" "\n")};
  try {
    merge_runs(bad);
    FAIL() << "a bad probe was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("e.jsonl:2: host_probe_us"), std::string::npos) << e.what();
  }
}

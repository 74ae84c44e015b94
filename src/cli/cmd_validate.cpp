#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/trace/score.hpp"

namespace headroom::cli {

namespace {

void print_table(const char* title, const char* unit, const std::vector<FamilyScore>& rows, const FamilyScore* total) {
  if (rows.empty()) return;
  std::cout << fmt::format("\n{} ({})\n", title, unit);
  std::cout << fmt::format("{:<26} {:>5} {:>8} {:>8} {:>8} {:>8}  {}\n", "family", "n", "MAPE", "median", "p90", "bias",
                           "worst case (error: measured -> predicted)");
  auto line = [&](const FamilyScore& f) {
    std::cout << fmt::format("{:<26} {:>5} {:>7.1f}% {:>7.1f}% {:>7.1f}% {:>+7.1f}%  {:+.0f}%: {:.4g} -> {:.4g}  {}\n", f.family,
                             f.count, 100 * f.mape, 100 * f.median, 100 * f.p90, 100 * f.bias,
                             100 * f.worst.signed_error(), f.worst.measured, f.worst.predicted, f.worst.shape);
  };
  for (const auto& f : rows) line(f);
  if (total) line(*total);
}

}  // namespace

int cmd_validate(const std::vector<std::string>& args) {
  po::options_description opts("validate options");
  opts.add_options()("help,h", "show this help")
      ("trace", po::value<std::vector<std::string>>()->required(), "trace files (JSON Lines)")
      ("hw", po::value<std::string>(), "hardware file or name; overrides each record's \"hw\"")
      ("fidelity", po::value<std::string>()->default_value("analytical"), "roofline | analytical | cycle")
      ("no-host-probe", "predict every record for the hardware file's host, ignoring each record's host_probe_us "
                        "(the host's speed as measured beside its reps)")
      ("subset", po::value<std::string>()->default_value("all"), "all | train | holdout (the calibration split)")
      ("json", "machine-readable output");
  po::positional_options_description pos;
  pos.add("trace", -1);
  add_hw_set(opts);
  po::variables_map vm;
  if (!parse(args, opts, vm, "usage: headroom validate TRACE.jsonl [TRACE2.jsonl ...] [--hw FILE] [--json]", &pos))
    return 0;
  PredictorOptions po;
  if (vm.count("hw")) po.hw = vm["hw"].as<std::string>();
  po.hw_overrides = checked_hw_set(vm, po.hw);
  auto f = parse_fidelity(vm["fidelity"].as<std::string>());
  if (!f) throw UsageError("--fidelity: expected roofline, analytical or cycle");
  po.fidelity = *f;
  po.record_host_probe = vm.count("no-host-probe") == 0;
  const std::string sub = vm["subset"].as<std::string>();
  Subset subset = sub == "all" ? Subset::All : sub == "train" ? Subset::Train : sub == "holdout" ? Subset::Holdout
                                                                                                   : throw UsageError("--subset: expected all, train or holdout");
  std::vector<Trace> traces;
  for (const auto& p : vm["trace"].as<std::vector<std::string>>()) traces.push_back(read_trace_file(p));
  Predictor pred(po);
  Score s = score_traces(traces, pred, subset);
  if (vm.count("json")) {
    nlohmann::ordered_json j = to_json(s);
    j["fidelity"] = to_string(po.fidelity);
    j["subset"] = sub;
    std::cout << j.dump(1) << "\n";
    return 0;
  }
  std::cout << fmt::format("{} cases ({} subset, {} fidelity), {} could not be predicted\n", s.cases, sub,
                           to_string(po.fidelity), s.unpredicted);
  print_table("time", "ms", s.time, &s.time_overall);
  print_table("power", "avg_w", s.power, nullptr);
  print_table("SM clock", "sm_mhz", s.clock, nullptr);
  if (!s.errors.empty()) {
    std::cout << "\nnot predicted (first " << s.errors.size() << "):\n";
    for (const auto& e : s.errors) std::cout << "  " << e << "\n";
  }
  return 0;
}

}  // namespace headroom::cli

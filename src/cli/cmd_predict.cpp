#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/predict/predictor.hpp"

namespace headroom::cli {

int cmd_predict(const std::vector<std::string>& args) {
  po::options_description opts("predict options");
  opts.add_options()("help,h", "show this help")
      ("hw", po::value<std::string>(), "hardware file or name; overrides each record's \"hw\"")
      ("fidelity", po::value<std::string>()->default_value("analytical"), "roofline | analytical | cycle")
      ("no-host-probe", "predict every record for the hardware file's host, ignoring each record's host_probe_us "
                        "(the host's speed as measured beside its reps)")
      ("input,i", po::value<std::string>(), "read this trace file instead of stdin")
      ("explain", "add \"explain\" to each single op's prediction: its bound, the parts of its time and, for GEMM "
                  "and attention kernels, the plan (tile, split-K, waves, ...)");
  add_hw_set(opts);
  po::variables_map vm;
  if (!parse(args, opts, vm,
             "usage: headroom predict [--hw FILE] < trace.jsonl > predicted.jsonl\n"
             "Writes each input record plus \"predicted\": {\"ms\": ...}, or \"error\" when it cannot predict it."))
    return 0;
  PredictorOptions po;
  if (vm.count("hw")) po.hw = vm["hw"].as<std::string>();
  po.hw_overrides = checked_hw_set(vm, po.hw);
  auto f = parse_fidelity(vm["fidelity"].as<std::string>());
  if (!f) throw UsageError(fmt::format("--fidelity: expected roofline, analytical or cycle, got \"{}\"",
                                       vm["fidelity"].as<std::string>()));
  po.fidelity = *f;
  po.explain = vm.count("explain") > 0;
  po.record_host_probe = vm.count("no-host-probe") == 0;
  if (!po.hw.empty()) (void)resolve_hw_path(po.hw);  // a bad --hw is a usage-level input error, once
  Predictor pred(po);

  std::ifstream file;
  std::string origin = "<stdin>";
  if (vm.count("input")) {
    origin = vm["input"].as<std::string>();
    file.open(origin);
    if (!file) throw InputError(fmt::format("{}: cannot open file", origin));
  }
  std::istream& in = vm.count("input") ? static_cast<std::istream&>(file) : std::cin;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    std::optional<nlohmann::ordered_json> rec;
    try {
      rec = parse_trace_line(text, origin, line);
    } catch (const InputError&) {
      std::cout.flush();  // the lines before the bad one are out
      throw;
    }
    if (!rec) continue;
    std::cout << pred.annotate(*rec, fmt::format("{}:{}", origin, line)).dump() << "\n";
  }
  return 0;
}

}  // namespace headroom::cli

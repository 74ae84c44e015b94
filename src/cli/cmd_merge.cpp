#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/trace/merge.hpp"

namespace headroom::cli {

int cmd_merge(const std::vector<std::string>& args) {
  po::options_description opts("merge options");
  opts.add_options()("help,h", "show this help")
      ("trace", po::value<std::vector<std::string>>()->required(), "trace files, one per run of the same script")
      ("output,o", po::value<std::string>(), "write the merged trace here (default: standard output)")
      ("stat", po::value<std::string>()->default_value("median"), "median | mean: how a case's runs are folded")
      ("min-runs", po::value<int>()->default_value(1), "leave out cases measured in fewer runs than this");
  po::positional_options_description pos;
  pos.add("trace", -1);
  po::variables_map vm;
  if (!parse(args, opts, vm,
             "usage: headroom merge RUN1.jsonl RUN2.jsonl [...] [-o OUT.jsonl] [--stat median|mean] [--min-runs N]\n"
             "One record per case: ms is the median (or mean) of the runs' ms, ms_runs lists them, runs counts them.",
             &pos))
    return 0;
  MergeOptions opt;
  const std::string stat = vm["stat"].as<std::string>();
  const auto st = parse_merge_stat(stat);
  if (!st) throw UsageError(fmt::format("--stat: expected median or mean, got \"{}\"", stat));
  opt.stat = *st;
  opt.min_runs = vm["min-runs"].as<int>();
  if (opt.min_runs < 1) throw UsageError(fmt::format("--min-runs: expected at least 1, got {}", opt.min_runs));

  const auto paths = vm["trace"].as<std::vector<std::string>>();
  std::vector<Trace> runs;
  for (const auto& p : paths) runs.push_back(read_trace_file(p));
  const MergeResult m = merge_runs(runs, opt);

  std::ofstream file;
  if (vm.count("output")) {
    file.open(vm["output"].as<std::string>());
    if (!file) throw InputError(fmt::format("{}: cannot write file", vm["output"].as<std::string>()));
  }
  std::ostream& out = vm.count("output") ? static_cast<std::ostream&>(file) : std::cout;
  out << fmt::format("# merged by headroom merge: {} of ms over {} runs, {} cases\n", stat, paths.size(), m.records.size());
  for (const auto& p : paths) {  // each run's own header (# env ...), so the machines stay on record
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("# env", 0) == 0) out << "# run " << p << ": " << line.substr(2) << "\n";
  }
  for (const auto& r : m.records) out << r.dump() << "\n";
  if (!out) throw InputError("merge: writing the output failed");
  std::cerr << fmt::format("merged {} runs into {} cases", paths.size(), m.records.size());
  if (m.dropped) std::cerr << fmt::format(" ({} cases measured in fewer than {} runs left out)", m.dropped, opt.min_runs);
  std::cerr << "\n";
  return 0;
}

}  // namespace headroom::cli

#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/trace/calibrate.hpp"

namespace headroom::cli {

int cmd_calibrate(const std::vector<std::string>& args) {
  po::options_description opts("calibrate options");
  opts.add_options()("help,h", "show this help")
      ("trace", po::value<std::vector<std::string>>()->required(), "measured trace files (JSON Lines)")
      ("hw", po::value<std::string>()->required(), "the base hardware file")
      ("output,o", po::value<std::string>()->required(), "write the calibrated hardware file here")
      ("holdout", po::value<int>()->default_value(30), "percent of cases held out of the fit")
      ("fix", po::value<std::vector<std::string>>()->composing(),
       "keep this kernel_model parameter at the base file's value (measured, not fitted); repeatable")
      ("only", po::value<std::vector<std::string>>()->composing(),
       "fit only this kernel_model parameter, keeping every other one at the base file's value "
       "(e.g. the host's costs, from eager runs on another machine); repeatable");
  po::positional_options_description pos;
  pos.add("trace", -1);
  po::variables_map vm;
  if (!parse(args, opts, vm, "usage: headroom calibrate TRACE.jsonl [...] --hw BASE.yaml -o OUT.yaml", &pos)) return 0;
  CalibrationOptions opt;
  opt.holdout_percent = vm["holdout"].as<int>();
  if (vm.count("fix")) opt.fixed = vm["fix"].as<std::vector<std::string>>();
  if (vm.count("only")) opt.only = vm["only"].as<std::vector<std::string>>();
  if (opt.holdout_percent < 5 || opt.holdout_percent > 80) throw UsageError("--holdout: expected 5..80 percent");
  const std::string base_path = resolve_hw_path(vm["hw"].as<std::string>());
  HardwareSpec base = HardwareSpec::from_yaml_file(base_path);
  std::vector<Trace> traces;
  for (const auto& p : vm["trace"].as<std::vector<std::string>>()) traces.push_back(read_trace_file(p));
  CalibrationResult r = calibrate(traces, base, opt);

  std::cout << fmt::format("fitted on {} cases ({} iterations); {} cases held out\n\n", r.train_cases, r.iterations,
                           r.holdout_cases);
  std::cout << fmt::format("{:<28} {:>12} {:>12}  {}\n", "parameter", "start", "fitted", "informing cases");
  for (const auto& p : r.report) {
    std::cout << fmt::format("{:<28} {:>12.4g} {:>12.4g}  {}{}\n", p.name, p.start, p.value, p.informing_cases,
                             p.fixed    ? "  (fixed: the base file's value)"
                             : p.fitted ? ""
                                        : "  (not fitted: too few cases inform it)");
  }
  std::cout << fmt::format("\ntime MAPE: train {:.1f}% (fitted cases, not accuracy), hold-out {:.1f}% (accuracy)\n",
                           100 * r.train_mape, 100 * r.holdout_mape);
  std::cout << fmt::format("\n{:<26} {:>5} {:>8} {:>8} {:>8}\n", "hold-out family", "n", "MAPE", "p90", "bias");
  for (const auto& f : r.holdout.time)
    std::cout << fmt::format("{:<26} {:>5} {:>7.1f}% {:>7.1f}% {:>+7.1f}%\n", f.family, f.count, 100 * f.mape, 100 * f.p90,
                             100 * f.bias);
  const std::string out = vm["output"].as<std::string>();
  std::ofstream f(out);
  if (!f) throw InputError(fmt::format("{}: cannot write file", out));
  f << hardware_yaml_with_params(base_path, r.params);
  f.close();
  (void)HardwareSpec::from_yaml_file(out);  // what we wrote must load
  std::cout << fmt::format("\nwrote {}\n", out);
  return 0;
}

}  // namespace headroom::cli

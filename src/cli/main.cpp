#include <fmt/format.h>

#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/hw/hardware_spec.hpp"

namespace headroom::cli {

bool parse(const std::vector<std::string>& args, const po::options_description& opts, po::variables_map& vm,
           const std::string& usage, const po::positional_options_description* pos) {
  try {
    po::command_line_parser p(args);
    p.options(opts);
    if (pos) p.positional(*pos);
    po::store(p.run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n\n" << opts << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(fmt::format("{}\n{}", e.what(), usage));
  }
  return true;
}

void add_hw_set(po::options_description& opts) {
  opts.add_options()("set", po::value<std::vector<std::string>>()->composing(),
                     "what-if edit of the hardware file, SECTION.KEY=VALUE, e.g. --set memory.hbm.bandwidth=\"5.5 TB/s\" or "
                     "--set kernel_model.host_issue_torch=\"20 us\" (repeatable; the result is validated as a file)");
}

std::vector<std::string> hw_set(const po::variables_map& vm) {
  return vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

std::vector<std::string> checked_hw_set(const po::variables_map& vm, const std::string& hw) {
  std::vector<std::string> set = hw_set(vm);
  if (set.empty()) return set;
  if (hw.empty()) throw UsageError("--set edits the --hw file: give --hw too");
  (void)HardwareSpec::from_yaml_file(resolve_hw_path(hw), set);
  return set;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> cmds{
      {"roofline", "per-operator roofline of one model step (table or --json)", cmd_roofline},
      {"step", "step latency of a model under a parallel plan (tp, pp, ep, dp)", cmd_step},
      {"predict", "predict every case of a JSON Lines trace read from stdin", cmd_predict},
      {"import-hf", "convert a Hugging Face config.json into a headroom model file", cmd_import_hf},
      {"describe", "print every parameter of a hardware or model file", cmd_describe},
      {"validate", "score predictions against measured traces, per op family", cmd_validate},
      {"calibrate", "fit the kernel model's parameters to a measured trace", cmd_calibrate},
      {"merge", "fold several runs of the same measurement into one record per case (median)", cmd_merge},
      {"memory", "per-GPU memory plan: weights, KV cache capacity, what fails first", cmd_memory},
  };
  return cmds;
}

void print_usage(std::ostream& os) {
  os << "headroom: a performance simulator for ML inference on accelerators\n\n"
        "usage: headroom <command> [options]   (headroom <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : commands()) os << fmt::format("  {:<11} {}\n", c.name, c.summary);
}

}  // namespace headroom::cli

int main(int argc, char** argv) {
  using namespace headroom;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    cli::print_usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  for (const auto& c : cli::commands()) {
    if (args[0] != c.name) continue;
    try {
      return c.run({args.begin() + 1, args.end()});
    } catch (const UsageError& e) {
      std::cerr << "headroom " << c.name << ": " << e.what() << "\n";
      return 2;
    } catch (const Error& e) {
      std::cerr << "headroom " << c.name << ": " << e.what() << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "headroom " << c.name << ": internal error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << fmt::format("headroom: unknown command \"{}\"\n\n", args[0]);
  cli::print_usage(std::cerr);
  return 2;
}

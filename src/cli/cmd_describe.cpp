#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/hw/kernel_params.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom::cli {

namespace {

// Prints every scalar of the file with its key path; quantities also in SI base units.
void walk(const YAML::Node& n, const std::string& path) {
  if (n.IsMap()) {
    for (const auto& kv : n) walk(kv.second, path.empty() ? kv.first.as<std::string>() : path + "." + kv.first.as<std::string>());
  } else if (n.IsSequence()) {
    size_t i = 0;
    for (const auto& c : n) walk(c, fmt::format("{}[{}]", path, i++));
  } else {
    std::string v = n.Scalar();
    std::string si;
    for (Dim d : {Dim::Bandwidth, Dim::FlopRate, Dim::Bytes, Dim::Hertz, Dim::Watts, Dim::Seconds}) {
      try {
        si = fmt::format("{:.6g}", units::parse(v, d));
        break;
      } catch (const UnitError&) {
      }
    }
    std::string doc;
    if (path.rfind("kernel_model.", 0) == 0) {
      for (const auto& info : kernel_param_table())
        if (path == "kernel_model." + info.name) doc = std::string("  # ") + info.doc;
    }
    std::cout << fmt::format("  {:<40} {:<20} {}{}\n", path, v, si.empty() ? "" : "= " + si + " (SI)", doc);
  }
}

}  // namespace

int cmd_describe(const std::vector<std::string>& args) {
  po::options_description opts("describe options");
  opts.add_options()("help,h", "show this help")("file", po::value<std::string>()->required(),
                                                 "a hardware file (hw_configs/) or model file (models/)");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse(args, opts, vm, "usage: headroom describe hw_configs/h200-sxm.yaml", &pos)) return 0;
  std::string file = vm["file"].as<std::string>();
  // Validate through the real loaders first, so describe never prints a file headroom rejects.
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw InputError(fmt::format("{}: cannot open file", file));
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML syntax error: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (root["compute"]) {
    HardwareSpec h = HardwareSpec::from_yaml_file(file);
    std::cout << fmt::format("{} (hardware; source: {})\n", h.name, h.source);
    std::cout << fmt::format("  ridge point (bf16 dense / HBM): {:.0f} FLOP/B\n",
                             h.peak_rate(DType::BF16).value_or(h.compute.vector_fp32).value() / h.hbm.bandwidth.value());
  } else {
    ModelSpec m = ModelSpec::from_yaml_file(file);
    std::cout << fmt::format("{} (model; source: {}): {:.3f} B parameters, {:.3f} B active per token\n", m.name,
                             m.source, m.params_total() / 1e9, m.params_active_per_token() / 1e9);
  }
  walk(root, "");
  return 0;
}

}  // namespace headroom::cli

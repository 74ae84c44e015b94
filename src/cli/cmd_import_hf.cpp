#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom::cli {

int cmd_import_hf(const std::vector<std::string>& args) {
  po::options_description opts("import-hf options");
  opts.add_options()("help,h", "show this help")("config", po::value<std::string>()->required(),
                                                 "a Hugging Face config.json")(
      "output,o", po::value<std::string>(), "write the model file here (default: stdout)");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (!parse(args, opts, vm, "usage: headroom import-hf config.json -o models/x.yaml", &pos)) return 0;
  ModelSpec m = import_hf_config(vm["config"].as<std::string>());
  const std::string yaml = m.to_yaml();
  if (vm.count("output")) {
    const std::string out = vm["output"].as<std::string>();
    std::ofstream f(out);
    if (!f) throw InputError(fmt::format("{}: cannot write file", out));
    f << yaml;
    std::cerr << fmt::format("wrote {} ({}, {:.2f} B parameters)\n", out, m.name, m.params_total() / 1e9);
  } else {
    std::cout << yaml;
  }
  return 0;
}

}  // namespace headroom::cli

#include "step_options.hpp"

#include <fmt/format.h>

#include "headroom/core/error.hpp"

namespace headroom::cli {

void StepOptions::add_to(po::options_description& o, const char* default_fidelity) {
  o.add_options()("help,h", "show this help")
      ("model", po::value<std::string>()->required(), "model file or name in models/ (e.g. llama3-70b)")
      ("hw", po::value<std::string>()->required(), "hardware file or name in hw_configs/ (e.g. h200-sxm)")
      ("phase", po::value<std::string>()->required(), "prefill or decode")
      ("batch", po::value<int64_t>()->default_value(1), "sequences in the step")
      ("seq", po::value<int64_t>(), "prefill: new tokens per sequence")
      ("context", po::value<int64_t>(), "decode: tokens already cached per sequence")
      ("tp", po::value<int64_t>()->default_value(1), "tensor-parallel degree")
      ("layers", po::value<int64_t>(), "override the number of layers")
      ("kv-dtype", po::value<std::string>(), "KV-cache format: bf16, fp8, int4[-gN], kivi2 (default: the model's dtype)")
      ("weights", po::value<std::string>(), "weight format: bf16, fp8, int8, int4[-gN][-zp], mxfp4, nvfp4 (default: the model's)")
      ("moe-skew", po::value<double>(), "MoE routing skew: Zipf exponent of expert popularity (default 0: uniform)")
      ("moe-balanced", "MoE routing balanced: every expert receives the same number of copies (default: uniform random)")
      ("cuda-graph", "steps replayed as a CUDA graph (default: eager)")
      ("fidelity", po::value<std::string>()->default_value(default_fidelity), "roofline | analytical | cycle");
  add_hw_set(o);
}

Fidelity StepOptions::fidelity(const po::variables_map& vm) const {
  const std::string f = vm["fidelity"].as<std::string>();
  auto p = parse_fidelity(f);
  if (!p) throw UsageError(fmt::format("--fidelity: expected roofline, analytical or cycle, got \"{}\"", f));
  return *p;
}

LoadedStep StepOptions::load(const po::variables_map& vm) const {
  LoadedStep s{ModelSpec::from_yaml_file(resolve_model_path(vm["model"].as<std::string>())),
               HardwareSpec::from_yaml_file(resolve_hw_path(vm["hw"].as<std::string>()), hw_set(vm)), StepConfig{}, false};
  const std::string phase = vm["phase"].as<std::string>();
  if (phase == "prefill") {
    s.cfg.phase = Phase::Prefill;
    if (!vm.count("seq")) throw UsageError("--phase prefill needs --seq");
    s.cfg.seq = vm["seq"].as<int64_t>();
  } else if (phase == "decode") {
    s.cfg.phase = Phase::Decode;
    if (!vm.count("context")) throw UsageError("--phase decode needs --context");
    s.cfg.context = vm["context"].as<int64_t>();
  } else {
    throw UsageError(fmt::format("--phase: expected prefill or decode, got \"{}\"", phase));
  }
  s.cfg.batch = vm["batch"].as<int64_t>();
  s.cfg.tp = vm["tp"].as<int64_t>();
  if (vm.count("layers")) s.cfg.layers = vm["layers"].as<int64_t>();
  if (vm.count("kv-dtype")) set_kv_option(s.cfg, vm["kv-dtype"].as<std::string>());
  if (vm.count("moe-skew")) s.cfg.moe_skew = vm["moe-skew"].as<double>();
  s.cfg.moe_balanced = vm.count("moe-balanced") > 0;
  if (vm.count("weights")) s.cfg.weight_format = parse_weight_format(vm["weights"].as<std::string>());
  s.cuda_graph = vm.count("cuda-graph") > 0;
  return s;
}

}  // namespace headroom::cli

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/cost/step.hpp"
#include "step_options.hpp"

namespace headroom::cli {

int cmd_step(const std::vector<std::string>& args) {
  po::options_description opts("step options");
  StepOptions so;
  so.add_to(opts, "analytical");
  opts.add_options()("pp", po::value<int64_t>()->default_value(1), "pipeline stages")
      ("ep", po::value<int64_t>()->default_value(1), "expert-parallel degree (MoE)")
      ("dp", po::value<int64_t>()->default_value(1), "data-parallel replicas")
      ("microbatches", po::value<int64_t>()->default_value(1), "pipeline micro-batches")
      ("json", "machine-readable output");
  po::variables_map vm;
  if (!parse(args, opts, vm,
             "usage: headroom step --model M --hw H --phase prefill|decode --batch B --seq S|--context C "
             "[--tp N] [--pp N --microbatches M] [--ep N] [--dp N] [--cuda-graph] [--json]"))
    return 0;
  LoadedStep s = so.load(vm);
  ParallelPlan plan;
  plan.tp = s.cfg.tp;
  plan.pp = vm["pp"].as<int64_t>();
  plan.ep = vm["ep"].as<int64_t>();
  plan.dp = vm["dp"].as<int64_t>();
  plan.microbatches = vm["microbatches"].as<int64_t>();
  auto cm = make_cost_model(so.fidelity(vm), s.hw);
  StepPrediction p = predict_step(s.model, s.cfg, plan, *cm, s.cuda_graph);
  if (vm.count("json")) {
    const nlohmann::ordered_json j = step_json(p, s.model, s.hw, *cm, plan);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("{} {} on {} ({} model), tp {} pp {} ep {} dp {}, {} micro-batch(es), {}\n", s.model.name,
                           to_string(s.cfg.phase), s.hw.name, cm->name(), plan.tp, plan.pp, plan.ep, plan.dp,
                           plan.microbatches, s.cuda_graph ? "CUDA graph" : "eager");
  std::cout << fmt::format("\n{:<7} {:>8} {:>12} {:>12} {:>12}\n", "stage", "layers", "time ms", "comm ms", "host ms");
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const auto& st = p.stages[i];
    std::cout << fmt::format("{:<7} {:>8} {:>12.3f} {:>12.3f} {:>12.3f}\n", i, st.layers, st.time.value() * 1e3,
                             st.comm.value() * 1e3, st.host.value() * 1e3);
  }
  std::cout << fmt::format("\nstep latency {:.3f} ms (one micro-batch through all stages: {:.3f} ms", p.latency.value() * 1e3,
                           p.first_token_path.value() * 1e3);
  if (plan.pp > 1) std::cout << fmt::format("; pipeline bubble {:.0f}%, p2p {:.1f} us", 100 * p.bubble_fraction, p.p2p.value() * 1e6);
  std::cout << fmt::format(")\ncollectives {:.3f} ms ({:.0f}% of the stage time)\n", p.comm.value() * 1e3,
                           p.first_token_path.value() > 0 ? 100 * p.comm.value() / p.first_token_path.value() : 0.0);
  std::cout << fmt::format("{} new tokens per replica -> {:.0f} tokens/s over {} GPU(s)\n", p.tokens, p.tokens_per_s,
                           plan.gpus());
  return 0;
}

}  // namespace headroom::cli

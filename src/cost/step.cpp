#include "headroom/cost/step.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "headroom/core/error.hpp"

namespace headroom {

StepPrediction predict_step(const ModelSpec& m, StepConfig cfg, const ParallelPlan& plan, const CostModel& cm,
                            bool cuda_graph) {
  auto bad = [&](const std::string& what) {
    throw InputError(fmt::format("{}: plan tp={} pp={} ep={} dp={} microbatches={}: {}", m.name, plan.tp, plan.pp,
                                 plan.ep, plan.dp, plan.microbatches, what));
  };
  const int64_t layers = cfg.layers.value_or(m.layers);
  if (plan.pp <= 0 || plan.dp <= 0 || plan.microbatches <= 0) bad("degrees must be positive");
  if (plan.pp > layers) bad(fmt::format("pp={} is deeper than the {} layers", plan.pp, layers));
  if (cfg.batch % plan.microbatches != 0)
    bad(fmt::format("{} micro-batches do not divide the batch of {}", plan.microbatches, cfg.batch));
  if (plan.microbatches > 1 && plan.pp == 1) bad("micro-batches need pipeline stages (pp > 1)");

  cfg.tp = plan.tp;
  cfg.ep = plan.ep;
  cfg.dp = plan.dp;
  const int64_t mb = cfg.batch / plan.microbatches;
  StepPrediction out;
  out.tokens = cfg.phase == Phase::Prefill ? cfg.batch * cfg.seq : cfg.batch;
  const std::vector<int64_t> parts = stage_layers(layers, plan.pp);
  int64_t next = 0;
  const IssueMode mode = cuda_graph ? IssueMode::Graph : IssueMode::Torch;
  for (int64_t s = 0; s < plan.pp; ++s) {
    const int64_t n = parts[static_cast<size_t>(s)];
    StepConfig sc = cfg;
    sc.batch = mb;
    sc.first_layer = next;
    sc.layers = n;
    sc.embedding = cfg.embedding && s == 0;
    sc.head = cfg.head && s == plan.pp - 1;
    StepGraph g = StepGraph::build(m, sc);
    StepCost c = evaluate_step(g, cm, cuda_graph);
    StageTime st;
    st.first_layer = next;
    st.layers = n;
    st.time = c.time;
    st.comm = c.collective_time;
    st.host = c.host_time;
    st.gpu = c.gpu_time;
    out.stages.push_back(st);
    out.comm += st.comm;
    next += n;
  }
  // The send after stage s (one per boundary): within the scale-up domain, or over the network when
  // stages hold tp consecutive GPUs each and (s + 1) tp is a multiple of the domain.
  std::vector<Seconds> send_after(static_cast<size_t>(plan.pp));
  if (plan.pp > 1) {
    // Point-to-point send of the hidden states between stages (a 2-GPU gather moves its input once).
    const double tokens_mb = static_cast<double>(cfg.phase == Phase::Prefill ? mb * cfg.seq : mb);
    Op send = make_collective("p2p", CollectiveKind::AllGather, 2,
                              tokens_mb * m.hidden * bytes_per_element(cfg.act_dtype.value_or(m.dtype)),
                              cfg.act_dtype.value_or(m.dtype));
    const Seconds within = cm.cost(send, mode).time;
    const int64_t domain = cm.hardware().scale_up ? cm.hardware().scale_up->domain : 0;
    out.p2p = within;
    for (int64_t s = 0; s + 1 < plan.pp; ++s) {
      Seconds& t = send_after[static_cast<size_t>(s)];
      t = within;
      if (domain > 0 && ((s + 1) * plan.tp) % domain == 0) {
        std::get<CollectiveShape>(send.shape).nodes = 2;
        t = cm.cost(send, mode).time;
      }
      out.p2p = std::max(out.p2p, t);
    }
  }
  // The schedule (GPipe, forward only): every stage's host issues its micro-batches back to back
  // from the step's start, never waiting for its input (a NCCL recv only makes the GPU stream
  // wait: traces/h200x2/profile/pp_host.jsonl), so a later stage's kernels are queued by the time
  // its input arrives and its GPU then runs them at GPU speed. Micro-batch j ends on stage s at
  //   F(s, j) = max(max(F(s, j-1), R(s, j)) + gpu_s, j host_s + time_s)
  // R(0, j) = j host_0 + one launch, R(s, j) = F(s-1, j) + send_(s-1): the GPU starts once the
  // input is there and the previous micro-batch is done, unless the host, pacing the stage at its
  // standalone time, ends it later. A replayed CUDA graph cannot run ahead of its input: host = 0
  // and gpu = its whole time (the graph's per-node costs are paid on the GPU).
  const Seconds launch = cm.host_issue_time(mode);
  std::vector<Seconds> prev(static_cast<size_t>(plan.pp));  // F(s, j-1)
  for (int64_t j = 0; j < plan.microbatches; ++j) {
    Seconds ready;  // F(s-1, j) + send
    for (int64_t s = 0; s < plan.pp; ++s) {
      const StageTime& st = out.stages[static_cast<size_t>(s)];
      const Seconds host = cuda_graph ? Seconds() : st.host;
      const Seconds gpu = cuda_graph ? st.time : st.gpu;
      const Seconds issued = host * static_cast<double>(j);
      const Seconds input = s == 0 ? issued + (cuda_graph ? Seconds() : launch) : ready;
      Seconds& f = prev[static_cast<size_t>(s)];
      f = std::max(std::max(j > 0 ? f : Seconds(), input) + gpu, issued + st.time);
      ready = f + send_after[static_cast<size_t>(s)];
    }
    if (j == 0) out.first_token_path = prev.back();
  }
  out.latency = prev.back();
  const double slots = static_cast<double>(plan.microbatches + plan.pp - 1);
  out.bubble_fraction = plan.pp > 1 ? static_cast<double>(plan.pp - 1) / slots : 0.0;
  out.tokens_per_s = out.latency.value() > 0 ? plan.dp * out.tokens / out.latency.value() : 0.0;
  return out;
}

nlohmann::ordered_json step_json(const StepPrediction& p, const ModelSpec& m, const HardwareSpec& hw,
                                 const CostModel& cm, const ParallelPlan& plan) {
  nlohmann::ordered_json j;
  j["model"] = m.name;
  j["hw"] = hw.name;
  j["cost_model"] = cm.name();
  j["plan"] = {{"tp", plan.tp}, {"pp", plan.pp}, {"ep", plan.ep}, {"dp", plan.dp}, {"microbatches", plan.microbatches}};
  j["latency_s"] = p.latency.value();
  j["first_token_path_s"] = p.first_token_path.value();
  j["bubble_fraction"] = p.bubble_fraction;
  j["p2p_s"] = p.p2p.value();
  j["comm_s"] = p.comm.value();
  j["tokens"] = p.tokens;
  j["tokens_per_s"] = p.tokens_per_s;
  j["stages"] = nlohmann::ordered_json::array();
  for (const auto& st : p.stages)
    j["stages"].push_back({{"first_layer", st.first_layer}, {"layers", st.layers}, {"time_s", st.time.value()},
                           {"comm_s", st.comm.value()}, {"host_s", st.host.value()},
                           {"gpu_s", st.gpu.value()}});
  return j;
}

}  // namespace headroom

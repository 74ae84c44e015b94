#include "headroom/predict/predictor.hpp"

#include <fmt/format.h>

#include <cmath>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"
#include "headroom/cost/step.hpp"
#include "headroom/sim/cycle_model.hpp"

namespace headroom {

using json = nlohmann::ordered_json;

std::string_view to_string(Fidelity f) {
  switch (f) {
    case Fidelity::Roofline: return "roofline";
    case Fidelity::Analytical: return "analytical";
    case Fidelity::Cycle: return "cycle";
  }
  return "?";
}

std::optional<Fidelity> parse_fidelity(std::string_view s) {
  for (Fidelity f : {Fidelity::Roofline, Fidelity::Analytical, Fidelity::Cycle})
    if (to_string(f) == s) return f;
  return std::nullopt;
}

std::unique_ptr<CostModel> make_cost_model(Fidelity f, const HardwareSpec& hw) {
  switch (f) {
    case Fidelity::Roofline: return std::make_unique<RooflineCostModel>(hw);
    case Fidelity::Analytical: return std::make_unique<AnalyticalCostModel>(hw);
    case Fidelity::Cycle: return std::make_unique<CycleCostModel>(hw);
    default: break;
  }
  throw UsageError(fmt::format("fidelity \"{}\" is not available yet", to_string(f)));
}

Predictor::Predictor(PredictorOptions opts) : opts_(std::move(opts)) {}

Predictor::HwEntry& Predictor::entry(const std::string& name) {
  if (last_hw_ && last_hw_->first == name) return const_cast<HwEntry&>(last_hw_->second);
  auto it = hw_.find(name);
  if (it != hw_.end()) {
    if (!it->second.error.empty()) throw InputError(it->second.error);  // failed once: not re-read per record
    last_hw_ = &*it;
    return it->second;
  }
  HwEntry e;
  try {
    e.spec = std::make_unique<HardwareSpec>(HardwareSpec::from_yaml_file(resolve_hw_path(name), opts_.hw_overrides));
    e.model = make_cost_model(opts_.fidelity, *e.spec);
  } catch (const InputError& err) {
    e.error = err.what();
    hw_.emplace(name, std::move(e));
    throw;
  }
  return hw_.emplace(name, std::move(e)).first->second;
}

const HardwareSpec& Predictor::hardware(const std::string& name) {
  return fixed_spec_ ? *fixed_spec_ : *entry(name).spec;
}
const CostModel& Predictor::cost_model(const std::string& name) {
  return fixed_model_ ? *fixed_model_ : *entry(name).model;
}

void Predictor::fix_hardware(const HardwareSpec& hw) {
  at_host_.clear();
  fixed_model_.reset();
  fixed_spec_ = std::make_unique<HardwareSpec>(hw);
  fixed_model_ = make_cost_model(opts_.fidelity, *fixed_spec_);
}

std::optional<double> record_host_probe(const json& rec, const std::string& where) {
  const auto it = rec.find("host_probe_us");
  if (it == rec.end()) return std::nullopt;
  if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>()))
    throw InputError(fmt::format("{}: host_probe_us: expected a positive number of microseconds, got {}", where, it->dump()));
  return it->get<double>() * 1e-6;
}

const CostModel& Predictor::cost_model_at_host(const std::string& name, double probe) {
  const HardwareSpec& base = hardware(name);
  if (!base.kernel_model) return cost_model(name);
  const auto key = std::make_pair(&base, probe);
  if (auto it = at_host_.find(key); it != at_host_.end()) return *it->second.model;
  if (at_host_.size() >= 4096) at_host_.clear();  // bounded: a trace has one probe per case
  HostEntry e;
  e.spec = std::make_unique<HardwareSpec>(base);
  e.spec->kernel_model->host_probe = probe;
  e.model = make_cost_model(opts_.fidelity, *e.spec);
  return *at_host_.emplace(key, std::move(e)).first->second.model;
}

const ModelSpec& Predictor::model(const std::string& name) {
  auto it = models_.find(name);
  if (it != models_.end()) return it->second;
  return models_.emplace(name, ModelSpec::from_yaml_file(resolve_model_path(name))).first->second;
}

std::string Predictor::hw_for(const json& rec) const {
  if (!opts_.hw.empty()) return opts_.hw;
  auto it = rec.find("hw");
  if (it != rec.end() && it->is_string()) return it->get<std::string>();
  return "";
}

Prediction Predictor::predict(const json& rec, const std::string& where) {
  Prediction p;
  try {
    Case c = parse_case(rec, where);
    const std::string hw = hw_for(rec);
    if (hw.empty() && !fixed_model_) throw InputError(fmt::format("{}: hw: missing (give \"hw\" in the record or --hw)", where));
    const std::optional<double> probe = opts_.record_host_probe ? record_host_probe(rec, where) : std::nullopt;
    const CostModel& cm = probe ? cost_model_at_host(hw, *probe) : cost_model(hw);
    if (const Op* op = std::get_if<Op>(&c)) {
      const IssueMode mode = parse_issue(rec, where);
      const OpCost oc = cm.cost(*op, mode);
      // "queued": the harness kept the GPU busy while the host queued the calls, so the
      // measurement is GPU time alone; otherwise host issue and synchronisation count too.
      const bool queued = rec.contains("timing") && rec["timing"] == "queued";
      p.ms = (queued ? queued_time(oc, cm) : issued_time(*op, oc, cm, mode)).value() * 1e3;
      if (opts_.explain) p.explain = explain(*op, oc, cm, mode);
    } else if (const OpSequenceCase* q = std::get_if<OpSequenceCase>(&c)) {
      p.ms = evaluate_ops(q->ops, cm, parse_issue(rec, where)).time.value() * 1e3;
    } else if (const ModelStepCase* m = std::get_if<ModelStepCase>(&c)) {
      if (m->plan.pp > 1 || m->plan.ep > 1) {
        // Pipeline / expert parallel steps: stages, micro-batches and point-to-point sends
        // (cost/step.hpp), each stage's kernels from this fidelity's cost model.
        p.ms = predict_step(model(m->model), m->cfg, m->plan, cm, m->cuda_graph).latency.value() * 1e3;
        return p;
      }
      StepGraph g = StepGraph::build(model(m->model), m->cfg);
      if (opts_.fidelity == Fidelity::Cycle) {
        // The event-driven simulation of the whole step (streams, launch gaps, host issue).
        SimOptions so;
        so.cuda_graph = m->cuda_graph;
        p.ms = simulate_step(g, cm.hardware(), so).time.value() * 1e3;
      } else {
        p.ms = evaluate_step(g, cm, m->cuda_graph).time.value() * 1e3;
      }
    } else {
      p.avg_w = cm.hardware().power.idle.value();
    }
  } catch (const Error& e) {
    p = Prediction{};
    p.error = e.what();
  }
  return p;
}

json Predictor::explain(const Op& op, const OpCost& c, const CostModel& cm, IssueMode mode) const {
  json e;
  e["bound"] = std::string(to_string(c.bound));
  e["compute_ms"] = c.compute.value() * 1e3;
  e["memory_ms"] = c.memory.value() * 1e3;
  if (c.comm.value() > 0) e["comm_ms"] = c.comm.value() * 1e3;
  e["overhead_ms"] = c.overhead.value() * 1e3;
  e["host_ms"] = cm.host_time(op, mode).value() * 1e3;
  // The plan behind the time, from the analytical model (the cycle model lowers the same plans).
  const auto* an = dynamic_cast<const AnalyticalCostModel*>(&cm);
  if (const auto* cy = dynamic_cast<const CycleCostModel*>(&cm)) an = &cy->lowering().plans();
  if (!an) return e;
  if (op.kind == OpKind::Gemm || op.kind == OpKind::MoeRouter) {
    const GemmPlan g = an->gemm_plan(op, an->kernel_overhead(mode));
    e["gemm"] = {{"tile_m", g.tile_m}, {"tile_n", g.tile_n}, {"tile_rate", g.tile_efficiency},
                 {"tiles", g.tiles},   {"split_k", g.splits}, {"ctas", g.ctas},
                 {"waves", g.waves},   {"hbm_fill", g.fill}};
    if (g.load_floor > 0) e["gemm"]["load_floor_ms"] = g.load_floor * 1e3;  // the k-loop's latency bound per CTA
  } else if (op.kind == OpKind::Attention) {
    const AttentionPlan a = an->attention_plan(op, an->kernel_overhead(mode));
    e["attention"] = {{"phase", a.prefill ? "prefill" : "decode"}, {"work_items", a.items},
                      {"kv_splits", a.splits}, {"waves", a.waves}};
    if (a.dequant_ops > 0) {  // a quantized cache: its bits and the expansion work
      e["attention"]["kv_bits"] = op.as<AttentionShape>().kv_bits;
      e["attention"]["expand_ops"] = a.dequant_ops;
    }
  } else if (op.kind == OpKind::MoeExperts) {
    // The expert GEMMs as launched (grouped: PyTorch's tile over each expert's expected rows) and
    // the combine's atomic adds.
    const MoePlan p = an->moe_plan(op);
    json gs = json::array();
    for (int i = 0; i < p.count; ++i) {
      const auto& g = p.gemms[i];
      if (g.grouped)
        gs.push_back({{"kernel", "grouped"}, {"n", g.n}, {"k", g.k}, {"tile_m", g.plan.tile_m},
                      {"tile_n", g.plan.tile_n}, {"tiles", g.plan.tiles}, {"waves", g.plan.waves},
                      {"bytes_read", g.plan.bytes_read}});
      else
        gs.push_back({{"kernel", "dense"}, {"m", g.m}, {"n", g.n}, {"k", g.k}, {"launches", g.times}});
    }
    e["moe"] = {{"experts_touched", op.as<MoeShape>().experts_touched},
                {"gemms", gs},
                {"combine_adds", p.scatter_elements}};
  }
  return e;
}

json Predictor::annotate(const json& rec, const std::string& where) {
  json out = rec;
  Prediction p = predict(rec, where);
  if (!p.ok()) {
    out["error"] = p.error;
    return out;
  }
  json pred = json::object();
  if (p.ms) pred["ms"] = *p.ms;
  if (p.avg_w) pred["avg_w"] = *p.avg_w;
  if (p.sm_mhz) pred["sm_mhz"] = *p.sm_mhz;
  if (!p.explain.is_null()) pred["explain"] = p.explain;
  out["predicted"] = pred;
  return out;
}

}  // namespace headroom

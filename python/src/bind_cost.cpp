// roofline(): the per-operator table of `headroom roofline --json`, its totals and the memory
// estimate, as a RooflineResult (rows/totals/memory are plain dicts; to_dataframe() is added by
// the pure-Python package).
#include <fmt/format.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "headroom/core/error.hpp"
#include "headroom/cost/roofline_table.hpp"
#include "headroom/cost/step.hpp"
#include "headroom/memory/quant_format.hpp"
#include "headroom/memory/memory_estimate.hpp"
#include "headroom/predict/predictor.hpp"

namespace headroom::py_bind {

namespace {

struct RooflineResult {
  std::string model, hw, cost_model;
  py::dict config;
  py::list rows;
  py::dict totals;
  py::dict memory;
};

Fidelity fidelity_arg(const std::string& s) {
  auto f = parse_fidelity(s);
  if (!f) throw UsageError(fmt::format("fidelity: expected roofline, analytical or cycle, got \"{}\"", s));
  return *f;
}

// Same keys as the CLI's `roofline --json` (src/cli/cmd_roofline.cpp).
RooflineResult make_result(const StepGraph& g, const HardwareSpec& hw, const ModelSpec& m, const RooflineTable& t,
                           const MemoryEstimate& mem, const CostModel& cm, bool cuda_graph) {
  RooflineResult r;
  r.model = m.name;
  r.hw = hw.name;
  r.cost_model = std::string(cm.name());
  const StepConfig& c = g.config();
  r.config["phase"] = std::string(to_string(c.phase));
  r.config["batch"] = c.batch;
  r.config["seq"] = c.seq;
  r.config["context"] = c.context;
  r.config["tp"] = c.tp;
  r.config["layers"] = g.layers();
  r.config["cuda_graph"] = cuda_graph;
  for (const auto& row : t.rows) {
    py::dict d;
    d["name"] = row.name;
    d["kind"] = std::string(to_string(row.kind));
    d["dtype"] = std::string(to_string(row.dtype));
    d["count"] = row.count;
    d["flops"] = row.flops.value();
    d["bytes"] = row.bytes.value();
    d["wire_bytes"] = row.wire_bytes.value();
    d["intensity"] = row.intensity();
    d["compute_s"] = row.compute.value();
    d["memory_s"] = row.memory.value();
    d["comm_s"] = row.comm.value();
    d["time_s"] = row.time.value();
    d["bound"] = std::string(to_string(row.bound));
    r.rows.append(d);
  }
  r.totals["flops"] = t.flops.value();
  r.totals["bytes"] = t.bytes.value();
  r.totals["gpu_time_s"] = t.step.gpu_time.value();
  r.totals["host_time_s"] = t.step.host_time.value();
  r.totals["step_time_s"] = t.step.time.value();
  r.totals["compute_bound_s"] = t.step.by_bound[0].value();
  r.totals["memory_bound_s"] = t.step.by_bound[1].value();
  r.totals["communication_bound_s"] = t.step.by_bound[2].value();
  r.totals["tokens"] = g.tokens();
  r.totals["tokens_per_s"] = t.step.time.value() > 0 ? g.tokens() / t.step.time.value() : 0.0;
  r.memory["weights_bytes"] = mem.weights.value();
  r.memory["kv_cache_bytes"] = mem.kv_cache.value();
  r.memory["kv_bytes_per_token"] = mem.kv_per_token.value();
  r.memory["runtime_bytes"] = mem.runtime.value();
  r.memory["total_bytes"] = mem.total.value();
  r.memory["capacity_bytes"] = mem.capacity.value();
  r.memory["fits"] = mem.fits();
  return r;
}

std::string repr(const RooflineResult& r) {
  const double ms = r.totals["step_time_s"].cast<double>() * 1e3;
  return fmt::format("<RooflineResult {} {} on {} ({}): {} rows, step {:.3f} ms, {:.1f} GFLOP, {:.1f} MB, memory {}>",
                     r.model, r.config["phase"].cast<std::string>(), r.hw, r.cost_model, py::len(r.rows), ms,
                     r.totals["flops"].cast<double>() / 1e9, r.totals["bytes"].cast<double>() / 1e6,
                     r.memory["fits"].cast<bool>() ? "fits" : "DOES NOT FIT");
}

}  // namespace

void bind_cost(py::module_& m) {
  py::class_<RooflineResult>(m, "RooflineResult",
                             "A step's roofline: rows (one dict per operator, grouped over layers unless "
                             "group_layers=False), totals, memory; times in seconds, sizes in bytes.")
      .def_readonly("model", &RooflineResult::model)
      .def_readonly("hw", &RooflineResult::hw)
      .def_readonly("cost_model", &RooflineResult::cost_model)
      .def_readonly("config", &RooflineResult::config)
      .def_readonly("rows", &RooflineResult::rows)
      .def_readonly("totals", &RooflineResult::totals)
      .def_readonly("memory", &RooflineResult::memory)
      .def("__repr__", &repr);

  m.def(
      "roofline",
      [](py::object model, py::object hw, const std::string& phase, int64_t batch, std::optional<int64_t> seq,
         std::optional<int64_t> context, int64_t tp, std::optional<int64_t> layers, bool group_layers,
         bool cuda_graph, const std::string& fidelity, std::optional<std::string> kv_dtype) {
        auto ms = model_from(model);
        auto hs = hardware_from(hw);
        StepConfig cfg = step_config(phase, batch, seq, context, tp, layers, kv_dtype);
        auto cm = make_cost_model(fidelity_arg(fidelity), *hs);
        StepGraph g = StepGraph::build(*ms, cfg);
        RooflineTable t = roofline_table(g, *cm, cuda_graph, group_layers);
        MemoryEstimate mem = estimate_memory(*ms, cfg, *hs);
        return make_result(g, *hs, *ms, t, mem, *cm, cuda_graph);
      },
      py::arg("model"), py::arg("hw"), py::arg("phase"), py::arg("batch") = 1, py::arg("seq") = py::none(),
      py::arg("context") = py::none(), py::arg("tp") = 1, py::arg("layers") = py::none(),
      py::arg("group_layers") = true, py::arg("cuda_graph") = false, py::arg("fidelity") = "roofline",
      py::arg("kv_dtype") = py::none(), redirect_output(),
      "The per-operator roofline of one step (what `headroom roofline --json` prints). model and hw may each be a "
      "loaded spec, a name, a path or a dict.");

  m.def(
      "step",
      [](py::object model, py::object hw, const std::string& phase, int64_t batch, std::optional<int64_t> seq,
         std::optional<int64_t> context, int64_t tp, int64_t pp, int64_t ep, int64_t dp, int64_t microbatches,
         std::optional<int64_t> layers, bool cuda_graph, const std::string& fidelity,
         std::optional<std::string> weights, std::optional<std::string> kv_dtype, double moe_skew, bool moe_balanced) {
        auto ms = model_from(model);
        auto hs = hardware_from(hw);
        StepConfig cfg = step_config(phase, batch, seq, context, tp, layers, std::nullopt);
        cfg.moe_skew = moe_skew;
        cfg.moe_balanced = moe_balanced;
        if (kv_dtype) set_kv_option(cfg, *kv_dtype);
        if (weights) cfg.weight_format = parse_weight_format(*weights);
        ParallelPlan plan;
        plan.tp = tp;
        plan.pp = pp;
        plan.ep = ep;
        plan.dp = dp;
        plan.microbatches = microbatches;
        auto cm = make_cost_model(fidelity_arg(fidelity), *hs);
        const StepPrediction p = predict_step(*ms, cfg, plan, *cm, cuda_graph);
        return from_json(step_json(p, *ms, *hs, *cm, plan));
      },
      py::arg("model"), py::arg("hw"), py::arg("phase"), py::arg("batch") = 1, py::arg("seq") = py::none(),
      py::arg("context") = py::none(), py::arg("tp") = 1, py::arg("pp") = 1, py::arg("ep") = 1, py::arg("dp") = 1,
      py::arg("microbatches") = 1, py::arg("layers") = py::none(), py::arg("cuda_graph") = false,
      py::arg("fidelity") = "analytical", py::arg("weights") = py::none(), py::arg("kv_dtype") = py::none(),
      py::arg("moe_skew") = 0.0, py::arg("moe_balanced") = false, redirect_output(),
      "Step latency of a whole model under a parallel plan (what `headroom step --json` prints, a dict: latency_s, "
      "first_token_path_s, bubble_fraction, p2p_s, comm_s, tokens, tokens_per_s, plan, stages). moe_skew: Zipf exponent "
      "of expert popularity (0 = uniform routing); moe_balanced: every expert receives the same number of copies. An impossible plan "
      "raises headroom.InputError naming the constraint.");
}

}  // namespace headroom::py_bind

// StepGraph: the operators of one step as dicts, its data-dependency edges, and its totals.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <unordered_map>

#include "bindings.hpp"

namespace headroom::py_bind {

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

py::dict shape_dict(const OpShape& shape) {
  py::dict d;
  std::visit(overloaded{
                 [&](const GemmShape& s) {
                   d["m"] = s.m, d["n"] = s.n, d["k"] = s.k, d["batch"] = s.batch;
                 },
                 [&](const AttentionShape& s) {
                   d["phase"] = std::string(to_string(s.phase)), d["batch"] = s.batch, d["q_len"] = s.q_len;
                   d["kv_len"] = s.kv_len, d["heads"] = s.heads, d["kv_heads"] = s.kv_heads;
                   d["qk_dim"] = s.qk_dim, d["v_dim"] = s.v_dim, d["causal"] = s.causal;
                 },
                 [&](const RowShape& s) { d["rows"] = s.rows, d["width"] = s.width; },
                 [&](const MoeShape& s) {
                   d["experts"] = s.experts, d["top_k"] = s.top_k, d["hidden"] = s.hidden, d["inter"] = s.inter;
                   d["tokens"] = s.tokens, d["shared_experts"] = s.shared_experts, d["grouped"] = s.grouped;
                   d["experts_touched"] = s.experts_touched;
                 },
                 [&](const CollectiveShape& s) {
                   d["collective"] = std::string(to_string(s.kind)), d["gpus"] = s.gpus, d["bytes"] = s.bytes;
                 },
                 [&](const StreamShape& s) { d["bytes"] = s.bytes, d["warm_l2"] = s.warm_l2; },
                 [&](const LaunchShape& s) { d["back_to_back"] = s.back_to_back; },
             },
             shape);
  return d;
}

py::dict op_dict(const Op& op) {
  py::dict d;
  d["name"] = op.name;
  d["kind"] = std::string(to_string(op.kind));
  d["dtype"] = std::string(to_string(op.dtype));
  d["layer"] = op.layer;
  d["flops"] = op.flops.value();
  d["bytes_read"] = op.bytes_read.value();
  d["bytes_written"] = op.bytes_written.value();
  d["wire_bytes"] = op.wire_bytes.value();
  d["weight_bytes"] = op.weight_bytes.value();
  d["intensity"] = op.intensity();
  d["shape"] = shape_dict(op.shape);
  return d;
}

py::dict config_dict(const StepGraph& g) {
  const StepConfig& c = g.config();
  py::dict d;
  d["phase"] = std::string(to_string(c.phase));
  d["batch"] = c.batch;
  d["seq"] = c.seq;
  d["context"] = c.context;
  d["tp"] = c.tp;
  d["layers"] = g.layers();
  d["kv_dtype"] = c.kv_dtype ? py::object(py::str(std::string(to_string(*c.kv_dtype)))) : py::object(py::none());
  return d;
}

std::string repr(const StepGraph& g) {
  const StepConfig& c = g.config();
  return fmt::format("<StepGraph {} {}: batch {}, {} {}, tp {}, {} layers, {} ops, {:.1f} GFLOP, {:.1f} MB>",
                     g.model_name(), to_string(c.phase), c.batch, c.phase == Phase::Prefill ? "seq" : "context",
                     c.phase == Phase::Prefill ? c.seq : c.context, c.tp, g.layers(), g.size(),
                     g.total_flops().value() / 1e9, g.total_bytes().value() / 1e6);
}

}  // namespace

void bind_graph(py::module_& m) {
  py::class_<StepGraph>(m, "StepGraph", "The operators of one forward step on one GPU of a tensor-parallel group.")
      .def("ops",
           [](const StepGraph& g) {
             py::list l;
             for (OpVertex v : g.order()) l.append(op_dict(g.op(v)));
             return l;
           },
           "operators in issue (topological) order, as dicts: name, kind, dtype, layer, flops, bytes_read, "
           "bytes_written, wire_bytes, weight_bytes, intensity, shape")
      .def("edges",
           [](const StepGraph& g) {
             std::unordered_map<OpVertex, size_t> pos;
             for (size_t i = 0; i < g.order().size(); ++i) pos[g.order()[i]] = i;
             std::vector<std::pair<size_t, size_t>> out;
             for (auto [it, end] = boost::edges(g.graph()); it != end; ++it)
               out.emplace_back(pos.at(boost::source(*it, g.graph())), pos.at(boost::target(*it, g.graph())));
             std::sort(out.begin(), out.end());
             return out;
           },
           "data dependencies as (src, dst) indices into ops()")
      .def_property_readonly("total_flops", [](const StepGraph& g) { return g.total_flops().value(); })
      .def_property_readonly("total_bytes", [](const StepGraph& g) { return g.total_bytes().value(); })
      .def_property_readonly("total_weight_bytes", [](const StepGraph& g) { return g.total_weight_bytes().value(); })
      .def_property_readonly("tokens", &StepGraph::tokens, "new tokens processed by the step")
      .def_property_readonly("layers", &StepGraph::layers)
      .def_property_readonly("model_name", [](const StepGraph& g) { return g.model_name(); })
      .def_property_readonly("config", &config_dict)
      .def("__len__", &StepGraph::size)
      .def("__repr__", &repr);

  m.def(
      "build_step",
      [](py::object model, const std::string& phase, int64_t batch, std::optional<int64_t> seq,
         std::optional<int64_t> context, int64_t tp, std::optional<int64_t> layers, std::optional<std::string> kv_dtype) {
        auto spec = model_from(model);
        return StepGraph::build(*spec, step_config(phase, batch, seq, context, tp, layers, kv_dtype));
      },
      py::arg("model"), py::arg("phase"), py::arg("batch") = 1, py::arg("seq") = py::none(),
      py::arg("context") = py::none(), py::arg("tp") = 1, py::arg("layers") = py::none(),
      py::arg("kv_dtype") = py::none(), redirect_output(),
      "The StepGraph of one prefill (needs seq) or decode (needs context) step; model is a ModelSpec, a name, a "
      "path or a dict.");
}

}  // namespace headroom::py_bind

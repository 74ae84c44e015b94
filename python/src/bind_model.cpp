// ModelSpec: read-only views, parameter and KV counts, YAML round trip, Hugging Face import.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <filesystem>

#include "bindings.hpp"
#include "headroom/core/error.hpp"

namespace headroom::py_bind {

namespace {

std::string repr(const ModelSpec& m) {
  std::string attn = m.attention.kind == AttentionKind::MLA
                         ? fmt::format("MLA {} heads", m.attention.heads)
                         : fmt::format("{} heads / {} kv", m.attention.heads, m.attention.kv_heads);
  std::string moe = m.moe ? fmt::format(", MoE {} experts top-{}", m.moe->experts, m.moe->top_k) : "";
  return fmt::format("<ModelSpec {}: {} layers, hidden {}, {}{}, {:.2f}B params ({:.2f}B active), {}>", m.name,
                     m.layers, m.hidden, attn, moe, m.params_total() / 1e9, m.params_active_per_token() / 1e9,
                     to_string(m.dtype));
}

py::object opt_int(bool has, int64_t v) { return has ? py::object(py::int_(v)) : py::object(py::none()); }

}  // namespace

void bind_model(py::module_& m) {
  using M = ModelSpec;
  py::class_<M, std::shared_ptr<M>>(m, "ModelSpec", "A decoder-only transformer, validated and immutable.")
      .def_property_readonly("name", [](const M& s) { return s.name; })
      .def_property_readonly("source", [](const M& s) { return s.source; })
      .def_property_readonly("file", [](const M& s) { return s.file; })
      .def_property_readonly("key", [](const M& s) { return s.key; })
      .def_property_readonly("layers", [](const M& s) { return s.layers; })
      .def_property_readonly("hidden", [](const M& s) { return s.hidden; })
      .def_property_readonly("vocab", [](const M& s) { return s.vocab; })
      .def_property_readonly("tie_embeddings", [](const M& s) { return s.tie_embeddings; })
      .def_property_readonly("max_context", [](const M& s) { return s.max_context; })
      .def_property_readonly("dtype", [](const M& s) { return std::string(to_string(s.dtype)); })
      .def_property_readonly("attention", [](const M& s) { return s.attention.kind == AttentionKind::MLA ? "mla" : "gqa"; })
      .def_property_readonly("heads", [](const M& s) { return s.attention.heads; })
      .def_property_readonly("kv_heads", [](const M& s) { return s.attention.kv_heads; })
      .def_property_readonly("head_dim", [](const M& s) { return s.attention.head_dim; })
      .def_property_readonly("intermediate", [](const M& s) { return s.ffn.intermediate; })
      .def_property_readonly("is_moe", [](const M& s) { return s.moe.has_value(); })
      .def_property_readonly("experts", [](const M& s) { return opt_int(s.moe.has_value(), s.moe ? s.moe->experts : 0); })
      .def_property_readonly("top_k", [](const M& s) { return opt_int(s.moe.has_value(), s.moe ? s.moe->top_k : 0); })
      .def_property_readonly("expert_intermediate",
                             [](const M& s) { return opt_int(s.moe.has_value(), s.moe ? s.moe->expert_intermediate : 0); })
      .def_property_readonly("shared_experts",
                             [](const M& s) { return opt_int(s.moe.has_value(), s.moe ? s.moe->shared_experts : 0); })
      .def("params_total", &M::params_total, "all parameters (exact, from the shapes)")
      .def("params_active_per_token", &M::params_active_per_token, "MoE: routed top-k + shared; dense: all")
      .def("params_embedding", &M::params_embedding, "input embedding (+ lm head when untied)")
      .def("kv_elements_per_token_per_layer", &M::kv_elements_per_token_per_layer)
      .def("is_moe_layer", &M::is_moe_layer, py::arg("layer"))
      .def("to_yaml", &M::to_yaml, "the models/*.yaml form (what import-hf writes)")
      .def("__repr__", &repr);

  m.def("load_model", [](py::object spec) { return std::const_pointer_cast<M>(model_from(spec)); }, py::arg("spec"),
        redirect_output(),
        "A ModelSpec from a name in models/ ('llama3-8b'), a path, or a dict with the YAML file's structure.");

  m.def("import_hf",
        [](py::object src) {
          if (py::isinstance<py::dict>(src)) {
            return std::make_shared<M>(import_hf_config_text(to_json(src).dump(), "<dict>"));
          }
          std::string path = py::module_::import("os").attr("fspath")(src).cast<std::string>();
          if (std::filesystem::is_directory(path)) path = (std::filesystem::path(path) / "config.json").string();
          return std::make_shared<M>(import_hf_config(path));
        },
        py::arg("config"), redirect_output(),
        "A ModelSpec from a Hugging Face config.json (a path, a model directory holding config.json, or the parsed dict).");
}

}  // namespace headroom::py_bind

// memory(): the per-GPU memory plan of `headroom memory` as a MemoryResult (to_dict() gives the
// same keys as `headroom memory --json`). A plan that cannot be laid out raises InputError; one
// that does not fit returns a result with fits False and the reason.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "headroom/core/error.hpp"
#include "headroom/memory/memory_plan.hpp"

namespace headroom::py_bind {

namespace {

struct MemoryResult {
  MemoryPlan plan;
  nlohmann::ordered_json json;
};

// An int or float is bytes; a str is a quantity with a unit ("527 MiB").
Bytes bytes_from(py::handle obj, const char* name) {
  if (py::isinstance<py::str>(obj)) {
    try {
      return Bytes(units::parse(obj.cast<std::string>(), Dim::Bytes));
    } catch (const UnitError& e) {
      throw UsageError(fmt::format("{}: {}", name, e.what()));
    }
  }
  if (py::isinstance<py::int_>(obj) || py::isinstance<py::float_>(obj)) return Bytes(obj.cast<double>());
  throw UsageError(fmt::format("{}: expected bytes (a number) or a quantity string like \"512 MiB\"", name));
}

// "512,2048", [512, 2048], [(512, 0.5), (2048, 0.5)] or {512: 0.5, 2048: 0.5}.
ContextDistribution contexts_from(py::handle obj) {
  if (py::isinstance<py::str>(obj)) return parse_contexts(obj.cast<std::string>());
  ContextDistribution d;
  if (py::isinstance<py::dict>(obj)) {
    for (auto kv : obj.cast<py::dict>()) d.emplace_back(kv.first.cast<int64_t>(), kv.second.cast<double>());
    return d;
  }
  for (auto item : obj) {
    if (py::isinstance<py::int_>(item)) {
      d.emplace_back(item.cast<int64_t>(), 1.0);
    } else {
      auto pair = item.cast<std::pair<int64_t, double>>();
      d.push_back(pair);
    }
  }
  return d;
}

std::string repr(const MemoryResult& r) {
  const MemoryPlan& p = r.plan;
  const StagePlan& st = p.stages.at(static_cast<size_t>(p.binding_stage));
  return fmt::format(
      "<MemoryResult {} on {} tp{} pp{} ep{} dp{}: weights {} {:.2f} GB/GPU, KV {} {} tokens, {} sequences at "
      "mean context {:.0f}; {}>",
      p.model, p.hw, p.plan.tp, p.plan.pp, p.plan.ep, p.plan.dp, p.weight_format.name,
      st.weights.total().value() / 1e9, p.kv_format.name, p.kv_tokens, p.max_sequences, p.mean_context,
      p.fits ? "fits" : "DOES NOT FIT: " + p.reason);
}

}  // namespace

void bind_memory(py::module_& m) {
  py::class_<MemoryResult>(m, "MemoryResult",
                           "A per-GPU memory plan: weights, runtime, activation peak, KV capacity, concurrency for a "
                           "context distribution and what fails first. Sizes in bytes; to_dict() has every field.")
      .def_property_readonly("model", [](const MemoryResult& r) { return r.plan.model; })
      .def_property_readonly("hw", [](const MemoryResult& r) { return r.plan.hw; })
      .def_property_readonly("fits", [](const MemoryResult& r) { return r.plan.fits; })
      .def_property_readonly("reason", [](const MemoryResult& r) { return r.plan.reason; })
      .def_property_readonly("fails_first",
                             [](const MemoryResult& r) { return std::string(to_string(r.plan.fails_first)); })
      .def_property_readonly("weights_bytes", [](const MemoryResult& r) {
        return r.plan.stages.at(static_cast<size_t>(r.plan.binding_stage)).weights.total().value();
      })
      .def_property_readonly("kv_bytes_per_token", [](const MemoryResult& r) {
        return r.plan.stages.at(static_cast<size_t>(r.plan.binding_stage)).kv_per_token.value();
      })
      .def_property_readonly("kv_budget_bytes", [](const MemoryResult& r) {
        return r.plan.stages.at(static_cast<size_t>(r.plan.binding_stage)).kv_budget.value();
      })
      .def_property_readonly("kv_blocks", [](const MemoryResult& r) { return r.plan.kv_blocks; })
      .def_property_readonly("kv_tokens", [](const MemoryResult& r) { return r.plan.kv_tokens; })
      .def_property_readonly("max_sequences", [](const MemoryResult& r) { return r.plan.max_sequences; })
      .def_property_readonly("max_tokens_in_use", [](const MemoryResult& r) { return r.plan.max_tokens_in_use; })
      .def_property_readonly("fragmentation", [](const MemoryResult& r) { return r.plan.fragmentation; })
      .def_property_readonly("notes", [](const MemoryResult& r) { return r.plan.notes; })
      .def("to_dict", [](const MemoryResult& r) { return from_json(r.json); },
           "The same keys as `headroom memory --json`.")
      .def("__repr__", &repr);

  m.def(
      "memory",
      [](py::object model, py::object hw, int64_t tp, int64_t pp, int64_t ep, int64_t dp,
         std::optional<std::string> weights, std::optional<std::string> kv_dtype, int64_t block, double util,
         std::optional<int64_t> context, py::object contexts, std::optional<int64_t> batch, int64_t max_batch_tokens,
         int64_t max_seqs, bool quantize_embeddings, py::object device_memory, py::object cuda_context,
         py::object library_workspace, py::object nccl, py::object cuda_graphs) {
        auto ms = model_from(model);
        auto hs = hardware_from(hw);
        MemoryOptions o;
        o.plan = {tp, pp, ep, dp};
        o.weights = weights;
        o.kv_dtype = kv_dtype;
        o.block = block;
        o.util = util;
        if (context && !contexts.is_none()) throw UsageError("give context or contexts, not both");
        if (context) o.contexts = {{*context, 1.0}};
        if (!contexts.is_none()) o.contexts = contexts_from(contexts);
        o.batch = batch;
        o.max_batch_tokens = max_batch_tokens;
        o.max_seqs = max_seqs;
        o.quantize_embeddings = quantize_embeddings;
        if (!device_memory.is_none()) o.runtime.device_total = bytes_from(device_memory, "device_memory");
        if (!cuda_context.is_none()) o.runtime.cuda_context = bytes_from(cuda_context, "cuda_context");
        if (!library_workspace.is_none())
          o.runtime.library_workspace = bytes_from(library_workspace, "library_workspace");
        if (!nccl.is_none()) o.runtime.nccl = bytes_from(nccl, "nccl");
        if (!cuda_graphs.is_none()) o.runtime.cuda_graphs = bytes_from(cuda_graphs, "cuda_graphs");
        MemoryResult r{plan_memory(*ms, *hs, o), {}};
        r.json = to_json(r.plan);
        return r;
      },
      py::arg("model"), py::arg("hw"), py::arg("tp") = 1, py::arg("pp") = 1, py::arg("ep") = 1, py::arg("dp") = 1,
      py::arg("weights") = py::none(), py::arg("kv_dtype") = py::none(), py::arg("block") = 16,
      py::arg("util") = 0.9, py::arg("context") = py::none(), py::arg("contexts") = py::none(),
      py::arg("batch") = py::none(), py::arg("max_batch_tokens") = 8192, py::arg("max_seqs") = 256,
      py::arg("quantize_embeddings") = false, py::arg("device_memory") = py::none(),
      py::arg("cuda_context") = py::none(), py::arg("library_workspace") = py::none(), py::arg("nccl") = py::none(),
      py::arg("cuda_graphs") = py::none(), redirect_output(),
      "The per-GPU memory plan (what `headroom memory --json` prints). model and hw may each be a loaded spec, a "
      "name, a path or a dict; contexts a list of lengths, (length, weight) pairs, a {length: weight} dict or "
      "\"512,2048\"; runtime sizes in bytes or as strings (\"527 MiB\").");

  // `headroom.memory`: python/headroom/__init__.py imports names from this module explicitly and
  // is not this area's file, so the two names are also set on the package being imported.
  py::dict modules = py::module_::import("sys").attr("modules");
  if (modules.contains("headroom")) {
    py::object pkg = modules["headroom"];
    if (!py::hasattr(pkg, "memory")) {
      pkg.attr("memory") = m.attr("memory");
      pkg.attr("MemoryResult") = m.attr("MemoryResult");
    }
  }
}

}  // namespace headroom::py_bind

#pragma once
// Shared declarations of the pybind11 module: one bind_<area>() per area (DESIGN.md item 9) and
// the few conversions every area uses (Python <-> JSON, dict -> YAML text, "a loaded object, a
// name, a path or a dict" -> spec).
#include <pybind11/iostream.h>
#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

#include "headroom/graph/step_graph.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom::py_bind {

namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_hw(py::module_& m);  // units and hardware
void bind_model(py::module_& m);
void bind_graph(py::module_& m);
void bind_cost(py::module_& m);
void bind_predict(py::module_& m);
void bind_memory(py::module_& m);

// Python value <-> ordered JSON (dicts keep their key order). Raises TypeError for values JSON
// cannot hold; numpy scalars are accepted through their .item().
nlohmann::ordered_json to_json(py::handle obj);
py::object from_json(const nlohmann::ordered_json& j);

// A dict (or any JSON-like Python value) as YAML text, so that dicts go through the same
// from_yaml_string validation as files. Floats keep Python's shortest repr ("4.8", not "4.79..").
std::string to_yaml_text(py::handle obj);

// "a loaded spec, a name, a path (str or os.PathLike) or a dict" -> spec.
std::shared_ptr<const HardwareSpec> hardware_from(py::handle obj);
std::shared_ptr<const ModelSpec> model_from(py::handle obj);

// The step arguments shared by build_step and roofline, checked like the CLI's options.
StepConfig step_config(const std::string& phase, int64_t batch, std::optional<int64_t> seq,
                       std::optional<int64_t> context, int64_t tp, std::optional<int64_t> layers,
                       std::optional<std::string> kv_dtype);

// Redirects std::cout / std::cerr to sys.stdout / sys.stderr while C++ runs.
using redirect_output = py::call_guard<py::scoped_ostream_redirect, py::scoped_estream_redirect>;

}  // namespace headroom::py_bind

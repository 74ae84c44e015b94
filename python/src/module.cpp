// The _headroom extension module: errors first (so every area's functions translate them), then
// one bind_<area>() per area.
#include "bindings.hpp"
#include "headroom/core/error.hpp"

namespace headroom::py_bind {

// headroom.Error (base of all), headroom.InputError (bad data; also a ValueError) and
// headroom.UsageError (bad arguments; also a ValueError). The message is C++'s what(), unchanged.
// pybind11 tries translators newest first, so the base is registered first.
void bind_errors(py::module_& m) {
  auto& error = py::register_exception<Error>(m, "Error", PyExc_Exception);
  py::register_exception<InputError>(m, "InputError", py::make_tuple(error, py::handle(PyExc_ValueError)));
  py::register_exception<UsageError>(m, "UsageError", py::make_tuple(error, py::handle(PyExc_ValueError)));
}

}  // namespace headroom::py_bind

PYBIND11_MODULE(_headroom, m) {
  namespace hb = headroom::py_bind;
  m.doc() = "headroom: a performance simulator for LLM inference (C++ core)";
  hb::bind_errors(m);
  hb::bind_hw(m);
  hb::bind_model(m);
  hb::bind_graph(m);
  hb::bind_cost(m);
  hb::bind_predict(m);
  hb::bind_memory(m);
}

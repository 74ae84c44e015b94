// Units and HardwareSpec: read-only views of a validated spec; quantities in SI base units.
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "headroom/core/error.hpp"
#include "headroom/units/units.hpp"

namespace headroom::py_bind {

namespace {

Dim parse_dim(const std::string& s) {
  static const std::pair<const char*, Dim> dims[] = {
      {"bytes", Dim::Bytes},       {"seconds", Dim::Seconds},      {"hertz", Dim::Hertz},
      {"watts", Dim::Watts},       {"flops", Dim::Flops},          {"flop_rate", Dim::FlopRate},
      {"bandwidth", Dim::Bandwidth}};
  for (const auto& [name, d] : dims)
    if (s == name) return d;
  throw UsageError(fmt::format(
      "dim: expected bytes, seconds, hertz, watts, flops, flop_rate or bandwidth, got \"{}\"", s));
}

DType dtype_arg(const std::string& s) {
  auto d = parse_dtype(s);
  if (!d) throw UsageError(fmt::format("dtype: unknown dtype \"{}\"", s));
  return *d;
}

py::object opt(const std::optional<double>& v) { return v ? py::object(py::float_(*v)) : py::object(py::none()); }

std::string repr(const HardwareSpec& hw) {
  const auto bf16 = hw.peak_rate(DType::BF16);
  return fmt::format("<HardwareSpec {} ({}): {} SMs @ {}, HBM {} @ {}, bf16 {}, {}>", hw.key.empty() ? "<dict>" : hw.key,
                     hw.name, hw.compute.sm_count, units::format(hw.compute.clocks.boost.value(), Dim::Hertz),
                     units::format(hw.hbm.capacity.value(), Dim::Bytes),
                     units::format(hw.hbm.bandwidth.value(), Dim::Bandwidth),
                     bf16 ? units::format(bf16->value(), Dim::FlopRate) : "none",
                     units::format(hw.power.tdp.value(), Dim::Watts));
}

}  // namespace

void bind_hw(py::module_& m) {
  m.def("parse_quantity", [](const std::string& text, const std::string& dim) { return units::parse(text, parse_dim(dim)); },
        py::arg("text"), py::arg("dim"),
        "Parses \"4.8 TB/s\" into SI base units; dim is bytes, seconds, hertz, watts, flops, flop_rate or bandwidth.");
  m.def("format_quantity", [](double v, const std::string& dim) { return units::format(v, parse_dim(dim)); },
        py::arg("value"), py::arg("dim"), "Formats an SI value with a decimal prefix: 4.8e12, \"bandwidth\" -> \"4.80 TB/s\".");

  using HW = HardwareSpec;
  py::class_<HW, std::shared_ptr<HW>>(m, "HardwareSpec",
                                       "One accelerator, validated and immutable (SI units: bytes, Hz, B/s, FLOP/s, W).")
      .def_property_readonly("name", [](const HW& h) { return h.name; })
      .def_property_readonly("vendor", [](const HW& h) { return h.vendor; })
      .def_property_readonly("source", [](const HW& h) { return h.source; })
      .def_property_readonly("file", [](const HW& h) { return h.file; }, "the file it was loaded from ('' for a dict)")
      .def_property_readonly("key", [](const HW& h) { return h.key; }, "the file's stem, e.g. 'h200-sxm'")
      .def_property_readonly("sm_count", [](const HW& h) { return h.compute.sm_count; })
      .def_property_readonly("base_clock_hz", [](const HW& h) { return h.compute.clocks.base.value(); })
      .def_property_readonly("boost_clock_hz", [](const HW& h) { return h.compute.clocks.boost.value(); })
      .def_property_readonly("vector_fp32_flops", [](const HW& h) { return h.compute.vector_fp32.value(); })
      .def_property_readonly("shared_memory_per_sm_bytes",
                             [](const HW& h) { return h.compute.shared_memory_per_sm.value(); })
      .def_property_readonly("max_ctas_per_sm", [](const HW& h) { return h.compute.max_ctas_per_sm; })
      .def_property_readonly("registers_per_sm", [](const HW& h) { return h.compute.registers_per_sm; })
      .def_property_readonly("matrix_dense",
                             [](const HW& h) {
                               py::dict d;
                               for (const auto& [dt, r] : h.compute.matrix_dense)
                                 d[py::str(std::string(to_string(dt)))] = r.value();
                               return d;
                             },
                             "dense matrix-unit rates at the boost clock, FLOP/s by dtype")
      .def("peak_rate",
           [](const HW& h, const std::string& dtype) {
             auto r = h.peak_rate(dtype_arg(dtype));
             return opt(r ? std::optional<double>(r->value()) : std::nullopt);
           },
           py::arg("dtype"), "Dense peak FLOP/s for dtype ('bf16', 'fp8', ...), or None when the part has no unit for it.")
      .def_property_readonly("hbm_capacity_bytes", [](const HW& h) { return h.hbm.capacity.value(); })
      .def_property_readonly("hbm_bandwidth_bps", [](const HW& h) { return h.hbm.bandwidth.value(); })
      .def_property_readonly("hbm_clock_hz",
                             [](const HW& h) { return opt(h.hbm.clock ? std::optional<double>(h.hbm.clock->value()) : std::nullopt); })
      .def_property_readonly("l2_bytes", [](const HW& h) { return h.l2.capacity.value(); })
      .def_property_readonly("l2_bandwidth_bps", [](const HW& h) {
        return opt(h.l2.bandwidth ? std::optional<double>(h.l2.bandwidth->value()) : std::nullopt);
      })
      .def_property_readonly("scale_up",
                             [](const HW& h) -> py::object {
                               if (!h.scale_up) return py::none();
                               const auto& s = *h.scale_up;
                               py::dict d;
                               d["kind"] = s.kind;
                               d["version"] = s.version;
                               d["links"] = s.links;
                               d["bandwidth_per_link_bps"] = s.bandwidth_per_link.value();
                               d["total_per_direction_bps"] = s.total_per_direction().value();
                               d["domain"] = s.domain > 0 ? py::object(py::int_(s.domain)) : py::none();
                               return d;
                             },
                             "the scale-up fabric (NVLink, Infinity Fabric) as a dict, or None; domain: the GPUs it connects")
      .def_property_readonly("scale_out",
                             [](const HW& h) -> py::object {
                               if (!h.scale_out) return py::none();
                               const auto& s = *h.scale_out;
                               py::dict d;
                               d["kind"] = s.kind;
                               d["bandwidth_bps"] = s.bandwidth.value();
                               d["efficiency"] = s.efficiency;
                               d["latency_s"] = s.latency.value();
                               d["latency_ll_s"] = s.latency_ll.value();
                               return d;
                             },
                             "the network between scale-up domains (per GPU) as a dict, or None")
      .def_property_readonly("pcie_generation", [](const HW& h) { return h.pcie.generation; })
      .def_property_readonly("pcie_bandwidth_bps", [](const HW& h) { return h.pcie.bandwidth.value(); })
      .def_property_readonly("host_memory",
                             [](const HW& h) -> py::object {
                               if (!h.host_memory) return py::none();
                               py::dict d;
                               d["capacity_bytes"] = h.host_memory->capacity.value();
                               d["bandwidth_bps"] = h.host_memory->bandwidth.value();
                               d["link"] = h.host_memory->link;
                               return d;
                             })
      .def_property_readonly("pim",
                             [](const HW& h) -> py::object {
                               if (!h.pim) return py::none();
                               py::dict d;
                               d["internal_bandwidth_bps"] = h.pim->internal_bandwidth.value();
                               d["compute_rate_flops"] = h.pim->compute_rate.value();
                               d["capacity_bytes"] = h.pim->capacity.value();
                               return d;
                             })
      .def_property_readonly("tdp_w", [](const HW& h) { return h.power.tdp.value(); })
      .def_property_readonly("idle_w", [](const HW& h) { return h.power.idle.value(); })
      .def_property_readonly("power_cap_min_w", [](const HW& h) { return h.power.cap_min.value(); })
      .def_property_readonly("power_cap_max_w", [](const HW& h) { return h.power.cap_max.value(); })
      .def("__repr__", &repr);

  m.def(
      "load_hardware",
      [](py::object spec, std::optional<std::map<std::string, std::string>> set) {
        if (!set || set->empty()) return std::const_pointer_cast<HW>(hardware_from(spec));
        if (!py::isinstance<py::str>(spec) && !py::hasattr(spec, "__fspath__"))
          throw UsageError("load_hardware: set= edits a hardware file: give its name or path as spec");
        std::vector<std::string> overrides;
        for (const auto& [k, v] : *set) overrides.push_back(k + "=" + v);
        const std::string path = py::str(py::module_::import("os").attr("fspath")(spec)).cast<std::string>();
        return std::make_shared<HW>(HardwareSpec::from_yaml_file(resolve_hw_path(path), overrides));
      },
      py::arg("spec"), py::arg("set") = py::none(), redirect_output(),
      "A HardwareSpec from a name in hw_configs/ ('h200-sxm'), a path, or a dict with the YAML file's structure "
      "(validated the same way; errors raise headroom.InputError). set: what-if edits of the named file before it "
      "is validated, {'section.key': 'value'}, as the CLI's --set (e.g. {'memory.hbm.bandwidth': '6 TB/s'}).");
}

}  // namespace headroom::py_bind

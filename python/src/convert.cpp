// Conversions shared by the bind_<area>() files.
#include <fmt/format.h>
#include <pybind11/stl.h>
#include <yaml-cpp/yaml.h>

#include "bindings.hpp"
#include "headroom/core/error.hpp"

namespace headroom::py_bind {

using json = nlohmann::ordered_json;

namespace {

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

bool is_numpy_scalar(py::handle obj) {
  return py::hasattr(obj, "item") && py::hasattr(obj, "dtype") && py::hasattr(obj, "shape") &&
         py::len(obj.attr("shape")) == 0;
}

void emit(YAML::Emitter& out, py::handle obj) {
  if (obj.is_none()) {
    out << YAML::Null;
  } else if (py::isinstance<py::bool_>(obj)) {
    out << (obj.cast<bool>() ? "true" : "false");
  } else if (py::isinstance<py::int_>(obj)) {
    out << std::string(py::str(obj));
  } else if (py::isinstance<py::float_>(obj)) {
    out << std::string(py::repr(py::float_(obj.cast<double>())));
  } else if (py::isinstance<py::str>(obj)) {
    out << YAML::DoubleQuoted << obj.cast<std::string>();
  } else if (py::isinstance<py::dict>(obj)) {
    out << YAML::BeginMap;
    for (auto kv : obj.cast<py::dict>()) {
      out << YAML::Key << std::string(py::str(kv.first)) << YAML::Value;
      emit(out, kv.second);
    }
    out << YAML::EndMap;
  } else if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    out << YAML::BeginSeq;
    for (auto item : obj) emit(out, item);
    out << YAML::EndSeq;
  } else if (is_numpy_scalar(obj)) {
    emit(out, obj.attr("item")());
  } else {
    throw py::type_error(fmt::format("cannot put a {} into a spec (use str, int, float, bool, dict or list)",
                                     type_name(obj)));
  }
}

}  // namespace

json to_json(py::handle obj) {
  if (obj.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
  if (py::isinstance<py::int_>(obj)) {
    try {
      return obj.cast<int64_t>();
    } catch (const py::cast_error&) {
      return obj.cast<uint64_t>();  // raises when it does not fit either
    }
  }
  if (py::isinstance<py::float_>(obj)) return obj.cast<double>();
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::dict>(obj)) {
    json j = json::object();
    for (auto kv : obj.cast<py::dict>()) {
      if (!py::isinstance<py::str>(kv.first))
        throw py::type_error(fmt::format("record keys must be str, got {}", type_name(kv.first)));
      j[kv.first.cast<std::string>()] = to_json(kv.second);
    }
    return j;
  }
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    json j = json::array();
    for (auto item : obj) j.push_back(to_json(item));
    return j;
  }
  if (is_numpy_scalar(obj)) return to_json(obj.attr("item")());
  throw py::type_error(fmt::format("cannot convert a {} to JSON", type_name(obj)));
}

py::object from_json(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return py::none();
    case json::value_t::boolean: return py::bool_(j.get<bool>());
    case json::value_t::number_integer: return py::int_(j.get<int64_t>());
    case json::value_t::number_unsigned: return py::int_(j.get<uint64_t>());
    case json::value_t::number_float: return py::float_(j.get<double>());
    case json::value_t::string: return py::str(j.get_ref<const std::string&>());
    case json::value_t::array: {
      py::list l;
      for (const auto& e : j) l.append(from_json(e));
      return l;
    }
    case json::value_t::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = from_json(v);
      return d;
    }
    default: break;  // binary, discarded
  }
  return py::none();
}

std::string to_yaml_text(py::handle obj) {
  YAML::Emitter out;
  emit(out, obj);
  return out.c_str();
}

namespace {

// A name or a path: str, or anything os.fspath() accepts.
std::optional<std::string> as_path(py::handle obj) {
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  if (py::hasattr(obj, "__fspath__")) return py::module_::import("os").attr("fspath")(obj).cast<std::string>();
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const HardwareSpec> hardware_from(py::handle obj) {
  if (py::isinstance<HardwareSpec>(obj)) return obj.cast<std::shared_ptr<HardwareSpec>>();
  if (py::isinstance<py::dict>(obj))
    return std::make_shared<const HardwareSpec>(HardwareSpec::from_yaml_string(to_yaml_text(obj), "<dict>"));
  if (auto p = as_path(obj)) return std::make_shared<const HardwareSpec>(HardwareSpec::from_yaml_file(resolve_hw_path(*p)));
  throw py::type_error(fmt::format("hardware: expected a HardwareSpec, a name, a path or a dict, got {}", type_name(obj)));
}

std::shared_ptr<const ModelSpec> model_from(py::handle obj) {
  if (py::isinstance<ModelSpec>(obj)) return obj.cast<std::shared_ptr<ModelSpec>>();
  if (py::isinstance<py::dict>(obj))
    return std::make_shared<const ModelSpec>(ModelSpec::from_yaml_string(to_yaml_text(obj), "<dict>"));
  if (auto p = as_path(obj)) return std::make_shared<const ModelSpec>(ModelSpec::from_yaml_file(resolve_model_path(*p)));
  throw py::type_error(fmt::format("model: expected a ModelSpec, a name, a path or a dict, got {}", type_name(obj)));
}

StepConfig step_config(const std::string& phase, int64_t batch, std::optional<int64_t> seq,
                       std::optional<int64_t> context, int64_t tp, std::optional<int64_t> layers,
                       std::optional<std::string> kv_dtype) {
  StepConfig c;
  if (phase == "prefill") {
    c.phase = Phase::Prefill;
    if (!seq) throw UsageError("phase \"prefill\" needs seq");
    c.seq = *seq;
  } else if (phase == "decode") {
    c.phase = Phase::Decode;
    if (!context) throw UsageError("phase \"decode\" needs context");
    c.context = *context;
  } else {
    throw UsageError(fmt::format("phase: expected prefill or decode, got \"{}\"", phase));
  }
  c.batch = batch;
  c.tp = tp;
  c.layers = layers;
  if (kv_dtype) {
    auto d = parse_dtype(*kv_dtype);
    if (!d) throw UsageError(fmt::format("kv_dtype: unknown dtype \"{}\"", *kv_dtype));
    c.kv_dtype = d;
  }
  return c;
}

}  // namespace headroom::py_bind

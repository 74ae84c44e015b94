// predict(): the path behind `headroom predict`, one record (a dict) at a time through
// Predictor::annotate; each result is the record plus "predicted" or "error".
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <memory>

#include "bindings.hpp"
#include "headroom/core/error.hpp"
#include "headroom/predict/predictor.hpp"
#include "headroom/trace/merge.hpp"
#include "headroom/trace/trace.hpp"

namespace headroom::py_bind {


void bind_predict(py::module_& m) {
  m.def(
      "read_trace",
      [](py::object path) {
        Trace t = read_trace_file(py::module_::import("os").attr("fspath")(path).cast<std::string>());
        py::list out;
        for (const auto& r : t.records) out.append(from_json(r.obj));
        return out;
      },
      py::arg("path"), redirect_output(),
      "The records of a JSON Lines trace as dicts (blank and '#' lines skipped); a malformed line raises "
      "headroom.InputError naming it.");

  m.def(
      "merge_runs",
      [](py::iterable paths, const std::string& stat, int min_runs) {
        MergeOptions opt;
        const auto st = parse_merge_stat(stat);
        if (!st) throw UsageError(fmt::format("stat: expected median or mean, got \"{}\"", stat));
        opt.stat = *st;
        if (min_runs < 1) throw UsageError(fmt::format("min_runs: expected at least 1, got {}", min_runs));
        opt.min_runs = min_runs;
        std::vector<Trace> runs;
        for (py::handle p : paths)
          runs.push_back(read_trace_file(py::module_::import("os").attr("fspath")(p).cast<std::string>()));
        py::list out;
        for (const auto& r : merge_runs(runs, opt).records) out.append(from_json(r));
        return out;
      },
      py::arg("paths"), py::arg("stat") = "median", py::arg("min_runs") = 1, redirect_output(),
      "Several runs of one measurement (trace files) folded into one record per case, as `headroom merge`: "
      "\"ms\" the median (or mean) of the runs, \"ms_runs\" each run's, \"runs\" how many; fields that differ "
      "between runs left out. Cases measured in fewer than min_runs runs are left out.");

  m.def(
      "predict",
      [](py::iterable records, py::object hw, const std::string& fidelity, bool explain, bool host_probe) {
        PredictorOptions opts;
        opts.explain = explain;
        opts.record_host_probe = host_probe;
        auto f = parse_fidelity(fidelity);
        if (!f) throw UsageError(fmt::format("fidelity: expected roofline, analytical or cycle, got \"{}\"", fidelity));
        opts.fidelity = *f;
        // A dict or a loaded HardwareSpec (which may carry what-if edits its file does not) is used
        // as it is, for every record; a name or a path is loaded by the Predictor.
        std::shared_ptr<const HardwareSpec> spec;
        if (py::isinstance<py::dict>(hw) || py::isinstance<HardwareSpec>(hw)) {
          spec = hardware_from(hw);
        } else if (!hw.is_none()) {
          opts.hw = py::module_::import("os").attr("fspath")(hw).cast<std::string>();
          (void)resolve_hw_path(opts.hw);  // a bad hw is an error once, not once per record
        }
        Predictor pred(opts);
        if (spec) pred.fix_hardware(*spec);
        py::list out;
        size_t i = 0;
        for (py::handle rec : records) {
          const std::string where = fmt::format("records[{}]", i++);
          if (!py::isinstance<py::dict>(rec))
            throw InputError(fmt::format("{}: expected a dict, got {}", where,
                                         std::string(py::str(py::type::handle_of(rec).attr("__name__")))));
          out.append(from_json(pred.annotate(to_json(rec), where)));
        }
        return out;
      },
      py::arg("records"), py::arg("hw") = py::none(), py::arg("fidelity") = "roofline", py::arg("explain") = false,
      py::arg("host_probe") = true, redirect_output(),
      "Predicts each trace record (a dict in the trace format, docs/trace-format.md) like `headroom predict`: "
      "returns each record plus \"predicted\": {\"ms\": ...} or \"error\": \"<why>\"; a bad record does not stop "
      "the run. hw (a name, a path, a dict or a HardwareSpec, with any what-if edits load_hardware made) overrides "
      "each record's \"hw\". "
      "explain=True adds \"explain\" to each single op's prediction (as `headroom predict --explain`). "
      "host_probe=False ignores each record's host_probe_us (as `--no-host-probe`).");
}

}  // namespace headroom::py_bind

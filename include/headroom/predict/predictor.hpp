#pragma once
// Predictor: the one entry point behind `headroom predict`, `validate`, `calibrate` and Python's
// predict(): a trace record in, a prediction (or the reason there is none) out. It caches parsed
// hardware and model files and one cost model per hardware.
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/model/model_spec.hpp"
#include "headroom/trace/trace.hpp"

namespace headroom {

enum class Fidelity { Roofline, Analytical, Cycle };
std::string_view to_string(Fidelity f);
std::optional<Fidelity> parse_fidelity(std::string_view s);

struct PredictorOptions {
  std::string hw;  // a hardware name or path; overrides each record's "hw" when set
  Fidelity fidelity = Fidelity::Analytical;
  // Add "explain" to each prediction of a single op: its bound and the parts of its time, and
  // for a GEMM or attention kernel the plan the model chose (tile, split-K, waves, ...).
  bool explain = false;
  // What-if edits applied to every hardware file read ("section.key=value";
  // HardwareSpec::from_yaml_file with overrides).
  std::vector<std::string> hw_overrides{};
  // A record's "host_probe_us" (the host probe read beside its timed reps) sets
  // kernel_model.host_probe for that record: its host costs scale to the host as it ran. False:
  // every record is predicted for the hardware file's host.
  bool record_host_probe = true;
};

// A record's host probe in seconds ("host_probe_us": a positive number of microseconds), or none.
// Throws InputError naming `where` and the key for a value that is not one.
std::optional<double> record_host_probe(const nlohmann::ordered_json& record, const std::string& where);

struct Prediction {
  std::optional<double> ms;
  std::optional<double> avg_w;
  std::optional<double> sm_mhz;
  nlohmann::ordered_json explain;  // with PredictorOptions::explain, single ops: why this time
  std::string error;  // non-empty when nothing could be predicted
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Builds the cost model of the given fidelity for a hardware spec (which must outlive it).
std::unique_ptr<CostModel> make_cost_model(Fidelity f, const HardwareSpec& hw);

class Predictor {
 public:
  explicit Predictor(PredictorOptions opts = {});
  // Predict every record on this hardware (ignoring "hw" and --hw); used by calibration to try
  // parameter sets. Replaces the fixed spec and its cost model on each call.
  void fix_hardware(const HardwareSpec& hw);
  // Never throws for a bad record: the reason goes into Prediction::error.
  Prediction predict(const nlohmann::ordered_json& record, const std::string& where);
  // The record plus "predicted": {...} or "error": "...".
  nlohmann::ordered_json annotate(const nlohmann::ordered_json& record, const std::string& where);

  const HardwareSpec& hardware(const std::string& name_or_path);
  const CostModel& cost_model(const std::string& name_or_path);
  // The cost model of that hardware on a host whose probe reads `probe` seconds
  // (kernel_model.host_probe); the hardware's own model when it has no kernel_model.
  const CostModel& cost_model_at_host(const std::string& name_or_path, double probe);
  const ModelSpec& model(const std::string& name_or_path);
  [[nodiscard]] const PredictorOptions& options() const { return opts_; }
  // Which hardware a record is predicted on (the --hw override, else the record's "hw").
  std::string hw_for(const nlohmann::ordered_json& record) const;

 private:
  // The "explain" object of one op's prediction (PredictorOptions::explain).
  nlohmann::ordered_json explain(const Op& op, const OpCost& c, const CostModel& cm, IssueMode mode) const;
  struct HwEntry {
    std::unique_ptr<HardwareSpec> spec;
    std::unique_ptr<CostModel> model;
    std::string error;  // a load that failed, remembered
  };
  HwEntry& entry(const std::string& name_or_path);
  PredictorOptions opts_;
  std::map<std::string, HwEntry> hw_;
  const std::pair<const std::string, HwEntry>* last_hw_ = nullptr;  // the last entry used (records mostly repeat it)
  std::map<std::string, ModelSpec> models_;
  std::unique_ptr<HardwareSpec> fixed_spec_;
  std::unique_ptr<CostModel> fixed_model_;
  // Cost models at a record's host probe, by base spec and probe (cleared with fix_hardware).
  struct HostEntry {
    std::unique_ptr<HardwareSpec> spec;
    std::unique_ptr<CostModel> model;
  };
  std::map<std::pair<const HardwareSpec*, double>, HostEntry> at_host_;
};

}  // namespace headroom

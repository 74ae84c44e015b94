#pragma once
// Calibration: fit the analytical kernel model's parameters (hw file `kernel_model:`) to measured
// trace cases with a robust (Huber) least-squares fit on log time ratios, solved by
// Levenberg-Marquardt with Eigen. Cases are split deterministically (is_holdout): the fit sees
// only the training half; the error reported as accuracy is the hold-out half's.
#include <string>
#include <vector>

#include "headroom/hw/hardware_spec.hpp"
#include "headroom/trace/score.hpp"
#include "headroom/trace/trace.hpp"

namespace headroom {

struct CalibrationOptions {
  int holdout_percent = 30;
  int max_iterations = 200;
  double huber_delta = 0.10;     // residuals (log ratio) beyond ~10% are down-weighted
  int min_cases_per_param = 3;   // refuse to fit with fewer training cases than this per parameter
  // Parameters kept at the base file's value (measured directly, not fitted); each must be a
  // kernel_model parameter, else InputError.
  std::vector<std::string> fixed;
  // When not empty, only these parameters are fitted and every other one stays at the base file's
  // value: re-fitting one part of a calibrated file (say the host's costs, from eager runs on
  // another machine) without moving the rest. Each must be a kernel_model parameter and not
  // in `fixed`, else InputError.
  std::vector<std::string> only;
};

struct CalibratedParam {
  std::string name;
  double start = 0, value = 0;
  bool fitted = false;  // false: no training case informs it, or fixed; kept at its start value
  bool fixed = false;   // kept at the base file's value on request (CalibrationOptions::fixed)
  int informing_cases = 0;
};

struct CalibrationResult {
  KernelParams params;
  std::vector<CalibratedParam> report;
  int train_cases = 0;
  int holdout_cases = 0;
  int iterations = 0;
  double train_mape = 0;
  double holdout_mape = 0;
  Score holdout;  // per-family errors on the hold-out half, with the fitted parameters
  Score train;
};

// Throws InputError when the trace has too few cases for the parameters it informs.
CalibrationResult calibrate(const std::vector<Trace>& traces, const HardwareSpec& base, const CalibrationOptions& opt);

// The base hardware file's text with its kernel_model section replaced by `p`.
std::string hardware_yaml_with_params(const std::string& base_file, const KernelParams& p);

}  // namespace headroom

#include "headroom/trace/calibrate.hpp"

#include <Eigen/Dense>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"
#include "headroom/cost/step.hpp"

namespace headroom {

namespace {

struct FitCase {
  std::optional<Op> op;
  std::vector<Op> seq;                  // an op sequence (expert-parallel MoE layer)
  std::shared_ptr<StepGraph> graph;
  std::optional<ModelStepCase> pipeline;  // a step with pipeline / expert parallelism
  const ModelSpec* model = nullptr;
  bool cuda_graph = false;
  IssueMode mode = IssueMode::Cuda;
  bool queued = false;
  double measured_s = 0;
  double host_probe = 0;  // the record's host_probe_us, seconds (0: the hardware file's host)
};

double predict_s(const CostModel& cm, const FitCase& c) {
  if (c.op) {
    const OpCost oc = cm.cost(*c.op, c.mode);
    return (c.queued ? queued_time(oc, cm) : issued_time(*c.op, oc, cm, c.mode)).value();
  }
  if (!c.seq.empty()) return evaluate_ops(c.seq, cm, c.mode).time.value();
  if (c.pipeline) return predict_step(*c.model, c.pipeline->cfg, c.pipeline->plan, cm, c.pipeline->cuda_graph).latency.value();
  return evaluate_step(*c.graph, cm, c.cuda_graph).time.value();
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double logit(double p) { return std::log(p / (1.0 - p)); }

double huber(double r, double d) { return std::fabs(r) <= d ? 0.5 * r * r : d * (std::fabs(r) - 0.5 * d); }

std::string today() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

}  // namespace

CalibrationResult calibrate(const std::vector<Trace>& traces, const HardwareSpec& base, const CalibrationOptions& opt) {
  // 1. The training cases: measured times, not sustained (those run at power-limited clocks and
  //    belong to the power model), that the model can predict at all.
  Predictor loader{PredictorOptions{}};
  std::vector<FitCase> cases;
  int holdout = 0;
  std::string origins;
  for (const Trace& t : traces) {
    origins += (origins.empty() ? "" : ", ") + t.origin;
    for (const TraceRecord& r : t.records) {
      auto ms = r.obj.find("ms");
      if (ms == r.obj.end() || !ms->is_number() || ms->get<double>() <= 0) continue;
      if (r.obj.value("sustained", false)) continue;
      if (is_holdout(r.obj, opt.holdout_percent)) {
        ++holdout;
        continue;
      }
      const std::string where = fmt::format("{}:{}", t.origin, r.line);
      FitCase fc;
      fc.measured_s = ms->get<double>() * 1e-3;
      try {
        fc.host_probe = record_host_probe(r.obj, where).value_or(0.0);
        Case c = parse_case(r.obj, where);
        if (const Op* op = std::get_if<Op>(&c)) {
          fc.op = *op;
          fc.mode = parse_issue(r.obj, where);
          fc.queued = r.obj.contains("timing") && r.obj["timing"] == "queued";
        } else if (const OpSequenceCase* q = std::get_if<OpSequenceCase>(&c)) {
          fc.seq = q->ops;
          fc.mode = parse_issue(r.obj, where);
        } else if (const ModelStepCase* m = std::get_if<ModelStepCase>(&c)) {
          if (m->plan.pp > 1 || m->plan.ep > 1) {
            fc.pipeline = *m;
            fc.model = &loader.model(m->model);
          } else {
            fc.graph = std::make_shared<StepGraph>(StepGraph::build(loader.model(m->model), m->cfg));
          }
          fc.cuda_graph = m->cuda_graph;
        } else {
          continue;
        }
        AnalyticalCostModel probe(base);
        (void)predict_s(probe, fc);  // drops cases this hardware cannot run
      } catch (const Error&) {
        continue;
      }
      cases.push_back(std::move(fc));
    }
  }

  // 2. Parameters in an unconstrained space: p = lo + (hi - lo) * sigmoid(x).
  const auto& table = kernel_param_table();
  // Start from the base file's calibration when it has one, else from each parameter's documented
  // typical value: max() terms (GPU vs host time) have no gradient on their inactive side, so a
  // start at a bound can strand the fit.
  KernelParams start = base.kernel_model.value_or(KernelParams{});
  std::vector<double> p0(table.size());
  for (size_t j = 0; j < table.size(); ++j) {
    const double lo = table[j].lower, hi = table[j].upper, span = hi - lo;
    const bool given = base.kernel_model && std::find(start.given.begin(), start.given.end(), table[j].name) != start.given.end();
    const double guess = given ? table[j].ref(start) : table[j].start;
    p0[j] = std::clamp(guess, lo + 0.001 * span, hi - 0.001 * span);
  }
  auto params_of = [&](const std::vector<double>& p) {
    KernelParams k = start;
    for (size_t j = 0; j < table.size(); ++j) table[j].ref(k) = p[j];
    return k;
  };
  auto residuals = [&](const std::vector<double>& p) {
    HardwareSpec hw = base;
    KernelParams k = params_of(p);
    AnalyticalCostModel cm(hw, k);
    Eigen::VectorXd r(static_cast<Eigen::Index>(cases.size()));
    for (size_t i = 0; i < cases.size(); ++i) {
      double t;
      if (cases[i].host_probe > 0) {  // this record's host (kernel_model.host_probe)
        KernelParams at = k;
        at.host_probe = cases[i].host_probe;
        t = predict_s(AnalyticalCostModel(hw, at), cases[i]);
      } else {
        t = predict_s(cm, cases[i]);
      }
      r[static_cast<Eigen::Index>(i)] = std::log(t / cases[i].measured_s);
    }
    return r;
  };

  auto known = [&](const std::string& name) {
    return std::any_of(table.begin(), table.end(), [&](const KernelParamInfo& i) { return i.name == name; });
  };
  for (const auto& name : opt.fixed)
    if (!known(name))
      throw InputError(fmt::format("calibrate: --fix {}: not a kernel_model parameter (headroom describe lists them)", name));
  for (const auto& name : opt.only) {
    if (!known(name))
      throw InputError(fmt::format("calibrate: --only {}: not a kernel_model parameter (headroom describe lists them)", name));
    if (std::find(opt.fixed.begin(), opt.fixed.end(), name) != opt.fixed.end())
      throw InputError(fmt::format("calibrate: {} is given both to --only and to --fix", name));
  }

  // Fixed and measured parameters sit at the base file's value, not clamped, before anything is
  // evaluated (else the reference residuals below would see a clamped value and every later
  // perturbation would differ from them in every case).
  auto listed = [](const std::vector<std::string>& v, const std::string& name) {
    return std::find(v.begin(), v.end(), name) != v.end();
  };
  auto is_fixed = [&](size_t j) {
    return table[j].measured || listed(opt.fixed, table[j].name) || (!opt.only.empty() && !listed(opt.only, table[j].name));
  };
  for (size_t j = 0; j < table.size(); ++j)
    if (is_fixed(j)) p0[j] = std::clamp(table[j].ref(start), table[j].lower, table[j].upper);

  // 3. Which parameters the training cases inform (a visible change of some case's time).
  CalibrationResult res;
  const Eigen::VectorXd r0 = residuals(p0);
  std::vector<size_t> free;
  for (size_t j = 0; j < table.size(); ++j) {
    std::vector<double> p = p0;
    const double lo = table[j].lower, hi = table[j].upper;
    p[j] = lo + (hi - lo) * sigmoid(logit((p0[j] - lo) / (hi - lo)) + 0.5);
    const Eigen::VectorXd r = residuals(p);
    int informing = 0;
    for (Eigen::Index i = 0; i < r.size(); ++i)
      if (std::fabs(r[i] - r0[i]) > 1e-4) ++informing;
    CalibratedParam cp{table[j].name, p0[j], p0[j], informing >= opt.min_cases_per_param, false, informing};
    if (is_fixed(j)) {
      cp.fitted = false;
      cp.fixed = true;
      cp.start = cp.value = table[j].ref(start);  // the base file's value, not clamped
    }
    res.report.push_back(cp);
    if (cp.fitted) free.push_back(j);
  }
  const int n_train = static_cast<int>(cases.size());
  if (free.empty() || n_train < opt.min_cases_per_param * static_cast<int>(free.size())) {
    throw InputError(fmt::format("calibrate: {} training cases cannot fit {} parameters (need at least {} per parameter); "
                                 "add measured cases or use a larger trace",
                                 n_train, free.size(), opt.min_cases_per_param));
  }

  // 4. Levenberg-Marquardt on the Huber loss (iteratively reweighted), numerical Jacobian.
  std::vector<double> x(free.size());
  for (size_t a = 0; a < free.size(); ++a) {
    const size_t j = free[a];
    x[a] = logit((p0[j] - table[j].lower) / (table[j].upper - table[j].lower));
  }
  auto to_p = [&](const std::vector<double>& xs) {
    std::vector<double> p = p0;
    for (size_t a = 0; a < free.size(); ++a) {
      const size_t j = free[a];
      p[j] = table[j].lower + (table[j].upper - table[j].lower) * sigmoid(xs[a]);
    }
    return p;
  };
  auto loss = [&](const Eigen::VectorXd& r) {
    double s = 0;
    for (Eigen::Index i = 0; i < r.size(); ++i) s += huber(r[i], opt.huber_delta);
    return s;
  };
  Eigen::VectorXd r = residuals(to_p(x));
  double cost = loss(r);
  double lambda = 1e-2;
  const Eigen::Index m = r.size(), n = static_cast<Eigen::Index>(free.size());
  for (int it = 0; it < opt.max_iterations; ++it) {
    res.iterations = it + 1;
    Eigen::MatrixXd J(m, n);
    for (Eigen::Index a = 0; a < n; ++a) {
      std::vector<double> xh = x;
      const double h = 1e-4 * std::max(1.0, std::fabs(x[static_cast<size_t>(a)]));
      xh[static_cast<size_t>(a)] += h;
      J.col(a) = (residuals(to_p(xh)) - r) / h;
    }
    Eigen::VectorXd w(m);
    for (Eigen::Index i = 0; i < m; ++i) w[i] = std::fabs(r[i]) <= opt.huber_delta ? 1.0 : opt.huber_delta / std::fabs(r[i]);
    const Eigen::MatrixXd A = J.transpose() * w.asDiagonal() * J;
    const Eigen::VectorXd g = J.transpose() * w.asDiagonal() * r;
    bool improved = false;
    for (int tries = 0; tries < 12 && !improved; ++tries) {
      Eigen::MatrixXd Ad = A;
      Ad.diagonal() += lambda * A.diagonal() + Eigen::VectorXd::Constant(n, 1e-9);
      const Eigen::VectorXd dx = Ad.ldlt().solve(-g);
      std::vector<double> xn = x;
      for (Eigen::Index a = 0; a < n; ++a) xn[static_cast<size_t>(a)] = std::clamp(x[static_cast<size_t>(a)] + dx[a], -12.0, 12.0);
      const Eigen::VectorXd rn = residuals(to_p(xn));
      const double cn = loss(rn);
      if (cn < cost) {
        const double rel = (cost - cn) / std::max(cost, 1e-30);
        x = xn;
        r = rn;
        cost = cn;
        lambda = std::max(lambda / 3.0, 1e-9);
        improved = true;
        if (rel < 1e-9) it = opt.max_iterations;
      } else {
        lambda *= 4.0;
      }
    }
    if (!improved) break;
  }

  // 5. Results: parameters, provenance, and the errors on both halves.
  const std::vector<double> pf = to_p(x);
  res.params = params_of(pf);
  for (size_t j = 0; j < table.size(); ++j) res.report[j].value = pf[j];
  res.train_cases = n_train;
  res.holdout_cases = holdout;
  HardwareSpec fitted = base;
  fitted.kernel_model = res.params;
  Predictor pred{PredictorOptions{"", Fidelity::Analytical}};
  pred.fix_hardware(fitted);
  res.train = score_traces(traces, pred, Subset::Train);
  res.holdout = score_traces(traces, pred, Subset::Holdout);
  res.train_mape = res.train.time_overall.mape;
  res.holdout_mape = res.holdout.time_overall.mape;
  // A partial refit keeps the base file's provenance and says what was refitted on what.
  res.params.fitted_on = opt.only.empty() || start.fitted_on.empty()
                             ? origins
                             : fmt::format("{}; then only {} refitted on {}", start.fitted_on, fmt::join(opt.only, ", "), origins);
  res.params.fitted_date = today();
  res.params.fit_cases = n_train;
  res.params.holdout_cases = holdout;
  res.params.train_mape = res.train_mape;
  res.params.holdout_mape = res.holdout_mape;
  return res;
}

std::string hardware_yaml_with_params(const std::string& base_file, const KernelParams& p) {
  std::ifstream in(base_file);
  if (!in) throw InputError(fmt::format("{}: cannot open file", base_file));
  static const std::string kHeader = "# Analytical kernel model parameters (docs/kernel-model.md), fitted by headroom calibrate.";
  std::ostringstream out;
  std::string line;
  bool skipping = false;
  while (std::getline(in, line)) {
    const bool top_level = !line.empty() && line[0] != ' ' && line[0] != '#';
    if (top_level) skipping = line.rfind("kernel_model:", 0) == 0;
    if (!skipping && line != kHeader) out << line << "\n";  // the header is written once, below
  }
  std::string text = out.str();
  while (text.size() > 1 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n') text.pop_back();
  text += "\n" + kHeader + "\n";
  text += kernel_params_yaml(p);
  return text;
}

}  // namespace headroom

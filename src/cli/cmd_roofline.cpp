#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/cost/roofline_table.hpp"
#include "headroom/memory/memory_estimate.hpp"
#include "headroom/predict/predictor.hpp"
#include "step_options.hpp"

extern char** environ;

namespace headroom::cli {

namespace {

std::string us(Seconds s) { return fmt::format("{:.2f}", s.value() * 1e6); }

void print_table(const StepGraph& g, const HardwareSpec& hw, const ModelSpec& m, const RooflineTable& t,
                 const MemoryEstimate& mem, const CostModel& cm, bool cuda_graph) {
  const auto& c = g.config();
  std::cout << fmt::format("{} {} on {} ({} cost model)\n", m.name, to_string(c.phase), hw.name, cm.name());
  std::cout << fmt::format("batch {}, {} {}, tp {}, {} layers, {} new tokens, {}\n\n", c.batch,
                           c.phase == Phase::Prefill ? "seq" : "context", c.phase == Phase::Prefill ? c.seq : c.context,
                           c.tp, g.layers(), g.tokens(), cuda_graph ? "CUDA graph" : "eager");
  std::cout << fmt::format("{:<22} {:>5} {:>5} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6}  {}\n", "operator", "count",
                           "dtype", "GFLOP", "MB", "FLOP/B", "compute us", "memory us", "comm us", "time us", "share",
                           "bound");
  const double total = t.step.gpu_time.value();
  for (const auto& r : t.rows) {
    std::cout << fmt::format("{:<22} {:>5} {:>5} {:>10.3f} {:>10.2f} {:>9.1f} {:>10} {:>10} {:>10} {:>10} {:>5.1f}%  {}\n", r.name,
                             r.count, to_string(r.dtype), r.flops.value() / 1e9, r.bytes.value() / 1e6, r.intensity(),
                             us(r.compute), us(r.memory), us(r.comm), us(r.time),
                             total > 0 ? 100.0 * r.time.value() / total : 0.0, to_string(r.bound));
  }
  std::cout << fmt::format("\ntotal: {:.1f} GFLOP, {:.1f} MB moved, intensity {:.1f} FLOP/B (ridge point {:.0f} FLOP/B for {})\n",
                           t.flops.value() / 1e9, t.bytes.value() / 1e6, t.bytes.value() > 0 ? t.flops.value() / t.bytes.value() : 0.0,
                           hw.peak_rate(m.dtype).value_or(hw.compute.vector_fp32).value() / hw.hbm.bandwidth.value(),
                           to_string(m.dtype));
  auto share = [&](Bound b) { return total > 0 ? 100 * t.step.by_bound[static_cast<int>(b)].value() / total : 0.0; };
  std::cout << fmt::format("GPU time {:.3f} ms: compute-bound {:.1f}%, memory-bound {:.1f}%, communication-bound {:.1f}%, "
                           "fixed-cost-bound (launch, sync) {:.1f}%\n",
                           total * 1e3, share(Bound::Compute), share(Bound::Memory), share(Bound::Communication),
                           share(Bound::Overhead));
  std::cout << fmt::format("step time {:.3f} ms -> {:.0f} tokens/s per GPU group\n", t.step.time.value() * 1e3,
                           t.step.time.value() > 0 ? g.tokens() / t.step.time.value() : 0.0);
  std::cout << fmt::format(
      "\nmemory per GPU: weights {}, KV cache {} ({} per token), runtime and activations {}, total {} of {} "
      "visible ({:.0f}%){}\n",
      units::format(mem.weights.value(), Dim::Bytes), units::format(mem.kv_cache.value(), Dim::Bytes),
      units::format(mem.kv_per_token.value(), Dim::Bytes), units::format(mem.runtime.value(), Dim::Bytes),
      units::format(mem.total.value(), Dim::Bytes), units::format(mem.capacity.value(), Dim::Bytes),
      100.0 * mem.total.value() / mem.capacity.value(), mem.fits() ? "" : "  ** DOES NOT FIT **");
  std::cout << "(headroom memory gives the full plan: formats, paging, max concurrent sequences)\n";
  if (cm.name() == "roofline")
    std::cout << "note: a datasheet roofline (peak rates, no efficiencies or launch costs): a bound, not a prediction.\n";
}

nlohmann::ordered_json to_json(const StepGraph& g, const HardwareSpec& hw, const ModelSpec& m, const RooflineTable& t,
                       const MemoryEstimate& mem, const CostModel& cm) {
  using json = nlohmann::ordered_json;
  const auto& c = g.config();
  json j;
  j["model"] = m.name;
  j["hw"] = hw.name;
  j["cost_model"] = cm.name();
  j["config"] = {{"phase", to_string(c.phase)}, {"batch", c.batch}, {"seq", c.seq}, {"context", c.context},
                 {"tp", c.tp}, {"layers", g.layers()}};
  json ops = json::array();
  for (const auto& r : t.rows) {
    ops.push_back({{"name", r.name}, {"kind", to_string(r.kind)}, {"dtype", to_string(r.dtype)}, {"count", r.count},
                   {"flops", r.flops.value()}, {"bytes", r.bytes.value()}, {"wire_bytes", r.wire_bytes.value()},
                   {"intensity", r.intensity()}, {"compute_s", r.compute.value()}, {"memory_s", r.memory.value()},
                   {"comm_s", r.comm.value()}, {"time_s", r.time.value()}, {"bound", to_string(r.bound)}});
  }
  j["ops"] = ops;
  j["totals"] = {{"flops", t.flops.value()},
                 {"bytes", t.bytes.value()},
                 {"gpu_time_s", t.step.gpu_time.value()},
                 {"host_time_s", t.step.host_time.value()},
                 {"step_time_s", t.step.time.value()},
                 {"compute_bound_s", t.step.by_bound[0].value()},
                 {"memory_bound_s", t.step.by_bound[1].value()},
                 {"communication_bound_s", t.step.by_bound[2].value()}};
  j["memory"] = {{"weights_bytes", mem.weights.value()}, {"kv_cache_bytes", mem.kv_cache.value()},
                 {"kv_bytes_per_token", mem.kv_per_token.value()}, {"runtime_bytes", mem.runtime.value()},
                 {"total_bytes", mem.total.value()},
                 {"capacity_bytes", mem.capacity.value()}, {"fits", mem.fits()}};
  return j;
}

// --plot: the JSON of --json goes to a temporary file, and `python3 -m headroom.plot roofline`
// (python/headroom/plot.py, matplotlib) draws it. The package is found next to the binary
// (<dir of headroom>/python, the build tree's copy) unless HEADROOM_PYTHONPATH says otherwise;
// the interpreter is /usr/bin/python3 unless HEADROOM_PYTHON says otherwise.
constexpr int kPlotNoMatplotlib = 3;  // headroom.plot's exit code when matplotlib is missing

std::string plot_pythonpath() {
  if (const char* e = std::getenv("HEADROOM_PYTHONPATH"); e && *e) return e;
  std::error_code ec;
  auto exe = std::filesystem::canonical("/proc/self/exe", ec);
  if (ec) throw Error("--plot: cannot locate the headroom executable (/proc/self/exe); set HEADROOM_PYTHONPATH");
  return (exe.parent_path() / "python").string();
}

class TempFile {
 public:
  explicit TempFile(const std::string& suffix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("headroom-roofline-XXXXXX" + suffix)).string();
    int fd = mkstemps(tmpl.data(), static_cast<int>(suffix.size()));
    if (fd < 0) throw Error(fmt::format("--plot: cannot create a temporary file {}", tmpl));
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void run_plot(const nlohmann::ordered_json& j, const std::string& hw_file, const std::string& out,
              const std::string& trace) {
  const char* py_env = std::getenv("HEADROOM_PYTHON");
  const std::string python = py_env && *py_env ? py_env : "/usr/bin/python3";
  if (access(python.c_str(), X_OK) != 0)
    throw Error(fmt::format("--plot needs Python 3 with matplotlib, and {} was not found (Debian: apt-get install "
                            "python3 python3-matplotlib; or set HEADROOM_PYTHON)", python));
  const std::string pypath = plot_pythonpath();
  if (!std::filesystem::exists(std::filesystem::path(pypath) / "headroom" / "plot.py"))
    throw Error(fmt::format("--plot: the headroom Python package (headroom/plot.py) is not in {}; build the python "
                            "target or set HEADROOM_PYTHONPATH to the directory that holds headroom/",
                            pypath));
  if (!trace.empty() && !std::filesystem::exists(trace)) throw InputError(fmt::format("{}: cannot open file", trace));
  TempFile tmp(".json");
  {
    std::ofstream f(tmp.path());
    f << j.dump() << "\n";
    if (!f) throw Error(fmt::format("--plot: cannot write {}", tmp.path()));
  }
  std::vector<std::string> argv{python, "-m", "headroom.plot", "roofline", "--json", tmp.path(), "--out", out};
  if (!trace.empty()) argv.insert(argv.end(), {"--trace", trace});
  if (!hw_file.empty()) argv.insert(argv.end(), {"--hw", hw_file});
  // The environment, with PYTHONPATH = the package directory (before any PYTHONPATH already set).
  std::vector<std::string> env;
  std::string old_pp;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("PYTHONPATH=", 0) == 0) old_pp = kv.substr(11);
    else env.push_back(kv);
  }
  env.push_back("PYTHONPATH=" + pypath + (old_pp.empty() ? "" : ":" + old_pp));
  env.push_back("MPLBACKEND=Agg");
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  std::cout.flush();
  pid_t pid = 0;
  if (int rc = posix_spawn(&pid, python.c_str(), nullptr, nullptr, cargv.data(), cenv.data()); rc != 0)
    throw Error(fmt::format("--plot: cannot run {}: {}", python, std::strerror(rc)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(fmt::format("--plot: waiting for {}: {}", python, std::strerror(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kPlotNoMatplotlib)
    throw Error(fmt::format("--plot needs matplotlib for {} (Debian: apt-get install python3-matplotlib)", python));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("--plot: {} -m headroom.plot failed (exit status {}); see its message above", python,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1));
}

}  // namespace

int cmd_roofline(const std::vector<std::string>& args) {
  po::options_description opts("roofline options");
  StepOptions so;
  so.add_to(opts);
  opts.add_options()("ep", po::value<int64_t>()->default_value(1),
                     "expert-parallel degree (MoE): the GPU's own experts, all-to-alls around them; tp x dp must be a multiple")
      ("dp", po::value<int64_t>()->default_value(1), "data-parallel replicas sharing the experts (with --ep)")
      ("json", "machine-readable output")("all", "one row per operator instead of grouping layers")
      ("plot", po::value<std::string>(), "also draw the roofline into this image file (.png, .svg, .pdf; needs "
                                         "Python 3 with matplotlib)")
      ("trace", po::value<std::string>(), "with --plot: place this trace's measured kernel cases on the plot");
  po::variables_map vm;
  if (!parse(args, opts, vm,
             "usage: headroom roofline --model models/llama3-8b.yaml --hw hw_configs/h200-sxm.yaml --phase decode "
             "--batch 8 --context 4096 [--tp 1] [--ep N --dp N] [--json] [--plot out.png [--trace T.jsonl]]"))
    return 0;
  if (vm.count("trace") && !vm.count("plot")) throw UsageError("--trace needs --plot");
  LoadedStep s = so.load(vm);
  s.cfg.ep = vm["ep"].as<int64_t>();
  s.cfg.dp = vm["dp"].as<int64_t>();
  auto cm = make_cost_model(so.fidelity(vm), s.hw);
  StepGraph g = StepGraph::build(s.model, s.cfg);
  RooflineTable t = roofline_table(g, *cm, s.cuda_graph, !vm.count("all"));
  MemoryEstimate mem = estimate_memory(s.model, s.cfg, s.hw);
  if (vm.count("json")) {
    std::cout << to_json(g, s.hw, s.model, t, mem, *cm).dump(2) << "\n";
  } else {
    print_table(g, s.hw, s.model, t, mem, *cm, s.cuda_graph);
  }
  if (vm.count("plot")) {
    const std::string out = vm["plot"].as<std::string>();
    run_plot(to_json(g, s.hw, s.model, t, mem, *cm), s.hw.file, out, vm.count("trace") ? vm["trace"].as<std::string>() : "");
    std::cerr << "roofline plot written to " << out << "\n";
  }
  return 0;
}

}  // namespace headroom::cli

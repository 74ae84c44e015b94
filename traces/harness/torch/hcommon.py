"""Shared helpers for the headroom PyTorch measurement scripts.

Trace lines follow docs/trace-format.md. Every line carries hw=h200-sxm and gpu=<name>.
Timing modes (recorded in each line's "timing" key):
  queued : the GPU is held by torch.cuda._sleep while the host enqueues all timed reps, so each
           event pair brackets GPU time only (no host launch overhead between the op's kernels
           beyond what the GPU itself needs).
  issue  : events around each call as the host issues it, no spin: when the host is slower than
           the GPU (eager, small work) the host launch overhead is inside the time, as in a model.
"""
import datetime
import json
import os
import sys
import time
import traceback

HW = "h200-sxm"
# NVLink SHARP / multicast stays off (the device's rules), set here as every script imports this
# module before torch.
os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
os.environ["NVSHMEM_DISABLE_NVLS"] = "1"

QUICK = os.environ.get("HARNESS_QUICK", "0") == "1"
# HARNESS_HELDOUT=1: quant.py, coll.py, tp_step.py and pp_step.py measure their HELD-OUT case lists (shapes,
# sizes and plans absent from the committed traces; heldout/run_heldout.sh sets it).
HELDOUT = os.environ.get("HARNESS_HELDOUT", "0") == "1"
# HEADROOM_LIST_CASES=1: each script prints the cases it would run and exits before any GPU work
# (torch is imported inside the functions that need it, so listing works without torch).
LIST_CASES = os.environ.get("HEADROOM_LIST_CASES", "0") == "1"
BUDGET_S = float(os.environ.get("HARNESS_BUDGET_S", "1e9"))
T_START = time.time()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def over_budget():
    return time.time() - T_START > BUDGET_S


MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "models")


def load_cfg(name):
    import yaml
    with open(os.path.join(MODELS_DIR, name + ".yaml")) as f:
        y = yaml.safe_load(f)
    a, ffn = y["attention"], y["ffn"]
    c = dict(name=name, layers=y["layers"], hidden=y["hidden"], vocab=y["vocab"], heads=a["heads"],
             kv_heads=a["kv_heads"], head_dim=a["head_dim"], rope_theta=a.get("rope_theta", 10000.0),
             inter=ffn["intermediate"])
    moe = y.get("moe")
    if moe:  # every layer MoE (model.py supports no dense-first layers nor shared experts)
        assert moe.get("shared_experts", 0) == 0 and moe.get("first_dense_layers", 0) == 0, name
        c.update(experts=moe["experts"], top_k=moe["top_k"], expert_inter=moe["expert_intermediate"])
    return c


def list_cases(groups):
    """With HEADROOM_LIST_CASES=1 print each (label, cases) group's cases, 'label<TAB>case' a line,
    and return True (the caller returns before touching the GPU); else return False."""
    if not LIST_CASES:
        return False
    for label, cases in groups:
        for c in cases:
            print(f"{label}\t{c!r}")
    return True


def env_info():
    import torch
    d = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "torch": torch.__version__, "cuda_torch": torch.version.cuda,
         "python": sys.version.split()[0]}
    try:
        d["gpu"] = torch.cuda.get_device_name(0)
        p = torch.cuda.get_device_properties(0)
        d["sms"] = p.multi_processor_count
        d["l2_bytes"] = getattr(p, "L2_cache_size", None)
        d["gpus"] = torch.cuda.device_count()
    except Exception as e:  # noqa
        d["gpu_error"] = str(e)
    try:
        import pynvml
        pynvml.nvmlInit()
        dv = pynvml.nvmlSystemGetDriverVersion()
        d["driver"] = dv.decode() if isinstance(dv, bytes) else dv
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        d["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
        d["max_sm_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)
        d["max_mem_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM)
        d["cuda_driver"] = pynvml.nvmlSystemGetCudaDriverVersion_v2()
    except Exception as e:  # noqa
        d["nvml_error"] = str(e)
    try:
        with open("/proc/cpuinfo") as f:
            d["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "unknown")
        d["cpus"] = os.cpu_count()
    except Exception:
        pass
    try:
        d["nccl"] = ".".join(str(x) for x in torch.cuda.nccl.version())
    except Exception:
        pass
    try:
        d["cublas_lt"] = torch._C._cuda_getCompiledVersion()
    except Exception:
        pass
    return d


def host_us(fn, n=300, reps=5, warmup=20):
    """CPU microseconds per call of fn() (no args), the median over `reps` rounds of n calls after
    `warmup` calls; the GPU is synchronized between rounds, not inside them."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    r = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        r.append((time.perf_counter() - t0) / n * 1e6)
        torch.cuda.synchronize()
    r.sort()
    return r[len(r) // 2]


def profiled(fn):
    """fn() once as a warm-up, then once under torch.profiler (CUDA activity); returns the profile."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        fn()
        torch.cuda.synchronize()
    return p


def kernel_events(fn):
    """fn() once as a warm-up, then once under torch.profiler: its GPU kernels in start order, each
    {name, grid, block, us (duration), ts (start, us)} from the profiler's trace."""
    import tempfile
    p = profiled(fn)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as t:
        path = t.name
    p.export_chrome_trace(path)
    with open(path) as f:
        tr = json.load(f)
    os.unlink(path)
    ks = [e for e in tr.get("traceEvents", []) if e.get("cat") == "kernel"]
    ks.sort(key=lambda e: e["ts"])
    return [dict(name=e.get("name"), grid=e.get("args", {}).get("grid"), block=e.get("args", {}).get("block"),
                 us=e.get("dur"), ts=e["ts"]) for e in ks]


_PROBE_OPS = []


def _probe_ops():
    """host_probe's fixed mix of one-kernel eager ops on tiny CUDA tensors (built once per process)."""
    if not _PROBE_OPS:
        import torch
        import torch.nn.functional as F
        x = torch.randn(4, 64, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(64, 64, device="cuda", dtype=torch.bfloat16)
        xf = x.float()
        _PROBE_OPS.extend((lambda: F.linear(x, w), lambda: x + x, lambda: x * x, lambda: x.float(),
                           lambda: torch.rsqrt(xf), lambda: xf.to(torch.bfloat16), lambda: xf.mean(-1, keepdim=True),
                           lambda: F.silu(x)))
    return _PROBE_OPS


def host_probe(reps=9, n=300):
    """This host's speed at eager PyTorch: CPU microseconds per issued op, the median over `reps`
    rounds of n passes over a fixed mix of one-kernel ops on tiny CUDA tensors (F.linear, add, mul,
    casts, rsqrt, a row mean, silu). Each takes far longer to issue than the GPU takes to run it, so
    the loop measures the host alone. Records carry it as host_op_us: taken once per script or model,
    it is information only (the host's speed moves within seconds: docs/kernel-model.md)."""
    ops = _probe_ops()

    def one_pass():
        for o in ops:
            o()
    return float(f"{host_us(one_pass, n=n, reps=reps) / len(ops):.4g}")


def probe_once(passes=30):
    """The same op mix, `passes` passes once after a device synchronization (with work queued, a
    full launch queue would block the ops and the probe would time the GPU): CPU microseconds per
    op on this thread now (~2-3 ms). Taken before every timed rep of an eager step (bench(probe=...),
    coll.time_over_ranks(probes=...)) and around an eager collective's reps
    (coll.time_over_ranks(bracket=...)); a record's host_probe_us is their median (of the max over
    ranks), and headroom scales the host costs by it (kernel_model.host_probe)."""
    import torch
    ops = _probe_ops()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(passes):
        for o in ops:
            o()
    return (time.perf_counter() - t0) / (passes * len(ops)) * 1e6


def probe_field(probes):
    """a record's host_probe_us from its probes (the median, 4 significant digits)"""
    return float(f"{median(probes):.4g}")


def median(v):
    t = sorted(v)
    n = len(t)
    return t[n // 2] if n % 2 else 0.5 * (t[n // 2 - 1] + t[n // 2])


def write_env(f, script, **extra):
    """The '# env {...}' header line (env_info, the program, any extra keys) every output starts with."""
    info = env_info()
    info["program"] = script
    info.update(extra)
    f.write("# env " + json.dumps(info, separators=(",", ":")) + "\n")
    f.flush()
    return info


class Out:
    def __init__(self, path, script, host_op_us=None):
        """host_op_us: this host's host_probe(); added to every eagerly issued record."""
        self.path = path
        self.n = 0
        self.host_op_us = host_op_us
        self.f = open(path, "a") if path not in (None, "-") else sys.stdout
        info = write_env(self.f, script, **({} if host_op_us is None else {"host_op_us": host_op_us}))
        self.gpu = info.get("gpu", "unknown")

    def emit(self, d):
        # How the measured kernels were issued (docs/trace-format.md): eager PyTorch, or the
        # nodes of a replayed CUDA graph.
        d.setdefault("issue", "graph" if d.get("cuda_graph") is True else "torch")
        d.setdefault("hw", HW)
        d.setdefault("gpu", self.gpu)
        if self.host_op_us is not None and d["issue"] == "torch" and "host_op_us" not in d:
            d["host_op_us"] = self.host_op_us
        for k in ("ms", "ms_p10", "ms_p90"):
            if k in d and d[k] is not None:
                d[k] = float(f"{d[k]:.6g}")
        self.f.write(json.dumps(d, separators=(",", ":")) + "\n")
        self.f.flush()
        self.n += 1


def stats(times):
    t = sorted(times)
    def q(p):
        pos = p * (len(t) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(t) - 1)
        return t[lo] + (t[hi] - t[lo]) * (pos - lo)
    return {"ms": q(0.5), "ms_p10": q(0.1), "ms_p90": q(0.9), "reps": len(t)}


_ctr = [0]


def bench(fn, queued=True, warmup=3, target_s=0.1, min_reps=5, max_reps=50, kernels_per_call=1, warmup_s=0.0,
          probe=False):
    """Time fn(i) (i: running call number, for buffer rotation). Returns stats dict + timing.
    probe (issued timing only): probe_once() before every rep, its median as host_probe_us.
    Warm-up: at least `warmup` calls and at least warmup_s seconds of them (the first eager step
    after a model is built ran up to 1.5x slow after 3 calls: traces/README.md)."""
    import torch

    def call():
        fn(_ctr[0])
        _ctr[0] += 1
    t_w = time.perf_counter()
    n_w = 0
    while n_w < warmup or time.perf_counter() - t_w < warmup_s:
        call()
        n_w += 1
    torch.cuda.synchronize()
    # estimate GPU time and host issue time per call
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    n_est = 2
    if queued:
        torch.cuda._sleep(2_000_000)
    t0 = time.perf_counter()
    s.record()
    for _ in range(n_est):
        call()
    e.record()
    host = (time.perf_counter() - t0) / n_est
    torch.cuda.synchronize()
    gpu_ms = max(s.elapsed_time(e) / n_est, 1e-4)
    reps = int(round(target_s * 1000.0 / gpu_ms))
    reps = max(min_reps, min(max_reps, reps))
    if queued:
        # keep the launch queue well under its depth (~1000 entries)
        reps = max(min(reps, 700 // max(1, kernels_per_call + 2)), 3)
    ss = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ee = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    if queued:
        spin_s = min(reps * host * 1.5 + 0.002, 2.0)
        torch.cuda._sleep(int(spin_s * 2.0e9))  # cycles at ~2 GHz (slower clock = longer spin: fine)
    probes = []
    for r in range(reps):
        if probe and not queued:
            probes.append(probe_once())
        ss[r].record()
        call()
        ee[r].record()
    torch.cuda.synchronize()
    st = stats([ss[r].elapsed_time(ee[r]) for r in range(reps)])
    st["timing"] = "queued" if queued else "issue"
    if probes:
        st["host_probe_us"] = probe_field(probes)
    return st


def graph_ms(fn, n=20):
    """Per-call time with n calls captured back to back in one CUDA graph (the marginal cost of the
    op inside a graph / model step, no per-call events): median over 7 replays of replay/n.
    Returns None if the op cannot be captured."""
    import torch
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            fn(_ctr[0])
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(n):
                fn(_ctr[0])
                _ctr[0] += 1
        g.replay()
        torch.cuda.synchronize()
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(7)]
        torch.cuda._sleep(400_000)
        for a, b in ev:
            a.record()
            g.replay()
            b.record()
        torch.cuda.synchronize()
        t = sorted(a.elapsed_time(b) / n for a, b in ev)
        del g
        return float(f"{t[3]:.6g}")
    except Exception as e:  # noqa
        log(f"graph_ms: capture failed: {type(e).__name__}: {str(e)[:200]}")
        try:
            torch.cuda.synchronize()
        except Exception:
            pass
        return None


def add_graph_ms(d, fn, n=20, limit_ms=0.25):
    if d.get("ms", 1e9) < limit_ms:
        g = graph_ms(fn, n)
        if g:
            d["ms_graph"] = g
    return d


def rel_err(out, ref):
    import torch
    out = out.double()
    ref = ref.double()
    if not torch.isfinite(out).all():
        return float("inf")
    return ((out - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def check(name, out, ref, tol):
    e = rel_err(out, ref)
    if not (e <= tol):
        raise RuntimeError(f"correctness check failed for {name}: rel err {e:.3g} > {tol}")
    return e


def run_cases(out, cases, fn, label):
    """fn(case) -> dict or list of dicts to emit; logs and continues on failure."""
    import torch
    ok = fail = 0
    for c in cases:
        if over_budget():
            log(f"{label}: time budget reached, skipping {len(cases) - ok - fail} remaining cases")
            break
        try:
            r = fn(c)
            for d in (r if isinstance(r, list) else [r]):
                if d:
                    out.emit(d)
            ok += 1
        except Exception as e:  # noqa
            fail += 1
            log(f"{label}: case {c} failed: {type(e).__name__}: {e}")
            if os.environ.get("HARNESS_TRACEBACK"):
                traceback.print_exc()
            try:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
            except Exception as e2:  # noqa
                log(f"{label}: CUDA context broken after failure ({e2}); stopping")
                break
    log(f"{label}: {ok} cases ok, {fail} failed, {time.time() - T_START:.1f} s")
    return ok, fail


def free_cuda():
    """drop unreferenced tensors and return cached CUDA memory (between a sweep's models)"""
    import gc

    import torch
    gc.collect()
    torch.cuda.empty_cache()


def out_path(default):
    return sys.argv[1] if len(sys.argv) > 1 else default

"""Sustained runs (sustained=true): each op repeated back to back for ~DUR seconds, recording
avg_w from NVML's total-energy counter (difference / wall time), the median SM and memory
clocks (nvmlDeviceGetClockInfo sampled every 20 ms in a thread), max temperature and the
throttle reasons seen. ms is the median per-call time over ~50 ms chunks (events).
Also op=idle: nothing running for a few seconds, at the start and at the end.
Usage: power.py OUT.jsonl   (HEADROOM_LIST_CASES=1: its cases are closures over GPU tensors and
are not listed; the script says so and exits without measuring)
"""
import os
import statistics
import sys
import threading
import time

from hcommon import LIST_CASES

if LIST_CASES:
    print("power\t(not listed: sustained gemm, copy, read, write, model_step runs and idle; see power.py)")
    sys.exit(0)

import pynvml  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hcommon import Out, QUICK, check, log, out_path, run_cases  # noqa: E402
from model import Model, capture_graph, load_cfg  # noqa: E402

DUR = float(os.environ.get("HARNESS_SUSTAIN_S", "3.0" if not QUICK else "1.0"))
IDLE_S = 5.0 if not QUICK else 1.5

pynvml.nvmlInit()
NV = pynvml.nvmlDeviceGetHandleByIndex(0)


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.stop = False
        self.sm, self.mem, self.temp, self.pw = [], [], [], []
        self.reasons = 0

    def run(self):
        while not self.stop:
            try:
                self.sm.append(pynvml.nvmlDeviceGetClockInfo(NV, pynvml.NVML_CLOCK_SM))
                self.mem.append(pynvml.nvmlDeviceGetClockInfo(NV, pynvml.NVML_CLOCK_MEM))
                self.temp.append(pynvml.nvmlDeviceGetTemperature(NV, pynvml.NVML_TEMPERATURE_GPU))
                self.pw.append(pynvml.nvmlDeviceGetPowerUsage(NV) / 1000.0)
                self.reasons |= pynvml.nvmlDeviceGetCurrentClocksEventReasons(NV) \
                    if hasattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons") \
                    else pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(NV)
            except Exception:
                pass
            time.sleep(0.02)


def energy_mj():
    return pynvml.nvmlDeviceGetTotalEnergyConsumption(NV)


def reasons_str(r):
    names = []
    for attr, nm in [("nvmlClocksEventReasonGpuIdle", "idle"), ("nvmlClocksEventReasonSwPowerCap", "sw_power_cap"),
                     ("nvmlClocksEventReasonHwSlowdown", "hw_slowdown"), ("nvmlClocksEventReasonSwThermalSlowdown", "sw_thermal"),
                     ("nvmlClocksEventReasonHwThermalSlowdown", "hw_thermal"), ("nvmlClocksEventReasonHwPowerBrakeSlowdown", "power_brake"),
                     ("nvmlClocksEventReasonApplicationsClocksSetting", "app_clocks"), ("nvmlClocksEventReasonSyncBoost", "sync_boost"),
                     ("nvmlClocksThrottleReasonGpuIdle", "idle"), ("nvmlClocksThrottleReasonSwPowerCap", "sw_power_cap"),
                     ("nvmlClocksThrottleReasonHwSlowdown", "hw_slowdown"), ("nvmlClocksThrottleReasonSwThermalSlowdown", "sw_thermal")]:
        v = getattr(pynvml, attr, None)
        if v and (r & v) and nm not in names:
            names.append(nm)
    return ",".join(names) if names else "none"


def measure(fn, duration):
    fn(0)
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    fn(1)
    e.record()
    e.synchronize()
    t1 = max(s.elapsed_time(e), 1e-3)
    chunk = max(1, int(50.0 / t1))
    smp = Sampler()
    per = []
    i = 2
    smp.start()
    e0 = energy_mj()
    w0 = time.perf_counter()
    while time.perf_counter() - w0 < duration:
        s.record()
        for _ in range(chunk):
            fn(i)
            i += 1
        e.record()
        e.synchronize()
        per.append(s.elapsed_time(e) / chunk)
    w1 = time.perf_counter()
    e1 = energy_mj()
    smp.stop = True
    smp.join()
    dt = w1 - w0
    per.sort()
    return {"ms": statistics.median(per), "ms_p10": per[int(0.1 * (len(per) - 1))],
            "ms_p90": per[int(0.9 * (len(per) - 1))], "reps": i - 2, "sustained": True,
            "duration_s": round(dt, 3), "avg_w": round((e1 - e0) / 1000.0 / dt, 2),
            "sm_mhz": statistics.median(smp.sm) if smp.sm else None,
            "mem_mhz": statistics.median(smp.mem) if smp.mem else None,
            "sm_mhz_min": min(smp.sm) if smp.sm else None,
            "temp_c_max": max(smp.temp) if smp.temp else None,
            "power_w_max_sampled": max(smp.pw) if smp.pw else None,
            "clock_event_reasons": reasons_str(smp.reasons), "timing": "chunks-50ms"}


def idle(label, context):
    """Board power with nothing running. context: whether this process holds a CUDA context."""
    if context:
        torch.cuda.synchronize()
    time.sleep(3.0)
    smp = Sampler()
    smp.start()
    e0 = energy_mj()
    w0 = time.perf_counter()
    time.sleep(IDLE_S)
    w1 = time.perf_counter()
    e1 = energy_mj()
    smp.stop = True
    smp.join()
    dt = w1 - w0
    return {"op": "idle", "avg_w": round((e1 - e0) / 1000.0 / dt, 2), "ms": round(dt * 1000.0, 1),
            "duration_s": round(dt, 3), "sm_mhz": statistics.median(smp.sm) if smp.sm else None,
            "mem_mhz": statistics.median(smp.mem) if smp.mem else None,
            "temp_c_max": max(smp.temp) if smp.temp else None, "cuda_context": context, "note": label,
            "clock_event_reasons": reasons_str(smp.reasons)}


def main():
    # first with no CUDA context in this process (nothing else runs on the GPU either)
    idle0 = idle("idle, no CUDA context open (3 s after the previous suite step exited)", False)
    out = Out(out_path("power.jsonl"), "power.py")
    out.emit(idle0)
    out.emit(idle("idle with this process's CUDA context open (clocks may stay up)", True))
    bf, f16 = torch.bfloat16, torch.float16
    W_ROT = 6

    def gemm_case(dtype, m, n, k, rot=1, tag=""):
        def make():
            if dtype == "fp8":
                x = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
                ws = [torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn) for _ in range(rot)]
                one = torch.ones((), device="cuda")
                f = lambda i: torch._scaled_mm(x, ws[i % rot].t(), scale_a=one, scale_b=one, out_dtype=bf)  # noqa
                ref = (x.float() @ ws[0].float().t())
                impl = "torch._scaled_mm"
            else:
                dt = {"bf16": bf, "fp16": f16, "tf32": torch.float32, "fp32": torch.float32}[dtype]
                x = torch.randn(m, k, device="cuda", dtype=dt)
                ws = [torch.randn(n, k, device="cuda", dtype=dt) for _ in range(rot)]
                f = lambda i: F.linear(x, ws[i % rot])  # noqa
                ref = x.double() @ ws[0].double().t()
                impl = "F.linear"
            return f, ref, impl

        def run():
            torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
            f, ref, impl = make()
            check(f"power gemm {dtype}", f(0), ref, {"fp32": 1e-4, "tf32": 5e-3}.get(dtype, 2e-2))
            del ref
            d = {"op": "gemm", "m": m, "n": n, "k": k, "dtype": dtype, "warm_l2": rot == 1}
            d.update(measure(f, DUR))
            d.update(impl=impl, rotate_buffers=rot, shape=tag, tflops=2 * m * n * k / (d["ms"] * 1e-3) / 1e12)
            torch.backends.cuda.matmul.allow_tf32 = False
            return d
        return run

    def mem_case(op, nbytes, warm):
        def run():
            nb = 1 if warm else max(2, -(-(512 << 20) // nbytes))
            el = nbytes // 2
            a = [torch.randn(el, device="cuda", dtype=bf) for _ in range(nb)]
            b = [torch.empty(el, device="cuda", dtype=bf) for _ in range(nb)]
            if op == "copy":
                f = lambda i: b[i % nb].copy_(a[i % nb])  # noqa
                impl = "torch copy_"
            elif op == "read":
                f = lambda i: a[i % nb].sum(dtype=torch.float32)  # noqa
                impl = "torch sum"
            else:
                f = lambda i: b[i % nb].fill_(1.5 + (i & 7))  # noqa
                impl = "torch fill_"
            d = {"op": op, "bytes": nbytes, "warm_l2": warm}
            d.update(measure(f, DUR))
            d.update(impl=impl, rotate_buffers=nb)
            return d
        return run

    cases = []
    if QUICK:
        cases += [("gemm bf16 4096", gemm_case("bf16", 4096, 4096, 4096, 1, "square4096")),
                  ("gemv bf16 m=1", gemm_case("bf16", 1, 28672, 8192, W_ROT, "llama3-70b.gate_up.tp2"))]
    else:
        for dt, s in [("bf16", 8192), ("bf16", 4096), ("bf16", 2048), ("fp16", 8192), ("fp8", 8192), ("fp8", 4096),
                      ("tf32", 8192), ("fp32", 4096)]:
            cases.append((f"gemm {dt} {s}", gemm_case(dt, s, s, s, 1, f"square{s}")))
        cases.append(("gemm bf16 70b gate_up m=8192", gemm_case("bf16", 8192, 57344, 8192, 1, "llama3-70b.gate_up")))
        for m in (1, 2, 4, 8):
            cases.append((f"gemv bf16 m={m}", gemm_case("bf16", m, 28672, 8192, W_ROT, "llama3-70b.gate_up.tp2")))
        cases.append(("gemv fp8 m=16", gemm_case("fp8", 16, 28672, 8192, W_ROT, "llama3-70b.gate_up.tp2")))
        cases += [("copy 1GiB", mem_case("copy", 1 << 30, False)), ("copy 16MiB warm", mem_case("copy", 16 << 20, True)),
                  ("read 1GiB", mem_case("read", 1 << 30, False)), ("write 1GiB", mem_case("write", 1 << 30, False))]

    run_cases(out, cases, lambda c: c[1](), "power")

    # decode / prefill model steps, sustained
    try:
        cfg = load_cfg("llama3-8b")
        m = Model(cfg, layers=32, max_pos=16384)
        steps = [("decode", 8, 2048, True), ("decode", 64, 2048, True), ("prefill", 1, 4096, False)]
        if QUICK:
            steps = [("decode", 8, 512, True)]
            m = Model(cfg, layers=2, max_pos=4096)

        def step(c):
            phase, b, n, graph = c
            T = n + 1 if phase == "decode" else n
            s = 1 if phase == "decode" else n
            m.alloc_cache(b, T)
            x = torch.randn(b, s, cfg["hidden"], device="cuda", dtype=bf)
            if graph:
                g, _ = capture_graph(lambda: m.forward(x, phase, n))
                f = lambda i: g.replay()  # noqa
            else:
                f = lambda i: m.forward(x, phase, n)  # noqa
            d = {"op": "model_step", "model": "llama3-8b", "phase": phase, "batch": b}
            d["seq" if phase == "prefill" else "context"] = n
            d.update(tp=1, layers=m.L, cuda_graph=graph, dtype="bf16")
            d.update(measure(f, DUR))
            d.update(impl="torch-cudagraph" if graph else "torch-eager", attn=f"sdpa-flash+{m.mode}")
            return d

        run_cases(out, steps, step, "power model_step")
        del m
        torch.cuda.empty_cache()
    except Exception as e:  # noqa
        log(f"power: model_step sustained failed: {type(e).__name__}: {e}")
    out.emit(idle("idle with CUDA context open, right after the sustained runs", True))
    log(f"power: wrote {out.n} lines")


if __name__ == "__main__":
    main()

"""Profile (not a scored trace): does the value range of a GEMM's operands change its speed on
H200, through power and the SM clock? quant.py's int8 GEMMs (full-range randint(-127, 128)
operands) ran 1.2-1.3x slower than the same kernels in gemm_profile.py (randint(-8, 8)). Here
each shape runs with both ranges, in turn and twice, first timed as quant.py times it (queued
events, 10-60 reps, ~50 ms) with NVML sampled meanwhile, then sustained for SUSTAIN_S seconds
(power.py's measure: NVML energy, clocks, throttle reasons).
Usage: data_power.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import os
import statistics
import sys
import time

from hcommon import LIST_CASES, bench, list_cases, log, write_env

SUSTAIN_S = float(os.environ.get("HARNESS_SUSTAIN_S", "1.5"))
# (dtype, m, n, k): the int8 shapes quant.py under-predicted most, and one bf16 prefill GEMM
SHAPES = [("int8", 512, 57344, 8192), ("int8", 2048, 8192, 28672), ("int8", 4096, 28672, 4096),
          ("bf16", 4096, 28672, 4096)]
RANGES = ["small", "full", "small", "full"]  # in this order, so drift shows as a difference between repeats


def operands(dtype, m, n, k, rng, copies):
    import torch
    if dtype == "int8":
        lo, hi = (-8, 8) if rng == "small" else (-127, 128)
        ws = [torch.randint(lo, hi, (n, k), device="cuda", dtype=torch.int8) for _ in range(copies)]
        x = torch.randint(lo, hi, (m, k), device="cuda", dtype=torch.int8)
        return x, ws, lambda i: torch._int_mm(x, ws[i % copies].t())
    # bf16: small = integers in [-2, 2] (few mantissa bits toggle), full = normal values
    import torch.nn.functional as F
    if rng == "small":
        ws = [torch.randint(-2, 3, (n, k), device="cuda").to(torch.bfloat16) for _ in range(copies)]
        x = torch.randint(-2, 3, (m, k), device="cuda").to(torch.bfloat16)
    else:
        ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    return x, ws, lambda i: F.linear(x, ws[i % copies])


def main():
    cs = [(s, r, i) for s in SHAPES for i, r in enumerate(RANGES)]
    if list_cases([("data_power", cs)]):
        return
    import torch
    from power import Sampler, measure, reasons_str
    out = sys.argv[1] if len(sys.argv) > 1 else "data_power.jsonl"
    with open(out, "w") as f:
        write_env(f, "data_power.py")
        for (dtype, m, n, k), rng, rep in cs:
            per = n * k * (1 if dtype == "int8" else 2)
            copies = int(max(2, min(48, -(-(256 << 20) // per))))
            x, ws, fn = operands(dtype, m, n, k, rng, copies)
            time.sleep(1.0)  # let the clock recover from the previous case
            smp = Sampler()
            smp.start()
            st = bench(fn, queued=True, target_s=0.05, min_reps=10, max_reps=60)
            smp.stop = True
            smp.join()
            d = dict(data_power=dtype, m=m, n=n, k=k, operands=rng, repeat=rep // 2, weight_copies=copies,
                     ms_queued=st["ms"], ms_queued_p10=st["ms_p10"], ms_queued_p90=st["ms_p90"], reps_queued=st["reps"],
                     queued_sm_mhz_median=statistics.median(smp.sm) if smp.sm else None,
                     queued_sm_mhz_min=min(smp.sm) if smp.sm else None,
                     queued_w_max=max(smp.pw) if smp.pw else None, queued_reasons=reasons_str(smp.reasons))
            time.sleep(1.0)
            d["sustained"] = measure(fn, SUSTAIN_S)
            f.write(json.dumps(d) + "\n")
            f.flush()
            s = d["sustained"]
            log(f"data_power: {dtype} {m}x{n}x{k} {rng}: queued {st['ms'] * 1e3:.0f} us "
                f"(sm {d['queued_sm_mhz_median']} MHz), sustained {s['ms'] * 1e3:.0f} us at {s['avg_w']} W, "
                f"{s['sm_mhz']} MHz ({s['clock_event_reasons']})")
            del x, ws, fn
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

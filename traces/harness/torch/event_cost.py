"""Profile (not a scored trace): what a "queued" measurement adds to the kernels it times.

hcommon.bench's queued timing puts each call between its own pair of CUDA events, behind a spin
kernel. Timing N tiny kernels per call (N = 1, 2, 4, 8, 16: x.add_(1) on a 1-element tensor and
on a 4096-element one) separates the cost per kernel (the slope in N) from the cost per
measured call (the intercept: the event pair). The same calls captured in a CUDA graph give the
per-kernel cost there. Records: {"event_cost": kind, "kernels": N, "ms": ...}.
Usage: event_cost.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import sys

from hcommon import Out, bench, graph_ms, list_cases

KERNELS = [1, 2, 4, 8, 16]
SIZES = [1, 4096]


def main():
    if list_cases([("event_cost", [(n, s) for s in SIZES for n in KERNELS])]):
        return
    import torch
    out = Out(sys.argv[1] if len(sys.argv) > 1 else "event_cost.jsonl", "event_cost.py")
    for size in SIZES:
        x = torch.zeros(size, device="cuda", dtype=torch.float32)
        for n in KERNELS:
            def f(_i, n=n):
                for _ in range(n):
                    x.add_(1)
            st = bench(f, queued=True, target_s=0.05, min_reps=50, max_reps=200, kernels_per_call=n)
            d = {"event_cost": "queued", "kernels": n, "elements": size, "impl": "x.add_(1)"}
            d.update(st)
            d["ms_graph"] = graph_ms(f, n=20)
            out.emit(d)


if __name__ == "__main__":
    main()

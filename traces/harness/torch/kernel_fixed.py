"""Profile (not a scored trace): does a kernel's fixed cost depend on its grid? event_cost.py
(session 5) split a queued measurement of tiny kernels into a cost per measured call (the event
pair, ~2 us) and a cost per kernel (~1.9 us queued, ~1.0 us in a CUDA graph), for 1-CTA kernels
only. Here the same split for x.add_(1) on float32 tensors of G x 512 elements, which PyTorch
runs as G CTAs of 128 threads (checked: each record carries the grid the profiler saw), for G
from 1 to 4224 (32 waves of 132 SMs), with 1 and 8 kernels per timed call, queued and in a CUDA
graph. The tensor stays in L2 (at most 8.7 MB), so the time beyond the fixed costs is L2 traffic.
Records: {"kernel_fixed": "add_", "ctas": G, "kernels": N, "ms": ..., "ms_graph": ...}.
Usage: kernel_fixed.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import sys

from hcommon import Out, bench, graph_ms, kernel_events, list_cases

CTAS = [1, 2, 8, 33, 66, 132, 264, 528, 1056, 2112, 4224]
KERNELS = [1, 8]


def main():
    cs = [(g, n) for g in CTAS for n in KERNELS]
    if list_cases([("kernel_fixed", cs)]):
        return
    import torch
    out = Out(sys.argv[1] if len(sys.argv) > 1 else "kernel_fixed.jsonl", "kernel_fixed.py")
    for g in CTAS:
        x = torch.zeros(g * 512, device="cuda", dtype=torch.float32)
        ks = kernel_events(lambda: x.add_(1))
        grid = ks[0]["grid"] if ks else None
        for n in KERNELS:
            def f(_i, n=n):
                for _ in range(n):
                    x.add_(1)
            st = bench(f, queued=True, target_s=0.05, min_reps=50, max_reps=200, kernels_per_call=n)
            d = {"kernel_fixed": "add_", "ctas": g, "grid": grid, "kernels": n, "elements": g * 512,
                 "kernel_us": ks[0]["us"] if ks else None, "impl": "x.add_(1) float32"}
            d.update(st)
            d["ms_graph"] = graph_ms(f, n=20)
            out.emit(d)


if __name__ == "__main__":
    main()

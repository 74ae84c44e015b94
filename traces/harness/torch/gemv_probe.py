"""Profile (not a scored trace): the decode GEMV (m = 1, bf16) that F.linear runs, timed the way
cuda/gemm.cu times it (queued calls over 2 alternating weight copies, and 20 calls in one CUDA
graph), so the two harnesses can be compared on one machine; and a plain loop of calls for Nsight
Compute to profile (traces/harness/gemv_ncu.sh).
Usage: gemv_probe.py time OUT.jsonl | gemv_probe.py loop N K CALLS
(HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

from hcommon import LIST_CASES, add_graph_ms, bench, list_cases, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

SHAPES = [(28672, 4096), (4096, 14336)]  # n, k: as in cuda/gemm's case file of gemv_ncu.sh


def weights(n, k, copies, uniform):
    """copies of an n x k bf16 weight: normal (torch.randn) or uniform in [-1, 1) as cuda/gemm fills"""
    if uniform:
        return [torch.rand(n, k, device="cuda", dtype=torch.bfloat16) * 2 - 1 for _ in range(copies)]
    return [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "time"
    cs = [(n, k, u) for n, k in SHAPES for u in ("normal", "uniform")]
    if list_cases([("gemv_probe", cs)]):
        return
    if mode == "loop":
        n, k, calls = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        ws = weights(n, k, 2, True)
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        for i in range(calls):
            F.linear(x, ws[i % 2])
        torch.cuda.synchronize()
        return
    out = sys.argv[2] if len(sys.argv) > 2 else "gemv_probe.jsonl"
    with open(out, "w") as f:
        write_env(f, "gemv_probe.py")
        for n, k, dist in cs:
            ws = weights(n, k, 2, dist == "uniform")
            x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
            st = bench(lambda i: F.linear(x, ws[i % 2]), target_s=0.1, min_reps=10, max_reps=50)
            d = dict(gemv_probe="F.linear", n=n, k=k, data=dist, copies=2, **st)
            add_graph_ms(d, lambda i: F.linear(x, ws[i % 2]), n=20, limit_ms=1.0)
            f.write(json.dumps(d) + "\n")
            f.flush()
            log(f"gemv_probe: n={n} k={k} {dist}: {st['ms'] * 1e3:.1f} us queued, graph {d.get('ms_graph')}")
            del ws
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

"""Profile (session 11): how torch._weight_int4pack_mm ("tinygemm") shares an SM among its CTAs.
Its grid is one CTA of 8 warps (256 threads) per 8 output columns and 16 rows (n/8 x ceil(m/16)),
each walking k in iterations of 1024. This sweeps n so that the grid is c x 132 CTAs, c = 0.5 to
16 CTAs per SM, at k = 4096 and 16384 and m = 1, 4 and 16, cold weights (quant.py's rotating
copies, > 5x L2), timed queued, as op records (op=gemm). If the SM's time grows in steps of R CTAs
(R resident at once), c = 5 costs like c = 6 when R = 2; if it grows with every CTA, the SM is
shared by throughput. The first case of each (n, m) also records the kernels the profiler saw
(name, grid, block). The kernel's occupancy limits (registers per thread, CTAs per SM) come from
Nsight Compute on one call (tinygemm_ncu.sh).
Usage: tinygemm_grid.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import quant
from hcommon import LIST_CASES, Out, bench, kernel_events, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch

SMS = 132
PER_SM = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 7, 8, 9, 10, 12, 16]
KS = [4096, 16384]
MS = [1, 4, 16]


def cases():
    return [(m, int(c * SMS) * 8, k, c) for k in KS for c in PER_SM for m in MS]


def main():
    cs = cases()
    if list_cases([("tinygemm_grid", cs)]):
        return
    out = Out(out_path("tinygemm_grid.jsonl"), "tinygemm_grid.py")
    seen = set()

    def case(c):
        m, n, k, per_sm = c
        ws, per = quant.weights("int4", n, k)
        quant.check_shape("int4", n, k, ws)
        nc = len(ws)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        f = lambda i: torch._weight_int4pack_mm(x, ws[i % nc][0], quant.GROUP, ws[i % nc][1])  # noqa
        st = bench(f, queued=True, target_s=0.05, min_reps=10, max_reps=60)
        d = {"op": "gemm", "m": m, "n": n, "k": k, "dtype": "bf16", "weight_format": f"int4-g{quant.GROUP}",
             "warm_l2": False}
        d.update(st)
        d.update(impl="torch._weight_int4pack_mm (tinygemm)", weight_copies=nc, weight_bytes=per,
                 ctas_per_sm=per_sm, issue="torch")
        if (n, m) not in seen:  # the grid the profiler sees, once per (n, m)
            seen.add((n, m))
            ks = kernel_events(lambda: f(0))
            d["kernel"] = [dict(name=e["name"][:60], grid=e["grid"], block=e["block"], us=e["us"]) for e in ks]
        return d

    run_cases(out, cs, case, "tinygemm_grid")
    log(f"tinygemm_grid: wrote {out.n} lines")


if __name__ == "__main__":
    main()

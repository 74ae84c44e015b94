"""Profile (session 10): is an int8 GEMM whose CTAs sit one per SM bound by the latency of its cold
operand loads? torch._int_mm runs Ampere-style CUTLASS kernels whose names give the tile and the
pipeline depth (traces/h200/profile/torch_gemm_kernels.jsonl): 64x64 with 6 stages, 128x64 with 3,
128x128 with 5, 128x256 with 3. With one CTA per SM and 3 stages, only 2 stages of loads are in
flight behind the one being computed; if a load from HBM takes longer than two stages of tensor
work, the k-loop waits on memory latency, not bandwidth.
Two parts:
  latency  pointer chases (one Triton program, one thread's dependent 8-byte loads, one per 512 B
           slot of a random cycle) over 8 MiB (L2-resident after a first pass) and 64 MiB-1 GiB
           (L2 flushed before each chase: HBM): ns per load, from the difference of two chain
           lengths.
HARNESS_GL_PARTS="latency" (or "gemm") runs one part.
  gemm     torch._int_mm at shapes whose tile leaves one CTA per SM, and controls, each timed
           queued with cold weights (rotating copies > 5x L2, as quant.py) and warm (one copy,
           L2-resident), as op records (op=gemm, warm_l2), with the kernel the profiler saw;
           weights and their exactness check are quant.py's.
Usage: gemm_latency.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

import quant
from hcommon import LIST_CASES, Out, bench, kernel_events, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import triton
    import triton.language as tl

CHASE = [("l2", 8 << 20), ("hbm", 64 << 20), ("hbm", 256 << 20), ("hbm", 1 << 30)]
PARTS = os.environ.get("HARNESS_GL_PARTS", "latency gemm").split()  # which parts to run
SLOT = 64  # int64 elements per slot: 512 B, one load per slot
# (m, n, k): committed and held-out shapes of the 128x64 3-stage tile with one CTA per SM, then
# controls (other tiles, or several CTAs per SM), then shapes in no trace.
SHAPES = [(128, 6144, 4096), (256, 4096, 4096), (96, 7168, 5120),
          (128, 4096, 4096), (32, 6144, 4096), (96, 4608, 3584), (128, 10240, 8192), (256, 8192, 28672),
          (2048, 4096, 4096), (256, 6144, 4096), (512, 4096, 4096), (32, 28672, 4096), (192, 7168, 5120),
          (128, 5120, 4096), (256, 3072, 4096), (128, 7168, 4096), (192, 6144, 6144), (256, 5120, 5120),
          (128, 8192, 5120), (64, 14336, 4096)]


def cases():
    c = [("latency", w, b) for w, b in CHASE] if "latency" in PARTS else []
    return c + ([("gemm", m, n, k, warm) for m, n, k in SHAPES for warm in (False, True)] if "gemm" in PARTS else [])


if not LIST_CASES:
    @triton.jit
    def _chase(nxt, out, start, steps):
        i = tl.load(nxt + start) * 0 + start
        for _ in range(steps):
            i = tl.load(nxt + i)
        tl.store(out, i)


def chain(nbytes):
    n = nbytes // (SLOT * 8)
    perm = torch.randperm(n, device="cuda", dtype=torch.int64)
    nxt = torch.zeros(n * SLOT, device="cuda", dtype=torch.int64)
    nxt[perm * SLOT] = torch.roll(perm, -1) * SLOT
    return nxt, n


_FLUSH = []


def flush_l2():
    """write 512 MiB (> 8x L2) so that nothing of the chain stays in L2"""
    if not _FLUSH:
        _FLUSH.append(torch.empty(512 << 20, device="cuda", dtype=torch.uint8))
    _FLUSH[0].fill_(1)


def chase_ns(nxt, steps, cold):
    """ns per dependent load: the difference of a chase of `steps` and one of steps/4 loads, each
    the best of 3. cold: L2 flushed before each chase (session 9's first version warmed the chain
    with a pass over the same slots, so its 256 MiB and 1 GiB chases read L2); else the chain is
    walked once first and the timed chases read what it left in L2."""
    out = torch.zeros(1, device="cuda", dtype=torch.int64)
    _chase[(1,)](nxt, out, 0, 4, num_warps=1)  # compile (4 loads)
    if not cold:
        _chase[(1,)](nxt, out, 0, steps, num_warps=1)  # warm the slots the chases visit
    torch.cuda.synchronize()
    ts = []
    for s in (steps // 4, steps):
        best = None
        for _ in range(3):
            if cold:
                flush_l2()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            _chase[(1,)](nxt, out, 0, s, num_warps=1)
            b.record()
            torch.cuda.synchronize()
            t = a.elapsed_time(b)
            best = t if best is None else min(best, t)
        ts.append(best)
    return (ts[1] - ts[0]) * 1e6 / (steps - steps // 4)


def main():
    cs = cases()
    if list_cases([("gemm_latency", cs)]):
        return
    out = Out(out_path("gemm_latency.jsonl"), "gemm_latency.py")

    def case(c):
        if c[0] == "latency":
            _, where, nbytes = c
            nxt, n = chain(nbytes)
            steps = min(40000, 4 * n) if where == "l2" else 40000
            ns = chase_ns(nxt, steps, cold=where != "l2")
            del nxt
            torch.cuda.empty_cache()
            return {"latency_probe": where, "bytes": nbytes, "slot_bytes": SLOT * 8, "slots": n, "steps": steps,
                    "ns_per_load": round(ns, 1)}
        _, m, n, k, warm = c
        ws, _ = quant.weights("int8", n, k)  # quant.py's rotating copies (> 5x L2), checked as it checks them
        quant.check_shape("int8", n, k, ws)
        x = torch.randint(-127, 128, (m, k), device="cuda", dtype=torch.int8)
        nc = 1 if warm else len(ws)
        f = lambda i: torch._int_mm(x, ws[i % nc].t())  # noqa
        st = bench(f, queued=True, target_s=0.03, min_reps=10, max_reps=60)
        ks = kernel_events(lambda: f(0))
        d = {"op": "gemm", "m": m, "n": n, "k": k, "dtype": "int8", "warm_l2": warm}
        d.update(st)
        d.update(impl="torch._int_mm", weight_copies=nc,
                 kernel=[dict(name=e["name"].split("gemm_s8_")[-1].split("_tn")[0], grid=e["grid"], us=e["us"])
                         for e in ks])
        return d

    run_cases(out, cs, case, "gemm_latency")
    log(f"gemm_latency: wrote {out.n} lines")


if __name__ == "__main__":
    main()

"""Profile (not a scored trace): where an eager tensor-parallel decode step's time goes.

Measured eager TP decode steps (tp_step.py) take about 100 us more per all-reduce than TP = 1,
while an eager all-reduce alone (coll.py) costs 35-45 us. This script separates the parts, for
Llama-3-8B (32 layers) decode at batch 8, context 2048, on TP = 1, 2 and 4, each rank one process:
  variant "step":     the TP step as tp_step.py runs it (2 all-reduces per layer);
  variant "no_ar":    the same sharded step with the all-reduces skipped (same kernels otherwise);
  variant "ar_paced": the step's 64 all-reduces (b x hidden bf16) alone, each after as much host
                      busy time as the no_ar step spends per all-reduce (a step's pacing);
  variant "ar_loop":  the 64 all-reduces back to back (coll.py's setting).
Per variant and rep: the GPU time between events around the call (max over ranks, as tp_step.py)
and each rank's host time to issue the call (perf_counter, no synchronization), median over reps.
Repeated 3 times, interleaved, to see the host's drift. Records: {"tp_host": variant, ...}.
Usage: tp_host.py OUT.jsonl [tp list]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import time  # noqa: E402

from coll import end_worker, gpu_counts, spawn, start_worker  # noqa: E402
from hcommon import LIST_CASES, QUICK, free_cuda, list_cases, load_cfg, log, stats  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist

    from tp_step import build

    BF = torch.bfloat16

MODEL, LAYERS, BATCH, CTX = "llama3-8b", (2 if QUICK else 32), 8, (512 if QUICK else 2048)
VARIANTS = ["step", "no_ar", "ar_paced", "ar_loop"]
ROUNDS = 1 if QUICK else 3
REPS = 5 if QUICK else 20


def busy(us):
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass


def measure(f, grp, reps):
    """per rep: GPU ms between events around f() (max over ranks) and this rank's host ms to issue it"""
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    if grp is not None:
        dist.barrier(group=grp)
    ss = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ee = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    host = []
    for r in range(reps):
        ss[r].record()
        h0 = time.perf_counter()
        f()
        host.append((time.perf_counter() - h0) * 1e3)
        ee[r].record()
    torch.cuda.synchronize()
    t = torch.tensor([ss[r].elapsed_time(ee[r]) for r in range(reps)], device="cuda")
    hs = torch.tensor(host, device="cuda")
    hmax = hs.clone()
    if grp is not None:
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=grp)
        dist.all_reduce(hmax, op=dist.ReduceOp.MAX, group=grp)
    return t.tolist(), hs.tolist(), hmax.tolist()


def worker(rank, world, port, path, tps):
    groups, out, t0 = start_worker(rank, world, port, tps, path, "tp_host.py")
    cfg = load_cfg(MODEL)
    for tp in tps:
        grp = groups[tp]
        if rank < tp:
            m = build(cfg, LAYERS, tp, rank, grp)
            m.alloc_cache(BATCH, CTX + 1)
            torch.manual_seed(7)
            x = torch.randn(BATCH, 1, cfg["hidden"], device="cuda", dtype=BF)
            buf = torch.randn(BATCH, 1, cfg["hidden"], device="cuda", dtype=BF) * 1e-20
            n_ar = 2 * LAYERS
            step = lambda: m.forward(x, "decode", CTX)  # noqa: E731

            def no_ar():
                m.tp = 1  # Model._allreduce skips the collective; the shards stay as they are
                try:
                    return m.forward(x, "decode", CTX)
                finally:
                    m.tp = tp
            pace = {"us": 0.0}

            def ar_paced():
                for _ in range(n_ar):
                    busy(pace["us"])
                    if tp > 1:
                        dist.all_reduce(buf, group=grp)

            def ar_loop():
                for _ in range(n_ar):
                    if tp > 1:
                        dist.all_reduce(buf, group=grp)
            fns = {"step": step, "no_ar": no_ar, "ar_paced": ar_paced, "ar_loop": ar_loop}
            for rnd in range(ROUNDS):
                for v in VARIANTS:
                    if tp == 1 and v in ("ar_paced", "ar_loop"):
                        continue
                    try:
                        gpu, host, hmax = measure(fns[v], grp if tp > 1 else None, REPS)
                        if v == "no_ar":  # the host time per all-reduce slot of this step
                            pace["us"] = sorted(hmax)[len(hmax) // 2] * 1e3 / n_ar
                        if rank == 0:
                            d = {"tp_host": v, "round": rnd, "model": MODEL, "layers": LAYERS, "phase": "decode",
                                 "batch": BATCH, "context": CTX, "tp": tp, "allreduces": n_ar if v != "no_ar" else 0,
                                 "allreduce_bytes": BATCH * cfg["hidden"] * 2}
                            d.update(stats(gpu))
                            d["host_ms"] = stats(host)["ms"]
                            d["host_ms_max_rank"] = stats(hmax)["ms"]
                            if v == "ar_paced":
                                d["pace_us"] = pace["us"]
                            out.emit(d)
                    except Exception as ex:  # noqa
                        log(f"tp_host: rank {rank} tp={tp} {v} failed: {type(ex).__name__}: {ex}")
            del m
            free_cuda()
        dist.barrier()
    end_worker(rank, out, "tp_host", t0)


def main():
    if list_cases([(f"tp_host tp={tp} {MODEL} layers={LAYERS} decode b={BATCH} ctx={CTX}",
                    [(v, r) for r in range(ROUNDS) for v in VARIANTS]) for tp in gpu_counts((1, 2, 4))]):
        return
    spawn(worker, "tp_host", (1, 2, 4), "tp")


if __name__ == "__main__":
    main()

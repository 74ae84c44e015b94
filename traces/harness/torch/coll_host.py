"""Profile (not a scored trace): why eager small collectives on 4 GPUs are bimodal in time.
coll.py's eager records of a 4-GPU call below ~1 MiB took 65-89 us in some stretches of a run
and 35-43 us in others, while 2-GPU calls stayed at 34-46 us (docs/kernel-model.md, Known gaps).
Here the same eager timing (coll.time_over_ranks: events around each call, no barrier between
calls, max over ranks) is repeated in ROUNDS interleaved rounds for a few sizes, on 2 and 4
GPUs, with each rank's host time to issue a call (perf_counter over the timed loop) and each
rank's own event median beside the max over ranks. Two variants, each its own spawn of one
process per GPU: "free" (the OS places the processes' threads, as in coll.py) and "pinned"
(rank r and every thread it starts, NCCL's included, on CPUs [r C/w, (r+1) C/w), C the CPUs
visible, w the world size); session 9 added "numa": rank r on the CPUs NVML reports as local to
GPU r (nvmlDeviceGetCpuAffinity), shared out evenly among the ranks whose GPUs have the same
local CPUs, as a deployment binds its processes (numactl, torchrun --numa-binding).
HARNESS_COLL_VARIANTS="free numa" picks variants (default: free pinned).
Usage: coll_host.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

import sys
import time

# coll.py turns NVLink SHARP / multicast off (NCCL_NVLS_ENABLE=0 etc.) as it is imported, before torch
from coll import end_worker, free_port, make, start_worker, time_over_ranks
from hcommon import LIST_CASES, list_cases, log

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp

ROUNDS = 8
SIZES = [8 << 10, 256 << 10, 4 << 20]
OPS = ["all_reduce", "all_gather"]
GROUPS = [2, 4]
VARIANTS = os.environ.get("HARNESS_COLL_VARIANTS", "free pinned").split()


def gpu_local_cpus(world):
    """per rank: the CPUs local to its GPU (NVML), split evenly among ranks with the same set"""
    import pynvml
    pynvml.nvmlInit()
    n = os.cpu_count()
    local = []
    for r in range(world):
        words = pynvml.nvmlDeviceGetCpuAffinity(pynvml.nvmlDeviceGetHandleByIndex(r), (n + 63) // 64)
        local.append(tuple(c for c in range(n) if (words[c // 64] >> (c % 64)) & 1))
    out = []
    for r in range(world):
        mates = [q for q in range(world) if local[q] == local[r]]
        per = max(1, len(local[r]) // len(mates))
        i = mates.index(r)
        out.append(list(local[r][i * per:(i + 1) * per]) or list(local[r]))
    return out, local


def cases():
    return [(v, r, g, op, b) for v in VARIANTS for r in range(ROUNDS) for g in GROUPS for op in OPS for b in SIZES]


def worker(rank, world, port, path, variant):
    if variant == "pinned":
        cpus = sorted(os.sched_getaffinity(0))
        per = max(1, len(cpus) // world)
        os.sched_setaffinity(0, cpus[rank * per:(rank + 1) * per])
    elif variant == "numa":
        mine, local = gpu_local_cpus(world)
        if rank == 0:
            log(f"coll_host: GPU-local CPUs per rank {[f'{min(c)}-{max(c)} ({len(c)})' for c in local]}")
        os.sched_setaffinity(0, mine[rank])
    groups, out, t0 = start_worker(rank, world, port, GROUPS, path, "coll_host.py")
    for rnd in range(ROUNDS):
        for g in GROUPS:
            grp = groups[g]
            for op in OPS:
                for nbytes in SIZES:
                    if rank < g:
                        f, inp, o = make(op, nbytes, g, grp)
                        # each rank's own event times, then the max over ranks (as coll.py)
                        for _ in range(3):
                            f()
                        torch.cuda.synchronize()
                        reps = 60
                        ss = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
                        ee = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
                        h0 = time.perf_counter()
                        for r in range(reps):
                            ss[r].record()
                            f()
                            ee[r].record()
                        host_us = (time.perf_counter() - h0) / reps * 1e6
                        torch.cuda.synchronize()
                        own = torch.tensor([ss[r].elapsed_time(ee[r]) for r in range(reps)], device="cuda")
                        mx = own.clone()
                        dist.all_reduce(mx, op=dist.ReduceOp.MAX, group=grp)
                        info = torch.tensor([host_us, own.median().item() * 1e3], device="cuda")
                        allinfo = [torch.zeros_like(info) for _ in range(g)]
                        dist.all_gather(allinfo, info, group=grp)
                        tmax = time_over_ranks(f, 3, 3, 8, 60, 0.1, grp)  # coll.py's own timing, right after
                        if rank == 0:
                            out.emit({"coll_host": variant, "round": rnd, "collective": op, "gpus": g, "bytes": nbytes,
                                      "max_over_ranks_us": round(mx.median().item() * 1e3, 2),
                                      "coll_py_us": round(tmax.median().item() * 1e3, 2),
                                      "rank_host_us": [round(a[0].item(), 2) for a in allinfo],
                                      "rank_event_us": [round(a[1].item(), 2) for a in allinfo],
                                      "affinity": len(os.sched_getaffinity(0))})
                        del f, inp, o
                    dist.barrier()
    end_worker(rank, out, f"coll_host {variant}", t0)


def main():
    if list_cases([("coll_host", cases())]):
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "coll_host.jsonl"
    n = torch.cuda.device_count()
    if n < max(GROUPS):
        log(f"coll_host: needs {max(GROUPS)} GPUs, {n} visible")
        return
    for v in VARIANTS:
        log(f"coll_host: variant {v}")
        mp.spawn(worker, args=(n if n <= 4 else 4, free_port(), path, v), nprocs=min(n, 4), join=True)
        time.sleep(2)


if __name__ == "__main__":
    main()

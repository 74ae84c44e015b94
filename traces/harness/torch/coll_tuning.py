"""Profile (not a scored trace): which algorithm, protocol and how many channels NCCL picks for
each collective and size on 2 and 4 GPUs, from NCCL's own log (NCCL_DEBUG=INFO with the TUNING
subsystem: one line per call, "... Bytes -> Algo A proto P channel{Lo..Hi}"; INIT: the channels
each communicator set up). Each case (coll.py's make()) is called twice; nothing is timed (the
times are in coll.jsonl). Run with NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,TUNING and
NCCL_DEBUG_FILE set; the log is the result.
Usage: coll_tuning.py [OUT.jsonl]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

import json
import sys

# coll.py turns NVLink SHARP / multicast off (NCCL_NVLS_ENABLE=0 etc.) as it is imported, before torch
from coll import OPS, free_port, init_worker, make
from hcommon import LIST_CASES, list_cases, log

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp

GROUPS = [2, 4]
# 4 KiB to 1 GiB: powers of two and the points halfway between (x1.5)
SIZES = sorted({s for e in range(12, 31) for s in (1 << e, 3 << (e - 1)) if s <= 1 << 30})


def cases():
    return [(g, op, b) for g in GROUPS for op in OPS for b in SIZES]


def worker(rank, world, port, path):
    groups = init_worker(rank, world, port, GROUPS)
    done = []
    for g in GROUPS:
        grp = groups[g]
        if rank < g:
            for op in OPS:
                for b in SIZES:
                    f, inp, o = make(op, b, g, grp)
                    for _ in range(2):
                        f()
                    torch.cuda.synchronize()
                    done.append((g, op, b))
                    del f, inp, o
            torch.cuda.empty_cache()
        dist.barrier()
    if rank == 0:
        with open(path, "w") as fh:
            fh.write(json.dumps({"coll_tuning": "calls made in this order, each twice",
                                 "nccl": ".".join(map(str, torch.cuda.nccl.version())),
                                 "calls": done}) + "\n")
        log(f"coll_tuning: {len(done)} cases")
    dist.barrier()
    os._exit(0)  # the process-group teardown can hang (ep_step.py): the log is written


def main():
    if list_cases([("coll_tuning", cases())]):
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "coll_tuning.jsonl"
    n = torch.cuda.device_count()
    if n < max(GROUPS):
        log(f"coll_tuning: {n} GPUs, needs {max(GROUPS)}")
        return
    mp.spawn(worker, args=(max(GROUPS), free_port(), path), nprocs=max(GROUPS), join=True)


if __name__ == "__main__":
    main()

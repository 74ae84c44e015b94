"""Profile (not a scored trace): which threads of an eager tensor-parallel process use the CPU, and
whether where the OS puts them decides the step's host time. Eager TP decode steps on 2 H200s took
1.5-2.7x the one-process step of the same model in some rounds and ~1.3x in others
(traces/h200x2-rounds/), and the eager collectives' hosts fall into a ~1.7x slower mode
(docs/kernel-model.md, "Eager small collectives"). Here two processes (tp = 2, NCCL process group)
run tp_step.py's Llama-3-8B eager decode step (32 layers, batch 8, context 2048) and a 64 KiB eager
all-reduce loop, in interleaved rounds, under three placements of each process's threads:
  free    every thread may run on every CPU (as tp_step.py and coll.py run);
  split   the main Python thread alone on one CPU, every other thread of the process (NCCL's,
          PyTorch's watchdog, CUDA's) on CPUs that are neither that CPU nor its SMT siblings;
  shared  every thread of the process on the main thread's CPU and its SMT siblings.
For each placement: the step time (max over ranks, median of the reps), the all-reduce time per
call, and for every thread the CPU time it used during the timed step reps (/proc/self/task/T/stat
utime + stime) with its name, and the main thread's involuntary context switches.
Usage: tp_threads.py OUT.jsonl [rounds]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

from hcommon import LIST_CASES, list_cases, load_cfg, log  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist

    from coll import free_port, init_worker, time_over_ranks
    from model import distributed_step
    from tp_step import build

PLACEMENTS = ("free", "split", "shared")
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 10.0


def siblings(cpu):
    try:
        text = open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read().strip()
    except OSError:
        return {cpu}
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def threads():
    """{tid: (name, cpu ms so far)} of this process"""
    out = {}
    for t in os.listdir("/proc/self/task"):
        try:
            name = open(f"/proc/self/task/{t}/comm").read().strip()
            f = open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()
            out[int(t)] = (name, (int(f[11]) + int(f[12])) * TICK_MS)
        except (OSError, IndexError, ValueError):
            pass
    return out


def nonvoluntary(tid):
    for line in open(f"/proc/self/task/{tid}/status"):
        if line.startswith("nonvoluntary_ctxt_switches"):
            return int(line.split()[1])
    return -1


def place(kind, main_tid, cpu, all_cpus):
    mine = siblings(cpu)
    for tid in threads():
        try:
            if kind == "free":
                os.sched_setaffinity(tid, all_cpus)
            elif kind == "shared":
                os.sched_setaffinity(tid, mine)
            elif tid == main_tid:
                os.sched_setaffinity(tid, {cpu})
            else:
                os.sched_setaffinity(tid, all_cpus - mine)
        except OSError:
            pass


def worker(rank, world, port, path, rounds):
    groups = init_worker(rank, world, port, [world])
    grp = groups[world]
    all_cpus = set(os.sched_getaffinity(0))
    cpus = sorted(all_cpus)
    cpu = cpus[rank * len(cpus) // world]  # each rank's main thread on its own part of the machine
    main_tid = threading.get_native_id()
    cfg = load_cfg("llama3-8b")
    m = build(cfg, 32, world, rank, grp)
    b, n = 8, 2048
    m.alloc_cache(b, n + 1)
    torch.manual_seed(1016)
    x = torch.randn(b, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
    step, _ = distributed_step(m, x, "decode", n, False)
    buf = torch.ones(32768, device="cuda", dtype=torch.bfloat16)  # 64 KiB
    ar = lambda: dist.all_reduce(buf, group=grp)  # noqa: E731
    for _ in range(5):
        step()
        ar()
    torch.cuda.synchronize()
    rows = []
    for rnd in range(rounds):
        for kind in PLACEMENTS:
            place(kind, main_tid, cpu, all_cpus)
            dist.barrier(group=grp)
            t_ar = time_over_ranks(ar, 50, 20, 100, 400, 0.03, grp)
            before, nv0 = threads(), nonvoluntary(main_tid)
            t = time_over_ranks(step, 5, 1, 20, 40, 0.6, grp)
            after, nv1 = threads(), nonvoluntary(main_tid)
            used = sorted(((after[k][0] + ("*" if k == main_tid else ""), round(after[k][1] - before.get(k, ("", 0))[1], 1))
                           for k in after), key=lambda z: -z[1])
            tt = sorted(t.tolist())
            ta = sorted(t_ar.tolist())
            rows.append({"tp_threads": kind, "round": rnd, "rank": rank, "main_cpu": cpu,
                         "main_siblings": sorted(siblings(cpu)), "step_ms": round(tt[len(tt) // 2], 3),
                         "step_reps": len(tt), "allreduce_us": round(1e3 * ta[len(ta) // 2], 2),
                         "main_nonvoluntary_switches": nv1 - nv0, "threads": len(after),
                         "thread_cpu_ms": [u for u in used if u[1] > 0.5]})
    place("free", main_tid, cpu, all_cpus)
    gathered = [None] * world
    dist.all_gather_object(gathered, rows, group=grp)
    if rank == 0:
        with open(path, "a") as f:
            for part in gathered:
                for r in part:
                    f.write(json.dumps(r) + "\n")
        log(f"tp_threads: wrote {sum(len(p) for p in gathered)} lines")
    dist.barrier()
    dist.destroy_process_group()


def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    if list_cases([("tp_threads tp=2 llama3-8b decode b8 c2048", [(r, k) for r in range(rounds) for k in PLACEMENTS])]):
        return
    import torch.multiprocessing as mp
    from hcommon import write_env
    path = sys.argv[1] if len(sys.argv) > 1 else "tp_threads.jsonl"
    with open(path, "a") as f:
        write_env(f, "tp_threads.py")
        f.write(f"# cpus {sorted(os.sched_getaffinity(0))}; siblings of each: "
                f"{ {c: sorted(siblings(c)) for c in sorted(os.sched_getaffinity(0))} }\n")
    mp.spawn(worker, args=(2, free_port(), path, rounds), nprocs=2, join=True)


if __name__ == "__main__":
    main()

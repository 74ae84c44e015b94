"""Profile (not a scored trace): does a host-speed probe taken on each rank's main thread just before
an eager step predict that step's time? The eager records of held-out machines move by up to 2x
between runs because each vCPU runs at one of two speeds ~1.85x apart, switching within seconds
(traces/h200x2/profile/cpu_pairs.jsonl, docs/kernel-model.md "Known gaps"); a probe taken once per
script run did not track them. Here every rep interleaves, on each rank:
  probe_op_us   hcommon.probe_once(PASSES): the host probe's op mix (8 one-kernel eager ops on tiny
                CUDA tensors), CPU us per op over PASSES passes (~2-3 ms)
  probe_py_us   a fixed pure-Python loop (no torch), us
  cpu0, cpu1    the vCPU the main thread ran on before the probe and after the step
  step_ms       Llama-3-8B eager decode step, tp = world (32 layers, batch B, context 2048), CUDA
                events around the step as issued on this rank
  ar_us         64 KiB eager all-reduce, 20 back to back, per call (world > 1)
  issue_ms      host time to issue the step (perf_counter, before any synchronization)
  issue_cpu_ms  this thread's CPU time over that issue
Each process group runs for SECONDS; rounds spawn fresh processes (world 2, then world 1 if
listed). Output: one line per rep with every rank's values (lists indexed by rank).
Usage: host_state.py OUT.jsonl [seconds per group, 60] [rounds, 3] [worlds, 2,1] [batches, 8,64]
(HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from hcommon import LIST_CASES, list_cases, load_cfg, log, probe_once  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist

    from coll import free_port, init_worker
    from model import distributed_step
    from tp_step import build

PASSES = 30
PY_N = 20000


def cur_cpu():
    try:
        return int(open("/proc/thread-self/stat").read().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return -1


def worker(rank, world, port, path, seconds, rnd, batches):
    grp = init_worker(rank, world, port, [world])[world] if world > 1 else None
    if world == 1:
        torch.cuda.set_device(0)
    cfg = load_cfg("llama3-8b")
    m = build(cfg, 32, world, rank, grp)
    n = 2048
    arena = m.alloc_cache(max(batches), n + 1)
    torch.manual_seed(1016)
    steps, caches = {}, {}
    for b in batches:
        m.alloc_cache(b, n + 1, arena)
        caches[b] = (m.kc, m.vc)
        x = torch.randn(b, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
        steps[b] = distributed_step(m, x, "decode", n, False)[0]

    def use(b):
        m.kc, m.vc = caches[b]
        return steps[b]
    buf = torch.ones(32768, device="cuda", dtype=torch.bfloat16)  # 64 KiB

    def probe_py():
        t0 = time.perf_counter()
        s = 0
        for i in range(PY_N):
            s += i * i
        return (time.perf_counter() - t0) * 1e6

    for _ in range(3):
        for b in batches:
            use(b)()
        probe_once(PASSES)
    torch.cuda.synchronize()
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
    rows = []
    t_end = time.time() + seconds
    i = 0
    while True:
        flag = torch.tensor([1.0 if time.time() < t_end else 0.0], device="cuda")
        if grp is not None:
            dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=grp)
        if flag.item() == 0.0:
            break
        b = batches[i % len(batches)]
        step = use(b)
        c0 = cur_cpu()
        pop = probe_once(PASSES)
        torch.cuda.synchronize()
        ppy = probe_py()
        c_step = time.thread_time()
        t_step = time.perf_counter()
        ev[0].record()
        step()
        ev[1].record()
        issue = (time.perf_counter() - t_step) * 1e3
        cpu = (time.thread_time() - c_step) * 1e3
        if grp is not None:
            ev[2].record()
            for _ in range(20):
                dist.all_reduce(buf, group=grp)
            ev[3].record()
        torch.cuda.synchronize()
        c1 = cur_cpu()
        row = [pop, ppy, ev[0].elapsed_time(ev[1]), ev[2].elapsed_time(ev[3]) / 20 * 1e3 if grp is not None else 0.0,
               c0, c1, b, issue, cpu]
        rows.append(row)
        i += 1
    t = torch.tensor(rows, device="cuda", dtype=torch.float64)
    if grp is not None:
        allt = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(allt, t, group=grp)
    else:
        allt = [t]
    if rank == 0:
        a = [x.tolist() for x in allt]
        with open(path, "a") as f:
            for k in range(len(rows)):
                f.write(json.dumps({"host_state": "llama3-8b decode", "tp": world, "round": rnd, "rep": k,
                                    "batch": int(a[0][k][6]), "context": n,
                                    "probe_op_us": [round(a[r][k][0], 3) for r in range(world)],
                                    "probe_py_us": [round(a[r][k][1], 1) for r in range(world)],
                                    "step_ms": [round(a[r][k][2], 4) for r in range(world)],
                                    **({"ar_us": [round(a[r][k][3], 2) for r in range(world)]} if world > 1 else {}),
                                    "issue_ms": [round(a[r][k][7], 4) for r in range(world)],
                                    "issue_cpu_ms": [round(a[r][k][8], 4) for r in range(world)],
                                    "cpu0": [int(a[r][k][4]) for r in range(world)],
                                    "cpu1": [int(a[r][k][5]) for r in range(world)]}) + "\n")
        log(f"host_state: tp={world} round {rnd}: {len(rows)} reps")
    if grp is not None:
        dist.barrier()
        dist.destroy_process_group()


def main():
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    worlds = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else [2, 1]
    batches = [int(x) for x in sys.argv[5].split(",")] if len(sys.argv) > 5 else [8, 64]
    if list_cases([("host_state llama3-8b decode c2048", [(r, w, b) for r in range(rounds) for w in worlds
                                                          for b in batches])]):
        return
    import torch.multiprocessing as mp
    from hcommon import write_env
    path = sys.argv[1] if len(sys.argv) > 1 else "host_state.jsonl"
    with open(path, "a") as f:
        write_env(f, "host_state.py", passes=PASSES, py_n=PY_N, seconds=seconds)
    worlds = [w for w in worlds if w <= torch.cuda.device_count()]
    for rnd in range(rounds):
        for w in worlds:
            mp.spawn(worker, args=(w, free_port(), path, seconds, rnd, batches), nprocs=w, join=True)


if __name__ == "__main__":
    main()

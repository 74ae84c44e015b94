"""Profile (not a scored trace): how the hosts of an eager pipeline (pp_step.py's GPipe over
torch.distributed send/recv) spend a decode step, and what the per-rep host probe reads beside it.
Session 15 found pp_step's probes read slow (13-17 us) in reps whose steps ran at fast-host times;
the model composes a pipeline's stages as if each stage's host starts issuing only once its input
has arrived. Every rep, on each of the pp ranks (one stage of Llama-3-8B each, decode, batch B,
context 2048):
  probe_all_us     hcommon.probe_once() on every rank at once (what pp_step records)
  probe_alone_us   probe_once() on this rank while the others sleep (time.sleep)
  probe_spin_us    probe_once() on this rank while the others wait in torch.cuda.synchronize() on
                   a long GPU sleep (a spinning wait)
  pipe<k>_*        one pipelined step of k micro-batches, as pp_step.py runs it, instrumented:
                   recv_ms (host time, from the step's start, when each dist.recv returned),
                   recv_cpu_ms (this thread's CPU time inside those recvs), issue_ms (host time
                   when the stage's last op was issued), end_ms (after torch.cuda.synchronize),
                   cpu_ms (this thread's CPU time over the whole step), gpu_ms (CUDA events from
                   the first micro-batch's forward to the last's, as queued on this rank)
  alone_issue_ms, alone_end_ms   this rank's stage forward (one micro-batch, no send/recv) while
                   the other ranks sleep: host issue time and time to completion
Usage: pp_host.py OUT.jsonl [seconds per round, 60] [rounds, 2] [batch, 8]
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
    from tp_step import build

SLEEP_PROBE_S = 0.010
SLEEP_STAGE_S = 0.030
CTX = 2048
LAYERS = 32


def sync_all(grp):
    torch.cuda.synchronize()
    dist.barrier(group=grp)
    torch.cuda.synchronize()


def worker(rank, world, port, path, seconds, rnd, batch):
    grp = init_worker(rank, world, port, [world])[world]
    pp = world
    cfg = load_cfg("llama3-8b")
    m = build(cfg, LAYERS // pp, 1, 0, None)
    mbs = (1, 2)
    caches = {}
    for k in mbs:
        per = batch // k
        cs = []
        for _ in range(k):
            m.kc = m.vc = None
            m.alloc_cache(per, CTX + 1)
            cs.append((m.kc, m.vc))
        torch.manual_seed(77 + k)
        xs = [torch.randn(per, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16) for _ in range(k)]
        bufs = [torch.empty_like(x) for x in xs]
        caches[k] = (cs, xs, bufs)
    head = rank == pp - 1
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
    spin_cycles = int(SLEEP_PROBE_S * 1.98e9)

    def pipe(k):
        cs, xs, bufs = caches[k]
        recv_ms, recv_cpu = [], 0.0
        t0 = time.perf_counter()
        for i in range(k):
            m.kc, m.vc = cs[i]
            x = xs[i]
            if rank > 0:
                c0 = time.thread_time()
                dist.recv(bufs[i], src=rank - 1, group=grp)
                recv_cpu += time.thread_time() - c0
                recv_ms.append((time.perf_counter() - t0) * 1e3)
                x = bufs[i]
            if i == 0:
                ev[0].record()
            y = m.forward(x, "decode", CTX, head=head)
            if i == k - 1:
                ev[1].record()
            if rank < pp - 1:
                dist.send(y.contiguous(), dst=rank + 1, group=grp)
        issue = (time.perf_counter() - t0) * 1e3
        torch.cuda.synchronize()
        end = (time.perf_counter() - t0) * 1e3
        return [recv_ms, recv_cpu * 1e3, issue, end, ev[0].elapsed_time(ev[1])]

    def timed_pipe(k):
        sync_all(grp)
        c0 = time.thread_time()
        r = pipe(k)
        r.append((time.thread_time() - c0) * 1e3)
        return r

    def alone():
        cs, xs, _ = caches[1]
        m.kc, m.vc = cs[0]
        t0 = time.perf_counter()
        m.forward(xs[0], "decode", CTX, head=head)
        issue = (time.perf_counter() - t0) * 1e3
        torch.cuda.synchronize()
        return issue, (time.perf_counter() - t0) * 1e3

    for _ in range(3):  # warm-up: communicators, allocator, kernels
        for k in mbs:
            timed_pipe(k)
        alone()
        probe_once()
    rows = []
    t_end = time.time() + seconds
    while True:
        flag = torch.tensor([1.0 if time.time() < t_end else 0.0], device="cuda")
        dist.all_reduce(flag, op=dist.ReduceOp.MIN, group=grp)
        if flag.item() == 0.0:
            break
        row = {}
        sync_all(grp)
        row["probe_all_us"] = probe_once()
        for slot in range(pp):
            sync_all(grp)
            if rank == slot:
                row["probe_alone_us"] = probe_once()
            else:
                time.sleep(SLEEP_PROBE_S)
        for slot in range(pp):
            sync_all(grp)
            if rank == slot:
                row["probe_spin_us"] = probe_once()
            else:
                torch.cuda._sleep(spin_cycles)
                torch.cuda.synchronize()
        for k in mbs:
            r = timed_pipe(k)
            for key, v in zip(("recv_ms", "recv_cpu_ms", "issue_ms", "end_ms", "gpu_ms", "cpu_ms"), r):
                row[f"pipe{k}_{key}"] = [round(x, 4) for x in v] if isinstance(v, list) else round(v, 4)
        for slot in range(pp):
            sync_all(grp)
            if rank == slot:
                row["alone_issue_ms"], row["alone_end_ms"] = (round(x, 4) for x in alone())
            else:
                time.sleep(SLEEP_STAGE_S)
        row["probe_all_us"], row["probe_alone_us"], row["probe_spin_us"] = (
            round(row[k], 3) for k in ("probe_all_us", "probe_alone_us", "probe_spin_us"))
        rows.append(row)
    gathered = [None] * pp
    dist.all_gather_object(gathered, rows, group=grp)
    if rank == 0:
        n = min(len(g) for g in gathered)
        with open(path, "a") as f:
            for i in range(n):
                d = {"pp_host": "llama3-8b decode", "pp": pp, "round": rnd, "rep": i, "batch": batch,
                     "context": CTX, "layers": LAYERS}
                for key in gathered[0][i]:
                    d[key] = [gathered[r][i][key] for r in range(pp)]
                f.write(json.dumps(d, separators=(",", ":")) + "\n")
        log(f"pp_host: pp={pp} round {rnd}: {n} reps")
    dist.barrier()
    dist.destroy_process_group()


def main():
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    if list_cases([("pp_host llama3-8b decode c2048", [(r, batch) for r in range(rounds)])]):
        return
    import torch.multiprocessing as mp
    from hcommon import write_env
    path = sys.argv[1] if len(sys.argv) > 1 else "pp_host.jsonl"
    with open(path, "a") as f:
        write_env(f, "pp_host.py", seconds=seconds, batch=batch)
    world = torch.cuda.device_count()
    if world < 2:
        log("pp_host: needs 2 or more GPUs")
        return
    for rnd in range(rounds):
        mp.spawn(worker, args=(world, free_port(), path, seconds, rnd, batch), nprocs=world, join=True)


if __name__ == "__main__":
    main()

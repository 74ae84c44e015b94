"""op=collective: NCCL all_reduce / all_gather / reduce_scatter / all_to_all through
torch.distributed, one process per GPU (torch.multiprocessing), bf16, groups of 2 and 4 GPUs
(ranks 0..g-1 of one world). bytes = each rank's input buffer. Two timings per case:
  issue-max-over-ranks (issue=torch): per rep, events on each rank around the call as eager
    torch.distributed issues it (no barrier between reps, like nccl-tests); the per-rep time is
    the max over the group's ranks. Small messages carry the host's per-call cost.
  graph-replay-max-over-ranks (issue=graph): GRAPH_CALLS collectives captured back to back in one
    CUDA graph (as a decode step under CUDA graphs runs them); per replay, time / GRAPH_CALLS,
    max over ranks, median of the replays: the GPU-side time of one collective. Each collective is checked once on known values before timing.
NVLink SHARP / multicast stays off (NCCL_NVLS_ENABLE=0 etc.).
spawn / start_worker / end_worker are the one-process-per-GPU frame that tp_step.py, pp_step.py and ep_moe.py share.
Usage: coll.py OUT.jsonl [gpu counts, e.g. 2,4]   (HEADROOM_LIST_CASES=1: print the cases and exit;
the GPU counts are then the ones given, else 2,4, not cut to the GPUs visible)
"""
import datetime  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from hcommon import HELDOUT, LIST_CASES, Out, host_probe, probe_field, probe_once, QUICK, list_cases, log, stats  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp

MiB = 1 << 20
SIZES = [4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 96 << 10, 128 << 10, 192 << 10, 256 << 10, 384 << 10,
         512 << 10, 768 << 10, MiB, 3 * MiB // 2, 2 * MiB, 3 * MiB, 4 * MiB, 6 * MiB, 8 * MiB, 12 * MiB, 16 * MiB,
         32 * MiB, 48 * MiB, 64 * MiB, 128 * MiB, 256 * MiB, 512 * MiB, 1024 * MiB]
GRAPH_CALLS = 10  # collectives captured back to back in one CUDA graph (timing "graph-replay")
OPS = ["all_reduce", "all_gather", "reduce_scatter", "all_to_all"]
BUS = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n,
       "reduce_scatter": lambda n: (n - 1) / n, "all_to_all": lambda n: (n - 1) / n}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make(op, nbytes, g, grp):
    el = nbytes // 2
    inp = torch.randn(el, device="cuda", dtype=torch.bfloat16) * 1e-20  # repeated in-place all_reduce must not overflow
    if op == "all_reduce":
        return lambda: dist.all_reduce(inp, group=grp), inp, None
    if op == "all_gather":
        out = torch.empty(el * g, device="cuda", dtype=torch.bfloat16)
        return lambda: dist.all_gather_into_tensor(out, inp, group=grp), inp, out
    if op == "reduce_scatter":
        out = torch.empty(el // g, device="cuda", dtype=torch.bfloat16)
        return lambda: dist.reduce_scatter_tensor(out, inp, group=grp), inp, out
    out = torch.empty(el, device="cuda", dtype=torch.bfloat16)
    return lambda: dist.all_to_all_single(out, inp, group=grp), inp, out


def check(op, g, grp, rank):
    el = 4096 * g
    f, inp, out = make(op, el * 2, g, grp)
    chunk = el // g
    idx = torch.arange(el, device="cuda") // chunk
    if op == "all_reduce":
        inp.fill_(rank + 1)
        f()
        ok = bool((inp == g * (g + 1) / 2).all())
    elif op == "all_gather":
        inp.fill_(rank)
        f()
        ok = bool((out == (torch.arange(el * g, device="cuda") // el).to(out.dtype)).all())
    elif op == "reduce_scatter":
        inp.copy_((rank + idx).to(inp.dtype))
        f()
        ok = bool((out == g * (g - 1) / 2 + g * rank).all())
    else:
        inp.copy_((rank * g + idx).to(inp.dtype))
        f()
        ok = bool((out == (idx * g + rank).to(out.dtype)).all())
    torch.cuda.synchronize()
    return ok


def init_worker(rank, world, port, counts):
    """one rank of a world of `world` processes (one per GPU); returns {g: group of ranks 0..g-1}"""
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=600), device_id=torch.device("cuda", rank))
    return {g: dist.new_group(list(range(g))) for g in counts}


def start_worker(rank, world, port, counts, path, script):
    """init_worker, then the host probe on every rank at once (the host as loaded during the run)
    and rank 0's output file. Returns (groups, out or None, start time)."""
    groups = init_worker(rank, world, port, counts)
    probe = host_probe()
    out = Out(path, script, probe) if rank == 0 else None
    return groups, out, time.time()


def end_worker(rank, out, name, t0):
    if rank == 0:
        log(f"{name}: wrote {out.n} lines in {time.time() - t0:.1f} s")
    dist.barrier()
    dist.destroy_process_group()


def time_over_ranks(f, warmup, n_est, min_reps, max_reps, target_s, grp, probes=None, bracket=None):
    """f() timed per rep with events around each call as issued: `warmup` calls, an estimate from
    n_est calls, then reps (min_reps..max_reps, about target_s). grp not None: the estimate and each
    rep's time are the max over the group's ranks. Returns the per-rep times (ms, a CUDA tensor).
    probes (a list): hcommon.probe_once() on every rank before every rep, then a barrier (the probe
    ends at different times on different ranks), so each rep starts from an idle GPU with the ranks
    aligned: for steps (milliseconds), not single calls; the per-rep max over ranks is appended.
    bracket (a list): one probe before and one after the reps, which run back to back as without
    it (for single eager calls, which a per-rep barrier would change); the max over ranks of each
    is appended."""
    for _ in range(warmup):
        f()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(n_est):
        f()
    e.record()
    torch.cuda.synchronize()
    est = torch.tensor([s.elapsed_time(e) / n_est], device="cuda")
    if grp is not None:
        dist.all_reduce(est, op=dist.ReduceOp.MAX, group=grp)
    reps = int(max(min_reps, min(max_reps, target_s / max(est.item() * 1e-3, 1e-6))))
    ss = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ee = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    pr = []
    if bracket is not None:
        pr.append(probe_once())
        if grp is not None:
            dist.barrier(group=grp)
    for r in range(reps):
        if probes is not None:
            pr.append(probe_once())
            if grp is not None:
                dist.barrier(group=grp)
        ss[r].record()
        f()
        ee[r].record()
    torch.cuda.synchronize()
    t = torch.tensor([ss[r].elapsed_time(ee[r]) for r in range(reps)], device="cuda")
    if grp is not None:
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=grp)
    if bracket is not None:
        pr.append(probe_once())
    if pr:
        p = torch.tensor(pr, device="cuda", dtype=torch.float64)
        if grp is not None:
            dist.all_reduce(p, op=dist.ReduceOp.MAX, group=grp)
        (probes if probes is not None else bracket).extend(p.tolist())
    return t


def graph_over_ranks(f, calls, replays, grp):
    """f() captured `calls` times in one CUDA graph; returns per-replay time / calls (ms, a CUDA
    tensor), each the max over the group's ranks."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            f()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, capture_error_mode="thread_local"):
        for _ in range(calls):
            f()
    g.replay()
    torch.cuda.synchronize()
    dist.barrier(group=grp)
    ss = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
    ee = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
    for r in range(replays):
        ss[r].record()
        g.replay()
        ee[r].record()
    torch.cuda.synchronize()
    t = torch.tensor([ss[r].elapsed_time(ee[r]) / calls for r in range(replays)], device="cuda")
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=grp)
    del g
    return t


def gpu_counts(default, n=None):
    """GPU counts from argv[2] (e.g. 2,4), else default; those above n (GPUs visible) dropped"""
    counts = [int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2 else list(default)
    return [c for c in counts if n is None or c <= n]


def spawn(worker, name, default_counts, what):
    """main(): worker(rank, world, port, OUT.jsonl (argv[1], else NAME.jsonl), counts) on one process
    per GPU, world = the largest count"""
    path = sys.argv[1] if len(sys.argv) > 1 else f"{name}.jsonl"
    n = torch.cuda.device_count()
    counts = gpu_counts(default_counts, n)
    if not counts:
        log(f"{name}: not enough GPUs")
        return
    world = max(counts)
    log(f"{name}: {n} GPUs visible, world {world}, {what} {counts}")
    mp.spawn(worker, args=(world, free_port(), path, counts), nprocs=world, join=True)


def sizes():
    if HELDOUT:
        return [12 << 10, 48 << 10, 160 << 10, 640 << 10, 5 * MiB // 2, 5 * MiB, 10 * MiB, 24 * MiB, 96 * MiB,
                384 * MiB] if not QUICK else [12 << 10, 10 * MiB]
    return SIZES if not QUICK else [8 << 10, 4 * MiB, 64 * MiB]


def cases():
    """[(nbytes, op)] each group of GPUs runs"""
    return [(nbytes, op) for nbytes in sizes() for op in OPS]


def worker(rank, world, port, path, counts):
    groups, out, t0 = start_worker(rank, world, port, counts, path, "coll.py")
    for g in counts:
        grp = groups[g]
        if rank < g:
            for op in OPS:
                ok = check(op, g, grp, rank)
                okt = torch.tensor([1 if ok else 0], device="cuda")
                dist.all_reduce(okt, op=dist.ReduceOp.MIN, group=grp)
                if rank == 0:
                    log(f"coll: check {op} on {g} GPUs: {'ok' if okt.item() else 'FAILED'}")
            for nbytes, op in cases():
                try:
                    f, inp, o = make(op, nbytes, g, grp)
                    probes = []
                    t = time_over_ranks(f, 3, 3, 8, 60, 0.1, grp, bracket=probes)
                    calls = GRAPH_CALLS if nbytes <= 64 * MiB else 3
                    tg = graph_over_ranks(f, calls, 9 if nbytes <= 256 * MiB else 5, grp)
                    if rank == 0:
                        for times, timing, issue in ((t, "issue-max-over-ranks", "torch"),
                                                     (tg, "graph-replay-max-over-ranks", "graph")):
                            st = stats(times.tolist())
                            ms = st["ms"]
                            moved = nbytes * g if op == "all_gather" else nbytes
                            alg = moved / (ms * 1e-3) / 1e9
                            d = {"op": "collective", "collective": op, "gpus": g, "bytes": nbytes, "dtype": "bf16"}
                            d.update(st)
                            d.update(impl="nccl", timing=timing, issue=issue, algbw_gbs=round(alg, 3),
                                     busbw_gbs=round(alg * BUS[op](g), 3) if g > 1 else None,
                                     nccl=".".join(map(str, torch.cuda.nccl.version())))
                            if issue == "graph":
                                d["graph_calls"] = calls
                            else:
                                d["host_probe_us"] = probe_field(probes)
                            out.emit(d)
                    del f, inp, o
                except Exception as ex:  # noqa
                    log(f"coll: rank {rank} {op} {nbytes} on {g} failed: {type(ex).__name__}: {ex}")
            torch.cuda.empty_cache()
        dist.barrier()
    end_worker(rank, out, "coll", t0)


def main():
    if list_cases([(f"coll gpus={g}", cases()) for g in gpu_counts((2, 4))]):
        return
    spawn(worker, "coll", (2, 4), "groups")


if __name__ == "__main__":
    main()

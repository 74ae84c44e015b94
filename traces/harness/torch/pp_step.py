"""op=model_step with pp>1: the reference step (model.py) split into `pp` pipeline stages of
layers/pp consecutive layers each, one process per GPU, the batch cut into `microbatches`
micro-batches that flow through the stages GPipe-style (forward only: stage r takes micro-batch
i from stage r-1 by NCCL recv, runs its layers, sends the hidden states to stage r+1 by NCCL send;
the last stage runs the final norm and the lm-head). Each micro-batch has its own KV cache.
Eager PyTorch (no CUDA graph). Timing host-wall-max-over-ranks: per rep, a barrier, then host
wall time from the start until the rank's GPU work is done; the rep's time is the max over ranks.
Every stage holds the same random layers (one seed), so the last stage can check a 1-layer-per-
stage pipeline against its own layer applied pp times.
Usage: pp_step.py OUT.jsonl [pp list, e.g. 2,4]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import time  # noqa: E402

from coll import end_worker, start_worker, gpu_counts, spawn  # noqa: E402
from hcommon import HELDOUT, LIST_CASES, host_probe, probe_field, probe_once, QUICK, free_cuda, list_cases, load_cfg, log, rel_err, stats  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist

    from tp_step import build

    BF = torch.bfloat16


def models():
    """[(model, layers)]: the whole models (70B in bf16 fits on 2 or 4 H200s as a pipeline)"""
    return [("llama3-8b", 32), ("llama3-70b", 80)] if not QUICK else [("llama3-8b", 4)]


def plan():
    """[(phase, batch, seq or context, microbatches)]"""
    if QUICK:
        return [("decode", 4, 256, 1), ("decode", 4, 256, 2), ("prefill", 2, 128, 2)]
    if HELDOUT:
        return [("decode", 16, 4096, 1), ("decode", 32, 1024, 2), ("decode", 128, 512, 4),
                ("prefill", 2, 1024, 1), ("prefill", 8, 256, 2), ("prefill", 8, 256, 8)]
    c = [("decode", 8, 2048, mb) for mb in (1, 2, 4)]
    c += [("decode", 64, 2048, mb) for mb in (1, 4)]
    c += [("prefill", 4, 512, mb) for mb in (1, 2, 4)]
    return c


def run_pipeline(m, caches, xs, bufs, phase, n, r, pp, grp):
    """one step: every micro-batch through this rank's stage; returns the last stage's outputs"""
    outs = []
    for i, x in enumerate(xs):
        m.kc, m.vc = caches[i]
        if r > 0:
            dist.recv(bufs[i], src=r - 1, group=grp)
            x = bufs[i]
        y = m.forward(x, phase, n, head=(r == pp - 1))
        if r < pp - 1:
            dist.send(y.contiguous(), dst=r + 1, group=grp)
        else:
            outs.append(y)
    return outs


def make_inputs(m, cfg, phase, b, n, mb):
    T = n + 1 if phase == "decode" else n
    s = 1 if phase == "decode" else n
    per = b // mb
    caches = []
    for _ in range(mb):
        m.kc = m.vc = None
        m.alloc_cache(per, T)
        caches.append((m.kc, m.vc))
    torch.manual_seed(2000 + b + n)
    xs = [torch.randn(per, s, cfg["hidden"], device="cuda", dtype=BF) for _ in range(mb)]
    bufs = [torch.empty(per, s, cfg["hidden"], device="cuda", dtype=BF) for _ in range(mb)]
    return caches, xs, bufs


def check(rank, pp, grp):
    """1 layer per stage, prefill: the pipeline's output against the last stage's own layer applied
    pp times (all stages hold the same layer)"""
    cfg = load_cfg("llama3-8b")
    m = build(cfg, 1, 1, 0, None, max_pos=1024)
    caches, xs, bufs = make_inputs(m, cfg, "prefill", 2, 64, 1)
    out = run_pipeline(m, caches, xs, bufs, "prefill", 64, rank, pp, grp)
    ok = torch.tensor([1], device="cuda")
    e = 0.0
    if rank == pp - 1:
        x = xs[0]
        m.kc, m.vc = caches[0]
        for _ in range(pp - 1):
            x = m.forward(x, "prefill", 64, head=False)
        ref = m.forward(x, "prefill", 64, head=True)
        e = rel_err(out[0], ref)
        ok[0] = 1 if e < 2e-2 else 0
    dist.all_reduce(ok, op=dist.ReduceOp.MIN, group=grp)
    if rank == pp - 1:
        log(f"pp_step: pp={pp} 1-layer-per-stage pipeline vs its layer applied {pp} times: rel err {e:.2e}")
    return bool(ok.item())


def time_pipeline(f, reps, grp, probes):
    """per rep: probe_once() on every rank, then f() timed on the host; returns per-rep times (ms,
    max over ranks) and appends each rep's probe (max over ranks) to probes."""
    for _ in range(2):
        f()
    torch.cuda.synchronize()
    times, pr = [], []
    for _ in range(reps):
        pr.append(probe_once())
        dist.barrier(group=grp)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        f()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    t = torch.tensor(times, device="cuda")
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=grp)
    p = torch.tensor(pr, device="cuda", dtype=torch.float64)
    dist.all_reduce(p, op=dist.ReduceOp.MAX, group=grp)
    probes.extend(p.tolist())
    return t


def worker(rank, world, port, path, pps):
    groups, out, t0 = start_worker(rank, world, port, pps, path, "pp_step.py")
    for pp in pps:
        grp = groups[pp]
        if rank < pp:
            try:
                ok = check(rank, pp, grp)
                if rank == 0:
                    log(f"pp_step: pp={pp} check {'ok' if ok else 'FAILED'}")
            except Exception as ex:  # noqa
                log(f"pp_step: rank {rank} pp={pp} check failed: {type(ex).__name__}: {ex}")
            free_cuda()
            for name, L in models():
                if L % pp:
                    continue
                try:
                    cfg = load_cfg(name)
                    m = build(cfg, L // pp, 1, 0, None)
                except Exception as ex:  # noqa
                    log(f"pp_step: rank {rank} build {name} pp={pp} failed: {ex}")
                    continue
                probe = host_probe()  # the group's ranks at once: the host's speed now, and a warm-up
                if rank == 0:
                    out.host_op_us = probe
                for c in plan():
                    phase, b, n, mb = c
                    try:
                        caches, xs, bufs = make_inputs(m, cfg, phase, b, n, mb)
                        f = lambda: run_pipeline(m, caches, xs, bufs, phase, n, rank, pp, grp)  # noqa
                        probes = []
                        t = time_pipeline(f, 4 if phase == "prefill" else 8, grp, probes)
                        if rank == 0:
                            d = {"op": "model_step", "model": name, "phase": phase, "batch": b}
                            d["seq" if phase == "prefill" else "context"] = n
                            d.update(tp=1, pp=pp, microbatches=mb, layers=L, cuda_graph=False, dtype="bf16")
                            d.update(stats(t.tolist()))
                            d.update(impl="torch-eager-gpipe", attn=f"sdpa-flash+{m.mode}",
                                     timing="host-wall-max-over-ranks", p2p="nccl send/recv (torch.distributed)",
                                     lm_head="last stage only", host_probe_us=probe_field(probes))
                            out.emit(d)
                        del caches, xs, bufs, f
                    except Exception as ex:  # noqa
                        log(f"pp_step: rank {rank} {name} pp={pp} {c} failed: {type(ex).__name__}: {ex}")
                    m.kc = m.vc = None
                    free_cuda()
                del m
                free_cuda()
        dist.barrier()
    end_worker(rank, out, "pp_step", t0)


def main():
    if list_cases([(f"pp_step pp={pp} {name} layers={L}", plan()) for pp in gpu_counts((2, 4))
                   for name, L in models()]):
        return
    spawn(worker, "pp_step", (2, 4), "pp")


if __name__ == "__main__":
    main()

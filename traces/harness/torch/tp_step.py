"""op=model_step with tp>1: the reference step (model.py) under Megatron tensor parallelism,
one process per GPU, all-reduce (NCCL, through torch.distributed) after o and after down.
Weights: each rank generates the full random layer from the same seed and keeps its shard, so
a 1-layer TP step can be checked against the unsplit step on rank 0. lm-head not split.
Eager and CUDA graph (NCCL captured in the graph). Per rep, events on each rank around the
step as issued; the per-rep time is the max over ranks. Process frame shared with coll.py.
Usage: tp_step.py OUT.jsonl [tp list, e.g. 1,2,4]   (HARNESS_HELDOUT=1: the held-out shapes; HEADROOM_LIST_CASES=1: print the cases and
exit; the tp list is then the one given, else 1,2,4, not cut to the GPUs visible)
"""
from coll import end_worker, start_worker, gpu_counts, spawn, time_over_ranks  # noqa: E402
from hcommon import HELDOUT, LIST_CASES, host_probe, probe_field, QUICK, free_cuda, list_cases, load_cfg, log, rel_err, stats  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist

    from model import Model, distributed_step

    BF = torch.bfloat16


def gen_layer(cfg, gen):
    H, d, h, kv, I = cfg["hidden"], cfg["head_dim"], cfg["heads"], cfg["kv_heads"], cfg["inter"]

    def w(o, i):
        return torch.empty(o, i, device="cuda", dtype=BF).normal_(0, i ** -0.5, generator=gen)

    def n():
        return torch.empty(H, device="cuda", dtype=BF).normal_(1.0, 0.1, generator=gen)
    return dict(ln1=n(), wqkv=w((h + 2 * kv) * d, H), wo=w(H, h * d), ln2=n(), wgu=w(2 * I, H), wd=w(H, I))


def shard(full, cfg, tp, r):
    if tp == 1:
        return full
    d, h, kv, I = cfg["head_dim"], cfg["heads"], cfg["kv_heads"], cfg["inter"]
    hq, hk, Il = h // tp, kv // tp, I // tp
    q, k, v = full["wqkv"].split([h * d, kv * d, kv * d])
    wqkv = torch.cat([q[r * hq * d:(r + 1) * hq * d], k[r * hk * d:(r + 1) * hk * d], v[r * hk * d:(r + 1) * hk * d]])
    wo = full["wo"][:, r * hq * d:(r + 1) * hq * d].contiguous()
    gt, up = full["wgu"].split([I, I])
    wgu = torch.cat([gt[r * Il:(r + 1) * Il], up[r * Il:(r + 1) * Il]])
    wd = full["wd"][:, r * Il:(r + 1) * Il].contiguous()
    return dict(ln1=full["ln1"], wqkv=wqkv, wo=wo, ln2=full["ln2"], wgu=wgu, wd=wd)


def build(cfg, L, tp, rank, group, max_pos=16384):
    m = Model(cfg, L, tp, group if tp > 1 else None, max_pos=max_pos, init=False)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(4321)
    for _ in range(L):
        full = gen_layer(cfg, gen)
        m.layers.append(shard(full, cfg, tp, rank))
        del full
    m.norm = torch.empty(cfg["hidden"], device="cuda", dtype=BF).normal_(1.0, 0.1, generator=gen)
    m.lm_head = torch.empty(cfg["vocab"], cfg["hidden"], device="cuda", dtype=BF).normal_(
        0, cfg["hidden"] ** -0.5, generator=gen)
    torch.cuda.empty_cache()
    return m


def plan(name):
    if QUICK:
        return [("decode", 2, 512, False), ("decode", 2, 512, True), ("prefill", 1, 256, False)]
    if HELDOUT:  # shapes absent from the committed traces (HARNESS_HELDOUT=1)
        return [("decode", 16, 4096, False), ("decode", 16, 4096, True), ("decode", 32, 1024, False),
                ("decode", 32, 1024, True), ("decode", 2, 8192, False), ("prefill", 2, 1024, False)]
    c = []
    for b in (1, 8, 64):
        for gph in (False, True):
            c.append(("decode", b, 2048, gph))
    for gph in (False, True):
        c.append(("decode", 8, 8192, gph))
    c.append(("prefill", 1, 2048, False))
    return c


def models():
    """[(model, layers)]"""
    return [("llama3-8b", 32), ("llama3-70b", 16)] if not QUICK else [("llama3-8b", 2)]


def worker(rank, world, port, path, tps):
    groups, out, t0 = start_worker(rank, world, port, tps, path, "tp_step.py")
    for tp in tps:
        grp = groups[tp]
        if rank < tp:
            # ---- correctness: 1-layer TP decode vs the unsplit layer on each rank
            try:
                cfg = load_cfg("llama3-8b")
                mt = build(cfg, 1, tp, rank, grp, max_pos=1024)
                mf = build(cfg, 1, 1, 0, None, max_pos=1024)
                b, n = 2, 64
                torch.manual_seed(99)
                x = torch.randn(b, 1, cfg["hidden"], device="cuda", dtype=BF)
                mf.alloc_cache(b, n + 1)
                kvh = cfg["kv_heads"] // tp
                mt.alloc_cache(b, n + 1)
                mt.kc[0].copy_(mf.kc[0][:, rank * kvh:(rank + 1) * kvh])
                mt.vc[0].copy_(mf.vc[0][:, rank * kvh:(rank + 1) * kvh])
                e = rel_err(mt.forward(x, "decode", n), mf.forward(x, "decode", n))
                if rank == 0:
                    log(f"tp_step: tp={tp} 1-layer decode vs unsplit rel err {e:.2e} {'ok' if e < 2e-2 else 'FAILED'}")
                del mt, mf
            except Exception as ex:  # noqa
                log(f"tp_step: rank {rank} tp={tp} check failed: {type(ex).__name__}: {ex}")
            for name, L in models():
                try:
                    cfg = load_cfg(name)
                    m = build(cfg, L, tp, rank, grp)
                except Exception as ex:  # noqa
                    log(f"tp_step: rank {rank} build {name} tp={tp} failed: {ex}")
                    continue
                probe = host_probe()  # the group's ranks at once: the host's speed now, and a warm-up
                if rank == 0:
                    out.host_op_us = probe
                for c in plan(name):
                    phase, b, n, graph = c
                    try:
                        T = n + 1 if phase == "decode" else n
                        s = 1 if phase == "decode" else n
                        m.alloc_cache(b, T)
                        torch.manual_seed(1000 + b + n)
                        x = torch.randn(b, s, cfg["hidden"], device="cuda", dtype=BF)
                        f, g = distributed_step(m, x, phase, n, graph)
                        probes = None if graph else []
                        t = time_over_ranks(f, 2 if graph or phase == "prefill" else 20, 1, 5 if phase == "prefill" else 10, 40, 0.3,
                                            grp if tp > 1 else None, probes)
                        if rank == 0:
                            d = {"op": "model_step", "model": name, "phase": phase, "batch": b}
                            d["seq" if phase == "prefill" else "context"] = n
                            d.update(tp=tp, layers=L, cuda_graph=graph, dtype="bf16")
                            d.update(stats(t.tolist()))
                            d.update(impl="torch-cudagraph" if graph else "torch-eager", attn=f"sdpa-flash+{m.mode}",
                                     timing="issue-max-over-ranks", allreduce="nccl (torch.distributed)",
                                     lm_head="replicated (not split)")
                            if probes:
                                d["host_probe_us"] = probe_field(probes)
                            out.emit(d)
                        if graph:
                            del g
                    except Exception as ex:  # noqa
                        log(f"tp_step: rank {rank} {name} tp={tp} {c} failed: {type(ex).__name__}: {ex}")
                del m
                free_cuda()
        dist.barrier()
    end_worker(rank, out, "tp_step", t0)


def main():
    if list_cases([(f"tp_step tp={tp} {name} layers={L}", plan(name)) for tp in gpu_counts((1, 2, 4))
                   for name, L in models()]):
        return
    spawn(worker, "tp_step", (1, 2, 4), "tp")


if __name__ == "__main__":
    main()

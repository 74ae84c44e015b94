"""op=model_step, DeepSeek-V3 under tensor parallelism: mla_step.py's first 5 layers (3 dense, 2
MoE; bf16) split over tp GPUs, one process per GPU, as headroom's step graph lays it out:
  attention: the 128 heads split (q_b, kv_b and o_proj by heads), the down-projections q_a and
             kv_a and the latent cache replicated (every GPU caches the whole latent of its
             sequences), the absorbed decode kernel on the GPU's heads, all-reduce after o_proj;
  FFN:       dense layers by columns/rows (gate-up, down), MoE layers with every expert's width
             split (each GPU holds all 256 experts at 2048/tp, and the shared expert likewise),
             the router replicated, one all-reduce after the routed and shared experts' sum.
Weights: every rank draws the full layer from the same seed and keeps its shard, so a 1-layer step
is checked against the unsplit layer on each rank. The decode kernel is tuned per case on the
GPU's heads (mla_step.tune). Eager and CUDA graph (NCCL captured); per rep, events on each rank
around the step as issued, the max over ranks (as tp_step.py).
Usage: mla_tp_step.py OUT.jsonl [tp list, e.g. 2,4]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
# coll.py turns NVLink SHARP / multicast off (NCCL_NVLS_ENABLE=0 etc.) as it is imported, before torch
from coll import end_worker, gpu_counts, spawn, start_worker, time_over_ranks
from hcommon import LIST_CASES, QUICK, free_cuda, host_probe, list_cases, log, rel_err, stats

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist

    from mla_step import LAYERS, DeepSeek, decode_latent, load_yaml
    from model import distributed_step


def plan():
    """(phase, batch, context or seq, cuda_graph)"""
    if QUICK:
        return [("decode", 4, 512, False), ("decode", 4, 512, True)]
    c = [("decode", b, n, g) for b, n in ((1, 1024), (32, 1024), (32, 8192), (128, 4096)) for g in (False, True)]
    return c + [("prefill", 1, 2048, False)]


def shard(full, m, r):
    """GPU r's part of an unsplit layer (m: the GPU's DeepSeek, for the widths)"""
    tp = m.tp
    if tp == 1:
        return full
    nh = m.nh  # heads per GPU
    qk, kvw, dv = m.dn + m.dr, m.dn + m.dv, m.dv
    d = {k: full[k] for k in ("ln1", "wqa", "qa_ln", "wkva", "kva_ln", "ln2")}
    d["wqb"] = full["wqb"][r * nh * qk:(r + 1) * nh * qk].contiguous()
    d["wkvb"] = full["wkvb"][r * nh * kvw:(r + 1) * nh * kvw].contiguous()
    d["wo"] = full["wo"][:, r * nh * dv:(r + 1) * nh * dv].contiguous()

    def cols(w, width):  # gate-up [.., 2 width, H]: this GPU's rows of the gate and of the up half
        n = width // tp
        gt, up = w[..., :width, :], w[..., width:, :]
        return torch.cat([gt[..., r * n:(r + 1) * n, :], up[..., r * n:(r + 1) * n, :]], dim=-2).contiguous()

    def rows(w, width):  # down [.., H, width]: this GPU's columns
        n = width // tp
        return w[..., r * n:(r + 1) * n].contiguous()
    if "wr" in full:
        d["wr"] = full["wr"]
        d["wgu"], d["wd"] = cols(full["wgu"], m.Ie), rows(full["wd"], m.Ie)
        d["sgu"], d["sd"] = cols(full["sgu"], m.Ie * m.S), rows(full["sd"], m.Ie * m.S)
    else:
        d["wgu"], d["wd"] = cols(full["wgu"], m.I), rows(full["wd"], m.I)
    return d


def build(y, L, tp, rank, group, dense=None, max_pos=16384):
    """this GPU's model: every rank draws the full layers from one seed and keeps its shard"""
    m = DeepSeek(y, L, init=False, max_pos=max_pos, tp=tp, group=group if tp > 1 else None)
    full_model = DeepSeek(y, 1, init=False, max_pos=2)  # the unsplit widths, for drawing
    if dense is not None:
        m.dense = full_model.dense = dense
    g = torch.Generator(device="cuda")
    g.manual_seed(4321)
    for l in range(L):
        full = full_model.gen_layer(l, g)
        m.layers.append(shard(full, m, rank))
        del full
    m.gen_head(g)
    m._absorb()
    torch.cuda.empty_cache()
    return m


def check(y, tp, rank, grp):
    """1 MoE layer: the split decode step against the unsplit one, on every rank"""
    mt = build(y, 1, tp, rank, grp, dense=0, max_pos=1024)
    mf = build(y, 1, 1, 0, None, dense=0, max_pos=1024)
    b, n = 2, 64
    torch.manual_seed(99)
    x = torch.randn(b, 1, mf.Hd, device="cuda", dtype=torch.bfloat16)
    mf.alloc_cache(b, n + 1)
    mt.alloc_cache(b, n + 1)
    mt.cache[0].copy_(mf.cache[0])
    mf.latent = decode_latent(b, n, mf.cache, mf.nh)
    mt.latent = decode_latent(b, n, mt.cache, mt.nh)
    e = rel_err(mt.forward(x, "decode", n), mf.forward(x, "decode", n))
    del mt, mf
    free_cuda()
    return e


def worker(rank, world, port, path, tps):
    groups, out, t0 = start_worker(rank, world, port, tps, path, "mla_tp_step.py")
    y = load_yaml("deepseek-v3")
    for tp in tps:
        grp = groups[tp]
        if rank < tp:
            try:
                e = check(y, tp, rank, grp)
                if rank == 0:
                    log(f"mla_tp_step: tp={tp} 1-layer MoE decode vs unsplit rel err {e:.2e} {'ok' if e < 3e-2 else 'FAILED'}")
            except Exception as ex:  # noqa
                log(f"mla_tp_step: rank {rank} tp={tp} check failed: {type(ex).__name__}: {ex}")
            m = build(y, LAYERS, tp, rank, grp)
            probe = host_probe()
            if rank == 0:
                out.host_op_us = probe
                log(f"mla_tp_step: tp={tp} host probe {probe} us")
            for c in plan():
                phase, b, n, graph = c
                try:
                    T = n + 1 if phase == "decode" else n
                    s = 1 if phase == "decode" else n
                    m.alloc_cache(b, T)
                    m.latent = decode_latent(b, n, m.cache, m.nh) if phase == "decode" else None
                    torch.manual_seed(1000 + b + n)
                    x = torch.randn(b, s, m.Hd, device="cuda", dtype=torch.bfloat16)
                    f, g = distributed_step(m, x, phase, n, graph)
                    t = time_over_ranks(f, 2 if graph or phase == "prefill" else 20, 1, 5 if phase == "prefill" else 10,
                                        40, 0.3, grp)
                    if rank == 0:
                        d = {"op": "model_step", "model": "deepseek-v3", "phase": phase, "batch": b}
                        d["seq" if phase == "prefill" else "context"] = n
                        d.update(tp=tp, layers=LAYERS, cuda_graph=graph, dtype="bf16", weight_dtype="bf16")
                        d.update(stats(t.tolist()))
                        d.update(impl="torch-cudagraph" if graph else "torch-eager", timing="issue-max-over-ranks",
                                 allreduce="nccl (torch.distributed)", lm_head="replicated (not split)")
                        if phase == "decode":
                            bh, bn, warps, stages = m.latent.cfg
                            d.update(attn="triton-mla-splitkv", splits=m.latent.nsplit, head_block=bh, key_block=bn,
                                     warps=warps, stages=stages)
                        else:
                            d["attn"] = f"sdpa-{m.backend}"
                        out.emit(d)
                    if graph:
                        del g
                except Exception as ex:  # noqa
                    log(f"mla_tp_step: rank {rank} tp={tp} {c} failed: {type(ex).__name__}: {ex}")
            del m
            free_cuda()
        dist.barrier()
    end_worker(rank, out, "mla_tp_step", t0)


def main():
    if list_cases([(f"mla_tp_step tp={tp}", plan()) for tp in gpu_counts((2, 4))]):
        return
    spawn(worker, "mla_tp_step", (2, 4), "tp")


if __name__ == "__main__":
    main()

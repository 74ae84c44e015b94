"""op=model_step with ep>1: a mixture-of-experts model step (model.py) with Megatron tensor
parallelism for attention and expert parallelism for the experts, tp = ep GPUs, one process per
GPU, as headroom's step graph lays it out (src/graph/step_graph.cpp expert_parallel_moe):
  attention: heads split over the GPUs, all-reduce after o (as tp_step.py);
  MoE layer: the router runs on every token on every GPU; GPU r then takes its share of the tokens
             (rows r*S .. r*S+S-1, S = ceil(tokens / ep)) and dispatches their top_k copies with
             all_to_all_single (the expert ids, then the rows), runs its experts/ep whole experts
             (torch._grouped_mm, as moe.py's 'grouped'), returns the rows (all_to_all_single),
             weights and adds them into its share (index_add_), and all_gather_into_tensor puts
             the shares back together on every GPU. No all-reduce after the experts.
Routing is balanced, as ep_moe.py's: copy j of token t goes to expert perm[(t*top_k + j) mod E],
the router's own top-k is computed and not used (its kernels run), so every GPU's split sizes are
known before timing and the timed step has no host synchronization (capturable in a CUDA graph).
Records carry routing "balanced". Weights: each rank generates the full random layer from the
same seed and keeps its attention shard and its experts; a 1-layer step is checked against the
unsplit MoE layer (moe.py reference) on the same routing. Eager and CUDA graph, max over ranks.
HARNESS_HELDOUT=1: decode at other batches and contexts (2, 4, 16, 32; 1024 and 4096).
HARNESS_EP_PROFILE=1: a profile instead (not op records): the CUDA-graph decode steps at batch 1
and 8, every rank's kernels under torch.profiler ({"ep_step_kernels": ...} lines).
Usage: ep_step.py OUT.jsonl [ep list, e.g. 2,4]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

import sys
import time

# coll.py turns NVLink SHARP / multicast off (NCCL_NVLS_ENABLE=0 etc.) as it is imported, before torch
from coll import gpu_counts, spawn, start_worker, time_over_ranks
from hcommon import HELDOUT, LIST_CASES, QUICK, free_cuda, host_probe, kernel_events, list_cases, load_cfg, log, rel_err, stats

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from model import Model, distributed_step
    from moe import GMM, reference

    BF = torch.bfloat16

MODELS = [("mixtral-8x7b", 8)]  # (model, layers)
PROFILE = os.environ.get("HARNESS_EP_PROFILE", "0") == "1"


def plan():
    """[(phase, batch, context or seq, cuda_graph)]"""
    if QUICK:
        return [("decode", 8, 512, False), ("decode", 8, 512, True)]
    if PROFILE:
        return [("decode", 1, 2048, True), ("decode", 8, 2048, True)]
    if HELDOUT:  # other batches and contexts, for a set measured after the model's EP fixes
        return [("decode", b, n, g) for b, n in ((2, 4096), (4, 1024), (16, 4096), (32, 1024)) for g in (False, True)]
    c = []
    for b in (1, 8, 64):
        for gph in (False, True):
            c.append(("decode", b, 2048, gph))
    for gph in (False, True):
        c.append(("prefill", 1, 512, gph))
    return c


def gen_layer(cfg, gen):
    """the full layer, the same on every rank (same seed)"""
    H, d, h, kv = cfg["hidden"], cfg["head_dim"], cfg["heads"], cfg["kv_heads"]
    E, Ie = cfg["experts"], cfg["expert_inter"]

    def w(*shape):
        return torch.empty(*shape, device="cuda", dtype=BF).normal_(0, shape[-1] ** -0.5, generator=gen)

    def n():
        return torch.empty(H, device="cuda", dtype=BF).normal_(1.0, 0.1, generator=gen)
    return dict(ln1=n(), wqkv=w((h + 2 * kv) * d, H), wo=w(H, h * d), ln2=n(), wr=w(E, H), wgu=w(E, 2 * Ie, H),
                wd=w(E, H, Ie))


def shard(full, cfg, ep, r):
    d, h, kv = cfg["head_dim"], cfg["heads"], cfg["kv_heads"]
    hq, hk, L = h // ep, kv // ep, cfg["experts"] // ep
    q, k, v = full["wqkv"].split([h * d, kv * d, kv * d])
    wqkv = torch.cat([q[r * hq * d:(r + 1) * hq * d], k[r * hk * d:(r + 1) * hk * d], v[r * hk * d:(r + 1) * hk * d]])
    wo = full["wo"][:, r * hq * d:(r + 1) * hq * d].contiguous()
    return dict(ln1=full["ln1"], wqkv=wqkv, wo=wo, ln2=full["ln2"], wr=full["wr"],
                wgu=full["wgu"][r * L:(r + 1) * L].clone(), wd=full["wd"][r * L:(r + 1) * L].clone())


def build(cfg, layers, ep, rank, grp, keep_full=False, max_pos=8448):
    m = Model(cfg, layers, ep, grp, max_pos=max_pos, init=False)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(4321)
    fulls = []
    for _ in range(layers):
        full = gen_layer(cfg, gen)
        m.layers.append(shard(full, cfg, ep, rank))
        if keep_full:
            fulls.append(full)
        del full
    m.norm = torch.empty(cfg["hidden"], device="cuda", dtype=BF).normal_(1.0, 0.1, generator=gen)
    m.lm_head = torch.empty(cfg["vocab"], cfg["hidden"], device="cuda", dtype=BF).normal_(
        0, cfg["hidden"] ** -0.5, generator=gen)
    torch.cuda.empty_cache()
    return m, fulls


class Routing:
    """balanced routing of this rank's share of `tokens` tokens, and the split sizes of its
    all-to-alls, exchanged once here (a host sync, before timing)"""

    def __init__(self, tokens, E, K, ep, rank, grp, seed):
        self.S = -(-tokens // ep)                     # rows per GPU (the share, padded)
        self.T = tokens
        self.mine = max(0, min(self.S, tokens - rank * self.S))  # real tokens in this rank's share
        self.K, self.L, self.E, self.ep, self.rank, self.grp = K, E // ep, E, ep, rank, grp
        gen = torch.Generator(device="cuda")
        gen.manual_seed(seed)
        perm = torch.randperm(E, device="cuda", generator=gen)
        t0 = rank * self.S
        idx = (torch.arange(self.mine * K, device="cuda") + t0 * K).view(self.mine, K) % E
        self.topi = perm[idx]
        topw = torch.rand(self.mine, K, device="cuda", generator=gen) + 0.1
        self.topw = (topw / topw.sum(-1, keepdim=True)).to(BF)
        flat = self.topi.reshape(-1)
        dest = flat // self.L
        self.order = torch.argsort(dest, stable=True)
        self.tok = self.order // K
        self.ids_send = flat[self.order].to(torch.int32).contiguous()
        self.w = self.topw.reshape(-1)[self.order].unsqueeze(-1)
        send = torch.bincount(dest, minlength=ep).to(torch.int64)
        recv = torch.empty_like(send)
        dist.all_to_all_single(recv, send, group=grp)
        self.in_splits, self.out_splits = send.tolist(), recv.tolist()
        self.received = sum(self.out_splits)

    def moe(self, x, Ld):
        """x [T, H] (every token, the same on every rank) -> the MoE output for every token"""
        H = x.shape[1]
        share = x[self.rank * self.S:self.rank * self.S + self.mine]
        send = share.index_select(0, self.tok)
        sp = dict(output_split_sizes=self.out_splits, input_split_sizes=self.in_splits, group=self.grp)
        ids = torch.empty(self.received, device=x.device, dtype=torch.int32)
        dist.all_to_all_single(ids, self.ids_send, **sp)
        recv = torch.empty(self.received, H, device=x.device, dtype=x.dtype)
        dist.all_to_all_single(recv, send, **sp)
        local = ids.long() - self.rank * self.L
        lorder = torch.argsort(local, stable=True)
        counts = torch.zeros(self.L, device=x.device, dtype=torch.int32).scatter_add_(
            0, local, torch.ones_like(local, dtype=torch.int32))
        offs = torch.cumsum(counts, 0, dtype=torch.int32)
        xs = recv.index_select(0, lorder)
        h = GMM(xs, Ld["wgu"].transpose(-2, -1), offs=offs)
        g, u = h.chunk(2, dim=-1)
        y = GMM(F.silu(g) * u, Ld["wd"].transpose(-2, -1), offs=offs)
        back = torch.empty_like(recv).index_copy_(0, lorder, y)
        ret = torch.empty_like(send)
        dist.all_to_all_single(ret, back, output_split_sizes=self.in_splits, input_split_sizes=self.out_splits,
                               group=self.grp)
        out = torch.zeros(self.S, H, device=x.device, dtype=x.dtype)
        out.index_add_(0, self.tok, ret * self.w)
        full = torch.empty(self.S * self.ep, H, device=x.device, dtype=x.dtype)
        dist.all_gather_into_tensor(full, out, group=self.grp)
        return full[:self.T]

    def all_routes(self):
        """every rank's (topi, topw), gathered: the whole batch's routing (for the check)"""
        K = self.K
        ti = torch.zeros(self.S, K, device="cuda", dtype=torch.int64)
        tw = torch.zeros(self.S, K, device="cuda", dtype=BF)
        ti[:self.mine], tw[:self.mine] = self.topi, self.topw
        gi = torch.empty(self.S * self.ep, K, device="cuda", dtype=torch.int64)
        gw = torch.empty(self.S * self.ep, K, device="cuda", dtype=BF)
        dist.all_gather_into_tensor(gi, ti, group=self.grp)
        dist.all_gather_into_tensor(gw, tw, group=self.grp)
        return gi[:self.T], gw[:self.T]


def check(cfg, ep, rank, grp):
    """1 layer: the EP MoE output for a batch of tokens against moe.py's reference on the full
    experts with the same routing"""
    m, fulls = build(cfg, 1, ep, rank, grp, keep_full=True, max_pos=256)
    T = 6
    torch.manual_seed(7)
    x = torch.randn(T, cfg["hidden"], device="cuda", dtype=BF)
    r = Routing(T, cfg["experts"], cfg["top_k"], ep, rank, grp, seed=11)
    y = r.moe(x, m.layers[0])
    ti, tw = r.all_routes()
    ref = reference(x, ti, tw, fulls[0]["wgu"], fulls[0]["wd"], T)
    e = rel_err(y, ref)
    del m, fulls
    free_cuda()
    return e


def profile_ranks(out, fn, name, ep, b, n, rank, grp):
    """every rank's kernels of one replay of the step's graph, gathered on rank 0"""
    ks = kernel_events(fn)
    t0 = ks[0]["ts"] if ks else 0

    def kind(nm):
        return "nccl" if "nccl" in nm.lower() else ("gemm" if any(x in nm for x in ("device_kernel", "nvjet", "gemm", "Gemm")) else "other")
    summ = dict(rank=rank, kernels=len(ks), kernel_us_sum=round(sum(k["us"] for k in ks), 2),
                span_us=round(ks[-1]["ts"] + ks[-1]["us"] - t0, 2) if ks else None,
                by_kind={kd: round(sum(k["us"] for k in ks if kind(k["name"]) == kd), 2) for kd in ("nccl", "gemm", "other")},
                list=[[k["name"][:70], k["grid"], k["us"], round(k["ts"] - t0, 2)] for k in ks])
    allr = [None] * ep
    dist.all_gather_object(allr, summ, group=grp)
    if rank == 0:
        out.emit({"ep_step_kernels": name, "ep": ep, "batch": b, "context": n, "cuda_graph": True, "ranks": allr})


def worker(rank, world, port, path, eps):
    groups, out, t0 = start_worker(rank, world, port, eps, path, "ep_step.py")
    for ep in eps:
        grp = groups[ep]
        if rank < ep:
            for name, L in MODELS:
                cfg = load_cfg(name)
                try:
                    e = check(cfg, ep, rank, grp)
                    if rank == 0:
                        log(f"ep_step: {name} ep={ep} 1-layer MoE vs unsplit reference rel err {e:.2e} "
                            f"{'ok' if e < 3e-2 else 'FAILED'}")
                    if not e < 3e-2:
                        raise RuntimeError(f"check failed: rel err {e}")
                    m, _ = build(cfg, L, ep, rank, grp)
                except Exception as ex:  # noqa
                    log(f"ep_step: rank {rank} {name} ep={ep} build/check failed: {type(ex).__name__}: {ex}")
                    continue
                probe = host_probe()
                if rank == 0:
                    out.host_op_us = probe
                for c in plan():
                    phase, b, n, graph = c
                    try:
                        T = n + 1 if phase == "decode" else n
                        s = 1 if phase == "decode" else n
                        m.alloc_cache(b, T)
                        route = Routing(b * s, cfg["experts"], cfg["top_k"], ep, rank, grp, seed=1000 + b + n)
                        m.moe_hook = lambda _l, hf, Ld, route=route: route.moe(hf, Ld)  # noqa: E731
                        torch.manual_seed(1000 + b + n)
                        x = torch.randn(b, s, cfg["hidden"], device="cuda", dtype=BF)
                        f, g = distributed_step(m, x, phase, n, graph)
                        if PROFILE:
                            profile_ranks(out, f, name, ep, b, n, rank, grp)
                            del g
                            m.moe_hook = None
                            continue
                        t = time_over_ranks(f, 2 if graph or phase == "prefill" else 10, 1,
                                            5 if phase == "prefill" else 10, 40, 0.3, grp)
                        r0 = torch.tensor([route.received], device="cuda")
                        dist.broadcast(r0, src=0, group=grp)
                        if rank == 0:
                            d = {"op": "model_step", "model": name, "phase": phase, "batch": b}
                            d["seq" if phase == "prefill" else "context"] = n
                            d.update(tp=ep, ep=ep, layers=L, cuda_graph=graph, dtype="bf16", routing="balanced")
                            d.update(stats(t.tolist()))
                            d.update(impl="torch-cudagraph" if graph else "torch-eager", attn=f"sdpa-flash+{m.mode}",
                                     timing="issue-max-over-ranks", moe="expert parallel: all_to_all_single dispatch/"
                                     "combine + torch._grouped_mm, all_gather of the shares", received_rank0=int(r0.item()),
                                     lm_head="replicated (not split)")
                            out.emit(d)
                        if graph:
                            del g
                        m.moe_hook = None
                    except Exception as ex:  # noqa
                        log(f"ep_step: rank {rank} {name} ep={ep} {c} failed: {type(ex).__name__}: {ex}")
                del m
                free_cuda()
        dist.barrier()
    # Every rank has passed the last barrier and rank 0 has written and flushed every line. Exit
    # without the process group's teardown: in all three runs of session 7 (ep = 2 and 4, the profile, the held-out set) the
    # processes hung after this point until the run's timeout, costing device time.
    if rank == 0:
        log(f"ep_step: wrote {out.n} lines in {time.time() - t0:.1f} s")
        out.f.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main():
    if list_cases([(f"ep_step ep={ep} {name} layers={L}", plan()) for ep in gpu_counts((2, 4)) for name, L in MODELS]):
        return
    spawn(worker, "ep_step", (2, 4), "ep")


if __name__ == "__main__":
    main()

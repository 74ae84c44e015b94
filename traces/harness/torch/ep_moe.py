"""op=moe_ffn with ep>1: an expert-parallel mixture-of-experts SwiGLU layer over `ep` GPUs, one
process per GPU. Each rank holds experts/ep whole experts and `tokens` tokens of its own; every
token goes to top_k experts. Routing is balanced ("uniform" load, exactly): copy j of token t goes
to expert perm[(t*top_k + j) mod experts] for a random permutation perm of the experts, the tokens
then shuffled, so every expert and every rank receives the same number of copies and a token's
top_k experts are distinct; or skewed (routing "zipf", moe_skew s: routing_zipf below, rank 0
the busiest). The split sizes are exchanged once before timing; the timed layer has no host
synchronization (capturable in a CUDA graph):
  dispatch: copies sorted by destination rank, all_to_all_single of the hidden states (equal
            splits: tokens*top_k/ep rows per peer) and of the expert ids (int32)
  experts:  received rows sorted by local expert, torch._grouped_mm gate-up, silu*mul, grouped
            down (as moe.py's 'grouped')
  combine:  rows unsorted, all_to_all_single back, weighted by the routing weights, index_add_
            into the token's output
Checked once per config on 2 tokens against an fp32 per-token reference of the same routing.
Timing: eager ('issue-max-over-ranks', issue torch) and inside a CUDA graph (5 layers captured
back to back, replay / 5, max over ranks; issue graph).
Usage: ep_moe.py OUT.jsonl [ep list, e.g. 2,4]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

from coll import end_worker, start_worker, gpu_counts, graph_over_ranks, spawn, time_over_ranks  # noqa: E402
from hcommon import HELDOUT, LIST_CASES, QUICK, free_cuda, list_cases, log, stats  # noqa: E402

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from moe import GMM, reference

CONFIGS = [  # name, experts, top_k, hidden, inter
    ("mixtral-8x7b", 8, 2, 4096, 14336),
    ("qwen3-30b-a3b", 128, 8, 2048, 768),
    ("deepseek-v3", 256, 8, 7168, 2048),
]
# HARNESS_MOE_SET=heldout3: held-out set 3's configs (heldout/moe_ho2.py's), at the committed token counts
CONFIGS_HELDOUT3 = [
    ("mixtral-8x22b", 8, 2, 6144, 16384),
    ("qwen2-57b-a14b", 64, 8, 3584, 2560),
    ("olmoe-1b-7b", 64, 8, 2048, 1024),
]


def configs():
    c = CONFIGS_HELDOUT3 if os.environ.get("HARNESS_MOE_SET") == "heldout3" else CONFIGS
    return c[:1] if QUICK else c


def tokens():
    if QUICK:
        return [32]
    return [96, 384, 1536, 6144] if HELDOUT else [32, 128, 512, 2048, 8192]


def skews():
    """routing skews measured besides balanced routing (Zipf exponents), at skew_tokens()"""
    return [] if QUICK else ([0.7] if HELDOUT else [0.5, 1.0])


def skew_tokens():
    return [256, 3072] if HELDOUT else [128, 2048]


def plan():
    """[(tokens per rank, skew or None for balanced)]"""
    return [(T, None) for T in tokens()] + [(T, s) for s in skews() for T in skew_tokens()]


def zipf_inclusion(w, K):
    """inclusion probabilities proportional to w, summing to K, none above 1: those that would
    exceed 1 are set to 1 and the rest share the remaining mass (as src/graph/op.cpp moe_load)"""
    p = [0.0] * len(w)
    capped = [False] * len(w)
    while True:
        free = K - sum(capped)
        sw = sum(x for x, c in zip(w, capped) if not c)
        over = False
        for i, x in enumerate(w):
            if capped[i]:
                p[i] = 1.0
                continue
            p[i] = free * x / sw
            if p[i] > 1.0:
                capped[i] = over = True
        if not over:
            return p


def routing_zipf(T, K, E, ep, skew, gen):
    """Skewed routing as headroom's moe_load models it: expert of popularity rank i is chosen with
    inclusion probability p_i proportional to (i+1)^-skew, summing to K, capped at 1 (zipf_inclusion), exactly (Madow's
    systematic sampling: points u, u+1, ..., u+K-1 on the cumulative p, so a token's K experts are
    distinct), and sits round-robin over the GPUs (rank i on GPU i mod ep)."""
    w = [(i + 1) ** -skew for i in range(E)]
    p = zipf_inclusion(w, K)
    cum = torch.cumsum(torch.tensor(p, device="cuda", dtype=torch.float64), 0)
    cum[-1] = K  # rounding
    u = torch.rand(T, 1, device="cuda", dtype=torch.float64, generator=gen)
    pts = u + torch.arange(K, device="cuda", dtype=torch.float64)
    rank = torch.searchsorted(cum, pts, right=True).clamp_(max=E - 1)
    L = E // ep
    topi = (rank % ep) * L + rank // ep
    topw = torch.rand(T, K, device="cuda", generator=gen) + 0.1
    topw = (topw / topw.sum(-1, keepdim=True)).to(torch.bfloat16)
    return topi, topw


def routing(T, K, E, gen):
    perm = torch.randperm(E, device="cuda", generator=gen)
    idx = torch.arange(T * K, device="cuda").view(T, K) % E
    topi = perm[idx][torch.randperm(T, device="cuda", generator=gen)]
    topw = torch.rand(T, K, device="cuda", generator=gen) + 0.1
    topw = (topw / topw.sum(-1, keepdim=True)).to(torch.bfloat16)
    return topi, topw


class EpLayer:
    def __init__(self, E, K, H, I, ep, rank, grp, gen):
        self.E, self.K, self.H, self.I, self.ep, self.rank, self.grp = E, K, H, I, ep, rank, grp
        self.L = E // ep
        self.wgu = torch.empty(self.L, 2 * I, H, device="cuda", dtype=torch.bfloat16).normal_(0, H ** -0.5, generator=gen)
        self.wd = torch.empty(self.L, H, I, device="cuda", dtype=torch.bfloat16).normal_(0, I ** -0.5, generator=gen)

    def prepare(self, x, topi, topw):
        """static buffers for one (x, routing): everything forward() needs, no allocation there"""
        T, K = topi.shape
        n = T * K
        self.x, self.topw = x, topw
        flat = topi.reshape(-1)
        dest = flat // self.L
        self.order = torch.argsort(dest, stable=True)  # copies grouped by destination rank
        self.tok = self.order // K
        self.ids_send = flat[self.order].to(torch.int32).contiguous()
        # rows to each peer and from each peer (equal under balanced routing; exchanged once here,
        # before timing, so the timed layer has no host synchronization)
        send_counts = torch.bincount(dest, minlength=self.ep).to(torch.int64)
        recv_counts = torch.empty_like(send_counts)
        dist.all_to_all_single(recv_counts, send_counts, group=self.grp)
        self.in_splits = send_counts.tolist()
        self.out_splits = recv_counts.tolist()
        m = sum(self.out_splits)
        self.received = m
        self.ids_recv = torch.empty(m, device="cuda", dtype=torch.int32)
        self.send = torch.empty(n, self.H, device="cuda", dtype=torch.bfloat16)
        self.recv = torch.empty(m, self.H, device="cuda", dtype=torch.bfloat16)
        self.back = torch.empty_like(self.recv)
        self.ret = torch.empty_like(self.send)
        self.out = torch.empty_like(x)

    def forward(self):
        torch.index_select(self.x, 0, self.tok, out=self.send)
        sp = dict(output_split_sizes=self.out_splits, input_split_sizes=self.in_splits, group=self.grp)
        dist.all_to_all_single(self.ids_recv, self.ids_send, **sp)
        dist.all_to_all_single(self.recv, self.send, **sp)
        local = self.ids_recv.long() - self.rank * self.L
        lorder = torch.argsort(local, stable=True)
        counts = torch.zeros(self.L, device="cuda", dtype=torch.int32).scatter_add_(
            0, local, torch.ones_like(local, dtype=torch.int32))
        offs = torch.cumsum(counts, 0, dtype=torch.int32)
        xs = self.recv.index_select(0, lorder)
        h = GMM(xs, self.wgu.transpose(-2, -1), offs=offs)
        g, u = h.chunk(2, dim=-1)
        y = GMM(F.silu(g) * u, self.wd.transpose(-2, -1), offs=offs)
        self.back.index_copy_(0, lorder, y)
        dist.all_to_all_single(self.ret, self.back, output_split_sizes=self.in_splits,
                               input_split_sizes=self.out_splits, group=self.grp)
        w = self.topw.reshape(-1)[self.order].unsqueeze(-1)
        self.out.zero_()
        self.out.index_add_(0, self.tok, self.ret * w)
        return self.out


def check_layer(layer, x, topi, topw, ep, grp):
    """rank 0's first 2 tokens against the full set of experts gathered from every rank"""
    y = layer.forward().clone()
    gu = [torch.empty_like(layer.wgu) for _ in range(ep)]
    dd = [torch.empty_like(layer.wd) for _ in range(ep)]
    dist.all_gather(gu, layer.wgu, group=grp)
    dist.all_gather(dd, layer.wd, group=grp)
    ref = reference(x, topi, topw, torch.cat(gu), torch.cat(dd), 2)
    e = ((y[:2].double() - ref.double()).norm() / ref.double().norm()).item()
    del gu, dd
    return e


def worker(rank, world, port, path, eps):
    groups, out, t0 = start_worker(rank, world, port, eps, path, "ep_moe.py")
    for ep in eps:
        grp = groups[ep]
        if rank < ep:
            for name, E, K, H, I in configs():
                try:
                    gen = torch.Generator(device="cuda")
                    gen.manual_seed(100 + rank)
                    layer = EpLayer(E, K, H, I, ep, rank, grp, gen)
                except Exception as ex:  # noqa
                    log(f"ep_moe: rank {rank} {name} ep={ep} weights failed: {ex}")
                    continue
                for T, skew in plan():
                    try:
                        gen = torch.Generator(device="cuda")
                        gen.manual_seed(1000 * rank + T + int(100 * (skew or 0)))
                        x = torch.randn(T, H, device="cuda", dtype=torch.bfloat16, generator=gen)
                        if skew is None:
                            topi, topw = routing(T, K, E, gen)
                        else:
                            topi, topw = routing_zipf(T, K, E, ep, skew, gen)
                        layer.prepare(x, topi, topw)
                        if T == tokens()[0] or (skew is not None and T == skew_tokens()[0]):
                            e = check_layer(layer, x, topi, topw, ep, grp)
                            if rank == 0:
                                log(f"ep_moe: {name} ep={ep} check rel err {e:.2e} {'ok' if e < 3e-2 else 'FAILED'}")
                            if not e < 3e-2:
                                raise RuntimeError(f"check failed: rel err {e}")
                        r0 = torch.tensor([layer.received], device="cuda")
                        dist.broadcast(r0, src=0, group=grp)
                        recv0 = int(r0.item())
                        t = time_over_ranks(layer.forward, 3, 3, 10, 50, 0.1, grp)
                        tg = graph_over_ranks(layer.forward, 5, 9, grp)
                        if rank == 0:
                            for times, timing, issue in ((t, "issue-max-over-ranks", "torch"),
                                                         (tg, "graph-replay-max-over-ranks", "graph")):
                                d = {"op": "moe_ffn", "experts": E, "top_k": K, "hidden": H, "inter": I, "tokens": T,
                                     "impl": "grouped", "ep": ep, "dtype": "bf16"}
                                d.update(stats(times.tolist()))
                                d.update(timing=timing, issue=issue, model=name)
                                if skew is None:
                                    d["routing"] = "balanced"
                                else:
                                    d.update(routing="zipf", moe_skew=skew)
                                d.update(received_rank0=recv0,
                                         impl_detail="all_to_all_single dispatch/combine + torch._grouped_mm, no host sync")
                                if issue == "graph":
                                    d["graph_calls"] = 5
                                out.emit(d)
                    except Exception as ex:  # noqa
                        log(f"ep_moe: rank {rank} {name} ep={ep} T={T} failed: {type(ex).__name__}: {ex}")
                del layer
                free_cuda()
        dist.barrier()
    end_worker(rank, out, "ep_moe", t0)


def main():
    if list_cases([(f"ep_moe ep={ep} {c[0]}", plan()) for ep in gpu_counts((2, 4)) for c in configs()]):
        return
    spawn(worker, "ep_moe", (2, 4), "ep")


if __name__ == "__main__":
    main()

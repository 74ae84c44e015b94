"""op=moe_ffn: a mixture-of-experts SwiGLU FFN layer, bf16, router decisions given (top_k
experts per token and their weights are drawn before timing).
impl 'grouped': tokens sorted by expert, then torch._grouped_mm (one grouped GEMM for gate-up,
  one for down, offsets per expert), silu*mul, weighting, index_add_ back. No host sync.
  (If torch._grouped_mm is missing, a padded bmm over all experts; impl_detail says which.)
impl 'loop': Hugging Face Mixtral style, one F.linear pair per expert that has tokens, with the
  host reading which experts are hit (a sync per expert).
Expert weights: gate-up [E, 2*inter, hidden], down [E, hidden, inter], random bf16.
Both impls are checked against an fp32 per-token reference on the first tokens.
run() takes the configs and token counts: heldout/moe_ho.py calls it with its own.
Usage: moe.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
from hcommon import LIST_CASES, QUICK, Out, add_graph_ms, bench, check, free_cuda, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

    GMM = getattr(torch, "_grouped_mm", None) or getattr(F, "grouped_mm", None)

CONFIGS = [  # name, experts, top_k, hidden, inter
    ("mixtral-8x7b", 8, 2, 4096, 14336),
    ("deepseek-v3", 256, 8, 7168, 2048),
    ("qwen3-30b-a3b", 128, 8, 2048, 768),
]
IMPLS = ("grouped", "loop")


def moe_grouped(x, topi, topw, wgu, wd):
    T, K = topi.shape
    E = wgu.shape[0]
    flat = topi.reshape(-1)
    order = torch.argsort(flat, stable=True)
    tok = order // K
    counts = torch.zeros(E, device=x.device, dtype=torch.int32).scatter_add_(
        0, flat, torch.ones_like(flat, dtype=torch.int32))
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    xs = x.index_select(0, tok)
    h = GMM(xs, wgu.transpose(-2, -1), offs=offs)
    g, u = h.chunk(2, dim=-1)
    y = GMM(F.silu(g) * u, wd.transpose(-2, -1), offs=offs)
    y = y * topw.reshape(-1)[order].unsqueeze(-1)
    return torch.zeros_like(x).index_add_(0, tok, y)


def moe_padded_bmm(x, topi, topw, wgu, wd):
    T, K = topi.shape
    E, H = wgu.shape[0], x.shape[1]
    flat = topi.reshape(-1)
    order = torch.argsort(flat, stable=True)
    tok = order // K
    counts = torch.bincount(flat, minlength=E)
    C = int(counts.max())  # host sync
    start = torch.cumsum(counts, 0) - counts
    slot = torch.arange(T * K, device=x.device) - start[flat[order]]
    xp = x.new_zeros(E, C, H)
    xp[flat[order], slot] = x[tok]
    h = torch.bmm(xp, wgu.transpose(-2, -1))
    g, u = h.chunk(2, dim=-1)
    y = torch.bmm(F.silu(g) * u, wd.transpose(-2, -1))[flat[order], slot]
    y = y * topw.reshape(-1)[order].unsqueeze(-1)
    return torch.zeros_like(x).index_add_(0, tok, y)


def moe_loop(x, topi, topw, wgu, wd):
    E = wgu.shape[0]
    out = torch.zeros_like(x)
    mask = F.one_hot(topi, num_classes=E).permute(2, 1, 0)  # [E, K, T]
    hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
    for e in hit.flatten().tolist():
        idx, tp = torch.where(mask[e])
        h = F.linear(x[tp], wgu[e])
        g, u = h.chunk(2, dim=-1)
        y = F.linear(F.silu(g) * u, wd[e]) * topw[tp, idx, None]
        out.index_add_(0, tp, y)
    return out


def reference(x, topi, topw, wgu, wd, n):
    ys = []
    for t in range(n):
        acc = torch.zeros(x.shape[1], device=x.device, dtype=torch.float32)
        for j in range(topi.shape[1]):
            e = int(topi[t, j])
            h = wgu[e].float() @ x[t].float()
            g, u = h.chunk(2)
            acc += topw[t, j].float() * (wd[e].float() @ (F.silu(g) * u))
        ys.append(acc)
    return torch.stack(ys)


def cases():
    """(configs, token counts): each config runs every token count with each impl"""
    if QUICK:
        return CONFIGS[:2], [16]
    return CONFIGS, [1, 4, 16, 64, 256, 1024, 4096, 8192]


def run(configs, toks, name="moe", program="moe.py", seed=7):
    """Time each config of configs (name, experts, top_k, hidden, inter; random weights drawn from
    seed) at the token counts toks, impls grouped and loop; write OUT.jsonl (argv[1], else NAME.jsonl)."""
    groups = [(f"{name} {c[0]}", [(T, impl) for T in toks for impl in IMPLS]) for c in configs]
    if list_cases(groups):
        return
    out = Out(out_path(f"{name}.jsonl"), program)
    has_gmm = GMM is not None
    grouped = moe_grouped if has_gmm else moe_padded_bmm
    gdetail = "torch._grouped_mm" if has_gmm else "padded torch.bmm"
    log(f"{name}: grouped impl = {gdetail}")
    for (model, E, K, H, I), (label, cs) in zip(configs, groups):
        try:
            g = torch.Generator(device="cuda")
            g.manual_seed(seed)
            wgu = torch.empty(E, 2 * I, H, device="cuda", dtype=torch.bfloat16).normal_(0, H ** -0.5, generator=g)
            wd = torch.empty(E, H, I, device="cuda", dtype=torch.bfloat16).normal_(0, I ** -0.5, generator=g)
        except Exception as e:  # noqa
            log(f"{name}: {model} weights failed: {e}")
            continue
        wbytes = (wgu.numel() + wd.numel()) * 2

        def one(c):
            T, impl = c
            x = torch.randn(T, H, device="cuda", dtype=torch.bfloat16)
            scores = torch.randn(T, E, device="cuda").softmax(-1)
            tw, ti = scores.topk(K, dim=-1)
            tw = (tw / tw.sum(-1, keepdim=True)).to(torch.bfloat16)
            f = grouped if impl == "grouped" else moe_loop
            y = f(x, ti, tw, wgu, wd)
            n = min(T, 4)
            check(f"moe {impl}", y[:n], reference(x, ti, tw, wgu, wd, n), 3e-2)
            st = bench(lambda i: f(x, ti, tw, wgu, wd), queued=(impl == "grouped" and has_gmm),
                       target_s=0.1, min_reps=5, max_reps=30, kernels_per_call=16)
            if impl == "grouped" and has_gmm:
                add_graph_ms(st, lambda i: f(x, ti, tw, wgu, wd), n=10, limit_ms=2.0)
            hit = int((torch.bincount(ti.flatten(), minlength=E) > 0).sum())
            d = {"op": "moe_ffn", "experts": E, "top_k": K, "hidden": H, "inter": I, "tokens": T, "impl": impl,
                 "dtype": "bf16"}
            d.update(st)
            d.update(model=model, experts_hit=hit, expert_bytes_read=hit * wbytes // E,
                     impl_detail=(gdetail if impl == "grouped" else "per-expert F.linear loop (HF Mixtral style)"))
            return d

        run_cases(out, cs, one, label)
        del wgu, wd
        free_cuda()
    log(f"{name}: wrote {out.n} lines")


def main():
    run(*cases())


if __name__ == "__main__":
    main()

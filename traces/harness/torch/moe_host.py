"""Profile (not a scored trace): where the host time of an eager MoE decode step goes.
Measured (traces/h200/model_step_moe.jsonl, h200-heldout/model_step.jsonl): eager Mixtral-8x7B
decode (8 layers) takes 10.7-12.4 ms at batch 1-8 while the same step replayed from a CUDA graph
takes 3.7-8.6 ms, and the model (64 kernels per layer at host_issue_torch each) says 6.4 ms of
host. A Llama-3-8B eager step matches the same per-kernel host cost. host_ops.json (tiny tensors)
gave both layers ~22 us per kernel. This script looks at the real-sized step in one process:

For each case (model, layers, batch, context):
  step_ms       : the eager step as model_step.py times it (bench, issue timing).
  graph_ms      : the same step replayed from a CUDA graph (the GPU's time).
  host_free_ms  : host wall time to issue one forward while the GPU runs freely (median of 15).
  host_blocked_ms: host wall time to issue one forward while the GPU is held by a spin kernel,
                  so no launch can wait on the GPU (median of 15): the host's own cost.
  segments_us   : host_blocked split by segment of the layer (perf_counter between statements of
                  an instrumented copy of model.py's forward and moe.py's moe_grouped), summed over
                  layers, median over 15 forwards; kernels: kernels_total: CUDA kernels per forward (profiler).
  syncs         : whether a forward synchronizes with the host (torch.cuda.set_sync_debug_mode).
The same layer at tiny dimensions (hidden 256, as host_ops.py) runs beside it for comparison.
Usage: moe_host.py OUT.jsonl
"""
import json
import sys
import time

from hcommon import LIST_CASES, bench, list_cases, load_cfg, log, write_env, host_probe, profiled

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

    from host_ops import syncs
    from model import Model, capture_graph, rmsnorm, rope, sdpa
    from moe import GMM

# model, layers, batch, context (at most ~700 kernels a step: the held GPU's launch queue holds ~1000)
CASES = [("mixtral-8x7b", 8, 1, 2048), ("mixtral-8x7b", 8, 8, 2048), ("mixtral-8x7b", 8, 64, 2048),
         ("llama3-8b", 8, 1, 2048), ("llama3-8b", 8, 8, 2048), ("mixtral-tiny", 8, 1, 2048)]
REPS = 15


class Ticks:
    """perf_counter between named points; accumulates microseconds per segment name."""

    def __init__(self):
        self.acc = {}
        self.t = time.perf_counter()

    def __call__(self, name):
        t = time.perf_counter()
        self.acc[name] = self.acc.get(name, 0.0) + (t - self.t) * 1e6
        self.t = t


def moe_grouped_ticked(x, topi, topw, wgu, wd, tk):
    T, K = topi.shape
    E = wgu.shape[0]
    flat = topi.reshape(-1)
    order = torch.argsort(flat, stable=True)
    tk("moe.argsort")
    tok = order // K
    tk("moe.floor_div")
    counts = torch.zeros(E, device=x.device, dtype=torch.int32).scatter_add_(
        0, flat, torch.ones_like(flat, dtype=torch.int32))
    tk("moe.counts")
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    tk("moe.cumsum")
    xs = x.index_select(0, tok)
    tk("moe.index_select")
    h = GMM(xs, wgu.transpose(-2, -1), offs=offs)
    tk("moe.gmm_gate_up")
    g, u = h.chunk(2, dim=-1)
    a = F.silu(g) * u
    tk("moe.silu_mul")
    y = GMM(a, wd.transpose(-2, -1), offs=offs)
    tk("moe.gmm_down")
    y = y * topw.reshape(-1)[order].unsqueeze(-1)
    tk("moe.weights_mul")
    r = torch.zeros_like(x).index_add_(0, tok, y)
    tk("moe.index_add")
    return r


def forward_ticked(m, x, ctx, tk):
    """model.py's Model.forward, decode phase, with a tick after each segment (same ops)."""
    from torch.nn.attention import sdpa_kernel
    b, s, _ = x.shape
    hq, hk, d = m.hq, m.hk, m.d
    cos = m.cos[ctx:ctx + s].view(1, s, 1, d)
    sin = m.sin[ctx:ctx + s].view(1, s, 1, d)
    tk("head")
    with sdpa_kernel(m.backends):
        for l, Ld in enumerate(m.layers):
            h = rmsnorm(x, Ld["ln1"])
            tk("attn.rmsnorm")
            qkv = F.linear(h, Ld["wqkv"])
            tk("attn.qkv_linear")
            q, k, v = qkv.split([hq * d, hk * d, hk * d], dim=-1)
            q = rope(q.view(b, s, hq, d), cos, sin).transpose(1, 2)
            k = rope(k.view(b, s, hk, d), cos, sin).transpose(1, 2)
            v = v.view(b, s, hk, d).transpose(1, 2)
            tk("attn.rope")
            kc, vc = m.kc[l], m.vc[l]
            kc[:, :, ctx:ctx + 1].copy_(k)
            vc[:, :, ctx:ctx + 1].copy_(v)
            tk("attn.kv_copy")
            o = sdpa(q, kc[:, :, :ctx + 1], vc[:, :, :ctx + 1], False, m.mode)
            tk("attn.sdpa")
            o = o.transpose(1, 2).reshape(b, s, hq * d)
            x = x + F.linear(o, Ld["wo"])
            tk("attn.o_proj_add")
            h = rmsnorm(x, Ld["ln2"])
            tk("ffn.rmsnorm")
            if m.E:
                hf = h.reshape(b * s, m.H)
                logits = F.linear(hf, Ld["wr"])
                tk("router.linear")
                topv, topi = torch.topk(logits, m.K, dim=-1)
                tk("router.topk")
                topw = torch.softmax(topv.float(), dim=-1).to(h.dtype)
                tk("router.softmax")
                x = x + moe_grouped_ticked(hf, topi, topw, Ld["wgu"], Ld["wd"], tk).view(b, s, m.H)
                tk("moe.residual_add")
                continue
            gu = F.linear(h, Ld["wgu"])
            tk("ffn.gate_up")
            g_, u = gu.chunk(2, dim=-1)
            a = F.silu(g_) * u
            tk("ffn.silu_mul")
            x = x + F.linear(a, Ld["wd"])
            tk("ffn.down_add")
    h = rmsnorm(x[:, -1], m.norm)
    y = F.linear(h, m.lm_head)
    tk("head")
    return y


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def blocked(fn, spin_ms=60.0):
    """host wall time (ms) of fn() while the GPU is held by a spin kernel"""
    torch.cuda.synchronize()
    torch.cuda._sleep(int(spin_ms * 1e-3 * 2.0e9))
    t0 = time.perf_counter()
    fn()
    t = (time.perf_counter() - t0) * 1e3
    torch.cuda.synchronize()
    return t


def free(fn, n=REPS):
    """host wall time (ms) per fn() issued back to back (GPU free to run), median over n"""
    torch.cuda.synchronize()
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return median(ts)


def kernels(fwd):
    """CUDA kernels one forward launches (torch.profiler), memcpy/memset not counted"""
    return sum(1 for e in profiled(fwd).events() if e.device_type.name == "CUDA"
               and not e.name.startswith("Memcpy") and not e.name.startswith("Memset"))


def tiny_cfg():
    c = load_cfg("mixtral-8x7b")
    c.update(name="mixtral-tiny", hidden=256, heads=4, kv_heads=2, head_dim=64, expert_inter=512, vocab=1024)
    return c


def run_case(name, L, b, ctx):
    cfg = tiny_cfg() if name == "mixtral-tiny" else load_cfg(name)
    m = Model(cfg, layers=L)
    per = 2 * L * b * (ctx + 1) * cfg["kv_heads"] * cfg["head_dim"]
    arena = torch.empty(per, device="cuda", dtype=torch.bfloat16).normal_()
    m.alloc_cache(b, ctx + 1, arena)
    x = torch.randn(b, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
    fwd = lambda: m.forward(x, "decode", ctx)  # noqa: E731
    # the reference step time, as model_step.py takes it
    st = bench(lambda i: fwd(), queued=False, warmup=3, target_s=0.3, min_reps=10, max_reps=40, warmup_s=0.5)
    g, _ = capture_graph(fwd)
    gst = bench(lambda i: g.replay(), queued=False, warmup=3, target_s=0.3, min_reps=10, max_reps=40)
    host_free = free(fwd)
    host_blk = median([blocked(fwd) for _ in range(REPS)])
    # instrumented forward, GPU held
    segs = []
    for _ in range(REPS):
        tk = Ticks()

        def f():
            tk.t = time.perf_counter()
            forward_ticked(m, x, ctx, tk)
        tot = blocked(f)
        segs.append((tot, tk.acc))
    segs.sort(key=lambda s: s[0])
    seg_med = {k: round(median([s[1].get(k, 0.0) for s in segs]), 1) for k in segs[0][1]}
    d = {"profile": "moe_host", "model": name, "layers": L, "batch": b, "context": ctx,
         "step_ms": round(st["ms"], 4), "step_ms_p10": round(st["ms_p10"], 4), "step_ms_p90": round(st["ms_p90"], 4),
         "graph_ms": round(gst["ms"], 4), "host_free_ms": round(host_free, 4), "host_blocked_ms": round(host_blk, 4),
         "host_ticked_ms": round(median([s[0] for s in segs]), 4), "segments_us": seg_med,
         "syncs": syncs(fwd)}
    d["kernels_total"] = kernels(fwd)
    d["host_op_us"] = host_probe(reps=5, n=200)
    return d


def main():
    if list_cases([("moe_host", CASES)]):
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "moe_host.jsonl"
    with open(path, "a") as f:
        write_env(f, "moe_host.py")
        for c in CASES:
            try:
                d = run_case(*c)
            except Exception as e:  # noqa
                log(f"moe_host: {c} failed: {type(e).__name__}: {e}")
                continue
            torch.cuda.empty_cache()
            f.write(json.dumps(d) + "\n")
            f.flush()
            log(f"moe_host: {c}: step {d['step_ms']} graph {d['graph_ms']} host free {d['host_free_ms']} "
                f"blocked {d['host_blocked_ms']} kernels {d['kernels_total']}")


if __name__ == "__main__":
    main()

"""op=model_step: the reference model step (model.py) on one GPU, prefill and decode, eager and
CUDA graph. Weights random bf16 (layers overridden so they fit / run quickly), real KV cache
tensors sized for the context (random-filled). Timing 'issue': events around each step as the
host issues it (eager host overhead included, as in a serving loop).
run() takes the case plan: heldout/model_step_ho.py calls it with its own.
Usage: model_step.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import os

from hcommon import LIST_CASES, QUICK, Out, host_probe, bench, check, free_cuda, list_cases, load_cfg, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch

    from model import Model, capture_graph

MAX_KV_BYTES = 40e9


def plan():
    """[(model, layers, [(phase, batch, seq|context, cuda_graph), ...]), ...]"""
    P = []
    if QUICK:
        return [("llama3-8b", 2, [("decode", 4, 512, False), ("decode", 4, 512, True), ("prefill", 1, 256, False)])]
    dec = []
    for b in (1, 8, 32, 64, 128, 256):
        for ctx in (512, 2048, 8192):
            dec.append((b, ctx))
    c8 = []
    for b, ctx in dec:
        for g in (False, True):
            c8.append(("decode", b, ctx, g))
    for b, s, g in [(1, 128, False), (1, 128, True), (1, 512, False), (1, 512, True), (1, 2048, False),
                    (1, 4096, False), (1, 8192, False), (4, 1024, False), (8, 512, False)]:
        c8.append(("prefill", b, s, g))
    P.append(("llama3-8b", 32, c8))
    c70 = []
    for b in (1, 16, 64):
        for ctx in (1024, 4096):
            for g in (False, True):
                c70.append(("decode", b, ctx, g))
    for b, s in [(1, 512), (1, 2048)]:
        c70.append(("prefill", b, s, False))
    P.append(("llama3-70b", 16, c70))
    # MoE: Mixtral-8x7B, 8 of its 32 layers (router + grouped experts, model.py)
    cm = []
    for b in (1, 8, 64):
        for g in (False, True):
            cm.append(("decode", b, 2048, g))
    cm += [("decode", 256, 512, True), ("prefill", 1, 512, False), ("prefill", 1, 2048, False), ("prefill", 4, 1024, False)]
    P.append(("mixtral-8x7b", 8, cm))
    return P


def kv_bytes(cfg, L, b, T):
    return 2 * L * b * cfg["kv_heads"] * T * cfg["head_dim"] * 2


def fits(cfg, L, c):
    """case c's KV cache within MAX_KV_BYTES"""
    ph, b, n, _ = c
    return kv_bytes(cfg, L, b, n + 1 if ph == "decode" else n) <= MAX_KV_BYTES


def correctness_moe(cfg):
    """MoE, 1 layer: the grouped experts (torch._grouped_mm) vs moe.py's per-expert loop, both
    bf16 with the same routing (an fp32 model could route tokens differently)."""
    m = Model(cfg, layers=1, max_pos=4096)
    for phase, b, n in (("decode", 4, 64), ("prefill", 2, 64)):
        T = n + 1 if phase == "decode" else n
        s = 1 if phase == "decode" else n
        a = m.alloc_cache(b, T)
        x = torch.randn(b, s, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
        m.moe_impl = "grouped"
        y = m.forward(x, phase, n)
        m.moe_impl = "loop"
        yr = m.forward(x, phase, n)
        m.moe_impl = "grouped"
        e = check(f"model_step {cfg['name']} {phase} grouped vs loop", y, yr, 2e-2)
        log(f"model_step: {cfg['name']} 1-layer {phase} grouped experts vs per-expert loop rel err {e:.2e}")
        del a
    del m


def correctness(cfg):
    """1-layer model: bf16 flash step vs fp32 math-attention step on the same weights."""
    if cfg.get("experts"):
        return correctness_moe(cfg)
    m = Model(cfg, layers=1, max_pos=4096)
    r = m.converted(torch.float32)
    for phase, b, n in (("decode", 2, 64), ("prefill", 2, 64)):
        T = n + 1 if phase == "decode" else n
        s = 1 if phase == "decode" else n
        a = m.alloc_cache(b, T)
        r.alloc_cache(b, T, arena=None)
        for l in range(1):
            r.kc[l].copy_(m.kc[l].float())
            r.vc[l].copy_(m.vc[l].float())
        x = torch.randn(b, s, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
        y = m.forward(x, phase, n)
        yr = r.forward(x.float(), phase, n)
        e = check(f"model_step {cfg['name']} {phase}", y, yr, 3e-2)
        log(f"model_step: {cfg['name']} 1-layer {phase} bf16 vs fp32 rel err {e:.2e}")
        del a
    del m, r


def timed_step(forward, phase, b, s, graph):
    """bench() of one step as this script times it: eager, or captured in a CUDA graph and checked
    once against the eager step (mla_step.py times its steps the same way). forward() runs the
    step; b sequences of s new tokens. Returns (stats, impl)."""
    if graph:
        ref = forward()
        g, yout = capture_graph(forward)
        g.replay()
        check("graph vs eager", yout, ref, 1e-2)
        fn, impl = (lambda i: g.replay()), "torch-cudagraph"  # noqa: E731
    else:
        fn, impl = (lambda i: forward()), "torch-eager"  # noqa: E731
    big = phase == "prefill" and b * s >= 2048
    return bench(fn, queued=False, warmup=2 if big else 3, target_s=0.3, min_reps=3 if big else 10, max_reps=40,
                 warmup_s=0 if big else 0.5, probe=not graph), impl


def run(P, program="model_step.py"):
    """Time the plan P (as plan() makes it); write OUT.jsonl (argv[1], else model_step.jsonl)."""
    if list_cases([(f"model_step {name}", [c for c in cases if fits(load_cfg(name), L, c)])
                   for name, L, cases in P]):
        return
    out = Out(out_path("model_step.jsonl"), program, host_probe())
    for name, L, cases in P:
        try:
            cfg = load_cfg(name)
            correctness(cfg)
            m = Model(cfg, layers=L)
            log(f"model_step: {name} layers={L} weights {m.weight_bytes() / 1e9:.1f} GB, gqa mode {m.mode}")
        except Exception as e:  # noqa
            log(f"model_step: model {name} setup failed: {type(e).__name__}: {e}")
            continue
        # one random arena for the KV cache, big enough for every case of this model
        ok_cases = [c for c in cases if fits(cfg, L, c)]
        maxkv = max(kv_bytes(cfg, L, b, (n + 1 if ph == "decode" else n)) for ph, b, n, g in ok_cases)
        arena = torch.empty(maxkv // 2, device="cuda", dtype=torch.bfloat16).normal_()

        def one(c):
            phase, b, n, graph = c
            T = n + 1 if phase == "decode" else n
            s = 1 if phase == "decode" else n
            m.alloc_cache(b, T, arena)
            x = torch.randn(b, s, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
            st, impl = timed_step(lambda: m.forward(x, phase, n), phase, b, s, graph)
            d = {"op": "model_step", "model": name, "phase": phase, "batch": b}
            d["seq" if phase == "prefill" else "context"] = n
            d.update(tp=1, layers=L, cuda_graph=graph, dtype="bf16")
            d.update(st)
            d.update(impl=impl, attn=f"sdpa-flash+{m.mode}", kv_cache_bytes=kv_bytes(cfg, L, b, T),
                     weight_bytes=m.weight_bytes())
            return d

        out.host_op_us = host_probe()  # the host's speed now (it drifts between runs), and a warm-up
        log(f"model_step: {name} host probe {out.host_op_us} us per eager op")
        run_cases(out, ok_cases, one, f"model_step {name}")
        del m, arena
        free_cuda()
    log(f"model_step: wrote {out.n} lines")


def main():
    # HARNESS_MODELS="a b": only those models of the plan
    only = os.environ.get("HARNESS_MODELS", "").split()
    run([p for p in plan() if not only or p[0] in only])


if __name__ == "__main__":
    main()

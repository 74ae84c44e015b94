"""op=attention: F.scaled_dot_product_attention with the flash backend forced (sdpa_kernel),
GQA through enable_gqa=True when flash takes it here (else K/V expanded; see impl).
prefill: q/k/v [b, heads|kv_heads, seq, head_dim] bf16, causal and not; inputs not rotated (warm_l2).
decode : q [b, heads, 1, head_dim] against a K/V cache [b, kv_heads, context, head_dim]; the caches
are views into one random-filled arena and rotated through >= 256 MiB so they stream from HBM.
Each case is checked once against an fp32 softmax(QK^T)V on a slice (batch 0, one KV group).
run() takes the case lists and the model configs: heldout/attention_ho.py calls it with its own.
Usage: attention.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import math

from hcommon import LIST_CASES, QUICK, Out, add_graph_ms, bench, check, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from model import gqa_mode, sdpa

D = 128
KV_LIMIT = 40e9
CONFIGS = {"llama3-8b": (32, 8, D), "llama3-70b": (64, 8, D), "llama3-405b": (128, 8, D)}  # heads, kv_heads, head_dim


def kv_fits(c, configs):
    """decode case c: K + V cache (bf16) within KV_LIMIT"""
    _, name, b, ctx = c
    _, hk, d = configs[name]
    return 2 * b * hk * ctx * d * 2 <= KV_LIMIT


def ref_slice(q, k, v, causal):
    """q [b,h,sq,d], k/v [b,hk,sk,d] -> fp32 reference for batch 0, query heads of kv group 0."""
    h, hk = q.shape[1], k.shape[1]
    g = h // hk
    qs = q[0, :g].float()            # [g, sq, d]
    ks, vs = k[0, 0].float(), v[0, 0].float()  # [sk, d]
    sq, sk = qs.shape[1], ks.shape[0]
    rows = torch.arange(sq, device=q.device)
    if sq > 1024:
        rows = torch.cat([rows[:256], rows[-256:]])
    qs = qs[:, rows]
    sc = (qs @ ks.T) / math.sqrt(q.shape[-1])
    if causal:
        pos = rows + (sk - sq)
        sc = sc.masked_fill(torch.arange(sk, device=q.device)[None, None, :] > pos[None, :, None], float("-inf"))
    return torch.softmax(sc, -1) @ vs, rows


def cases():
    pre, dec = [], []
    if QUICK:
        return [("prefill", "llama3-8b", 1, 512, True), ("prefill", "llama3-70b", 1, 1024, False)], \
               [("decode", "llama3-8b", 4, 4096), ("decode", "llama3-70b", 1, 131072)]
    for name in ("llama3-8b", "llama3-70b"):
        for s in (128, 256, 512, 1024, 2048, 3000, 4096, 6144, 8192, 16384):
            for c in (True, False):
                pre.append(("prefill", name, 1, s, c))
        for s in (512, 2048):
            for c in (True, False):
                pre.append(("prefill", name, 8, s, c))
    for s in (1024, 4096, 16384):
        pre.append(("prefill", "llama3-405b", 1, s, True))
    for name in ("llama3-8b", "llama3-70b"):
        for b in (1, 4, 16, 64, 256):
            for ctx in (128, 512, 2048, 4096, 8192, 16384, 32768, 65536, 131072):
                if kv_fits(("decode", name, b, ctx), CONFIGS):
                    dec.append(("decode", name, b, ctx))
    for b in (3, 24):
        for ctx in (1000, 3000):
            dec.append(("decode", "llama3-8b", b, ctx))
    return pre, dec


def run(pre, dec, configs, name="attention", program="attention.py"):
    """Time the prefill cases pre and decode cases dec (tuples as cases() makes them; model names
    keys of configs: (heads, kv_heads, head_dim)); write OUT.jsonl (argv[1], else NAME.jsonl)."""
    if list_cases([(f"{name} decode", dec), (f"{name} prefill", pre)]):
        return
    out = Out(out_path(f"{name}.jsonl"), program)
    mode = gqa_mode()
    impl = f"sdpa-flash+{mode}"
    log(f"{name}: GQA mode {mode}")

    def kpc(h, hk, n):  # kernels per call: n with enable_gqa (or MHA), else K/V expanded: n + 2
        return n if mode == "enable_gqa" or h == hk else n + 2

    def prefill(c):
        _, model, b, s, causal = c
        h, hk, D = configs[model]
        q = torch.randn(b, h, s, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(b, hk, s, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(b, hk, s, D, device="cuda", dtype=torch.bfloat16)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = sdpa(q, k, v, causal, mode)
            ref, rows = ref_slice(q, k, v, causal)
            check("attention prefill", o[0, :h // hk][:, rows], ref, 2e-2)
            fn = lambda i: sdpa(q, k, v, causal, mode)  # noqa
            st = bench(fn, queued=True, target_s=0.1, min_reps=5, max_reps=40, kernels_per_call=kpc(h, hk, 1))
            add_graph_ms(st, fn)
        fl = 4.0 * b * h * s * s * D * (0.5 if causal else 1.0)
        d = {"op": "attention", "phase": "prefill", "batch": b, "seq": s, "heads": h, "kv_heads": hk,
             "head_dim": D, "causal": causal, "dtype": "bf16", "warm_l2": True}
        d.update(st)
        d.update(impl=impl, model=model, tflops=fl / (st["ms"] * 1e-3) / 1e12)
        return d

    # one K and one V arena for all decode cases
    max_el = max(b * configs[m][1] * ctx * configs[m][2] for _, m, b, ctx in dec)
    log(f"{name}: decode KV arena 2 x {max_el * 2 / 1e9:.1f} GB")
    KA = torch.empty(max_el, device="cuda", dtype=torch.bfloat16).normal_()
    VA = torch.empty(max_el, device="cuda", dtype=torch.bfloat16).normal_()

    def decode(c):
        _, model, b, ctx = c
        h, hk, D = configs[model]
        el = b * hk * ctx * D
        nb = max(1, min(max_el // el, -(-(256 << 20) // (2 * el * 2))))
        ks = [KA[i * el:(i + 1) * el].view(b, hk, ctx, D) for i in range(nb)]
        vs = [VA[i * el:(i + 1) * el].view(b, hk, ctx, D) for i in range(nb)]
        q = torch.randn(b, h, 1, D, device="cuda", dtype=torch.bfloat16)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = sdpa(q, ks[0], vs[0], False, mode)
            ref, rows = ref_slice(q, ks[0], vs[0], False)
            check("attention decode", o[0, :h // hk], ref, 2e-2)
            fn = lambda i: sdpa(q, ks[i % nb], vs[i % nb], False, mode)  # noqa
            st = bench(fn, queued=True, target_s=0.08, min_reps=10, max_reps=50, kernels_per_call=kpc(h, hk, 2))
            add_graph_ms(st, fn)
        kvb = 2 * el * 2
        d = {"op": "attention", "phase": "decode", "batch": b, "context": ctx, "heads": h, "kv_heads": hk,
             "head_dim": D, "dtype": "bf16", "warm_l2": nb * kvb < 120 << 20}
        d.update(st)
        d.update(impl=impl, model=model, kv_bytes=kvb, rotate_buffers=nb,
                 kv_gbs=kvb / (st["ms"] * 1e-3) / 1e9)
        return d

    run_cases(out, dec, decode, f"{name} decode")
    del KA, VA
    torch.cuda.empty_cache()
    run_cases(out, pre, prefill, f"{name} prefill")
    log(f"{name}: wrote {out.n} lines")


def main():
    pre, dec = cases()
    run(pre, dec, CONFIGS)


if __name__ == "__main__":
    main()

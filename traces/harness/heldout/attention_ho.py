"""HELD-OUT op=attention cases (never used for calibration; traces/README.md "Held-out set").

Same method as traces/harness/torch/attention.py (flash-only SDPA, enable_gqa when flash takes it,
decode caches rotated through >= 256 MiB, prefill inputs not rotated, fp32 reference check on a
slice, queued timing, ms_graph under 0.25 ms), generalised to any head_dim and kv_heads, at
head counts, head dims, batches and lengths the committed sweep does not use.
Usage: attention_ho.py OUT.jsonl
"""
import _path  # noqa: F401
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from attention import ref_slice
from hcommon import Out, QUICK, add_graph_ms, bench, check, log, out_path, run_cases
from model import gqa_mode, sdpa

KV_LIMIT = 40e9
# name: (heads, kv_heads, head_dim)
CFG = {
    "qwen2.5-32b": (40, 8, 128),     # also Llama-style 40/8 GQA
    "qwen2.5-7b": (28, 4, 128),
    "llama3.2-1b": (32, 8, 64),       # head_dim 64
    "llama2-7b": (32, 32, 128),       # MHA
    "llama3-70b": (64, 8, 128),       # known heads, new batch/context
    "llama3-405b": (128, 8, 128),     # known heads, new seq
}


def cases():
    if QUICK:
        return ([("prefill", "qwen2.5-32b", 1, 384, True), ("prefill", "llama3.2-1b", 1, 1536, True)],
                [("decode", "qwen2.5-32b", 2, 300), ("decode", "llama3.2-1b", 12, 1500)])
    pre, dec = [], []
    for s in (384, 1536, 2560, 5120, 12000):
        pre.append(("prefill", "qwen2.5-32b", 1, s, True))
    for s in (1536, 5120):
        pre.append(("prefill", "qwen2.5-32b", 1, s, False))
    for s in (384, 2560, 12000):
        pre.append(("prefill", "qwen2.5-7b", 2, s, True))
    for s in (1536, 5120, 12000):
        pre.append(("prefill", "llama3.2-1b", 1, s, True))
    pre.append(("prefill", "llama3.2-1b", 6, 384, True))
    pre.append(("prefill", "llama3.2-1b", 2, 2560, False))
    for s in (2560, 5120):
        pre.append(("prefill", "llama2-7b", 1, s, True))
    pre.append(("prefill", "llama3-70b", 2, 1536, True))
    pre.append(("prefill", "llama3-70b", 1, 12000, True))
    pre.append(("prefill", "llama3-405b", 1, 5120, True))
    for b in (2, 12, 96):
        for ctx in (300, 6000, 50000):
            dec.append(("decode", "qwen2.5-32b", b, ctx))
    for b in (6, 48, 200):
        for ctx in (1500, 20000):
            dec.append(("decode", "qwen2.5-7b", b, ctx))
    for b, ctx in ((2, 1500), (12, 6000), (96, 20000), (200, 1500), (200, 20000), (6, 50000), (48, 300), (2, 6000)):
        dec.append(("decode", "llama3.2-1b", b, ctx))
    for b in (6, 48):
        for ctx in (1500, 6000):
            dec.append(("decode", "llama2-7b", b, ctx))
    dec.append(("decode", "llama3-70b", 6, 20000))
    dec.append(("decode", "llama3-70b", 200, 1500))
    dec = [c for c in dec if 2 * c[2] * CFG[c[1]][1] * c[3] * CFG[c[1]][2] * 2 <= KV_LIMIT]
    return pre, dec


def main():
    out = Out(out_path("attention_ho.jsonl"), "heldout/attention_ho.py")
    mode = gqa_mode()
    impl = f"sdpa-flash+{mode}"
    log(f"attention_ho: GQA mode {mode}")
    pre, dec = cases()

    def prefill(c):
        _, name, b, s, causal = c
        h, hk, D = CFG[name]
        q = torch.randn(b, h, s, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(b, hk, s, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(b, hk, s, D, device="cuda", dtype=torch.bfloat16)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = sdpa(q, k, v, causal, mode)
            ref, rows = ref_slice(q, k, v, causal)
            check("attention prefill", o[0, :h // hk][:, rows], ref, 2e-2)
            fn = lambda i: sdpa(q, k, v, causal, mode)  # noqa
            st = bench(fn, queued=True, target_s=0.1, min_reps=5, max_reps=40,
                       kernels_per_call=1 if mode == "enable_gqa" or h == hk else 3)
            add_graph_ms(st, fn)
        fl = 4.0 * b * h * s * s * D * (0.5 if causal else 1.0)
        d = {"op": "attention", "phase": "prefill", "batch": b, "seq": s, "heads": h, "kv_heads": hk,
             "head_dim": D, "causal": causal, "dtype": "bf16", "warm_l2": True}
        d.update(st)
        d.update(impl=impl, model=name, tflops=fl / (st["ms"] * 1e-3) / 1e12)
        return d

    max_el = max(b * CFG[n][1] * ctx * CFG[n][2] for _, n, b, ctx in dec)
    log(f"attention_ho: decode KV arena 2 x {max_el * 2 / 1e9:.1f} GB")
    KA = torch.empty(max_el, device="cuda", dtype=torch.bfloat16).normal_()
    VA = torch.empty(max_el, device="cuda", dtype=torch.bfloat16).normal_()

    def decode(c):
        _, name, b, ctx = c
        h, hk, D = CFG[name]
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
            st = bench(fn, queued=True, target_s=0.08, min_reps=10, max_reps=50,
                       kernels_per_call=2 if mode == "enable_gqa" or h == hk else 4)
            add_graph_ms(st, fn)
        kvb = 2 * el * 2
        d = {"op": "attention", "phase": "decode", "batch": b, "context": ctx, "heads": h, "kv_heads": hk,
             "head_dim": D, "dtype": "bf16", "warm_l2": nb * kvb < 120 << 20}
        d.update(st)
        d.update(impl=impl, model=name, kv_bytes=kvb, rotate_buffers=nb,
                 kv_gbs=kvb / (st["ms"] * 1e-3) / 1e9)
        return d

    run_cases(out, dec, decode, "attention_ho decode")
    del KA, VA
    torch.cuda.empty_cache()
    run_cases(out, pre, prefill, "attention_ho prefill")
    log(f"attention_ho: wrote {out.n} lines")


if __name__ == "__main__":
    main()

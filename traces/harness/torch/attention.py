"""op=attention: F.scaled_dot_product_attention with the flash backend forced (sdpa_kernel),
GQA through enable_gqa=True when flash takes it here (else K/V expanded; see impl).
prefill: q/k/v [b, heads|kv_heads, seq, 128] bf16, causal and not; inputs not rotated (warm_l2).
decode : q [b, heads, 1, 128] against a K/V cache [b, kv_heads, context, 128]; the caches are
views into one random-filled arena and rotated through >= 256 MiB so they stream from HBM.
Each case is checked once against an fp32 softmax(QK^T)V on a slice (batch 0, one KV group).
Usage: attention.py OUT.jsonl
"""
import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from hcommon import Out, QUICK, add_graph_ms, bench, check, log, out_path, run_cases
from model import gqa_mode, sdpa

D = 128
KV_LIMIT = 40e9
CONFIGS = {"llama3-8b": (32, 8), "llama3-70b": (64, 8), "llama3-405b": (128, 8)}


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
                if 2 * b * 8 * ctx * D * 2 <= KV_LIMIT:
                    dec.append(("decode", name, b, ctx))
    for b in (3, 24):
        for ctx in (1000, 3000):
            dec.append(("decode", "llama3-8b", b, ctx))
    return pre, dec


def main():
    out = Out(out_path("attention.jsonl"), "attention.py")
    mode = gqa_mode()
    impl = f"sdpa-flash+{mode}"
    log(f"attention: GQA mode {mode}")
    pre, dec = cases()

    def prefill(c):
        _, name, b, s, causal = c
        h, hk = CONFIGS[name]
        q = torch.randn(b, h, s, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(b, hk, s, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(b, hk, s, D, device="cuda", dtype=torch.bfloat16)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = sdpa(q, k, v, causal, mode)
            ref, rows = ref_slice(q, k, v, causal)
            check("attention prefill", o[0, :h // hk][:, rows], ref, 2e-2)
            fn = lambda i: sdpa(q, k, v, causal, mode)  # noqa
            st = bench(fn, queued=True, target_s=0.1, min_reps=5, max_reps=40,
                       kernels_per_call=1 if mode == "enable_gqa" else 3)
            add_graph_ms(st, fn)
        fl = 4.0 * b * h * s * s * D * (0.5 if causal else 1.0)
        d = {"op": "attention", "phase": "prefill", "batch": b, "seq": s, "heads": h, "kv_heads": hk,
             "head_dim": D, "causal": causal, "dtype": "bf16", "warm_l2": True}
        d.update(st)
        d.update(impl=impl, model=name, tflops=fl / (st["ms"] * 1e-3) / 1e12)
        return d

    # one K and one V arena for all decode cases
    max_el = max(b * 8 * ctx * D for _, _, b, ctx in dec)
    log(f"attention: decode KV arena 2 x {max_el * 2 / 1e9:.1f} GB")
    KA = torch.empty(max_el, device="cuda", dtype=torch.bfloat16).normal_()
    VA = torch.empty(max_el, device="cuda", dtype=torch.bfloat16).normal_()

    def decode(c):
        _, name, b, ctx = c
        h, hk = CONFIGS[name]
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
                       kernels_per_call=2 if mode == "enable_gqa" else 4)
            add_graph_ms(st, fn)
        kvb = 2 * el * 2
        d = {"op": "attention", "phase": "decode", "batch": b, "context": ctx, "heads": h, "kv_heads": hk,
             "head_dim": D, "dtype": "bf16", "warm_l2": nb * kvb < 120 << 20}
        d.update(st)
        d.update(impl=impl, model=name, kv_bytes=kvb, rotate_buffers=nb,
                 kv_gbs=kvb / (st["ms"] * 1e-3) / 1e9)
        return d

    run_cases(out, dec, decode, "attention decode")
    del KA, VA
    torch.cuda.empty_cache()
    run_cases(out, pre, prefill, "attention prefill")
    log(f"attention: wrote {out.n} lines")


if __name__ == "__main__":
    main()

"""op=attention, phase decode, with a quantized KV cache: one split-KV decode kernel (Triton,
written here: PyTorch has no decode attention that reads fp8 or 4-bit caches) run on the same
shapes with the cache stored three ways, so the records isolate what the storage format costs:
  kv_dtype bf16        K, V [b, context, kv_heads, head_dim] bf16
  kv_dtype fp8         the same in float8_e4m3fn with one fp32 scale per tensor; the kernel
                       converts the codes to fp16 in registers (the scales go on the scores and
                       the output)
  kv_format int4       4-bit codes, two per byte (element 2i low nibble, 2i+1 high), with a bf16
                       scale and a bf16 zero point per (token, KV head) (group = head_dim, the
                       "int4" KV format of headroom: 4.25 bits per element); x = code * scale + zero
The kernel is FlashAttention-2's decode split ("flash-decoding"): one program per (sequence, KV
head, context split) with the query heads of the GQA group packed into the rows of one tile (at
least 16 rows for tl.dot), an online softmax over blocks of keys, fp32 partial results, then a
combine kernel over the splits. Per case and format the fastest of a small grid is kept (as a
tuned library would): key block 64 or 128, 2-4 pipeline stages, 4 or 8 warps, and 1, 2 or 4 times
the base split count floor(132 / (batch x kv_heads)) (1 when batch x kv_heads >= 0.8 x 132, the
rule headroom's decode model assumes for FA2) while each split keeps at least one key block; the
record gives the configuration it kept (splits, key_block, stages, warps).
Caches rotate through >= 256 MiB of copies (cold, warm_l2 false). Timing queued (GPU time of both
kernels). Each case is checked against an fp32 softmax(QK^T)V on the dequantized cache.
Usage: attention_kvq.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import math

from hcommon import LIST_CASES, QUICK, Out, bench, check, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def _split_kernel(Q, K, V, KS, KZ, VS, VZ, ACC, ML, sm_scale, k_scale, v_scale,
                      CTX, CHUNK, KVH, NSPLIT,
                      s_qb, s_qh, s_kb, s_kt, s_kh, s_sb, s_st,
                      G: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, BN: tl.constexpr, MODE: tl.constexpr):
        # MODE 0: bf16 cache. MODE 1: fp8 codes converted to fp16 (the packed e4m3 -> f16
        # conversion), q in fp16, the per-tensor scales applied to the scores and to the output, not
        # to each element. MODE 2: 4-bit codes made fp16 by the magic-number trick (0x6400 | c is
        # 1024 + c), the per-token scale and zero point applied to the scores (s = sc (q.c) + z sum(q))
        # and to the probabilities (p sv . c + p . zv), not to each element.
        pid = tl.program_id(0)
        sp = tl.program_id(1)
        b = pid // KVH
        kvh = pid % KVH
        start = sp * CHUNK
        end = tl.minimum(start + CHUNK, CTX)
        g = tl.arange(0, GP)
        gm = g < G
        m_i = tl.full([GP], float("-inf"), tl.float32)
        l_i = tl.zeros([GP], tl.float32)
        qbase = Q + b * s_qb + (kvh * G + g)[:, None] * s_qh
        kbase = K + b * s_kb + kvh * s_kh
        vbase = V + b * s_kb + kvh * s_kh
        if MODE == 2:  # 4-bit: even and odd elements apart (low and high nibbles)
            D2: tl.constexpr = D // 2
            d2 = tl.arange(0, D2)
            qe = tl.load(qbase + (2 * d2)[None, :], mask=gm[:, None], other=0.0)
            qo = tl.load(qbase + (2 * d2 + 1)[None, :], mask=gm[:, None], other=0.0)
            qsum = tl.sum(qe.to(tl.float32), 1) + tl.sum(qo.to(tl.float32), 1)
            qe = qe.to(tl.float16)
            qo = qo.to(tl.float16)
            acc_e = tl.zeros([GP, D2], tl.float32)
            acc_o = tl.zeros([GP, D2], tl.float32)
            zacc = tl.zeros([GP], tl.float32)
        else:
            d = tl.arange(0, D)
            q = tl.load(qbase + d[None, :], mask=gm[:, None], other=0.0)
            if MODE == 1:
                q = q.to(tl.float16)
            acc = tl.zeros([GP, D], tl.float32)
        for n in range(start, end, BN):
            t = n + tl.arange(0, BN)
            tm = t < end
            if MODE == 2:
                kb = tl.load(kbase + t[:, None] * s_kt + d2[None, :], mask=tm[:, None], other=0)
                sidx = b * s_sb + t * s_st + kvh
                ks = tl.load(KS + sidx, mask=tm, other=0.0).to(tl.float32)
                kz = tl.load(KZ + sidx, mask=tm, other=0.0).to(tl.float32)
                k_lo = ((kb & 15).to(tl.uint16) | 0x6400).to(tl.float16, bitcast=True) - 1024.0
                k_hi = ((kb >> 4).to(tl.uint16) | 0x6400).to(tl.float16, bitcast=True) - 1024.0
                s = tl.dot(qe, tl.trans(k_lo)) + tl.dot(qo, tl.trans(k_hi))
                s = s * ks[None, :] + qsum[:, None] * kz[None, :]
                s = s * sm_scale
            else:
                k = tl.load(kbase + t[:, None] * s_kt + d[None, :], mask=tm[:, None], other=0.0)
                if MODE == 1:
                    s = tl.dot(q, tl.trans(k.to(tl.float16))) * (sm_scale * k_scale)
                else:
                    s = tl.dot(q, tl.trans(k)) * sm_scale
            s = tl.where(tm[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            p = tl.exp(s - m_new[:, None])
            alpha = tl.exp(m_i - m_new)
            l_i = l_i * alpha + tl.sum(p, 1)
            if MODE == 2:
                vb = tl.load(vbase + t[:, None] * s_kt + d2[None, :], mask=tm[:, None], other=0)
                vs = tl.load(VS + sidx, mask=tm, other=0.0).to(tl.float32)
                vz = tl.load(VZ + sidx, mask=tm, other=0.0).to(tl.float32)
                v_lo = ((vb & 15).to(tl.uint16) | 0x6400).to(tl.float16, bitcast=True) - 1024.0
                v_hi = ((vb >> 4).to(tl.uint16) | 0x6400).to(tl.float16, bitcast=True) - 1024.0
                ps = (p * vs[None, :]).to(tl.float16)
                acc_e = acc_e * alpha[:, None] + tl.dot(ps, v_lo)
                acc_o = acc_o * alpha[:, None] + tl.dot(ps, v_hi)
                zacc = zacc * alpha + tl.sum(p * vz[None, :], 1)
            else:
                v = tl.load(vbase + t[:, None] * s_kt + d[None, :], mask=tm[:, None], other=0.0)
                if MODE == 1:
                    acc = acc * alpha[:, None] + tl.dot(p.to(tl.float16), v.to(tl.float16))
                else:
                    acc = acc * alpha[:, None] + tl.dot(p.to(tl.bfloat16), v)
            m_i = m_new
        obase = ACC + ((pid * NSPLIT + sp) * GP + g)[:, None] * D
        if MODE == 2:
            tl.store(obase + (2 * d2)[None, :], acc_e + zacc[:, None])
            tl.store(obase + (2 * d2 + 1)[None, :], acc_o + zacc[:, None])
        elif MODE == 1:
            tl.store(obase + d[None, :], acc * v_scale)
        else:
            tl.store(obase + d[None, :], acc)
        mlb = ML + ((pid * NSPLIT + sp) * GP + g) * 2
        tl.store(mlb, m_i)
        tl.store(mlb + 1, l_i)

    @triton.jit
    def _combine_kernel(ACC, ML, OUT, KVH, NSPLIT, s_ob, s_oh,
                        G: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, SP: tl.constexpr):
        pid = tl.program_id(0)  # (sequence, KV head)
        gi = tl.program_id(1)   # query head within the group
        b = pid // KVH
        kvh = pid % KVH
        s = tl.arange(0, SP)
        sm = s < NSPLIT
        d = tl.arange(0, D)
        mlb = ML + ((pid * NSPLIT + s) * GP + gi) * 2
        m = tl.load(mlb, mask=sm, other=float("-inf"))
        l = tl.load(mlb + 1, mask=sm, other=0.0)
        mx = tl.max(m, 0)
        w = tl.where(sm, tl.exp(m - mx), 0.0)
        den = tl.sum(l * w, 0)
        acc = tl.load(ACC + ((pid * NSPLIT + s) * GP + gi)[:, None] * D + d[None, :], mask=sm[:, None], other=0.0)
        o = tl.sum(acc * w[:, None], 0) / den
        tl.store(OUT + b * s_ob + (kvh * G + gi) * s_oh + d, o.to(tl.bfloat16))

D = 128
SMS = 132
ROTATE = 256 << 20
CONFIGS = {"llama3-8b": (32, 8), "llama3-70b": (64, 8)}  # heads, kv_heads (head_dim 128)
MODES = ("bf16", "fp8", "int4")


def splits_for(b, hk):
    items = b * hk
    return max(1, SMS // items) if items < 0.8 * SMS else 1


def cases():
    if QUICK:
        return [("llama3-8b", 2, 1024, m) for m in MODES]
    c = []
    for name in CONFIGS:
        for b in (1, 4, 16, 64):
            for ctx in (1024, 4096, 16384):
                for m in MODES:
                    c.append((name, b, ctx, m))
    return c


def make_cache(b, ctx, hk, mode, gen):
    """(tensors for the kernel, dequantized fp32 K and V of batch 0 for the reference)"""
    k = torch.randn(b, ctx, hk, D, device="cuda", generator=gen)
    v = torch.randn(b, ctx, hk, D, device="cuda", generator=gen)
    if mode == "bf16":
        kq, vq = k.to(torch.bfloat16), v.to(torch.bfloat16)
        return dict(K=kq, V=vq, ks=1.0, vs=1.0), (kq[0].float(), vq[0].float())
    if mode == "fp8":
        ks, vs = k.abs().max().item() / 448.0, v.abs().max().item() / 448.0
        kq = (k / ks).to(torch.float8_e4m3fn)
        vq = (v / vs).to(torch.float8_e4m3fn)
        return dict(K=kq, V=vq, ks=ks, vs=vs), (kq[0].float() * ks, vq[0].float() * vs)

    def q4(x):
        lo, hi = x.amin(-1), x.amax(-1)
        sc = ((hi - lo) / 15.0).clamp_min(1e-6).to(torch.bfloat16)
        zp = lo.to(torch.bfloat16)
        code = ((x - zp.float()[..., None]) / sc.float()[..., None]).round().clamp(0, 15).to(torch.uint8)
        packed = (code[..., 0::2] | (code[..., 1::2] << 4)).contiguous()
        deq = code.float() * sc.float()[..., None] + zp.float()[..., None]
        return packed, sc.contiguous(), zp.contiguous(), deq
    kp, ksc, kz, kd = q4(k)
    vp, vsc, vz, vd = q4(v)
    return dict(K=kp, V=vp, KS=ksc, KZ=kz, VS=vsc, VZ=vz, ks=1.0, vs=1.0), (kd[0], vd[0])


def configs(b, hk, ctx):
    """(key block, stages, warps, splits) candidates"""
    base = splits_for(b, hk)
    out = []
    for bn in (64, 128):
        for mult in (1, 2, 4):
            ns = base * mult
            if mult > 1 and triton.cdiv(ctx, ns) < bn:
                continue
            for st in (2, 3, 4):
                for w in (4, 8):
                    out.append((bn, st, w, ns))
    return out


def attend(q, c, hq, hk, ctx, cfg, acc, ml, out):
    bn, stages, warps, nsplit = cfg
    b = q.shape[0]
    G = hq // hk
    GP = max(16, triton.next_power_of_2(G))
    K, V = c["K"], c["V"]
    mode = 2 if "KS" in c else (1 if K.dtype == torch.float8_e4m3fn else 0)
    dummy = acc
    KS, KZ, VS, VZ = (c.get(n, dummy) for n in ("KS", "KZ", "VS", "VZ"))
    s_sb, s_st = (c["KS"].stride(0), c["KS"].stride(1)) if mode == 2 else (0, 0)
    chunk = triton.cdiv(triton.cdiv(ctx, nsplit), bn) * bn
    _split_kernel[(b * hk, nsplit)](
        q, K, V, KS, KZ, VS, VZ, acc, ml, 1.0 / math.sqrt(D), c["ks"], c["vs"],
        ctx, chunk, hk, nsplit,
        q.stride(0), q.stride(1), K.stride(0), K.stride(1), K.stride(2), s_sb, s_st,
        G=G, GP=GP, D=D, BN=bn, MODE=mode, num_warps=warps, num_stages=stages)
    _combine_kernel[(b * hk, G)](acc, ml, out, hk, nsplit, out.stride(0), out.stride(1),
                                 G=G, GP=GP, D=D, SP=triton.next_power_of_2(nsplit), num_warps=4)
    return out


def run(out_file):
    cs = cases()
    if list_cases([("attention_kvq", cs)]):
        return
    out = Out(out_path(out_file), "attention_kvq.py")
    gen = torch.Generator(device="cuda")
    gen.manual_seed(3)

    def one(case):
        name, b, ctx, mode = case
        hq, hk = CONFIGS[name]
        G = hq // hk
        GP = max(16, triton.next_power_of_2(G))
        cands = configs(b, hk, ctx)
        nmax = max(cf[3] for cf in cands)
        q = torch.randn(b, hq, D, device="cuda", dtype=torch.bfloat16, generator=gen)
        first, (kref, vref) = make_cache(b, ctx, hk, mode, gen)
        per = sum(t.numel() * t.element_size() for t in first.values() if torch.is_tensor(t))
        copies = [first] + [make_cache(b, ctx, hk, mode, gen)[0] for _ in range(max(0, min(7, ROTATE // per)))]
        acc = torch.empty(b * hk * nmax * GP * D, device="cuda", dtype=torch.float32)
        ml = torch.empty(b * hk * nmax * GP * 2, device="cuda", dtype=torch.float32)
        o = torch.empty(b, hq, D, device="cuda", dtype=torch.bfloat16)
        # reference: batch 0, the query heads of KV head 0
        sc = (q[0, :G].float() @ kref[:, 0].T) / math.sqrt(D)
        ref = torch.softmax(sc, -1) @ vref[:, 0]
        best = None
        for cf in cands:  # every candidate is checked, the fastest kept
            attend(q, first, hq, hk, ctx, cf, acc, ml, o)
            check(f"attention_kvq {mode} {cf}", o[0, :G], ref, 2e-2)
            t = bench(lambda i: attend(q, copies[i % len(copies)], hq, hk, ctx, cf, acc, ml, o),
                      kernels_per_call=2, target_s=0.01, min_reps=5, max_reps=20)["ms"]
            if best is None or t < best[0]:
                best = (t, cf)
        cf = best[1]
        nsplit = cf[3]
        st = bench(lambda i: attend(q, copies[i % len(copies)], hq, hk, ctx, cf, acc, ml, o), kernels_per_call=2)
        d = {"op": "attention", "phase": "decode", "batch": b, "context": ctx, "heads": hq, "kv_heads": hk,
             "head_dim": D, "dtype": "bf16", "warm_l2": False, "impl": "triton-splitkv", "model": name,
             "splits": nsplit, "key_block": cf[0], "stages": cf[1], "warps": cf[2]}
        if mode == "int4":
            d["kv_format"] = "int4"
        else:
            d["kv_dtype"] = mode
        d.update(st)
        d["issue"] = "torch"
        return d

    run_cases(out, cs, one, "attention_kvq")
    log(f"attention_kvq: wrote {out.n} lines")


if __name__ == "__main__":
    import sys
    run(sys.argv[1] if len(sys.argv) > 1 else "attention_kvq.jsonl")

"""Multi-head latent attention (DeepSeek-V3) on one GPU: the absorbed decode kernel alone
(op=attention) and whole steps of the first layers of DeepSeek-V3 (op=model_step), bf16.

MLA (DeepSeek-V2/V3): per token the cache keeps one compressed latent c (kv_lora_rank = 512,
rms-normed) and one shared RoPE key k_pe (64), 576 values, instead of K and V per head.
  prefill: K and V are up-projected per head from c (kv_b: 512 -> 128 x (128 + 128)), k_pe is
           broadcast to every head, and the attention is ordinary causal attention with q.k over
           192 and values of 128 (SDPA; flash when it takes unequal q.k and v widths, else with v
           padded to 192 as vLLM does for FlashAttention-2, else whatever SDPA picks: the record's
           attn field says which).
  decode:  the absorbed form. q_nope (128 per head) is multiplied into the latent space per head
           (q_absorb: a batched GEMM [heads] x [tokens, 128] x [128, 512]); the attention then runs
           the 128 query heads against the shared latent (q.k over 512 + 64, values = the first
           512 of each key: one read of the cache serves both), and v_absorb maps the 512-wide
           result back to 128 per head before o_proj.
The decode attention is a split-KV kernel written here in Triton (PyTorch has no attention for a
576-wide key and a shared 512-wide value; FlashMLA and FlashInfer are not on the machine): one
program per (sequence, block of BH query heads, context split) streams its split of the latent in
blocks of BN tokens (each block loaded once for both dots), online softmax, fp32 partial results,
then a combine kernel over the splits (with one split the kernel normalises and writes the output
itself). Per case the fastest of a small grid is kept, as a tuned library would: BH 16/32/64,
BN 16/32/64, 4 or 8 warps, 1 or 2 stages, and the split count (1 to 64, at most 8 programs per SM).
The record gives the configuration kept. Caches rotate through >= 256 MiB of copies (cold L2);
timing queued. Each configuration is checked against an fp32 softmax(q k^T) v.

The steps: DeepSeek-V3's first LAYERS layers (3 dense, then MoE: 256 routed experts, top-8, one
shared expert), bf16 weights (random, so the router spreads tokens about uniformly), per layer:
rmsnorm -> q_a -> rmsnorm -> q_b; kv_a -> rmsnorm of the latent; RoPE on q_pe and k_pe (rotate-
half, as model.py) -> cache write (576 per token) -> attention as above -> o_proj -> residual ->
rmsnorm -> FFN (dense: gate-up, silu*mul, down; MoE: the router as model.py's (linear, top-k,
softmax of the k logits), moe.py's grouped experts (torch._grouped_mm) and the shared expert as a
dense SwiGLU, added) -> residual; final rmsnorm and lm-head on the last position. Eager and CUDA
graph; timing 'issue' as model_step.py. A 1-layer step is checked against an fp32 run of the
same weights in the naive (non-absorbed) form: K and V up-projected for every cached token.
Usage: mla_step.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
HARNESS_MLA_PARTS="attention step" (default both; the committed runs wrote each part to its own file).
"""
import math
import os

from hcommon import LIST_CASES, QUICK, Out, bench, check, free_cuda, host_probe, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F
    import triton
    import triton.language as tl
    import yaml
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from hcommon import MODELS_DIR
    from model import rmsnorm, rope
    from model_step import timed_step
    from moe import moe_grouped

    @triton.jit
    def _mla_split(QL, QR, C, ACC, ML, OUT, qk_scale, CTX, CHUNK, NSPLIT, NHB,
                   s_qlb, s_qlh, s_qrb, s_qrh, s_cb, s_ct, s_ob, s_oh,
                   BH: tl.constexpr, DL: tl.constexpr, DR: tl.constexpr, BN: tl.constexpr, DIRECT: tl.constexpr):
        # qk_scale includes log2(e): the softmax runs in base 2.
        pid = tl.program_id(0)  # sequence x head block
        sp = tl.program_id(1)   # context split
        b = pid // NHB
        h = (pid % NHB) * BH + tl.arange(0, BH)
        dl = tl.arange(0, DL)
        dr = tl.arange(0, DR)
        ql = tl.load(QL + b * s_qlb + h[:, None] * s_qlh + dl[None, :])
        qr = tl.load(QR + b * s_qrb + h[:, None] * s_qrh + dr[None, :])
        start = sp * CHUNK
        end = tl.minimum(start + CHUNK, CTX)
        m_i = tl.full([BH], float("-inf"), tl.float32)
        l_i = tl.zeros([BH], tl.float32)
        acc = tl.zeros([BH, DL], tl.float32)
        cbase = C + b * s_cb
        for n in range(start, end, BN):
            t = n + tl.arange(0, BN)
            tm = t < end
            kl = tl.load(cbase + t[:, None] * s_ct + dl[None, :], mask=tm[:, None], other=0.0)
            kr = tl.load(cbase + t[:, None] * s_ct + DL + dr[None, :], mask=tm[:, None], other=0.0)
            s = (tl.dot(ql, tl.trans(kl)) + tl.dot(qr, tl.trans(kr))) * qk_scale
            s = tl.where(tm[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            p = tl.exp2(s - m_new[:, None])
            alpha = tl.exp2(m_i - m_new)
            l_i = l_i * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(tl.bfloat16), kl)  # the latent is the value too
            m_i = m_new
        if DIRECT:
            o = acc / l_i[:, None]
            tl.store(OUT + b * s_ob + h[:, None] * s_oh + dl[None, :], o.to(tl.bfloat16))
        else:
            row = (pid * NSPLIT + sp) * BH + tl.arange(0, BH)
            tl.store(ACC + row[:, None] * DL + dl[None, :], acc)
            tl.store(ML + row * 2, m_i)
            tl.store(ML + row * 2 + 1, l_i)

    @triton.jit
    def _mla_combine(ACC, ML, OUT, NSPLIT, NHB, s_ob, s_oh, BH: tl.constexpr, DL: tl.constexpr, SP: tl.constexpr):
        b = tl.program_id(0)
        h = tl.program_id(1)
        pid = b * NHB + h // BH
        hi = h % BH
        s = tl.arange(0, SP)
        sm = s < NSPLIT
        row = (pid * NSPLIT + s) * BH + hi
        m = tl.load(ML + row * 2, mask=sm, other=float("-inf"))
        l = tl.load(ML + row * 2 + 1, mask=sm, other=0.0)
        mx = tl.max(m, 0)
        w = tl.where(sm & (l > 0), tl.exp2(m - mx), 0.0)
        den = tl.sum(l * w, 0)
        dl = tl.arange(0, DL)
        acc = tl.load(ACC + row[:, None] * DL + dl[None, :], mask=sm[:, None], other=0.0)
        o = tl.sum(acc * w[:, None], 0) / den
        tl.store(OUT + b * s_ob + h * s_oh + dl, o.to(tl.bfloat16))

SMS = 132
ROTATE = 256 << 20
HEADS, DL, DR, DV, DN = 128, 512, 64, 128, 128  # DeepSeek-V3 (models/deepseek-v3.yaml)
KERNEL_CONFIGS = [(16, 32, 4, 2), (16, 64, 4, 2), (32, 32, 4, 2), (32, 32, 8, 2), (32, 64, 8, 1),
                  (64, 16, 8, 2), (64, 32, 8, 1)]  # (BH heads, BN tokens, warps, stages)
LAYERS = 5  # 3 dense + 2 MoE


def attention_cases():
    if QUICK:
        return [(2, 1024)]
    return [(b, ctx) for b in (1, 4, 16, 64, 128) for ctx in (1024, 4096, 16384)]


def step_cases():
    """(phase, batch, context or seq, cuda_graph)"""
    if QUICK:
        return [("decode", 4, 512, False), ("decode", 4, 512, True), ("prefill", 1, 256, False)]
    c = [("decode", b, ctx, g) for b in (1, 8, 32, 128) for ctx in (1024, 8192) for g in (False, True)]
    c += [("prefill", 1, 512, False), ("prefill", 1, 2048, False), ("prefill", 4, 1024, False)]
    return c


class Latent:
    """Absorbed MLA decode attention: per-launch buffers and the kernel configuration."""

    def __init__(self, b, ctx, cfg, nsplit, heads=HEADS):
        self.b, self.ctx, self.cfg, self.nsplit, self.heads = b, ctx, cfg, nsplit, heads
        bh = cfg[0]
        self.nhb = heads // bh
        rows = b * self.nhb * nsplit * bh
        self.acc = torch.empty(rows * DL if nsplit > 1 else 1, device="cuda", dtype=torch.float32)
        self.ml = torch.empty(rows * 2 if nsplit > 1 else 1, device="cuda", dtype=torch.float32)

    def __call__(self, ql, qr, cache, out, ctx=None):
        """ql [.., b, .., 512] and qr [b, .., 64] with strides per (sequence, head); cache [b, >= ctx, 576];
        out [b, heads, 512] or a strided view of that shape. ctx: keys to attend (default self.ctx)."""
        ctx = self.ctx if ctx is None else ctx
        bh, bn, warps, stages = self.cfg
        chunk = triton.cdiv(triton.cdiv(ctx, self.nsplit), bn) * bn
        scale = 1.0 / math.sqrt(DN + DR) * 1.4426950408889634
        direct = self.nsplit == 1
        _mla_split[(self.b * self.nhb, self.nsplit)](
            ql, qr, cache, self.acc, self.ml, out, scale, ctx, chunk, self.nsplit, self.nhb,
            ql.stride(0), ql.stride(1), qr.stride(0), qr.stride(1), cache.stride(0), cache.stride(1),
            out.stride(0), out.stride(1),
            BH=bh, DL=DL, DR=DR, BN=bn, DIRECT=direct, num_warps=warps, num_stages=stages)
        if not direct:
            _mla_combine[(self.b, self.heads)](self.acc, self.ml, out, self.nsplit, self.nhb, out.stride(0),
                                               out.stride(1), BH=bh, DL=DL, SP=triton.next_power_of_2(self.nsplit),
                                               num_warps=4)
        return out


def split_candidates(b, ctx, cfg, heads=HEADS):
    bh, bn = cfg[0], cfg[1]
    if bh > heads:
        return []
    progs = b * (heads // bh)
    out = []
    for ns in (1, 2, 4, 8, 16, 32, 64):
        if ns > 1 and (triton.cdiv(ctx, ns) < bn or progs * ns > 8 * SMS):
            continue
        out.append(ns)
    return out


def reference(ql, qr, cache, ctx):
    """fp32 softmax(q k^T) v for sequence 0: ql [heads, 512], qr [heads, 64], cache [>= ctx, 576]"""
    k = cache[:ctx].float()
    q = torch.cat([ql.float(), qr.float()], -1)
    p = torch.softmax(q @ k.T / math.sqrt(DN + DR), -1)
    return p @ k[:, :DL]


def tune(b, ctx, ql, qr, first, rotate, out):
    """the fastest (ms, Latent) over KERNEL_CONFIGS and split counts; every candidate is checked.
    ql [b, heads, 512], qr [b, heads, 64]: the heads are this GPU's"""
    heads = ql.shape[1]
    ref = reference(ql[0], qr[0], first[0], ctx)
    best = None
    for cfg in KERNEL_CONFIGS:
        for ns in split_candidates(b, ctx, cfg, heads):
            try:
                lat = Latent(b, ctx, cfg, ns, heads)
                out.normal_()
                lat(ql, qr, first, out)
                check(f"mla {cfg} splits {ns}", out[0], ref, 2e-2)
            except RuntimeError as e:
                if "correctness" in str(e):
                    raise
                log(f"mla: config {cfg} splits {ns} skipped: {str(e)[:120]}")
                continue
            t = bench(lambda i: lat(ql, qr, rotate(i), out), kernels_per_call=2, target_s=0.01, min_reps=5,
                      max_reps=20)["ms"]
            if best is None or t < best[0]:
                best = (t, lat)
    return best


def run_attention(out):
    cs = attention_cases()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(5)

    def one(case):
        b, ctx = case
        per = b * ctx * (DL + DR) * 2
        n = max(1, min(256, -(-ROTATE // per)))
        caches = torch.randn(n, b, ctx, DL + DR, device="cuda", dtype=torch.bfloat16, generator=gen)
        ql = torch.randn(b, HEADS, DL, device="cuda", dtype=torch.bfloat16, generator=gen)
        qr = torch.randn(b, HEADS, DR, device="cuda", dtype=torch.bfloat16, generator=gen)
        o = torch.empty(b, HEADS, DL, device="cuda", dtype=torch.bfloat16)
        rotate = lambda i: caches[i % n]  # noqa
        ms, lat = tune(b, ctx, ql, qr, caches[0], rotate, o)
        st = bench(lambda i: lat(ql, qr, rotate(i), o), kernels_per_call=2)
        bh, bn, warps, stages = lat.cfg
        d = {"op": "attention", "phase": "decode", "batch": b, "context": ctx, "heads": HEADS, "kv_heads": 1,
             "head_dim": DL + DR, "v_head_dim": DL, "shared_kv": True, "dtype": "bf16", "warm_l2": False,
             "impl": "triton-mla-splitkv", "model": "deepseek-v3", "splits": lat.nsplit, "head_block": bh,
             "key_block": bn, "warps": warps, "stages": stages, "rotated_copies": n}
        d.update(st)
        d["issue"] = "torch"
        return d

    run_cases(out, cs, one, "mla attention")


def load_yaml(name):
    with open(os.path.join(MODELS_DIR, name + ".yaml")) as f:
        return yaml.safe_load(f)


class DeepSeek:
    """DeepSeek-V3's first L layers in bf16 (module docstring)."""

    def __init__(self, y, L, dtype=None, init=True, max_pos=20000, tp=1, group=None):
        """tp > 1: this GPU's shard (Megatron: heads, FFN and expert widths split, the latent and
        the router replicated, an all-reduce after o_proj and after the FFN); its layers are
        filled by the caller (mla_tp_step.py), init must be False."""
        dtype = dtype or torch.bfloat16
        a, moe = y["attention"], y["moe"]
        assert tp == 1 or not init
        self.y, self.L, self.dtype, self.tp, self.group = y, L, dtype, tp, group
        self.Hd = y["hidden"]
        self.nh = a["heads"] // tp
        self.qr, self.kr, self.dn, self.dr, self.dv = (a["q_lora_rank"], a["kv_lora_rank"], a["qk_nope_head_dim"],
                                                       a["qk_rope_head_dim"], a["v_head_dim"])
        self.E, self.K, self.Ie, self.S = moe["experts"], moe["top_k"], moe["expert_intermediate"], moe["shared_experts"]
        self.dense = moe["first_dense_layers"]
        self.I = y["ffn"]["intermediate"]
        self.latent = None  # Latent(...) for the decode attention, set per case
        self.backend = None
        self.layers = []
        if init:
            g = torch.Generator(device="cuda")
            g.manual_seed(4321)
            self.layers = [self.gen_layer(l, g) for l in range(L)]
            self.gen_head(g)
            self._absorb()
        inv = 1.0 / (y["attention"].get("rope_theta", 10000.0) **
                     (torch.arange(0, self.dr, 2, device="cuda", dtype=torch.float32) / self.dr))
        fr = torch.outer(torch.arange(max_pos, device="cuda", dtype=torch.float32), inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)
        self.cache = None

    def _w(self, g, *shape):
        return torch.empty(*shape, device="cuda", dtype=self.dtype).normal_(0.0, shape[-1] ** -0.5, generator=g)

    def _ln(self, g, n):
        return torch.empty(n, device="cuda", dtype=self.dtype).normal_(1.0, 0.1, generator=g)

    def gen_layer(self, l, g):
        """layer l's weights, all heads (the unsplit model's), drawn from generator g"""
        H, nh = self.Hd, self.y["attention"]["heads"]
        w, ln = (lambda *s: self._w(g, *s)), (lambda n: self._ln(g, n))
        Ld = dict(ln1=ln(H), wqa=w(self.qr, H), qa_ln=ln(self.qr), wqb=w(nh * (self.dn + self.dr), self.qr),
                  wkva=w(self.kr + self.dr, H), kva_ln=ln(self.kr), wkvb=w(nh * (self.dn + self.dv), self.kr),
                  wo=w(H, nh * self.dv), ln2=ln(H))
        if l < self.dense:
            Ld.update(wgu=w(2 * self.I, H), wd=w(H, self.I))
        else:
            Ld.update(wr=w(self.E, H), wgu=w(self.E, 2 * self.Ie, H), wd=w(self.E, H, self.Ie),
                      sgu=w(2 * self.Ie * self.S, H), sd=w(H, self.Ie * self.S))
        return Ld

    def gen_head(self, g):
        self.norm = self._ln(g, self.Hd)
        self.lm_head = self._w(g, self.y["vocab"], self.Hd)

    def _absorb(self):
        for Ld in self.layers:
            kvb = Ld["wkvb"].view(self.nh, self.dn + self.dv, self.kr)
            Ld["w_uk"] = kvb[:, :self.dn].contiguous()                      # [nh, 128, 512]
            Ld["w_uv_t"] = kvb[:, self.dn:].transpose(1, 2).contiguous()    # [nh, 512, 128]

    def weight_bytes(self):
        n = sum(w.numel() for Ld in self.layers for k, w in Ld.items() if k not in ("w_uk", "w_uv_t"))
        return (n + self.norm.numel() + self.lm_head.numel()) * self.lm_head.element_size()

    def fp32(self):
        m = DeepSeek(self.y, self.L, torch.float32, init=False, max_pos=self.cos.shape[0], tp=self.tp, group=self.group)
        m.layers = [{k: w.float() for k, w in Ld.items()} for Ld in self.layers]
        m.norm, m.lm_head = self.norm.float(), self.lm_head.float()
        return m

    def alloc_cache(self, b, T, arena=None):
        per = b * T * (self.kr + self.dr)
        if arena is None or arena.numel() < self.L * per:
            arena = torch.empty(self.L * per, device="cuda", dtype=self.dtype).normal_()
        self.cache = [arena[l * per:(l + 1) * per].view(b, T, self.kr + self.dr) for l in range(self.L)]
        return arena

    def prefill_attention(self, q, k, v):
        """q, k [b, nh, s, 192], v [b, nh, s, 128], causal; the first of flash (unequal widths), flash
        with v padded to 192, SDPA's own choice that runs"""
        if self.dtype == torch.float32:
            with sdpa_kernel([SDPBackend.MATH]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if self.backend is None:
            for mode in ("flash", "flash-pad-v", "default"):
                try:
                    self.backend = mode
                    self.prefill_attention(q[:, :, :16], k[:, :, :16], v[:, :, :16])
                    torch.cuda.synchronize()
                    break
                except RuntimeError as e:
                    log(f"mla: prefill attention {mode} not available: {str(e)[:160]}")
            log(f"mla: prefill attention backend {self.backend}")
        if self.backend == "flash":
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if self.backend == "flash-pad-v":
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                o = F.scaled_dot_product_attention(q, k, F.pad(v, (0, q.shape[-1] - v.shape[-1])), is_causal=True)
            return o[..., :v.shape[-1]]
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def attention(self, l, Ld, x, phase, ctx, naive):
        b, s, _ = x.shape
        nh, dn, dr, dv, kr = self.nh, self.dn, self.dr, self.dv, self.kr
        p0 = 0 if phase == "prefill" else ctx
        cos, sin = self.cos[p0:p0 + s].view(1, s, 1, dr), self.sin[p0:p0 + s].view(1, s, 1, dr)
        h = rmsnorm(x, Ld["ln1"])
        q = F.linear(rmsnorm(F.linear(h, Ld["wqa"]), Ld["qa_ln"]), Ld["wqb"]).view(b, s, nh, dn + dr)
        kva = F.linear(h, Ld["wkva"])
        c = rmsnorm(kva[..., :kr], Ld["kva_ln"])
        q_pe = rope(q[..., dn:], cos, sin)
        k_pe = rope(kva[..., kr:].view(b, s, 1, dr), cos, sin)
        cache = self.cache[l]
        T = s if phase == "prefill" else ctx + 1
        cache[:, p0:p0 + s, :kr].copy_(c)
        cache[:, p0:p0 + s, kr:].copy_(k_pe.view(b, s, dr))
        if phase == "prefill" or naive:
            # K and V per head from the latent of every key (the naive form; prefill's own)
            lat = c if phase == "prefill" else cache[:, :T, :kr]
            kpe = k_pe if phase == "prefill" else cache[:, :T, kr:].view(b, T, 1, dr)
            kv = F.linear(lat, Ld["wkvb"]).view(b, T, nh, dn + dv)
            k = torch.cat([kv[..., :dn], kpe.expand(b, T, nh, dr)], -1).transpose(1, 2)
            v = kv[..., dn:].transpose(1, 2)
            qf = torch.cat([q[..., :dn], q_pe], -1).transpose(1, 2)
            if phase == "prefill":
                o = self.prefill_attention(qf, k, v)
            else:
                p = torch.softmax((qf @ k.transpose(-1, -2)) / math.sqrt(dn + dr), -1)
                o = p @ v
            o = o.transpose(1, 2).reshape(b, s, nh * dv)
        else:
            ql = torch.bmm(q[:, 0, :, :dn].transpose(0, 1), Ld["w_uk"])  # q_absorb: [nh, b, 512]
            lat_o = torch.empty(nh, b, kr, device="cuda", dtype=self.dtype)
            self.latent(ql.transpose(0, 1), q_pe[:, 0], cache, lat_o.transpose(0, 1), ctx=T)
            o = torch.bmm(lat_o, Ld["w_uv_t"])                              # v_absorb: [nh, b, 128]
            o = o.transpose(0, 1).reshape(b, 1, nh * dv)
        return F.linear(o, Ld["wo"])

    def ffn(self, l, Ld, h):
        if l < self.dense:
            g_, u = F.linear(h, Ld["wgu"]).chunk(2, dim=-1)
            return F.linear(F.silu(g_) * u, Ld["wd"])
        b, s, H = h.shape
        hf = h.reshape(b * s, H)
        topv, topi = torch.topk(F.linear(hf, Ld["wr"]), self.K, dim=-1)
        topw = torch.softmax(topv.float(), dim=-1).to(h.dtype)
        y = moe_grouped(hf, topi, topw, Ld["wgu"], Ld["wd"])
        g_, u = F.linear(hf, Ld["sgu"]).chunk(2, dim=-1)
        return (y + F.linear(F.silu(g_) * u, Ld["sd"])).view(b, s, H)

    def _allreduce(self, t):
        if self.tp > 1:
            torch.distributed.all_reduce(t, group=self.group)
        return t

    def forward(self, x, phase, ctx=0, naive=False):
        for l, Ld in enumerate(self.layers):
            x = x + self._allreduce(self.attention(l, Ld, x, phase, ctx, naive))
            x = x + self._allreduce(self.ffn(l, Ld, rmsnorm(x, Ld["ln2"])))
        return F.linear(rmsnorm(x[:, -1], self.norm), self.lm_head)


def decode_latent(b, ctx, caches, heads=HEADS):
    """the decode kernel for a step attending ctx + 1 keys with `heads` query heads (this GPU's):
    tuned as the attention records are (tune()), on the step's own caches (one per layer, rotated)"""
    T = ctx + 1
    gen = torch.Generator(device="cuda")
    gen.manual_seed(6)
    ql = torch.randn(b, heads, DL, device="cuda", dtype=torch.bfloat16, generator=gen)
    qr = torch.randn(b, heads, DR, device="cuda", dtype=torch.bfloat16, generator=gen)
    o = torch.empty(b, heads, DL, device="cuda", dtype=torch.bfloat16)
    return tune(b, T, ql, qr, caches[0], lambda i: caches[i % len(caches)], o)[1]


def correctness_step(y):
    """1 dense layer: the bf16 absorbed decode and the prefill against an fp32 naive-form run"""
    m = DeepSeek(y, 1, max_pos=4096)
    r = m.fp32()
    for phase, b, n in (("decode", 2, 200), ("prefill", 2, 64)):
        T = n + 1 if phase == "decode" else n
        s = 1 if phase == "decode" else n
        m.alloc_cache(b, T)
        r.alloc_cache(b, T)
        r.cache[0].copy_(m.cache[0].float())
        m.latent = decode_latent(b, n, m.cache) if phase == "decode" else None
        x = torch.randn(b, s, m.Hd, device="cuda", dtype=torch.bfloat16)
        e = check(f"mla step {phase}", m.forward(x, phase, n), r.forward(x.float(), phase, n, naive=True), 3e-2)
        log(f"mla: 1-layer {phase} bf16 (absorbed decode) vs fp32 naive rel err {e:.2e}")
    del m, r
    free_cuda()


def run_step(out):
    y = load_yaml("deepseek-v3")
    cs = step_cases()
    correctness_step(y)
    m = DeepSeek(y, LAYERS)
    log(f"mla: deepseek-v3 layers={LAYERS} weights {m.weight_bytes() / 1e9:.1f} GB")
    maxkv = max(LAYERS * b * (n + 1) * (m.kr + m.dr) for ph, b, n, g in cs)
    arena = torch.empty(maxkv, device="cuda", dtype=torch.bfloat16).normal_()
    out.host_op_us = host_probe()
    log(f"mla: host probe {out.host_op_us} us per eager op")

    def one(c):
        phase, b, n, graph = c
        T = n + 1 if phase == "decode" else n
        s = 1 if phase == "decode" else n
        m.alloc_cache(b, T, arena)
        m.latent = decode_latent(b, n, m.cache) if phase == "decode" else None
        x = torch.randn(b, s, m.Hd, device="cuda", dtype=torch.bfloat16)
        st, impl = timed_step(lambda: m.forward(x, phase, n), phase, b, s, graph)
        d = {"op": "model_step", "model": "deepseek-v3", "phase": phase, "batch": b}
        d["seq" if phase == "prefill" else "context"] = n
        d.update(tp=1, layers=LAYERS, cuda_graph=graph, dtype="bf16", weight_dtype="bf16")
        d.update(st)
        d.update(impl=impl, kv_cache_bytes=LAYERS * b * T * (m.kr + m.dr) * 2, weight_bytes=m.weight_bytes())
        if phase == "decode":
            bh, bn, warps, stages = m.latent.cfg
            d.update(attn="triton-mla-splitkv", splits=m.latent.nsplit, head_block=bh, key_block=bn, warps=warps,
                     stages=stages)
        else:
            d["attn"] = f"sdpa-{m.backend}"
        return d

    run_cases(out, cs, one, "mla step")


def main():
    parts = os.environ.get("HARNESS_MLA_PARTS", "attention step").split()
    if list_cases([(f"mla {p}", attention_cases() if p == "attention" else step_cases()) for p in parts]):
        return
    out = Out(out_path("mla_step.jsonl"), "mla_step.py")
    if "attention" in parts:
        run_attention(out)
        free_cuda()
    if "step" in parts:
        run_step(out)
    log(f"mla: wrote {out.n} lines")


if __name__ == "__main__":
    main()

"""The reference model step of docs/trace-format.md, in plain PyTorch.

Per layer: rmsnorm -> fused qkv linear -> RoPE -> KV-cache write -> SDPA (flash, GQA)
-> o linear (+ all-reduce under TP) + residual -> rmsnorm -> fused gate-up linear -> silu*mul
-> down linear (+ all-reduce under TP) + residual; then final rmsnorm and the lm-head on the last
position of each sequence. The input is the hidden-state tensor [batch, tokens, hidden] (no
embedding lookup). Tensor parallel = Megatron split (qkv / gate-up by columns, o / down by rows);
the lm-head is not split (each rank computes the full vocab).
MoE models (cfg "experts", one GPU): the FFN is a router (linear, top-k, softmax over the k
logits, cast: 4 kernels) and moe.py's grouped experts (torch._grouped_mm); moe_impl="loop" runs
moe.py's per-expert loop instead (the correctness reference).
"""
import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from hcommon import MODELS_DIR, load_cfg, rel_err  # noqa: F401  (torch-free; re-exported here)
from moe import moe_grouped, moe_loop

_GQA_MODE = {}


def gqa_mode(device="cuda"):
    """'enable_gqa' if SDPA's flash backend takes enable_gqa=True here, else 'expand_kv'."""
    if device in _GQA_MODE:
        return _GQA_MODE[device]
    q = torch.randn(1, 8, 16, 128, device=device, dtype=torch.bfloat16)
    k = torch.randn(1, 2, 16, 128, device=device, dtype=torch.bfloat16)
    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            F.scaled_dot_product_attention(q, k, k, is_causal=True, enable_gqa=True)
        torch.cuda.synchronize()
        mode = "enable_gqa"
    except Exception:
        mode = "expand_kv"
    _GQA_MODE[device] = mode
    return mode


def sdpa(q, k, v, causal, mode):
    if k.shape[1] != q.shape[1]:
        if mode == "enable_gqa":
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def rmsnorm(x, w, eps=1e-5):
    # as Hugging Face Llama writes it
    dt = x.dtype
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(dt)


def rope(x, cos, sin):
    # x [b, s, h, d]; cos/sin [1, s, 1, d]; rotate-half form
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Model:
    def __init__(self, cfg, layers=None, tp=1, group=None, dtype=torch.bfloat16, device="cuda",
                 max_pos=140000, init=True):
        self.cfg = cfg
        self.L = layers or cfg["layers"]
        self.tp = tp
        self.group = group
        self.dtype = dtype
        self.device = device
        H, d = cfg["hidden"], cfg["head_dim"]
        assert cfg["heads"] % tp == 0 and cfg["kv_heads"] % tp == 0 and cfg["inter"] % tp == 0
        self.hq, self.hk, self.d = cfg["heads"] // tp, cfg["kv_heads"] // tp, d
        self.I = cfg["inter"] // tp
        self.H = H
        self.E, self.K = cfg.get("experts", 0), cfg.get("top_k", 0)
        self.moe_impl = "grouped"
        # moe_hook(layer index, tokens [b*s, H], layer dict) -> [b*s, H]: the MoE layer's output
        # computed elsewhere (ep_step.py's expert parallelism); None: moe_impl on this GPU.
        self.moe_hook = None
        assert not self.E or tp == 1 or not init, "MoE models with tp > 1: build the layers outside (ep_step.py)"
        self.backends = [SDPBackend.FLASH_ATTENTION] if dtype in (torch.bfloat16, torch.float16) else [SDPBackend.MATH]
        self.mode = gqa_mode(device) if self.backends[0] == SDPBackend.FLASH_ATTENTION else "enable_gqa"
        e = lambda *s: torch.empty(*s, device=device, dtype=dtype)  # noqa
        self.layers = []
        if init:
            for _ in range(self.L):
                Ld = dict(ln1=e(H), wqkv=e((self.hq + 2 * self.hk) * d, H), wo=e(H, self.hq * d), ln2=e(H))
                if self.E:
                    Ie = cfg["expert_inter"]
                    Ld.update(wr=e(self.E, H), wgu=e(self.E, 2 * Ie, H), wd=e(self.E, H, Ie))
                else:
                    Ld.update(wgu=e(2 * self.I, H), wd=e(H, self.I))
                self.layers.append(Ld)
            self.norm = e(H)
            self.lm_head = e(cfg["vocab"], H)
            g = torch.Generator(device=device)
            g.manual_seed(1234 + (torch.distributed.get_rank() if torch.distributed.is_initialized() else 0))
            for Ld in self.layers:
                for k, w in Ld.items():
                    if k.startswith("ln"):
                        w.normal_(1.0, 0.1, generator=g)
                    else:
                        w.normal_(0.0, 1.0 / math.sqrt(w.shape[-1]), generator=g)
            self.norm.normal_(1.0, 0.1, generator=g)
            self.lm_head.normal_(0.0, 1.0 / math.sqrt(H), generator=g)
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d))
        t = torch.arange(max_pos, device=device, dtype=torch.float32)
        fr = torch.outer(t, inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.cos = emb.cos().to(dtype)
        self.sin = emb.sin().to(dtype)
        self.kc = self.vc = None

    def weight_bytes(self):
        n = sum(w.numel() for Ld in self.layers for w in Ld.values()) + self.norm.numel() + self.lm_head.numel()
        return n * self.lm_head.element_size()

    def converted(self, dtype):
        m = Model(self.cfg, self.L, self.tp, self.group, dtype, self.device, max_pos=self.cos.shape[0], init=False)
        m.layers = [{k: w.to(dtype) for k, w in Ld.items()} for Ld in self.layers]
        m.norm = self.norm.to(dtype)
        m.lm_head = self.lm_head.to(dtype)
        m.moe_impl = self.moe_impl
        return m

    def alloc_cache(self, b, T, arena=None):
        """KV cache [b, kv_heads, T, d] per layer, as views of `arena` (random-filled) if big enough."""
        per = b * self.hk * T * self.d
        need = 2 * self.L * per
        if arena is None or arena.numel() < need:
            arena = torch.empty(need, device=self.device, dtype=self.dtype).normal_()
        self.kc = [arena[(2 * l) * per:(2 * l + 1) * per].view(b, self.hk, T, self.d) for l in range(self.L)]
        self.vc = [arena[(2 * l + 1) * per:(2 * l + 2) * per].view(b, self.hk, T, self.d) for l in range(self.L)]
        return arena

    def _allreduce(self, t):
        if self.tp > 1:
            torch.distributed.all_reduce(t, group=self.group)
        return t

    def forward(self, x, phase, ctx=0, head=True):
        """x [b, s, H]. prefill: s new tokens at positions 0..s-1; decode: s=1 at position ctx,
        attending ctx cached tokens plus itself. head=False: return the hidden states after the
        last layer (a pipeline stage that is not the last)."""
        b, s, _ = x.shape
        hq, hk, d = self.hq, self.hk, self.d
        p0 = 0 if phase == "prefill" else ctx
        cos = self.cos[p0:p0 + s].view(1, s, 1, d)
        sin = self.sin[p0:p0 + s].view(1, s, 1, d)
        with sdpa_kernel(self.backends):
            for l, Ld in enumerate(self.layers):
                h = rmsnorm(x, Ld["ln1"])
                qkv = F.linear(h, Ld["wqkv"])
                q, k, v = qkv.split([hq * d, hk * d, hk * d], dim=-1)
                q = rope(q.view(b, s, hq, d), cos, sin).transpose(1, 2)
                k = rope(k.view(b, s, hk, d), cos, sin).transpose(1, 2)
                v = v.view(b, s, hk, d).transpose(1, 2)
                kc, vc = self.kc[l], self.vc[l]
                if phase == "prefill":
                    kc[:, :, :s].copy_(k)
                    vc[:, :, :s].copy_(v)
                    o = sdpa(q, k, v, True, self.mode)
                else:
                    kc[:, :, ctx:ctx + 1].copy_(k)
                    vc[:, :, ctx:ctx + 1].copy_(v)
                    o = sdpa(q, kc[:, :, :ctx + 1], vc[:, :, :ctx + 1], False, self.mode)
                o = o.transpose(1, 2).reshape(b, s, hq * d)
                x = x + self._allreduce(F.linear(o, Ld["wo"]))
                h = rmsnorm(x, Ld["ln2"])
                if self.E:
                    hf = h.reshape(b * s, self.H)
                    topv, topi = torch.topk(F.linear(hf, Ld["wr"]), self.K, dim=-1)
                    topw = torch.softmax(topv.float(), dim=-1).to(h.dtype)
                    if self.moe_hook is not None:
                        x = x + self.moe_hook(l, hf, Ld).view(b, s, self.H)
                        continue
                    moe = moe_grouped if self.moe_impl == "grouped" else moe_loop
                    x = x + moe(hf, topi, topw, Ld["wgu"], Ld["wd"]).view(b, s, self.H)
                    continue
                gu = F.linear(h, Ld["wgu"])
                g_, u = gu.chunk(2, dim=-1)
                x = x + self._allreduce(F.linear(F.silu(g_) * u, Ld["wd"]))
        if not head:
            return x
        h = rmsnorm(x[:, -1], self.norm)
        return F.linear(h, self.lm_head)


def capture_graph(fn, warmup=2, capture_error_mode="global"):
    """Capture fn() (no args) in a CUDA graph; returns (graph, static output).
    Use capture_error_mode='thread_local' when other threads (NCCL watchdog) run CUDA calls."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, capture_error_mode=capture_error_mode):
        out = fn()
    torch.cuda.synchronize()
    return g, out


def distributed_step(m, x, phase, n, graph):
    """one rank's step of a multi-GPU run (tp_step.py, ep_step.py) as a callable: eager, or
    captured in a CUDA graph (NCCL inside, thread-local capture) and checked once against the
    eager step. Returns (fn, graph or None): keep the graph alive while fn is used."""
    if not graph:
        return (lambda: m.forward(x, phase, n)), None
    ref = m.forward(x, phase, n)
    g, yo = capture_graph(lambda: m.forward(x, phase, n), capture_error_mode="thread_local")
    g.replay()
    e = rel_err(yo, ref)
    if e > 1e-2:
        raise RuntimeError(f"graph vs eager rel err {e}")
    return g.replay, g

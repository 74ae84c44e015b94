"""op=gemm with quantized weights, through PyTorch's own kernels, each beside its bf16 baseline:
  W4A16  torch._weight_int4pack_mm: 4-bit weights with bf16 group scales and zeros (group 128),
         bf16 activations (the "tinygemm" kernel torchao uses); weight_format=int4-g128
  W8A8   torch._int_mm: int8 x int8 -> int32 (m > 16);                       dtype=int8
  bf16   F.linear on the same shapes (the baseline a user compares with);   dtype=bf16
Weights are cold (warm_l2=false): each rep uses the next of enough weight copies to exceed the L2
cache several times. Each (n, k) is checked once: the int4 kernel must be the linear map it
recovers from an identity input (x = I gives W_dq), int8 must match an exact int32 reference.
Timing 'queued' (GPU time), like the other kernel scripts.
Usage: quant.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
HARNESS_HELDOUT=1: the held-out shapes (Qwen2.5); HARNESS_HELDOUT=2: a second held-out set
(Llama-3.2-3B, Mistral-NeMo-12B, Gemma-2-9B, Yi-34B projections at small batch).
"""
import os

from hcommon import HELDOUT, LIST_CASES, QUICK, Out, bench, list_cases, log, out_path, run_cases

HELDOUT2 = os.environ.get("HARNESS_HELDOUT", "0") == "2"

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

GROUP = 128
ROTATE_BYTES = 320 << 20  # > 5x the 60 MiB L2


def shapes(heldout=HELDOUT, heldout2=HELDOUT2):
    """(n, k, model) of the weight matrices: Llama-3 8B and 70B projections"""
    s = [(6144, 4096, "llama3-8b qkv"), (28672, 4096, "llama3-8b gate-up"), (4096, 14336, "llama3-8b down"),
         (10240, 8192, "llama3-70b qkv"), (57344, 8192, "llama3-70b gate-up"), (8192, 28672, "llama3-70b down"),
         (4096, 4096, "square")]
    if heldout:  # Qwen2.5-7B and -14B projections
        s = [(4608, 3584, "qwen2.5-7b qkv"), (37888, 3584, "qwen2.5-7b gate-up"), (3584, 18944, "qwen2.5-7b down"),
             (7168, 5120, "qwen2.5-14b qkv"), (5120, 13824, "qwen2.5-14b down")]
    if heldout2:
        s = [(5120, 3072, "llama3.2-3b qkv"), (16384, 3072, "llama3.2-3b gate-up"), (3072, 8192, "llama3.2-3b down"),
             (6144, 5120, "mistral-nemo-12b qkv"), (5120, 14336, "mistral-nemo-12b down"),
             (28672, 3584, "gemma2-9b gate-up"), (3584, 14336, "gemma2-9b down"), (7168, 20480, "yi-34b down")]
    return s[:2] if QUICK else s


def ms_list(heldout=HELDOUT, heldout2=HELDOUT2):
    if heldout2:
        return [2, 10] if QUICK else [1, 2, 4, 5, 10, 16, 40, 200]
    if heldout:
        return [3, 12] if QUICK else [1, 3, 6, 12, 24, 48, 96, 192, 384, 768, 1536, 3072]
    return [1, 16, 256] if QUICK else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


def cases():
    c = []
    for n, k, what in shapes():
        for m in ms_list():
            c.append(("int4", m, n, k, what))
            c.append(("bf16", m, n, k, what))
            if m > 16 and m in (32, 128, 512, 2048, 4096, 256, 24, 96, 384, 1536, 3072, 40, 200):
                c.append(("int8", m, n, k, what))
    return c


def copies(nbytes):
    return int(max(2, min(48, -(-ROTATE_BYTES // nbytes))))


_W = {}


def weights(kind, n, k):
    """rotating copies of the (n, k) weight in `kind`'s stored form (cached for the shape)"""
    key = (kind, n, k)
    if key in _W:
        return _W[key]
    _W.clear()
    torch.cuda.empty_cache()
    if kind == "bf16":
        per = n * k * 2
        ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * k ** -0.5 for _ in range(copies(per))]
    elif kind == "int8":
        per = n * k
        ws = [torch.randint(-127, 128, (n, k), device="cuda", dtype=torch.int8) for _ in range(copies(per))]
    else:
        per = n * k // 2 + (k // GROUP) * n * 2 * 2
        ws = []
        for _ in range(copies(per)):
            q = torch.randint(0, 16, (n, k), device="cuda", dtype=torch.int32)
            u8 = (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8)
            packed = torch._convert_weight_to_int4pack(u8, 8)
            sz = torch.empty(k // GROUP, n, 2, device="cuda", dtype=torch.bfloat16)
            sz[..., 0].uniform_(0.5, 1.5).mul_(k ** -0.5 / 4)
            sz[..., 1].normal_(0, k ** -0.5 / 8)
            ws.append((packed, sz))
    _W[key] = (ws, per)
    return _W[key]


_CHECKED = set()


def check_shape(kind, n, k, ws):
    if (kind, n, k) in _CHECKED:
        return
    if kind == "int4":
        packed, sz = ws[0]
        kk = min(k, 4096)  # identity over the first kk input channels recovers those columns of W_dq
        eye = torch.zeros(kk, k, device="cuda", dtype=torch.bfloat16)
        eye[:, :kk] = torch.eye(kk, device="cuda", dtype=torch.bfloat16)
        wdq_t = torch._weight_int4pack_mm(eye, packed, GROUP, sz)  # [kk, n] = W_dq[:, :kk]^T
        x = torch.zeros(8, k, device="cuda", dtype=torch.bfloat16)
        x[:, :kk] = torch.randn(8, kk, device="cuda", dtype=torch.bfloat16)
        y = torch._weight_int4pack_mm(x, packed, GROUP, sz).double()
        ref = x[:, :kk].double() @ wdq_t.double()
        e = ((y - ref).norm() / ref.norm()).item()
        distinct = torch.unique(wdq_t[:, 0]).numel()
        if not (e < 2e-2) or distinct < 8:
            raise RuntimeError(f"int4 check failed: rel err {e:.3g}, {distinct} distinct dequantized values")
    elif kind == "int8":
        x = torch.randint(-127, 128, (32, k), device="cuda", dtype=torch.int8)
        y = torch._int_mm(x, ws[0].t())
        ref = (x.double() @ ws[0].double().t())
        if not torch.equal(y.double(), ref):
            raise RuntimeError("int8 check failed: _int_mm differs from the exact product")
    _CHECKED.add((kind, n, k))


def main():
    cs = cases()
    if list_cases([("quant", cs)]):
        return
    out = Out(out_path("quant.jsonl"), "quant.py")

    def case(c):
        kind, m, n, k, what = c
        ws, per = weights(kind, n, k)
        check_shape(kind, n, k, ws)
        nc = len(ws)
        if kind == "int4":
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            f = lambda i: torch._weight_int4pack_mm(x, ws[i % nc][0], GROUP, ws[i % nc][1])  # noqa
            impl, dt = "torch._weight_int4pack_mm (tinygemm)", "bf16"
        elif kind == "int8":
            x = torch.randint(-127, 128, (m, k), device="cuda", dtype=torch.int8)
            f = lambda i: torch._int_mm(x, ws[i % nc].t())  # noqa
            impl, dt = "torch._int_mm", "int8"
        else:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            f = lambda i: F.linear(x, ws[i % nc])  # noqa
            impl, dt = "F.linear", "bf16"
        st = bench(f, queued=True, target_s=0.05, min_reps=10, max_reps=60)
        d = {"op": "gemm", "m": m, "n": n, "k": k, "dtype": dt}
        if kind == "int4":
            d["weight_format"] = f"int4-g{GROUP}"
        d["warm_l2"] = False
        d.update(st)
        d.update(impl=impl, weight_copies=nc, weight_bytes=per, shape=what)
        return d

    run_cases(out, cs, case, "quant")
    log(f"quant: wrote {out.n} lines")


if __name__ == "__main__":
    main()

"""op=rmsnorm and op=swiglu, bf16, as a model writes them in eager PyTorch.
rmsnorm impls: 'torch-expr' (Hugging Face Llama expression: fp32 upcast, pow/mean/rsqrt, cast,
weight multiply) and 'F.rms_norm' (torch.nn.functional.rms_norm).
swiglu: a, b = x.chunk(2, -1); F.silu(a) * b on x [tokens, 2*inter].
Inputs are not rotated (warm_l2=true: activations just written by the previous op).
Checked once per case against an fp64 reference. Timing 'queued' (GPU time).
Usage: norm.py OUT.jsonl
"""
import torch
import torch.nn.functional as F

from hcommon import Out, QUICK, add_graph_ms, bench, check, log, out_path, run_cases
from model import rmsnorm as rms_expr

EPS = 1e-5


def rms_f(x, w):
    return F.rms_norm(x, (x.shape[-1],), w, EPS)


def main():
    out = Out(out_path("norm.jsonl"), "norm.py")
    toks = [1, 8, 32, 128, 512, 1024, 2048, 4096, 8192, 16384, 32768]
    if QUICK:
        toks = [8, 4096]
    impls = [("torch-expr", lambda x, w: rms_expr(x, w, EPS), 6)]
    if hasattr(F, "rms_norm"):
        impls.append(("F.rms_norm", rms_f, 2))
    rcases = [(impl, t, h) for impl in impls for h in (4096, 8192) for t in toks]
    if not QUICK:
        rcases += [(impl, t, 16384) for impl in impls for t in (1, 512, 4096, 16384)]

    def rms_case(c):
        (impl, f, kpc), t, h = c
        x = torch.randn(t, h, device="cuda", dtype=torch.bfloat16)
        w = (1 + 0.1 * torch.randn(h, device="cuda")).to(torch.bfloat16)
        y = f(x, w)
        xd = x.double()
        ref = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + EPS) * w.double()
        check("rmsnorm", y, ref, 1e-2)
        st = bench(lambda i: f(x, w), queued=True, target_s=0.05, min_reps=10, max_reps=50, kernels_per_call=kpc)
        add_graph_ms(st, lambda i: f(x, w))
        d = {"op": "rmsnorm", "tokens": t, "hidden": h, "dtype": "bf16", "warm_l2": True}
        d.update(st)
        d.update(impl=impl, bytes_min=2 * t * h * 2 + h * 2)
        return d

    run_cases(out, rcases, rms_case, "rmsnorm")

    inters = [(14336, "llama3-8b"), (28672, "llama3-70b"), (2048, "deepseek-v3-expert")]
    scases = [(t, i, m) for i, m in inters for t in toks if not (QUICK and i != 14336)]

    def swiglu(x):
        a, b = x.chunk(2, dim=-1)
        return F.silu(a) * b

    def sw_case(c):
        t, inter, m = c
        x = torch.randn(t, 2 * inter, device="cuda", dtype=torch.bfloat16)
        y = swiglu(x)
        xd = x.double()
        ref = F.silu(xd[:, :inter]) * xd[:, inter:]
        check("swiglu", y, ref, 1e-2)
        st = bench(lambda i: swiglu(x), queued=True, target_s=0.05, min_reps=10, max_reps=50, kernels_per_call=2)
        add_graph_ms(st, lambda i: swiglu(x))
        d = {"op": "swiglu", "tokens": t, "inter": inter, "dtype": "bf16", "warm_l2": True}
        d.update(st)
        d.update(impl="F.silu(a)*b", model=m, bytes_min=3 * t * inter * 2)
        return d

    run_cases(out, scases, sw_case, "swiglu")
    log(f"norm: wrote {out.n} lines")


if __name__ == "__main__":
    main()

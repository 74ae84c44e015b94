"""op=rmsnorm and op=swiglu, bf16, as a model writes them in eager PyTorch.
rmsnorm impls: 'torch-expr' (Hugging Face Llama expression: fp32 upcast, pow/mean/rsqrt, cast,
weight multiply) and 'F.rms_norm' (torch.nn.functional.rms_norm).
swiglu: a, b = x.chunk(2, -1); F.silu(a) * b on x [tokens, 2*inter].
Inputs are not rotated (warm_l2=true: activations just written by the previous op).
Checked once per case against an fp64 reference. Timing 'queued' (GPU time).
run() takes the case lists: heldout/norm_ho.py calls it with its own.
Usage: norm.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
from hcommon import LIST_CASES, QUICK, Out, add_graph_ms, bench, check, list_cases, log, out_path, run_cases

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

    from model import rmsnorm as rms_expr

EPS = 1e-5
IMPLS = ("torch-expr", "F.rms_norm")  # F.rms_norm cases are dropped where torch lacks it


def toks():
    return [8, 4096] if QUICK else [1, 8, 32, 128, 512, 1024, 2048, 4096, 8192, 16384, 32768]


def cases():
    """(rmsnorm cases (impl, tokens, hidden), swiglu cases (tokens, inter, model))"""
    t = toks()
    rcases = [(impl, n, h) for impl in IMPLS for h in (4096, 8192) for n in t]
    if not QUICK:
        rcases += [(impl, n, 16384) for impl in IMPLS for n in (1, 512, 4096, 16384)]
    inters = [(14336, "llama3-8b"), (28672, "llama3-70b"), (2048, "deepseek-v3-expert")]
    scases = [(n, i, m) for i, m in inters for n in t if not (QUICK and i != 14336)]
    return rcases, scases


def rms_f(x, w):
    return F.rms_norm(x, (x.shape[-1],), w, EPS)


def swiglu(x):
    a, b = x.chunk(2, dim=-1)
    return F.silu(a) * b


def run(rcases, scases, name="norm", program="norm.py", labels=("rmsnorm", "swiglu")):
    """Time the rmsnorm cases rcases and swiglu cases scases (as cases() makes them); write OUT.jsonl
    (argv[1], else NAME.jsonl); labels name the two case groups in the log."""
    if list_cases([(labels[0], rcases), (labels[1], scases)]):
        return
    out = Out(out_path(f"{name}.jsonl"), program)
    impls = {"torch-expr": (lambda x, w: rms_expr(x, w, EPS), 6)}  # impl: (fn, kernels per call)
    if hasattr(F, "rms_norm"):
        impls["F.rms_norm"] = (rms_f, 2)
    rcases = [c for c in rcases if c[0] in impls]

    def rms_case(c):
        impl, t, h = c
        f, kpc = impls[impl]
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

    run_cases(out, rcases, rms_case, labels[0])

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

    run_cases(out, scases, sw_case, labels[1])
    log(f"{name}: wrote {out.n} lines")


def main():
    run(*cases())


if __name__ == "__main__":
    main()

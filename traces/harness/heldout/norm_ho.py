"""HELD-OUT op=rmsnorm / op=swiglu cases (never used for calibration; traces/README.md "Held-out set").

Same method as traces/harness/torch/norm.py (impls 'torch-expr' = model.rmsnorm and 'F.rms_norm';
swiglu = F.silu(a)*b on chunk views; inputs not rotated; fp64 check; queued timing; ms_graph under
0.25 ms) at widths (hidden 5120, 6144, 7168; inter 1408, 18944, 29568) and token counts
(3, 12, 48, 96, 200, 700, 1536, 2500, 5000, 12000) that the committed sweep does not use.
Usage: norm_ho.py OUT.jsonl
"""
import _path  # noqa: F401
import torch
import torch.nn.functional as F

from hcommon import Out, QUICK, add_graph_ms, bench, check, log, out_path, run_cases
from model import rmsnorm as rms_expr

EPS = 1e-5


def rms_f(x, w):
    return F.rms_norm(x, (x.shape[-1],), w, EPS)


def swiglu(x):
    a, b = x.chunk(2, dim=-1)
    return F.silu(a) * b


def main():
    out = Out(out_path("norm_ho.jsonl"), "heldout/norm_ho.py")
    impls = [("torch-expr", lambda x, w: rms_expr(x, w, EPS), 6)]
    if hasattr(F, "rms_norm"):
        impls.append(("F.rms_norm", rms_f, 2))
    if QUICK:
        shapes = [(48, 5120)]
        sw = [(700, 18944, "qwen2.5-7b")]
    else:
        shapes = [(t, 5120) for t in (3, 700, 12000)] + [(t, 6144) for t in (48, 96, 2500)] + \
                 [(t, 7168) for t in (12, 200, 1536, 5000)]
        sw = [(t, 18944, "qwen2.5-7b") for t in (3, 200, 2500, 12000)] + \
             [(t, 29568, "qwen2.5-72b") for t in (12, 700, 5000)] + \
             [(t, 1408, "deepseek-v2-lite-expert") for t in (48, 5000)]
    rcases = [(impl, t, h) for impl in impls for t, h in shapes]

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

    run_cases(out, rcases, rms_case, "rmsnorm_ho")

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

    run_cases(out, sw, sw_case, "swiglu_ho")
    log(f"norm_ho: wrote {out.n} lines")


if __name__ == "__main__":
    main()

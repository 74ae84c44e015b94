"""Profile (not a scored trace): the kernels of norm.py's eager expressions at small sizes, where
one fixed cost per kernel misses them (docs/kernel-model.md, Known gaps): the Hugging Face RMSNorm
expression (model.py rmsnorm) at 1-512 tokens, and swiglu's F.silu(a) * b on chunked halves at
1-512 tokens, each under torch.profiler (name, grid, block, duration, start) after a warm-up,
with the same call timed queued (hcommon.bench) beside it.
Usage: norm_kernels.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

from hcommon import LIST_CASES, bench, kernel_events, list_cases, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

    from model import rmsnorm

TOKENS = [1, 8, 32, 128, 512]
CASES = [("rmsnorm torch-expr", t, h) for h in (4096, 8192) for t in TOKENS] + \
        [("swiglu F.silu(a)*b", t, i) for i in (2048, 14336) for t in TOKENS]


def main():
    if list_cases([("norm_kernels", CASES)]):
        return
    out = sys.argv[1] if len(sys.argv) > 1 else "norm_kernels.jsonl"
    with open(out, "w") as f:
        write_env(f, "norm_kernels.py")
        for what, t, width in CASES:
            if what.startswith("rmsnorm"):
                x = torch.randn(t, width, device="cuda", dtype=torch.bfloat16)
                w = torch.randn(width, device="cuda", dtype=torch.bfloat16)
                fn = lambda x=x, w=w: rmsnorm(x, w, 1e-5)  # noqa: E731
            else:
                x = torch.randn(t, 2 * width, device="cuda", dtype=torch.bfloat16)

                def fn(x=x):
                    a, b = x.chunk(2, dim=-1)
                    return F.silu(a) * b
            st = bench(lambda i: fn())
            ks = kernel_events(fn)
            t0 = ks[0]["ts"] if ks else 0
            d = dict(norm_kernels=what, tokens=t, width=width, ms=st["ms"], kernel_count=len(ks),
                     kernel_us_sum=round(sum(k["us"] for k in ks), 3),
                     span_us=round(ks[-1]["ts"] + ks[-1]["us"] - t0, 3) if ks else None,
                     kernels=[dict(name=k["name"][:90], grid=k["grid"], block=k["block"], us=k["us"],
                                   start=round(k["ts"] - t0, 3)) for k in ks])
            f.write(json.dumps(d) + "\n")
            f.flush()


if __name__ == "__main__":
    main()

"""Profile (not a scored trace): the kernels of moe.py's 'grouped' MoE layer (token sort,
torch._grouped_mm, silu*mul, weighting, index_add_), one layer call per case under
torch.profiler: each kernel's name, grid, block and duration, beside the layer's queued time.
Cases: moe.py's configs at its token counts. Routing drawn as moe.py draws it.
Usage: moe_profile.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

from hcommon import LIST_CASES, QUICK, bench, list_cases, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch

    from gemm_profile import kernels
    from moe import moe_grouped

CONFIGS = [("mixtral-8x7b", 8, 2, 4096, 14336), ("deepseek-v3", 256, 8, 7168, 2048),
           ("qwen3-30b-a3b", 128, 8, 2048, 768)]


def cases():
    toks = [16, 1024] if QUICK else [1, 16, 256, 1024, 4096, 8192]
    return [(c, T) for c in CONFIGS for T in toks]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "moe_profile.jsonl"
    cs = cases()
    if list_cases([("moe_profile", cs)]):
        return
    with open(out, "w") as f:
        write_env(f, "moe_profile.py")
        last = None
        for (name, E, K, H, I), T in cs:
            try:
                if last != name:
                    wgu = wd = None
                    torch.cuda.empty_cache()
                    wgu = torch.randn(E, 2 * I, H, device="cuda", dtype=torch.bfloat16) * H ** -0.5
                    wd = torch.randn(E, H, I, device="cuda", dtype=torch.bfloat16) * I ** -0.5
                    last = name
                x = torch.randn(T, H, device="cuda", dtype=torch.bfloat16)
                scores = torch.randn(T, E, device="cuda").softmax(-1)
                tw, ti = scores.topk(K, dim=-1)
                tw = (tw / tw.sum(-1, keepdim=True)).to(torch.bfloat16)
                fn = lambda: moe_grouped(x, ti, tw, wgu, wd)  # noqa: E731
                st = bench(lambda i: fn(), kernels_per_call=22)
                ks = kernels(fn)
                d = dict(moe_kernels="grouped", model=name, experts=E, top_k=K, hidden=H, inter=I, tokens=T,
                         kernels=ks, **st)
                f.write(json.dumps(d, separators=(",", ":")) + "\n")
                f.flush()
            except Exception as e:  # noqa: BLE001
                log(f"moe_profile: {name} T={T} failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()

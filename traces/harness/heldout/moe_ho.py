"""HELD-OUT op=moe_ffn cases (never used for calibration; traces/README.md "Held-out set").

The committed traces/harness/torch/moe.py implementations (moe_grouped = token sort +
torch._grouped_mm, moe_loop = HF Mixtral-style loop with a host sync per hit expert, the fp32
per-token reference) for a config the committed sweep does not use: DeepSeek-V2-Lite routed
experts (64 experts, top-6, hidden 2048, inter 1408, no shared expert), at new token counts.
Routing drawn before timing; grouped timed 'queued', loop timed 'issue' (as moe.py).
Usage: moe_ho.py OUT.jsonl
"""
import _path  # noqa: F401
import torch

import moe
from hcommon import Out, QUICK, add_graph_ms, bench, check, log, out_path, run_cases

CONFIG = ("deepseek-v2-lite", 64, 6, 2048, 1408)  # name, experts, top_k, hidden, inter


def main():
    out = Out(out_path("moe_ho.jsonl"), "heldout/moe_ho.py")
    gmm = moe.GMM is not None
    grouped = moe.moe_grouped if gmm else moe.moe_padded_bmm
    gdetail = "torch._grouped_mm" if gmm else "padded torch.bmm"
    log(f"moe_ho: grouped impl = {gdetail}")
    name, E, K, H, I = CONFIG
    g = torch.Generator(device="cuda")
    g.manual_seed(11)
    wgu = torch.empty(E, 2 * I, H, device="cuda", dtype=torch.bfloat16).normal_(0, H ** -0.5, generator=g)
    wd = torch.empty(E, H, I, device="cuda", dtype=torch.bfloat16).normal_(0, I ** -0.5, generator=g)
    wbytes = (wgu.numel() + wd.numel()) * 2
    toks = [12] if QUICK else [3, 48, 200, 2500, 12000]

    def one(c):
        T, impl = c
        x = torch.randn(T, H, device="cuda", dtype=torch.bfloat16)
        scores = torch.randn(T, E, device="cuda").softmax(-1)
        tw, ti = scores.topk(K, dim=-1)
        tw = (tw / tw.sum(-1, keepdim=True)).to(torch.bfloat16)
        f = grouped if impl == "grouped" else moe.moe_loop
        y = f(x, ti, tw, wgu, wd)
        n = min(T, 4)
        check(f"moe {impl}", y[:n], moe.reference(x, ti, tw, wgu, wd, n), 3e-2)
        st = bench(lambda i: f(x, ti, tw, wgu, wd), queued=(impl == "grouped" and gmm),
                   target_s=0.1, min_reps=5, max_reps=30, kernels_per_call=16)
        if impl == "grouped" and gmm:
            add_graph_ms(st, lambda i: f(x, ti, tw, wgu, wd), n=10, limit_ms=2.0)
        hit = int((torch.bincount(ti.flatten(), minlength=E) > 0).sum())
        d = {"op": "moe_ffn", "experts": E, "top_k": K, "hidden": H, "inter": I, "tokens": T, "impl": impl,
             "dtype": "bf16"}
        d.update(st)
        d.update(model=name, experts_hit=hit, expert_bytes_read=hit * wbytes // E,
                 impl_detail=(gdetail if impl == "grouped" else "per-expert F.linear loop (HF Mixtral style)"))
        return d

    run_cases(out, [(T, impl) for T in toks for impl in ("grouped", "loop")], one, f"moe_ho {name}")
    log(f"moe_ho: wrote {out.n} lines")


if __name__ == "__main__":
    main()

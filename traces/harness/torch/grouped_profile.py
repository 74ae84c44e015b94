"""Profile (not a scored trace): torch._grouped_mm, the grouped GEMM of the MoE layers (moe.py,
ep_moe.py), alone. Per case: the group count G, the GEMM's n and k, the rows of each group (its
expert's token copies), the call's time (queued CUDA events: the problem-setup kernel and the
CUTLASS GEMM) and, from one call under torch.profiler, each kernel's name, grid, block and
duration. The name carries the tile shape and schedule (cooperative / ping-pong) PyTorch picked.
Rows per group come three ways:
  "even":   every group the same m (the model's view of balanced routing);
  "random": the counts of a real router draw (top_k of softmax(randn), as moe.py), T tokens;
  "ragged": "even" with every other group one row over a tile boundary (m + 1 / m - 1).
Weights rotate over copies of at least 512 MiB in all (cold, as in moe.py's layers).
Records: {"grouped_mm": kind, "groups", "n", "k", "counts": [...], "rows", "ms", ..., "kernels"}.
HARNESS_GROUPED_SWEEP=1: only a sweep of even rows 16-128 for Mixtral's and DeepSeek-V3's gate-up.
Usage: grouped_profile.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import os
import sys

from hcommon import LIST_CASES, QUICK, bench, list_cases, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch

    from gemm_profile import kernels

    GMM = getattr(torch, "_grouped_mm", None)

# (name, experts, top_k, hidden, inter): moe.py's configs and one more shape family
CONFIGS = [("mixtral-8x7b", 8, 2, 4096, 14336), ("deepseek-v3", 256, 8, 7168, 2048),
           ("qwen3-30b-a3b", 128, 8, 2048, 768)]
ROTATE_BYTES = 512 << 20


def cases():
    """(kind, G, n, k, m or tokens, label)"""
    if os.environ.get("HARNESS_GROUPED_SWEEP") == "1":
        # rows per group across the ping-pong kernel's range, one row at a time around its 64-row
        # tile: does a group's second tile (its cluster's other CTA) change the streaming rate?
        return [("even", E, 2 * I, H, m, f"{name} gate-up sweep")
                for name, E, K, H, I in CONFIGS[:2] for m in (16, 32, 48, 63, 64, 65, 80, 96, 112, 127, 128)]
    c = []
    for name, E, K, H, I in CONFIGS:
        for n, k, proj in ((2 * I, H, "gate-up"), (H, I, "down")):
            for m in (8, 64, 128, 136, 256, 512, 2048):
                if E * m * max(n, k) * 2 > (6 << 30):
                    continue
                c.append(("even", E, n, k, m, f"{name} {proj}"))
            for m in (64, 128, 256):
                c.append(("ragged", E, n, k, m, f"{name} {proj}"))
            for T in (16, 256, 2048, 8192):
                c.append(("random", E, n, k, T, f"{name} {proj} top{K}"))
    # group count alone: one shape, 1..64 groups of 256 rows
    for G in (1, 2, 4, 16, 64):
        c.append(("even", G, 4096, 4096, 256, "square"))
    return c[::6] if QUICK else c


def counts_for(kind, G, m, label, gen):
    if kind == "even":
        return [m] * G
    if kind == "ragged":
        return [m + 1 if g % 2 else m - 1 for g in range(G)]
    K = int(label.rsplit("top", 1)[1])
    scores = torch.randn(m, G, device="cuda", generator=gen).softmax(-1)
    ti = scores.topk(K, dim=-1).indices.reshape(-1)
    return torch.bincount(ti, minlength=G).tolist()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "grouped_profile.jsonl"
    cs = cases()
    if list_cases([("grouped_profile", cs)]):
        return
    if GMM is None:
        log("grouped_profile: torch._grouped_mm missing")
        return
    gen = torch.Generator(device="cuda")
    gen.manual_seed(5)
    with open(out, "w") as f:
        write_env(f, "grouped_profile.py")
        for kind, G, n, k, m, label in cs:
            try:
                counts = counts_for(kind, G, m, label, gen)
                rows = sum(counts)
                offs = torch.tensor(counts, device="cuda", dtype=torch.int32).cumsum(0, dtype=torch.int32)
                x = torch.randn(max(rows, 1), k, device="cuda", dtype=torch.bfloat16)
                wbytes = G * n * k * 2
                copies = max(1, min(8, -(-ROTATE_BYTES // wbytes)))
                ws = [torch.randn(G, n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
                fn = lambda i: GMM(x, ws[i % copies].transpose(-2, -1), offs=offs)  # noqa: E731
                ref = fn(0)
                g0 = counts[0]
                if g0 > 0:  # first group against a plain matmul
                    err = (ref[:g0].float() - x[:g0].float() @ ws[0][0].float().t()).abs().max().item()
                    scale = ref[:g0].float().abs().max().item() + 1e-6
                    if err > 0.05 * scale:
                        raise RuntimeError(f"grouped_mm mismatch {err} vs {scale}")
                st = bench(fn, kernels_per_call=2)
                ks = kernels(lambda: fn(1))
                d = dict(grouped_mm=kind, label=label, groups=G, n=n, k=k, m=m if kind != "random" else None,
                         tokens=m if kind == "random" else None, rows=rows, counts=counts, dtype="bf16",
                         kernels=ks, **st)
                f.write(json.dumps(d, separators=(",", ":")) + "\n")
                f.flush()
                del ws, x, ref
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                log(f"grouped_profile: {kind} G={G} n={n} k={k} m={m} failed: {type(e).__name__}: {e}")
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

"""Profile (not a scored trace): does the way a benchmark rotates its weights change how fast a
decode GEMV (m = 1, bf16, F.linear) streams them? The same GEMV timed per call (queued CUDA events,
hcommon.bench) on 1 weight copy, on 2 copies alternating (as cuda/gemm.cu rotates >= 256 MiB), on
8 copies in turn, and 32 distinct weights issued back to back inside one CUDA graph (as a decode
step issues its layers), the graph's time / 32. Each also under torch.profiler: the kernel's own
duration, without launch and event costs.
Usage: gemv_rotation.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

from hcommon import LIST_CASES, bench, kernel_events, list_cases, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F

SHAPES = [(6144, 4096), (28672, 4096), (4096, 14336), (57344, 8192)]  # n, k
MODES = ["one", "two", "eight", "graph32"]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gemv_rotation.jsonl"
    cs = [(n, k, m) for n, k in SHAPES for m in MODES]
    if list_cases([("gemv_rotation", cs)]):
        return
    with open(out, "w") as f:
        write_env(f, "gemv_rotation.py")
        for n, k, mode in cs:
            try:
                copies = {"one": 1, "two": 2, "eight": 8, "graph32": 32}[mode]
                if n * k * 2 * copies > 40e9:
                    copies = max(2, int(40e9 // (n * k * 2)))
                ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
                x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
                if mode == "graph32":
                    g = torch.cuda.CUDAGraph()
                    s = torch.cuda.Stream()
                    with torch.cuda.stream(s):
                        for w in ws:
                            F.linear(x, w)
                    torch.cuda.synchronize()
                    with torch.cuda.graph(g):
                        for w in ws:
                            F.linear(x, w)
                    st = bench(lambda i: g.replay(), queued=False, target_s=0.2, min_reps=10, max_reps=40)
                    per = st["ms"] / len(ws)
                    ks = kernel_events(g.replay)
                else:
                    st = bench(lambda i: F.linear(x, ws[i % copies]))
                    per = st["ms"]
                    ks = kernel_events(lambda: [F.linear(x, w) for w in ws])
                durs = [e["us"] for e in ks if "nvjet" in e["name"] or "gemv" in e["name"].lower() or "gemm" in e["name"].lower()]
                d = dict(gemv_rotation=mode, n=n, k=k, copies=copies, ms_per_gemv=per,
                         kernel_us_median=sorted(durs)[len(durs) // 2] if durs else None,
                         kernels=[e["name"][:60] for e in ks[:3]], weight_bytes=n * k * 2)
                d["tbps_call"] = n * k * 2 / (per * 1e-3) / 1e12
                if d["kernel_us_median"]:
                    d["tbps_kernel"] = n * k * 2 / (d["kernel_us_median"] * 1e-6) / 1e12
                f.write(json.dumps(d) + "\n")
                f.flush()
                log(f"gemv_rotation: n={n} k={k} {mode}: {per * 1e3:.1f} us per call "
                    f"({d['tbps_call']:.2f} TB/s), kernel {d['kernel_us_median']} us")
                del ws
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                log(f"gemv_rotation: n={n} k={k} {mode} failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()

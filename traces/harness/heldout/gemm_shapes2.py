#!/usr/bin/env python3
"""Second held-out GEMM case list ("dtype m n k tag" lines) for traces/harness/cuda/gemm (--cases).

Measured after the session-5 GEMM tile model was chosen (which looked at the first held-out
set, heldout/gemm_shapes.py): these shapes score that choice on data it never saw. Projections
of models in neither earlier list: Gemma-2-9B (head_dim 256), Phi-3-medium, Yi-34B, Mixtral-8x7B
experts at TP 2; m from {5, 24, 40, 136, 320, 640, 1100, 1800, 3500, 7000}, in neither the
committed sweep nor the first held-out set.
NEVER used for calibration: see traces/README.md, "Held-out set".
Usage: gemm_shapes2.py [--quick] > cases.txt
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from gemm_cases import MAIN4, builder, write  # noqa: E402  (the committed sweep's conventions)

# y[m,n] = x[m,k] W[n,k]^T; (n, k) per projection, n of qkv = (heads + 2 kv) * head_dim
PROJ = {
    # Gemma-2-9B: hidden 3584, 16 heads, 8 kv, head_dim 256, inter 14336
    "gemma2-9b": dict(qkv=(8192, 3584), o=(3584, 4096), gate_up=(28672, 3584), down=(3584, 14336)),
    # Phi-3-medium: hidden 5120, 40 heads, 10 kv, head_dim 128, inter 17920
    "phi3-medium": dict(qkv=(7680, 5120), o=(5120, 5120), gate_up=(35840, 5120), down=(5120, 17920)),
    # Yi-34B: hidden 7168, 56 heads, 8 kv, head_dim 128, inter 20480
    "yi-34b": dict(qkv=(9216, 7168), o=(7168, 7168), gate_up=(40960, 7168), down=(7168, 20480)),
    # Mixtral-8x7B expert (inter 14336) split over TP 2
    "mixtral-expert-tp2": dict(gate_up=(14336, 4096), down=(4096, 7168)),
}


def cases(quick=False):
    out, add, square = builder(PROJ)
    if quick:
        add("bf16", [5, 640], "gemma2-9b", ["qkv"])
        add("fp8", [24], "yi-34b", ["o"])
        return out
    add("bf16", [5, 40, 320, 1800, 7000], "gemma2-9b", MAIN4)
    add("bf16", [24, 136, 1100, 3500], "yi-34b", MAIN4)
    add("bf16", [5, 640], "mixtral-expert-tp2", ["gate_up", "down"])
    add("fp16", [40, 640, 3500], "phi3-medium", MAIN4)
    add("fp8", [24, 320, 1800, 7000], "phi3-medium", MAIN4)
    add("fp8", [136, 1100], "yi-34b", MAIN4)
    add("tf32", [24, 640], "gemma2-9b", ["o", "down"])
    return out


if __name__ == "__main__":
    write(cases, "traces/harness/heldout/gemm_shapes2.py: HELD-OUT set 2")

#!/usr/bin/env python3
"""Held-out GEMM case list ("dtype m n k tag" lines) for traces/harness/cuda/gemm (--cases FILE).

Shapes and token counts that the committed sweep (traces/harness/gemm_cases.py) does not use:
Qwen2.5-72B (all four projections), Llama-3-405B tensor-parallel-8 slices at new m, Qwen2.5-32B,
Qwen2.5-7B, Llama-3.2-3B, the Mistral-7B lm-head (vocab 32000), and two new square sizes; m from
{3, 12, 48, 96, 200, 768, 1536, 2500, 5000, 12000}, none of which the committed sweep uses.
NEVER used for calibration: see traces/README.md, "Held-out set".
Usage: gemm_shapes.py [--quick] > cases.txt
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from gemm_cases import MAIN4, builder, write  # noqa: E402  (the committed sweep's conventions)

# y[m,n] = x[m,k] W[n,k]^T; (n, k) per projection, n of qkv = (heads + 2 kv) * head_dim
PROJ = {
    "qwen2.5-72b": dict(qkv=(10240, 8192), o=(8192, 8192), gate_up=(59136, 8192), down=(8192, 29568)),
    "llama3-405b": dict(qkv=(18432, 16384), o=(16384, 16384), gate_up=(106496, 16384), down=(16384, 53248)),
    # Qwen2.5-32B: hidden 5120, 40 heads, 8 kv, head_dim 128, inter 27648
    "qwen2.5-32b": dict(qkv=(7168, 5120), o=(5120, 5120), gate_up=(55296, 5120), down=(5120, 27648)),
    # Qwen2.5-7B: hidden 3584, 28 heads, 4 kv, head_dim 128, inter 18944
    "qwen2.5-7b": dict(qkv=(4608, 3584), o=(3584, 3584), gate_up=(37888, 3584), down=(3584, 18944)),
    # Llama-3.2-3B: hidden 3072, 24 heads, 8 kv, head_dim 128, inter 8192
    "llama3.2-3b": dict(qkv=(5120, 3072), o=(3072, 3072), gate_up=(16384, 3072), down=(3072, 8192)),
    # Mistral-7B v0.1 lm-head (its projections equal Llama-3-8B's, so only the head is new)
    "mistral-7b": dict(lm_head=(32000, 4096)),
}


def cases(quick=False):
    out, add, square = builder(PROJ)
    if quick:
        add("bf16", [3, 768], "qwen2.5-72b", ["qkv"])
        add("fp8", [12], "qwen2.5-72b", ["o"])
        add("fp16", [48], "qwen2.5-7b", ["o"])
        add("tf32", [12], "llama3.2-3b", ["o"])
        return out
    # ---- bf16
    add("bf16", [3, 96, 768, 5000], "qwen2.5-72b", MAIN4)
    add("bf16", [12, 200, 1536], "llama3-405b", MAIN4, 8)
    add("bf16", [48, 2500], "qwen2.5-32b", MAIN4)
    add("bf16", [3, 12000], "qwen2.5-7b", MAIN4)
    add("bf16", [3, 200], "mistral-7b", ["lm_head"])
    square("bf16", [6144])
    # ---- fp8 (e4m3 in, bf16 out)
    add("fp8", [12, 1536], "qwen2.5-72b", MAIN4)
    add("fp8", [96, 5000], "llama3.2-3b", MAIN4)
    # ---- fp16
    add("fp16", [48, 768], "qwen2.5-7b", MAIN4)
    square("fp16", [3072])
    # ---- tf32
    add("tf32", [12, 768], "llama3.2-3b", MAIN4)
    return out


if __name__ == "__main__":
    write(cases, "traces/harness/heldout/gemm_shapes.py: HELD-OUT set")

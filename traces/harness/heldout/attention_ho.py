"""HELD-OUT op=attention cases (never used for calibration; traces/README.md "Held-out set").

Runs traces/harness/torch/attention.py's run() (flash-only SDPA, enable_gqa when flash takes it,
decode caches rotated through >= 256 MiB, prefill inputs not rotated, fp32 reference check on a
slice, queued timing, ms_graph under 0.25 ms) with this file's case lists and configs: head
counts, head dims, batches and lengths the committed sweep does not use.
Usage: attention_ho.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import _path  # noqa: F401
import attention
from hcommon import QUICK

# name: (heads, kv_heads, head_dim)
CFG = {
    "qwen2.5-32b": (40, 8, 128),     # also Llama-style 40/8 GQA
    "qwen2.5-7b": (28, 4, 128),
    "llama3.2-1b": (32, 8, 64),       # head_dim 64
    "llama2-7b": (32, 32, 128),       # MHA
    "llama3-70b": (64, 8, 128),       # known heads, new batch/context
    "llama3-405b": (128, 8, 128),     # known heads, new seq
}


def cases():
    if QUICK:
        return ([("prefill", "qwen2.5-32b", 1, 384, True), ("prefill", "llama3.2-1b", 1, 1536, True)],
                [("decode", "qwen2.5-32b", 2, 300), ("decode", "llama3.2-1b", 12, 1500)])
    pre, dec = [], []
    for s in (384, 1536, 2560, 5120, 12000):
        pre.append(("prefill", "qwen2.5-32b", 1, s, True))
    for s in (1536, 5120):
        pre.append(("prefill", "qwen2.5-32b", 1, s, False))
    for s in (384, 2560, 12000):
        pre.append(("prefill", "qwen2.5-7b", 2, s, True))
    for s in (1536, 5120, 12000):
        pre.append(("prefill", "llama3.2-1b", 1, s, True))
    pre.append(("prefill", "llama3.2-1b", 6, 384, True))
    pre.append(("prefill", "llama3.2-1b", 2, 2560, False))
    for s in (2560, 5120):
        pre.append(("prefill", "llama2-7b", 1, s, True))
    pre.append(("prefill", "llama3-70b", 2, 1536, True))
    pre.append(("prefill", "llama3-70b", 1, 12000, True))
    pre.append(("prefill", "llama3-405b", 1, 5120, True))
    for b in (2, 12, 96):
        for ctx in (300, 6000, 50000):
            dec.append(("decode", "qwen2.5-32b", b, ctx))
    for b in (6, 48, 200):
        for ctx in (1500, 20000):
            dec.append(("decode", "qwen2.5-7b", b, ctx))
    for b, ctx in ((2, 1500), (12, 6000), (96, 20000), (200, 1500), (200, 20000), (6, 50000), (48, 300), (2, 6000)):
        dec.append(("decode", "llama3.2-1b", b, ctx))
    for b in (6, 48):
        for ctx in (1500, 6000):
            dec.append(("decode", "llama2-7b", b, ctx))
    dec.append(("decode", "llama3-70b", 6, 20000))
    dec.append(("decode", "llama3-70b", 200, 1500))
    dec = [c for c in dec if attention.kv_fits(c, CFG)]
    return pre, dec


def main():
    pre, dec = cases()
    attention.run(pre, dec, CFG, "attention_ho", "heldout/attention_ho.py")


if __name__ == "__main__":
    main()

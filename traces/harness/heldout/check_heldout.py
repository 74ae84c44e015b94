#!/usr/bin/env python3
"""Check that a held-out trace shares no case with the committed calibration traces.

A case is identified as headroom's scorer does (src/trace/score.cpp, is_case_key, plus the routing and the KV-cache
format, so that a Zipf-routed record is not a duplicate of its uniform twin) and, more
strictly, by its shape alone (the same keys without impl, issue, warm_l2, cuda_graph, causal): a
held-out record whose shape appears in any committed trace (traces/h200/**.jsonl incl.
repeat-run1, traces/h200x4/*.jsonl) is reported and makes the exit code 1.
Usage: check_heldout.py HELDOUT.jsonl... [--committed GLOB...]
"""
import glob
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
CASE_KEYS = ["op", "dtype", "m", "n", "k", "bytes", "warm_l2", "kind", "phase", "batch", "seq", "context", "heads",
             "kv_heads", "head_dim", "causal", "tokens", "hidden", "inter", "experts", "top_k", "impl", "collective",
             "gpus", "model", "tp", "layers", "cuda_graph", "issue", "sustained", "pp", "ep", "microbatches", "weight_format",
             "routing", "moe_skew", "kv_dtype", "kv_format"]
# The shape alone: without how it was issued or timed, nor the routing and cache format (records that differ
# only in those are distinct cases, not duplicates, but the same shape).
LOOSE_DROP = {"impl", "issue", "warm_l2", "cuda_graph", "causal", "sustained", "routing", "moe_skew", "kv_dtype",
              "kv_format"}


def records(path):
    for line in open(path):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        yield json.loads(s)


def key(r, loose):
    return tuple((k, json.dumps(r[k])) for k in CASE_KEYS if k in r and not (loose and k in LOOSE_DROP))


def main():
    args = sys.argv[1:]
    pats = ["traces/h200/*.jsonl", "traces/h200/*/*.jsonl", "traces/h200x4/*.jsonl"]
    if "--committed" in args:
        i = args.index("--committed")
        pats, args = args[i + 1:], args[:i]
    committed = sorted({p for pat in pats for p in glob.glob(os.path.join(ROOT, pat))})
    strict, loose = set(), set()
    for p in committed:
        for r in records(p):
            strict.add(key(r, False))
            loose.add(key(r, True))
    print(f"committed: {len(committed)} files, {len(strict)} distinct cases, {len(loose)} distinct shapes")
    bad = n = 0
    seen = set()
    for p in args:
        for r in records(p):
            n += 1
            ks, kl = key(r, False), key(r, True)
            if ks in strict or kl in loose:
                bad += 1
                print(f"OVERLAP ({'case' if ks in strict else 'shape'}) {os.path.basename(p)}: "
                      + " ".join(f"{k}={v}" for k, v in kl))
            if ks in seen:
                print(f"duplicate within held-out set: {os.path.basename(p)}: " + " ".join(f"{k}={v}" for k, v in ks))
            seen.add(ks)
    print(f"held-out: {n} records, {bad} overlapping committed cases or shapes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

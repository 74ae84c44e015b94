#!/usr/bin/env python3
"""Check trace files against docs/trace-format.md (v1) and count cases per op.
Usage: validate.py FILE.jsonl... ; exit 1 on any invalid line."""
import json
import sys
from collections import Counter

INT = "int"
REQ = {
    "gemm": {"m": INT, "n": INT, "k": INT, "dtype": str},
    "copy": {"bytes": INT}, "read": {"bytes": INT}, "write": {"bytes": INT},
    "launch": {"kind": str},
    "rmsnorm": {"tokens": INT, "hidden": INT, "dtype": str},
    "swiglu": {"tokens": INT, "inter": INT, "dtype": str},
    "moe_ffn": {"experts": INT, "top_k": INT, "hidden": INT, "inter": INT, "tokens": INT, "impl": str, "dtype": str},
    "collective": {"collective": str, "gpus": INT, "bytes": INT},
    "model_step": {"model": str, "phase": str, "batch": INT, "dtype": str},
    "attention": {"phase": str, "batch": INT, "heads": INT, "kv_heads": INT, "head_dim": INT, "dtype": str},
    "idle": {"avg_w": (int, float)},
}
DTYPES = {"bf16", "fp16", "fp8", "tf32", "fp32", "int8"}


def ok_type(v, t):
    if t is bool:
        return isinstance(v, bool)
    if t == INT:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0
    return isinstance(v, t) and not isinstance(v, bool)


def check_line(d):
    op = d.get("op")
    if op not in REQ:
        return f"unknown op {op!r}"
    req = dict(REQ[op])
    if op == "attention":
        req.update({"seq": INT, "causal": bool} if d.get("phase") == "prefill" else {"context": INT})
    if op == "model_step":
        req.update({"seq": INT} if d.get("phase") == "prefill" else {"context": INT})
        for k, t in (("tp", INT), ("layers", INT), ("cuda_graph", bool)):
            if k in d and not ok_type(d[k], t):
                return f"bad {k}"
    if op == "launch" and d.get("kind") not in ("empty", "gap"):
        return "bad launch kind"
    if op == "moe_ffn" and d.get("impl") not in ("grouped", "loop"):
        return "bad moe impl"
    if op == "collective" and d.get("collective") not in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
        return "bad collective"
    for k, t in req.items():
        if k not in d:
            return f"missing {k}"
        if not ok_type(d[k], t):
            return f"bad type/value for {k}: {d[k]!r}"
    if "dtype" in d and d["dtype"] not in DTYPES:
        return f"bad dtype {d['dtype']}"
    ms = d.get("ms")
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not ms > 0:
        return f"ms must be > 0, got {ms!r}"
    if d.get("sustained"):
        for k in ("duration_s", "avg_w", "sm_mhz"):
            if not isinstance(d.get(k), (int, float)):
                return f"sustained line missing {k}"
    for k in ("hw", "gpu"):
        if k not in d:
            return f"missing {k}"
    return None


def main(paths):
    bad = 0
    total = Counter()
    for p in paths:
        c = Counter()
        for i, line in enumerate(open(p), 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                d = json.loads(s)
            except json.JSONDecodeError as e:
                print(f"{p}:{i}: invalid JSON: {e}")
                bad += 1
                continue
            err = check_line(d)
            if err:
                print(f"{p}:{i}: {err}")
                bad += 1
                continue
            key = d["op"] + ("(sustained)" if d.get("sustained") else "")
            c[key] += 1
        total.update(c)
        print(f"{p}: {sum(c.values())} lines  " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    print(f"TOTAL {sum(total.values())}  " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + f"  invalid {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Which kernels PyTorch's GEMM ops launch, per shape (a profile, not a timing trace: JSON lines,
not op records): torch._int_mm (int8), F.linear (bf16) and torch._weight_int4pack_mm (int4) on
quant.py's committed and held-out shapes. One call per case under torch.profiler; each kernel's
name, grid and block from the profiler's trace.
Usage: gemm_profile.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

import quant
from hcommon import LIST_CASES, kernel_events, list_cases, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch
    import torch.nn.functional as F


def cases():
    """(dtype, m, n, k, shape) on quant.py's committed and held-out shapes"""
    c = []
    for held in (False, True):
        for n, k, what in quant.shapes(held):
            for m in quant.ms_list(held):
                c.append(("bf16", m, n, k, what))
                c.append(("int4", m, n, k, what))
                if m > 16:  # every m, not only quant.py's int8 subset: the tile choice per m
                    c.append(("int8", m, n, k, what))
    return c


def kernels(fn):
    return [dict(name=k["name"], grid=k["grid"], block=k["block"], us=k["us"]) for k in kernel_events(fn)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gemm_profile.jsonl"
    cs = cases()
    if list_cases([("gemm_profile", cs)]):
        return
    with open(out, "w") as f:
        write_env(f, "gemm_profile.py")
        wcache = {}
        for kind, m, n, k, what in cs:
            try:
                if kind == "bf16":
                    w = wcache.setdefault(("bf16", n, k), torch.randn(n, k, device="cuda", dtype=torch.bfloat16))
                    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                    fn = lambda: F.linear(x, w)  # noqa
                elif kind == "int8":
                    w = wcache.setdefault(("int8", n, k), torch.randint(-8, 8, (n, k), device="cuda", dtype=torch.int8))
                    x = torch.randint(-8, 8, (m, k), device="cuda", dtype=torch.int8)
                    fn = lambda: torch._int_mm(x, w.t())  # noqa  (as quant.py calls it)
                else:
                    key = ("int4", n, k)
                    if key not in wcache:
                        wcache[key] = quant.weights("int4", n, k)[0][0]
                    wq, sz = wcache[key]
                    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                    fn = lambda: torch._weight_int4pack_mm(x, wq, quant.GROUP, sz)  # noqa
                d = dict(gemm_kernels="torch", dtype=kind, m=m, n=n, k=k, shape=what, kernels=kernels(fn))
                f.write(json.dumps(d) + "\n")
                f.flush()
            except Exception as e:  # noqa
                log(f"gemm_profile: {kind} m={m} n={n} k={k} failed: {type(e).__name__}: {e}")
            if len(wcache) > 8:
                wcache.clear()
    log(f"gemm_profile: {len(cs)} cases")


if __name__ == "__main__":
    main()

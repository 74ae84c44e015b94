"""Does the host's eager speed, measured just before a case, predict that case's eager step time?
(A study, not a timing trace: writes JSON lines, not op records.)
Llama-3-8B, all 32 layers, eager decode at batch 1 and 8 (context 512): host-bound steps (GPU time
6.4 ms in a CUDA graph, eager 14-30 ms across hosts, traces/README.md). Rounds of: the tiny-op
host probe (hcommon.host_probe), a mini layer (model.py's decode layer at hidden 64: the same op
sequence on tiny tensors, host time per layer, GPU never the bottleneck), then the real eager step
(events around each step as issued, median of 8) and its host issue time (perf_counter around
forward, no synchronization inside). Half the rounds run with this process pinned to one CPU core
(os.sched_setaffinity), half unpinned, alternating in blocks, to see whether pinning steadies it.
Usage: host_drift.py OUT.jsonl [rounds]   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import os
import sys
import time

from hcommon import LIST_CASES, host_probe, list_cases, load_cfg, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch

    from model import Model


def step_ms(fn, reps=8):
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        s.record()
        fn()
        e.record()
        issue = (time.perf_counter() - t0) * 1e3
        torch.cuda.synchronize()
        ts.append((s.elapsed_time(e), issue))
    ts.sort()
    return ts[len(ts) // 2]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "host_drift.jsonl"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    if list_cases([("host_drift", [(r, "pinned" if (r // 4) % 2 else "unpinned", b) for r in range(rounds) for b in (1, 8)])]):
        return
    cfg = load_cfg("llama3-8b")
    big = Model(cfg, layers=32)
    tiny_cfg = dict(cfg, hidden=64, heads=4, kv_heads=1, head_dim=16, inter=128, vocab=256)
    tiny = Model(tiny_cfg, layers=1, max_pos=1024)
    ctx = 512
    xs = {b: torch.randn(b, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16) for b in (1, 8)}
    xt = torch.randn(1, 1, 64, device="cuda", dtype=torch.bfloat16)
    arena = None
    all_cpus = sorted(os.sched_getaffinity(0))
    with open(out, "w") as f:
        write_env(f, "host_drift.py")
        for b in (1, 8):  # warm both
            arena = big.alloc_cache(b, ctx + 1, arena)
            for _ in range(20):
                big.forward(xs[b], "decode", ctx)
        torch.cuda.synchronize()
        tiny.alloc_cache(1, ctx + 1)
        t_start = time.time()
        for r in range(rounds):
            pinned = (r // 4) % 2 == 1
            os.sched_setaffinity(0, {all_cpus[len(all_cpus) // 2]} if pinned else set(all_cpus))
            probe = host_probe(reps=3, n=100)
            t0 = time.perf_counter()
            for _ in range(40):
                tiny.forward(xt, "decode", ctx, head=False)
            mini_layer_us = (time.perf_counter() - t0) / 40 * 1e6
            torch.cuda.synchronize()
            for b in (1, 8):
                arena = big.alloc_cache(b, ctx + 1, arena)
                big.forward(xs[b], "decode", ctx)
                torch.cuda.synchronize()
                ms, issue = step_ms(lambda: big.forward(xs[b], "decode", ctx))
                d = dict(round=r, t_s=round(time.time() - t_start, 3), pinned=pinned, batch=b, context=ctx,
                         layers=32, host_op_us=probe, mini_layer_us=round(mini_layer_us, 2),
                         step_ms=round(ms, 4), issue_ms=round(issue, 4))
                f.write(json.dumps(d) + "\n")
                f.flush()
                log(f"host_drift: {d}")
        os.sched_setaffinity(0, set(all_cpus))


if __name__ == "__main__":
    main()

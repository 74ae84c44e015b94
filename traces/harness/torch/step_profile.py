"""Profile (not a scored trace): the kernels of a whole decode step of the reference model
(model.py, as model_step.py runs it) replayed from a CUDA graph, under torch.profiler: each
kernel's name, grid, start (us, from the first kernel) and duration, beside the replay's time
between CUDA events. The sum of durations against the replay time gives the step's gaps between
kernels; per kernel kind, what each costs.
Cases: Llama-3-8B (32 layers) decode at batch 1, 8 and 64.
Usage: step_profile.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

from hcommon import LIST_CASES, QUICK, bench, kernel_events, list_cases, load_cfg, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch

    from model import Model, capture_graph

CASES = [("llama3-8b", 32, 1, 512), ("llama3-8b", 32, 8, 2048), ("llama3-8b", 32, 64, 2048)]


def decode_case(name, L, b, ctx):
    """Model.py's model of `name` with L layers, its KV cache for batch b at context ctx (random
    values in one arena) and one decode input. Returns (model, arena, x); keep the arena alive."""
    cfg = load_cfg(name)
    m = Model(cfg, layers=L)
    per = 2 * L * b * (ctx + 1) * cfg["kv_heads"] * cfg["head_dim"]
    arena = torch.empty(per, device="cuda", dtype=torch.bfloat16).normal_()
    m.alloc_cache(b, ctx + 1, arena)
    x = torch.randn(b, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
    return m, arena, x


def kernels_of(fn):
    ks = kernel_events(fn)
    t0 = ks[0]["ts"] if ks else 0
    return [dict(name=k["name"][:160], grid=k["grid"], start=round(k["ts"] - t0, 3), us=k["us"]) for k in ks]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "step_profile.jsonl"
    cs = CASES[:1] if QUICK else CASES
    if list_cases([("step_profile", cs)]):
        return
    with open(out, "w") as f:
        write_env(f, "step_profile.py")
        for name, L, b, ctx in cs:
            try:
                m, arena, x = decode_case(name, L, b, ctx)
                g, _ = capture_graph(lambda: m.forward(x, "decode", ctx))
                st = bench(lambda i: g.replay(), queued=False, warmup=3, target_s=0.3, min_reps=10, max_reps=40,
                           warmup_s=0.3)
                ks = kernels_of(g.replay)
                d = dict(step_kernels="decode", model=name, layers=L, batch=b, context=ctx, cuda_graph=True,
                         kernel_count=len(ks), kernel_us_sum=round(sum(k["us"] for k in ks), 3),
                         span_us=round(ks[-1]["start"] + ks[-1]["us"], 3) if ks else 0, kernels=ks, **st)
                f.write(json.dumps(d, separators=(",", ":")) + "\n")
                f.flush()
                log(f"step_profile: {name} b={b} ctx={ctx}: {len(ks)} kernels, sum {d['kernel_us_sum']} us, "
                    f"span {d['span_us']} us, replay {st['ms'] * 1e3:.1f} us")
                del g, m, arena
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                log(f"step_profile: {name} b={b} failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()

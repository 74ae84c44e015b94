"""Profile (not a scored trace): why GPU-bound eager decode steps take longer than the same step
replayed from a CUDA graph by more than the kernels' fixed costs explain.
Measured (traces/h200/model_step.jsonl), Llama-3-70B (16 layers) decode at batch 64, context
4096: 16.2-16.4 ms as a graph, 17.3-18.2 ms eager, while the host needs only about 7 ms per step;
the model gives eager 0.3 ms over the graph (its per-kernel fixed costs), the runs 1.1-1.8 ms.
For each case: the step timed as model_step.py times it (bench, issue timing) eager and as a
graph, then each under torch.profiler: the graph's kernels from one replay, the eager step's from
the third of three steps issued back to back (the host is ahead by then, as in the timed loop).
Per kernel: name, grid, start (us from the step's first kernel) and duration. The two lists run
in the same order (the same forward), so kernel i of one is kernel i of the other.
Usage: eager_profile.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import json
import sys

from hcommon import LIST_CASES, QUICK, bench, list_cases, log, write_env

if not LIST_CASES:  # listing the cases needs no torch
    import torch

    from model import capture_graph
    from step_profile import decode_case, kernels_of

# model, layers, batch, context
CASES = [("llama3-70b", 16, 64, 4096), ("llama3-70b", 16, 64, 1024), ("llama3-70b", 16, 1, 1024),
         ("llama3-8b", 32, 64, 2048), ("llama3-8b", 32, 256, 512)]
STEPS = 3  # eager steps issued back to back under the profiler; the last one is kept


def rebased(ks):
    """kernels_of's list with start counted from its own first kernel"""
    t0 = ks[0]["start"] if ks else 0
    return [dict(k, start=round(k["start"] - t0, 3)) for k in ks]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "eager_profile.jsonl"
    cs = CASES[:1] if QUICK else CASES
    if list_cases([("eager_profile", cs)]):
        return
    with open(out, "w") as f:
        write_env(f, "eager_profile.py")
        for name, L, b, ctx in cs:
            try:
                m, arena, x = decode_case(name, L, b, ctx)

                def eager():
                    return m.forward(x, "decode", ctx)

                g, _ = capture_graph(eager)
                row = dict(eager_profile="decode", model=name, layers=L, batch=b, context=ctx)
                # timed as model_step.py times them, interleaved twice
                for rnd in range(2):
                    se = bench(lambda i: eager(), queued=False, warmup=3, target_s=0.3, min_reps=10, max_reps=40,
                               warmup_s=0.5)
                    sg = bench(lambda i: g.replay(), queued=False, warmup=3, target_s=0.3, min_reps=10,
                               max_reps=40, warmup_s=0.3)
                    row[f"eager_ms_{rnd}"] = se["ms"]
                    row[f"graph_ms_{rnd}"] = sg["ms"]
                gk = kernels_of(g.replay)
                ek = kernels_of(lambda: [eager() for _ in range(STEPS)])
                n = len(gk)
                row["graph_kernels"] = n
                row["eager_kernels_per_step"] = len(ek) / STEPS
                row["graph"] = gk
                row["eager"] = rebased(ek[-n:] if len(ek) >= n else ek)
                for key in ("graph", "eager"):
                    ks = row[key]
                    row[f"{key}_us_sum"] = round(sum(k["us"] for k in ks), 3)
                    row[f"{key}_span_us"] = round(ks[-1]["start"] + ks[-1]["us"], 3) if ks else 0
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
                f.flush()
                log(f"eager_profile: {name} b={b} ctx={ctx}: eager {row['eager_ms_0']:.3f}/{row['eager_ms_1']:.3f} ms, "
                    f"graph {row['graph_ms_0']:.3f}/{row['graph_ms_1']:.3f} ms; kernels {n} graph, "
                    f"{row['eager_kernels_per_step']} eager; sum {row['graph_us_sum']} / {row['eager_us_sum']} us, "
                    f"span {row['graph_span_us']} / {row['eager_span_us']} us")
                del g, m, arena
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                log(f"eager_profile: {name} b={b} ctx={ctx} failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()

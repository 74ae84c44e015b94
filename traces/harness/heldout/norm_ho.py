"""HELD-OUT op=rmsnorm / op=swiglu cases (never used for calibration; traces/README.md "Held-out set").

Runs traces/harness/torch/norm.py's run() (impls 'torch-expr' = model.rmsnorm and 'F.rms_norm';
swiglu = F.silu(a)*b on chunk views; inputs not rotated; fp64 check; queued timing; ms_graph under
0.25 ms) with this file's case lists: widths (hidden 5120, 6144, 7168; inter 1408, 18944, 29568)
and token counts (3, 12, 48, 96, 200, 700, 1536, 2500, 5000, 12000) that the committed sweep does
not use.
Usage: norm_ho.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import _path  # noqa: F401
import norm
from hcommon import QUICK


def cases():
    """(rmsnorm cases (impl, tokens, hidden), swiglu cases (tokens, inter, model))"""
    if QUICK:
        shapes = [(48, 5120)]
        sw = [(700, 18944, "qwen2.5-7b")]
    else:
        shapes = [(t, 5120) for t in (3, 700, 12000)] + [(t, 6144) for t in (48, 96, 2500)] + \
                 [(t, 7168) for t in (12, 200, 1536, 5000)]
        sw = [(t, 18944, "qwen2.5-7b") for t in (3, 200, 2500, 12000)] + \
             [(t, 29568, "qwen2.5-72b") for t in (12, 700, 5000)] + \
             [(t, 1408, "deepseek-v2-lite-expert") for t in (48, 5000)]
    return [(impl, t, h) for impl in norm.IMPLS for t, h in shapes], sw


def main():
    rcases, sw = cases()
    norm.run(rcases, sw, "norm_ho", "heldout/norm_ho.py", ("rmsnorm_ho", "swiglu_ho"))


if __name__ == "__main__":
    main()

"""HELD-OUT set 3, op=moe_ffn (never used for calibration; traces/README.md "Session 6").

Measured in session 6 before the grouped-GEMM model of that session was written, to score it on
MoE shapes no committed or earlier held-out trace has: Mixtral-8x22B, Qwen2-57B-A14B, DBRX and
OLMoE-1B-7B routed experts, at token counts of their own. Runs traces/harness/torch/moe.py's run()
(impls grouped and loop, routing drawn before timing, as moe.py).
Usage: moe_ho2.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import _path  # noqa: F401
import moe
from hcommon import QUICK

CONFIGS = [  # name, experts, top_k, hidden, inter
    ("mixtral-8x22b", 8, 2, 6144, 16384),
    ("qwen2-57b-a14b", 64, 8, 3584, 2560),
    ("dbrx", 16, 4, 6144, 10752),
    ("olmoe-1b-7b", 64, 8, 2048, 1024),
]


def main():
    toks = [12] if QUICK else [2, 24, 320, 3000, 10000]
    moe.run(CONFIGS[:1] if QUICK else CONFIGS, toks, "moe_ho2", "heldout/moe_ho2.py", seed=13)


if __name__ == "__main__":
    main()

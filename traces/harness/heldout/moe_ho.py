"""HELD-OUT op=moe_ffn cases (never used for calibration; traces/README.md "Held-out set").

Runs traces/harness/torch/moe.py's run() (moe_grouped = token sort + torch._grouped_mm, moe_loop =
HF Mixtral-style loop with a host sync per hit expert, the fp32 per-token reference) for a config
the committed sweep does not use: DeepSeek-V2-Lite routed experts (64 experts, top-6, hidden 2048,
inter 1408, no shared expert), at new token counts.
Routing drawn before timing; grouped timed 'queued', loop timed 'issue' (as moe.py).
Usage: moe_ho.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import _path  # noqa: F401
import moe
from hcommon import QUICK

CONFIG = ("deepseek-v2-lite", 64, 6, 2048, 1408)  # name, experts, top_k, hidden, inter


def main():
    toks = [12] if QUICK else [3, 48, 200, 2500, 12000]
    moe.run([CONFIG], toks, "moe_ho", "heldout/moe_ho.py", seed=11)


if __name__ == "__main__":
    main()

"""HELD-OUT op=model_step cases (never used for calibration; traces/README.md "Held-out set").

Runs traces/harness/torch/model_step.py's run() (reference model.py step, 1-layer correctness
check per model, graph checked against eager, 'issue' timing) with this file's case plan: Qwen2.5-72B at 8 layers (a model the committed steps never ran) and Llama-3-8B at
batches and contexts the committed steps do not use, and Mixtral-8x7B (8 layers, MoE) at other
batches and contexts than the committed ones. Note: model.py has no q/k/v biases (Qwen2
has them); the record names the yaml model all the same.
Usage: model_step_ho.py OUT.jsonl   (HEADROOM_LIST_CASES=1: print the cases and exit)
"""
import _path  # noqa: F401
import hcommon
import model_step


def plan():
    if hcommon.QUICK:
        return [("qwen2.5-72b", 2, [("decode", 3, 1000, False), ("decode", 3, 1000, True), ("prefill", 1, 384, False)])]
    q = [("decode", 3, 6000, False), ("decode", 3, 6000, True), ("decode", 24, 1000, False), ("decode", 24, 1000, True),
         ("decode", 24, 12000, True), ("decode", 96, 1000, True), ("prefill", 1, 1536, False), ("prefill", 3, 1000, False)]
    l8 = [("decode", 3, 1000, False), ("decode", 3, 1000, True), ("decode", 24, 6000, False), ("decode", 24, 6000, True),
          ("decode", 96, 1000, True), ("decode", 3, 12000, True), ("prefill", 1, 1536, False), ("prefill", 3, 1000, False)]
    mx = [("decode", 3, 6000, False), ("decode", 3, 6000, True), ("decode", 24, 1000, False), ("decode", 24, 1000, True),
          ("decode", 128, 1000, True), ("prefill", 1, 1536, False), ("prefill", 3, 1000, False)]
    return [("qwen2.5-72b", 8, q), ("llama3-8b", 32, l8), ("mixtral-8x7b", 8, mx)]


if __name__ == "__main__":
    model_step.run(plan(), "heldout/model_step_ho.py")

"""Put traces/harness/torch on sys.path so the held-out scripts reuse the committed harness code
(hcommon: Out, bench, check, run_cases; model.py: the reference model step)."""
import os
import sys

TORCH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch")
if TORCH_DIR not in sys.path:
    sys.path.insert(0, TORCH_DIR)

"""The measurement harness (traces/harness) runs only on the GPU machines, so CI cannot run it;
what it can check is that every script loads and lists its cases without torch or a GPU
(HEADROOM_LIST_CASES=1), which catches a broken script before device time is spent on it."""
import os
import pathlib
import subprocess
import sys

import pytest

HARNESS = pathlib.Path(__file__).resolve().parents[2] / "traces" / "harness"
# Scripts that measure without a case list (host_ops.py, mem_capacity.py) and helpers are left out.
SKIP = {"hcommon.py", "_path.py", "model.py", "check_heldout.py", "host_ops.py", "mem_capacity.py"}
SCRIPTS = sorted(p for d in ("torch", "heldout") for p in (HARNESS / d).glob("*.py") if p.name not in SKIP)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_harness_script_lists_its_cases(script, tmp_path):
    env = dict(os.environ, HEADROOM_LIST_CASES="1",
               PYTHONPATH=f"{HARNESS / 'torch'}{os.pathsep}{HARNESS / 'heldout'}")
    r = subprocess.run([sys.executable, script.name, str(tmp_path / "out.jsonl")], cwd=script.parent, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    # "label<TAB>case" per case (hcommon.list_cases), or the cuda/gemm case lines gemm_shapes*.py print
    lines = [l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")]
    assert lines, f"{script.name} listed no cases:\n{r.stdout[-500:]}"
    assert not (tmp_path / "out.jsonl").exists(), "listing must not write a trace"


def test_rounds_lists_each_script_per_round(tmp_path):
    """rounds.sh OUT 3 2 1 runs coll.py three times, tp_step.py twice and pp_step.py once,
    interleaved round by round, each into its own file; listing measures nothing."""
    env = dict(os.environ, HEADROOM_LIST_CASES="1")
    r = subprocess.run(["bash", str(HARNESS / "rounds.sh"), str(tmp_path / "out"), "3", "2", "1"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    steps = [l.split()[2].rstrip(":") + " " + l.split()[-1].rsplit("/", 1)[-1]
             for l in r.stdout.splitlines() if l.startswith("=== LIST ")]
    assert steps == ["coll coll_r0.jsonl", "tp_step tp_step_r0.jsonl", "pp_step pp_step_r0.jsonl",
                     "coll coll_r1.jsonl", "tp_step tp_step_r1.jsonl", "coll coll_r2.jsonl"]
    assert not list((tmp_path / "out").glob("*.jsonl"))

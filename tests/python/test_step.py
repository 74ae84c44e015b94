"""headroom.step: step latency under a parallel plan, as `headroom step --json` gives it."""

import json
import os
import subprocess

import pytest

import headroom


def test_pipeline_schedule_is_gpipe():
    # Four micro-batches of a GPU-bound prefill through two stages, the last stage the slower (it
    # carries the lm-head): the first micro-batch leaves stage 0 after t0, crosses (p2p), and the
    # last stage then runs all four back to back at its GPU time; the sends overlap the compute.
    r = headroom.step("llama3-8b", "h200-sxm", "prefill", batch=4, seq=512, pp=2, microbatches=4)
    s0, s1 = r["stages"]
    assert s1["gpu_s"] >= s0["gpu_s"] and s0["host_s"] < s0["gpu_s"]
    assert r["first_token_path_s"] == pytest.approx(s0["time_s"] + r["p2p_s"] + s1["gpu_s"], rel=1e-12)
    assert r["latency_s"] == pytest.approx(s0["time_s"] + r["p2p_s"] + 4 * s1["gpu_s"], rel=1e-12)
    assert [s["layers"] for s in r["stages"]] == [16, 16]
    assert r["bubble_fraction"] == pytest.approx(1 / 5)  # (pp - 1) / (microbatches + pp - 1)
    assert r["tokens"] == 4 * 512


def test_expert_parallel_step_has_all_to_all_time():
    r = headroom.step("mixtral-8x7b", "h200-sxm", "decode", batch=64, context=1024, ep=4, dp=4, layers=2, cuda_graph=True)
    assert r["plan"]["ep"] == 4
    assert r["comm_s"] > 0  # routing ids, dispatch and combine all-to-alls
    one = headroom.step("mixtral-8x7b", "h200-sxm", "decode", batch=64, context=1024, layers=2, cuda_graph=True)
    assert one["comm_s"] == 0


def test_impossible_plans_name_the_constraint():
    with pytest.raises(headroom.InputError, match="micro-batches do not divide the batch of 6"):
        headroom.step("llama3-8b", "h200-sxm", "decode", batch=6, context=128, pp=2, microbatches=4)
    with pytest.raises(headroom.InputError, match="deeper than the 32 layers"):
        headroom.step("llama3-8b", "h200-sxm", "decode", batch=8, context=128, pp=64)


def test_int4_weights_and_fp8_cache_are_accepted():
    bf16 = headroom.step("llama3-70b", "h200-sxm", "decode", batch=1, context=4096, tp=2, cuda_graph=True)
    w4 = headroom.step("llama3-70b", "h200-sxm", "decode", batch=1, context=4096, tp=2, cuda_graph=True,
                       weights="int4-g128", kv_dtype="fp8")
    assert w4["latency_s"] < bf16["latency_s"]


def test_matches_the_cli():
    cli = os.environ.get("HEADROOM_CLI")
    if not cli:
        pytest.skip("HEADROOM_CLI not set (scripts/test sets it)")
    out = subprocess.run([cli, "step", "--model", "llama3-70b", "--hw", "h200-sxm", "--phase", "decode", "--batch", "8",
                          "--context", "2048", "--pp", "4", "--microbatches", "2", "--json"],
                         capture_output=True, text=True, check=True).stdout
    c = json.loads(out)
    p = headroom.step("llama3-70b", "h200-sxm", "decode", batch=8, context=2048, pp=4, microbatches=2)
    assert p == c


def test_skewed_routing_slows_expert_parallel_steps():
    kw = dict(batch=64, context=1024, ep=4, dp=4, layers=2, cuda_graph=True)
    uniform = headroom.step("mixtral-8x7b", "h200-sxm", "decode", **kw)
    skewed = headroom.step("mixtral-8x7b", "h200-sxm", "decode", moe_skew=1.0, **kw)
    assert skewed["latency_s"] > uniform["latency_s"]
    assert skewed["comm_s"] > uniform["comm_s"]  # the busiest GPU receives 1.77x its share


def test_balanced_routing_reaches_every_expert():
    # Mixtral decode, batch 8 on one GPU: 16 copies reach all 8 experts when balanced, 7.2 on
    # average when drawn at random, so the balanced step reads more weights and is slower; the
    # CLI's --moe-balanced gives the same step.
    kw = dict(batch=8, context=2048, layers=2, cuda_graph=True)
    uniform = headroom.step("mixtral-8x7b", "h200-sxm", "decode", **kw)
    balanced = headroom.step("mixtral-8x7b", "h200-sxm", "decode", moe_balanced=True, **kw)
    assert balanced["latency_s"] > uniform["latency_s"]
    with pytest.raises(headroom.InputError, match="balanced routing and moe_skew exclude each other"):
        headroom.step("mixtral-8x7b", "h200-sxm", "decode", moe_balanced=True, moe_skew=1.0, **kw)
    cli = os.environ.get("HEADROOM_CLI")
    if not cli:
        pytest.skip("HEADROOM_CLI not set (scripts/test sets it)")
    out = subprocess.run([cli, "step", "--model", "mixtral-8x7b", "--hw", "h200-sxm", "--phase", "decode",
                          "--batch", "8", "--context", "2048", "--layers", "2", "--cuda-graph", "--moe-balanced",
                          "--json"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == balanced

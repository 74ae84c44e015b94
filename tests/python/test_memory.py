"""headroom.memory: the per-GPU memory plan (hand-derived numbers in tests/memory/test_memory_plan.cpp)."""

import json
import subprocess

import pytest

import headroom


def test_llama70b_tp2_capacity():
    # KV budget 61,926,817,792 B / 2,621,440 B per 16-token block = 23,623 blocks = 377,968 tokens
    # (tests/memory/test_memory_plan.cpp derives the budget, NCCL's measured 880,803,840 B included).
    r = headroom.memory("llama3-70b", "h200-sxm", tp=2, context=4096, batch=64)
    assert r.fits and r.fails_first == "kv_cache"
    assert r.kv_blocks == 23623 and r.kv_tokens == 377968
    assert r.max_sequences == 92
    assert r.weights_bytes == 70555025408.0
    assert r.kv_bytes_per_token == 163840.0
    d = r.to_dict()
    assert d["kv"]["tokens"] == 377968
    assert d["at_batch"] == {"batch": 64, "max_context": 5904, "context_limit": "kv_cache", "fits": True,
                             "kv_share": pytest.approx(64 * 256 / 23623)}
    assert "fits" in repr(r) and "377968 tokens" in repr(r)


def test_fp8_kv_doubles_and_int4_weights():
    bf16 = headroom.memory("llama3-70b", "h200-sxm", tp=2)
    fp8 = headroom.memory("llama3-70b", "h200-sxm", tp=2, kv_dtype="fp8")
    assert fp8.kv_tokens == 2 * bf16.kv_tokens
    int4 = headroom.memory("llama3-70b", "h200-sxm", weights="int4")
    assert int4.to_dict()["weights_format"] == {"name": "int4-g128", "bits_per_weight": 4.125, "zero_points": False,
                                                 "embeddings_quantized": False}
    assert int4.fits


def test_does_not_fit_returns_the_reason():
    r = headroom.memory("llama3-70b", "h200-sxm")
    assert not r.fits and r.fails_first == "weights"
    assert r.reason.startswith("the weights do not fit")
    assert r.to_dict()["error"] == r.reason
    assert "DOES NOT FIT" in repr(r)
    # util 1.0 leaves 1251 blocks (20,016 tokens)
    assert headroom.memory("llama3-70b", "h200-sxm", util=1.0).kv_tokens == 20016


def test_rejected_plans_raise():
    with pytest.raises(headroom.InputError, match="tp 3 does not divide the 64 attention heads"):
        headroom.memory("llama3-70b", "h200-sxm", tp=3)
    with pytest.raises(headroom.InputError, match="pp 81 is deeper than the 80 layers"):
        headroom.memory("llama3-70b", "h200-sxm", pp=81)
    with pytest.raises(headroom.InputError, match="ep 3 does not divide the 256 routed experts"):
        headroom.memory("deepseek-v3", "h200-sxm", tp=8, ep=3)
    with pytest.raises(headroom.UsageError, match="ambiguous"):
        headroom.memory("llama3-8b", "h200-sxm", weights="fp4")
    with pytest.raises(headroom.UsageError):
        headroom.memory("llama3-8b", "h200-sxm", context=100, contexts=[100])


def test_contexts_forms_and_runtime_overrides():
    a = headroom.memory("llama3-8b", "h200-sxm", contexts=[100, 1000])
    b = headroom.memory("llama3-8b", "h200-sxm", contexts="100,1000")
    c = headroom.memory("llama3-8b", "h200-sxm", contexts={100: 1, 1000: 1})
    d = headroom.memory("llama3-8b", "h200-sxm", contexts=[(100, 0.5), (1000, 0.5)])
    assert a.max_sequences == b.max_sequences == c.max_sequences == d.max_sequences
    assert a.fragmentation == pytest.approx(1 - 1100 / 1120)
    base = headroom.memory("llama3-8b", "h200-sxm", block=1)
    more = headroom.memory("llama3-8b", "h200-sxm", block=1, cuda_graphs="1 GiB")
    assert base.kv_budget_bytes - more.kv_budget_bytes == pytest.approx(2**30)
    assert more.to_dict()["per_gpu"]["cuda_graphs_bytes"] == 2**30
    g = headroom.memory("llama3-8b", "h200-sxm", device_memory=80e9)
    assert g.to_dict()["per_gpu"]["device_total_source"] == "given"


def test_deepseek_mla_and_dict_model(h200_dict):
    r = headroom.memory("deepseek-v3", h200_dict, tp=8, ep=8, context=32768)
    assert r.kv_bytes_per_token == 61 * 576 * 2
    assert any("MLA latent cache is not split by TP" in n for n in r.notes)
    # the dict carries the file's measured memory.hbm.visible (cudaMemGetInfo total), not the
    # datasheet's 141 GB; without it the datasheet capacity is used
    assert r.to_dict()["per_gpu"]["device_total_bytes"] == 150109880320.0
    del h200_dict["memory"]["hbm"]["visible"]
    r2 = headroom.memory("deepseek-v3", h200_dict, tp=8, ep=8, context=32768)
    assert r2.to_dict()["per_gpu"]["device_total_bytes"] == 141e9


def test_cli_parity(headroom_cli):
    out = subprocess.run([headroom_cli, "memory", "--model", "llama3-70b", "--hw", "h200-sxm", "--tp", "2",
                          "--kv-dtype", "fp8", "--json"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == headroom.memory("llama3-70b", "h200-sxm", tp=2, kv_dtype="fp8").to_dict()


def _measured_kv_capacities(data_root):
    """(plan, measured blocks) for every largest-KV-cache record of the committed memory traces:
    mem_capacity.py's paged_kv_max (Llama-3-8B, the run that measured the runtime defaults) and
    mem_heldout.py's kv_capacity (six plans measured after the predictions were committed)."""
    out = []
    for rel in ("traces/h200/memory.jsonl", "traces/h200x2-heldout/memory.jsonl"):
        with open(data_root / rel, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r.get("stage") == "paged_kv_max":
                    out.append((dict(model=r["model"], weights="bf16", kv_dtype="bf16", block=r["block"], tp=1),
                                r["num_blocks"]))
                elif r.get("stage") == "kv_capacity":
                    out.append(({k: r[k] for k in ("model", "weights", "kv_dtype", "block", "tp")}, r["kv_blocks"]))
    return out


def test_kv_capacity_matches_what_a_process_allocated(data_root):
    # Issue 5's memory goal: the KV capacity headroom predicts is within 2% of the largest paged
    # KV cache a real process allocated on the H200 (traces/h200x2-heldout: Mixtral, fp8 and int4
    # weights, an fp8 cache, block 32, tp 2 with NCCL). util 1.0 and one token of activations:
    # the harness allocated the cache with nothing else in flight.
    cases = _measured_kv_capacities(data_root)
    assert len(cases) == 7
    for plan, measured in cases:
        r = headroom.memory(plan["model"], "h200-sxm", tp=plan["tp"], weights=plan["weights"],
                            kv_dtype=plan["kv_dtype"], block=plan["block"], util=1.0, max_batch_tokens=1)
        assert abs(r.kv_blocks / measured - 1) <= 0.02, (plan, measured, r.kv_blocks)


def test_cli_what_if_edit_of_the_hardware_file(headroom_cli):
    """--set edits the hardware file before it is validated: 10 GB more visible device memory at
    util 0.9 adds exactly 9 GB to the KV budget and floor(budget / block) blocks; a typo in the key
    is refused with the key and the override named, exit 1."""
    def plan(*extra):
        out = subprocess.run([headroom_cli, "memory", "--model", "llama3-8b", "--hw", "h200-sxm", "--util", "0.9",
                              "--json", *extra], capture_output=True, text=True, check=True).stdout
        return json.loads(out)
    base = plan()
    more = plan("--set", f"memory.hbm.visible={base['per_gpu']['device_total_bytes'] + 10e9:.0f} B")
    assert more["per_gpu"]["kv_budget_bytes"] - base["per_gpu"]["kv_budget_bytes"] == pytest.approx(9e9, abs=1)
    assert more["kv"]["blocks"] == int(more["per_gpu"]["kv_budget_bytes"] // more["kv"]["block_bytes"])
    assert more["kv"]["blocks"] > base["kv"]["blocks"]
    bad = subprocess.run([headroom_cli, "memory", "--model", "llama3-8b", "--hw", "h200-sxm",
                          "--set", "memory.hbm.visibel=160 GB"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "memory.hbm.visibel: unknown key" in bad.stderr and "--set memory.hbm.visibel=160 GB" in bad.stderr

"""predict(): the same path as `headroom predict`: each record plus "predicted" or "error"."""

import json
import re

import pytest

import headroom

GEMM_4096 = {"op": "gemm", "m": 4096, "n": 4096, "k": 4096, "dtype": "bf16", "hw": "h200-sxm", "ms": 0.2}


def test_gemm_and_unknown_op():
    records = [dict(GEMM_4096), {"op": "frobnicate", "hw": "h200-sxm"}, dict(GEMM_4096, note="again")]
    out = headroom.predict(records)
    assert len(out) == 3
    # The roofline of a 4096^3 bf16 GEMM on an H200 is compute-bound: 2 m n k / 989.5 TFLOP/s.
    expected_ms = 2 * 4096**3 / 989.5e12 * 1e3
    assert out[0]["predicted"]["ms"] == pytest.approx(expected_ms, rel=1e-9)
    assert "error" not in out[0]
    # The input record comes back whole, in its key order, with "predicted" last.
    assert list(out[0]) == list(GEMM_4096) + ["predicted"]
    assert "predicted" not in out[1]
    assert "frobnicate" in out[1]["error"] and out[1]["error"].startswith("records[1]:")
    # ... and the run went on after the error.
    assert out[2]["predicted"]["ms"] == pytest.approx(expected_ms, rel=1e-9)
    assert out[2]["note"] == "again"
    assert "predicted" not in records[0]  # inputs are not modified


def test_hw_override_forms(h200_dict):
    rec = {k: v for k, v in GEMM_4096.items() if k != "hw"}
    assert "error" in headroom.predict([rec])[0]  # no hw anywhere
    expected = headroom.predict([GEMM_4096])[0]["predicted"]["ms"]
    for hw in ("h200-sxm", headroom.load_hardware("h200-sxm"), h200_dict):
        assert headroom.predict([rec], hw=hw)[0]["predicted"]["ms"] == expected
    with pytest.raises(headroom.InputError, match="not found"):
        headroom.predict([rec], hw="no-such-gpu")
    # A HardwareSpec built from a dict is used as it is, like the dict.
    assert headroom.predict([rec], hw=headroom.load_hardware(h200_dict))[0]["predicted"]["ms"] == expected


def test_predict_uses_the_what_if_edits_of_a_loaded_spec(h200_dict):
    """A spec loaded with set= predicts as the same edit made in a dict, not as its unedited file."""
    gemv = {"op": "gemm", "m": 1, "n": 8192, "k": 8192, "dtype": "bf16"}
    edited = headroom.load_hardware("h200-sxm", set={"memory.hbm.bandwidth": "9.6 TB/s"})
    assert edited.file.endswith("h200-sxm.yaml")
    h200_dict["memory"]["hbm"]["bandwidth"] = "9.6 TB/s"
    base = headroom.predict([gemv], hw="h200-sxm")[0]["predicted"]["ms"]
    fast = headroom.predict([gemv], hw=edited)[0]["predicted"]["ms"]
    assert fast == headroom.predict([gemv], hw=h200_dict)[0]["predicted"]["ms"]
    assert fast < base  # a memory-bound GEMV gains from the doubled bandwidth


def test_model_step_and_non_dict_record():
    out = headroom.predict([{"op": "model_step", "model": "llama3-8b", "phase": "decode", "batch": 1,
                             "context": 1024, "hw": "h200-sxm"}])
    assert out[0]["predicted"]["ms"] > 0
    with pytest.raises(headroom.InputError, match=r"records\[0\]: expected a dict"):
        headroom.predict([["op", "gemm"]])


def test_predict_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([GEMM_4096, {"op": "copy", "bytes": 1 << 30, "hw": "h200-sxm"}, {"op": "nope", "hw": "h200-sxm"}])
    out = headroom.predict_dataframe(df)
    assert list(out.index) == list(df.index)
    assert {"op", "m", "predicted_ms", "error"} <= set(out.columns)
    assert out.loc[0, "predicted_ms"] == pytest.approx(2 * 4096**3 / 989.5e12 * 1e3, rel=1e-9)
    # A copy reads and writes its bytes at the HBM bandwidth.
    assert out.loc[1, "predicted_ms"] == pytest.approx(2 * (1 << 30) / 4.8e12 * 1e3, rel=1e-9)
    assert out.loc[0, "error"] is None or pd.isna(out.loc[0, "error"])
    assert "nope" in out.loc[2, "error"]
    from_list = headroom.predict_dataframe([GEMM_4096])
    assert from_list.loc[0, "predicted_ms"] == out.loc[0, "predicted_ms"]


def test_read_and_write_trace(tmp_path):
    path = tmp_path / "t.jsonl"
    headroom.write_trace([GEMM_4096, {"op": "idle", "avg_w": 80, "hw": "h200-sxm"}], path)
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n# a comment\n")
    records = headroom.read_trace(path)
    assert records == [GEMM_4096, {"op": "idle", "avg_w": 80, "hw": "h200-sxm"}]
    out = headroom.predict(records)
    assert out[1]["predicted"]["avg_w"] == 75  # the H200 file's idle power
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GEMM_4096) + "\n{not json\n")
    with pytest.raises(headroom.InputError, match=r"bad.jsonl:2: malformed JSON"):
        headroom.read_trace(bad)


def test_merge_runs_takes_the_median_per_case(tmp_path):
    # Three runs of one GEMM and a second case in two of them: medians by hand.
    a, b, c = (tmp_path / f"r{i}.jsonl" for i in range(3))
    a.write_text(json.dumps({**GEMM_4096, "ms": 0.10, "reps": 9}) + "\n" + json.dumps({"op": "read", "bytes": 4096, "ms": 0.004}) + "\n")
    b.write_text(json.dumps({**GEMM_4096, "ms": 0.30, "reps": 7}) + "\n")
    c.write_text(json.dumps({**GEMM_4096, "ms": 0.12, "reps": 9}) + "\n" + json.dumps({"op": "read", "bytes": 4096, "ms": 0.006}) + "\n")
    out = headroom.merge_runs([a, b, c])
    assert out[0]["ms"] == 0.12 and out[0]["ms_runs"] == [0.10, 0.30, 0.12] and out[0]["runs"] == 3
    assert "reps" not in out[0]  # 9, 7, 9: a per-run field
    assert out[1]["ms"] == pytest.approx(0.005) and out[1]["runs"] == 2
    assert [r["op"] for r in headroom.merge_runs([a, b, c], min_runs=3)] == ["gemm"]
    assert headroom.merge_runs([a, b, c], stat="mean")[0]["ms"] == pytest.approx(0.52 / 3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"op": "read", "bytes": 4096}) + "\n")
    with pytest.raises(headroom.InputError, match=r"bad.jsonl:1: ms: missing"):
        headroom.merge_runs([a, bad])


def test_explain_shows_the_plan():
    # m = 768, n = k = 3584 fp16: cuBLASLt's persistent kernel runs 168x128 tiles (n x m), one
    # wave of 6 x 22 = 132 (traces/h200/profile); the analytical model picks the same plan.
    rec = {"op": "gemm", "m": 768, "n": 3584, "k": 3584, "dtype": "fp16", "hw": "h200-sxm"}
    out = headroom.predict([rec], fidelity="analytical", explain=True)[0]["predicted"]
    e = out["explain"]
    assert (e["gemm"]["tile_m"], e["gemm"]["tile_n"]) == (128, 168)
    assert e["gemm"]["tiles"] == 132 and e["gemm"]["waves"] == 1 and e["gemm"]["split_k"] == 1
    assert e["bound"] == "compute"
    # The parts add up to the kernel time the prediction is built from.
    assert out["ms"] == pytest.approx(max(e["compute_ms"], e["memory_ms"]) + e["overhead_ms"], rel=1e-9)
    # Without explain, or on the roofline (no plan), nothing more than asked for.
    assert "explain" not in headroom.predict([rec], fidelity="analytical")[0]["predicted"]
    assert "gemm" not in headroom.predict([rec], explain=True)[0]["predicted"]["explain"]


def test_explain_shows_an_moe_layers_grouped_gemms():
    # Qwen3-30B-A3B experts, 4096 tokens x top-8 over 128 experts, balanced: 256 rows each, above
    # 128, so PyTorch's cooperative 128x256 tile. Gate-up (n = 1536): 2 tiles of rows x 6 along n x
    # 128 experts = 1536 tiles, ceil(1536 / 132) = 12 waves; down (n = 2048): 2 x 8 x 128 = 2048
    # tiles, 16 waves. The combine adds 4096 x 8 x 2048 = 67108864 values.
    rec = {"op": "moe_ffn", "experts": 128, "top_k": 8, "hidden": 2048, "inter": 768, "tokens": 4096,
           "impl": "grouped", "dtype": "bf16", "routing": "balanced", "hw": "h200-sxm"}
    e = headroom.predict([rec], fidelity="analytical", explain=True)[0]["predicted"]["explain"]["moe"]
    gu, down = e["gemms"]
    assert (gu["kernel"], gu["tile_m"], gu["tile_n"], gu["tiles"], gu["waves"]) == ("grouped", 128, 256, 1536, 12)
    assert (down["tiles"], down["waves"]) == (2048, 16)
    assert e["combine_adds"] == 67108864
    assert e["experts_touched"] == 128


def test_latent_attention_reads_each_cached_token_once():
    # Decode against a shared latent (MLA's absorbed form): 16 query heads, one 576-wide latent
    # per token that is the key and, in its first 512 values, the value. Memory-bound on the
    # roofline (2 x 16 x 1088 FLOP per 1152 bytes): the cache once, q in, o out, at 4.8 TB/s.
    rec = {"op": "attention", "phase": "decode", "batch": 1, "context": 65536, "heads": 16, "kv_heads": 1,
           "head_dim": 576, "v_head_dim": 512, "shared_kv": True, "dtype": "bf16", "hw": "h200-sxm"}
    out = headroom.predict([rec, dict(rec, shared_kv=False)])
    latent = (65536 * 576 + 16 * 576 + 16 * 512) * 2
    assert out[0]["predicted"]["ms"] == pytest.approx(latent / 4.8e12 * 1e3, rel=1e-9)
    separate = (65536 * (576 + 512) + 16 * 576 + 16 * 512) * 2
    assert out[1]["predicted"]["ms"] == pytest.approx(separate / 4.8e12 * 1e3, rel=1e-9)
    bad = headroom.predict([dict(rec, v_head_dim=640), dict(rec, phase="prefill", seq=128, causal=True)])
    assert bad[0]["error"] == "records[0]: v_head_dim: 640 exceeds head_dim = 576: with shared_kv the values are part of the keys"
    assert "shared_kv: modelled for decode only" in bad[1]["error"]


def test_model_step_weight_dtype():
    # DeepSeek-V3's file gives fp8 weights; a bf16 run of its first (dense) layer reads twice the bytes.
    base = {"op": "model_step", "model": "deepseek-v3", "phase": "decode", "batch": 1, "context": 1024,
            "layers": 1, "hw": "h200-sxm"}
    out = headroom.predict([base, dict(base, weight_dtype="bf16"), dict(base, weight_dtype="int3")])
    assert out[1]["predicted"]["ms"] > 1.5 * out[0]["predicted"]["ms"]
    assert out[2]["error"] == 'records[2]: weight_dtype: expected bf16, fp16, fp8 or fp32, got "int3"'


def test_a_records_host_probe_scales_its_host_costs():
    """The shipped H200 file's host costs are those of hosts whose probe read 8.79 us. An eager
    one-GPU step on a record whose host_probe_us reads twice that is predicted as on a host that
    issues each kernel in twice the file's host_issue_torch (one GPU: no collective calls);
    host_probe=False ignores the probe."""
    step = {"op": "model_step", "model": "llama3-8b", "phase": "decode", "batch": 1, "context": 1024,
            "tp": 1, "cuda_graph": False, "issue": "torch", "hw": "h200-sxm"}
    slow = dict(step, host_probe_us=17.58)
    plain = headroom.predict([step], fidelity="analytical")[0]["predicted"]["ms"]
    probed = headroom.predict([slow], fidelity="analytical")[0]["predicted"]["ms"]
    text = open(headroom.load_hardware("h200-sxm").file).read()
    assert 'host_probe_reference: "8.79 us"' in text
    issue_us = float(re.search(r'host_issue_torch: "([0-9.]+) us"', text).group(1))
    doubled = headroom.load_hardware("h200-sxm", set={"kernel_model.host_issue_torch": f"{2 * issue_us} us"})
    assert probed == pytest.approx(headroom.predict([step], hw=doubled, fidelity="analytical")[0]["predicted"]["ms"],
                                   rel=1e-9)
    assert probed > 1.5 * plain  # an eager 8B decode at batch 1 is host-bound
    assert headroom.predict([slow], fidelity="analytical", host_probe=False)[0]["predicted"]["ms"] == plain
    bad = headroom.predict([dict(step, host_probe_us="fast")], fidelity="analytical")[0]
    assert "records[0]: host_probe_us" in bad["error"]

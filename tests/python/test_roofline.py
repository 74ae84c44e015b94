"""roofline(): rule-level checks (decode GEMVs are memory-bound, long-prefill GEMMs compute-bound)
and the shape of the result."""

import pytest

import headroom

ROW_KEYS = ["name", "kind", "dtype", "count", "flops", "bytes", "wire_bytes", "intensity", "compute_s",
            "memory_s", "comm_s", "time_s", "bound"]


def test_decode_is_memory_bound():
    r = headroom.roofline("llama3-8b", "h200-sxm", "decode", batch=1, context=4096)
    gemms = [row for row in r.rows if row["kind"] == "gemm"]
    assert {row["name"] for row in gemms} == {"qkv", "o_proj", "gate_up", "down_proj", "lm_head"}
    for row in gemms:
        assert row["bound"] == "memory", row
    assert r.totals["memory_bound_s"] > 0.9 * r.totals["gpu_time_s"]
    assert r.memory["fits"] is True


def test_long_prefill_gate_up_is_compute_bound():
    r = headroom.roofline("llama3-8b", "h200-sxm", "prefill", batch=1, seq=8192)
    gate_up = next(row for row in r.rows if row["name"] == "gate_up")
    assert gate_up["bound"] == "compute"
    assert gate_up["count"] == 32
    # Compute time at the datasheet bf16 rate, hand-derived.
    assert gate_up["compute_s"] == pytest.approx(32 * 2 * 8192 * 2 * 14336 * 4096 / 989.5e12, rel=1e-12)


def test_rows_totals_and_grouping():
    hw = headroom.load_hardware("h200-sxm")
    m = headroom.load_model("llama3-8b")
    grouped = headroom.roofline(m, hw, "decode", context=1024)
    every = headroom.roofline(m, hw, "decode", context=1024, group_layers=False)
    for row in grouped.rows:
        assert list(row) == ROW_KEYS
    assert len(every.rows) > len(grouped.rows)
    assert sum(row["count"] for row in grouped.rows) == len(every.rows)
    assert grouped.totals["flops"] == pytest.approx(sum(row["flops"] for row in grouped.rows))
    assert grouped.totals["flops"] == pytest.approx(headroom.build_step(m, "decode", context=1024).total_flops)
    assert grouped.totals["step_time_s"] >= grouped.totals["gpu_time_s"] > 0
    assert grouped.config["phase"] == "decode" and grouped.config["context"] == 1024
    assert grouped.cost_model == "roofline" and grouped.hw == "NVIDIA H200 SXM"
    assert set(grouped.memory) == {"weights_bytes", "kv_cache_bytes", "kv_bytes_per_token", "runtime_bytes", "total_bytes",
                                   "capacity_bytes", "fits"}
    assert "RooflineResult Llama-3-8B decode" in repr(grouped)


def test_dict_specs(h200_dict):
    a = headroom.roofline("llama3-8b", h200_dict, "decode", context=512)
    b = headroom.roofline("llama3-8b", "h200-sxm", "decode", context=512)
    assert a.totals == b.totals


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    r = headroom.roofline("llama3-8b", "h200-sxm", "decode", context=4096)
    df = r.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ROW_KEYS
    assert len(df) == len(r.rows)
    ops = headroom.build_step("llama3-8b", "decode", context=16).to_dataframe()
    assert {"name", "kind", "flops", "intensity", "shape.m"} <= set(ops.columns)


def test_bad_fidelity():
    with pytest.raises(headroom.UsageError, match="fidelity"):
        headroom.roofline("llama3-8b", "h200-sxm", "decode", context=16, fidelity="exact")


def test_same_numbers_as_the_cli(headroom_cli):
    """rows/totals/memory equal `headroom roofline --json` (run only when $HEADROOM_CLI names the binary)."""
    import json
    import subprocess

    out = subprocess.run([headroom_cli, "roofline", "--model", "llama3-8b", "--hw", "h200-sxm", "--phase", "decode",
                          "--batch", "4", "--context", "2048", "--json"], check=True, capture_output=True, text=True)
    cli = json.loads(out.stdout)
    r = headroom.roofline("llama3-8b", "h200-sxm", "decode", batch=4, context=2048)
    assert r.rows == cli["ops"]
    assert {k: r.totals[k] for k in cli["totals"]} == cli["totals"]
    assert r.memory == cli["memory"]

"""Roofline plots: headroom.plot_roofline and `headroom roofline --plot` render a PNG; the trace
accounting of headroom.plot matches the C++ ops (checked through the roofline fidelity, whose
time is exactly max(FLOPs / peak, bytes / HBM bandwidth))."""

import os
import subprocess
from pathlib import Path

import pytest

import headroom
from headroom import plot as hplot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path, min_bytes=20_000):
    p = Path(path)
    assert p.is_file(), p
    assert p.stat().st_size > min_bytes, p.stat().st_size
    assert p.read_bytes()[:8] == PNG_MAGIC


def test_plot_decode_step(tmp_path):
    pytest.importorskip("matplotlib")
    r = headroom.roofline("llama3-8b", "h200-sxm", "decode", batch=8, context=4096, fidelity="analytical")
    out = tmp_path / "decode.png"
    assert headroom.plot_roofline(r, out) == out
    _is_png(out)


def test_plot_with_trace_and_json_dict(tmp_path, data_root):
    pytest.importorskip("matplotlib")
    r = headroom.roofline("llama3-70b", "h200-sxm", "prefill", batch=1, seq=2048, tp=2)
    # the dict form (what `headroom roofline --json` prints) is accepted too
    d = {"model": r.model, "hw": r.hw, "cost_model": r.cost_model, "config": dict(r.config), "ops": list(r.rows)}
    out = tmp_path / "prefill.png"
    hplot.plot_roofline(d, out, trace=data_root / "traces" / "h200" / "norm.jsonl", hw="h200-sxm")
    _is_png(out)


@pytest.mark.parametrize(
    "rec",
    [
        {"op": "gemm", "m": 1, "n": 4096, "k": 4096, "dtype": "bf16"},
        {"op": "gemm", "m": 4096, "n": 14336, "k": 4096, "dtype": "fp8"},
        {"op": "gemm", "m": 512, "n": 4096, "k": 4096, "dtype": "tf32"},
        {"op": "attention", "phase": "decode", "batch": 8, "context": 4096, "heads": 64, "kv_heads": 8,
         "head_dim": 128, "dtype": "bf16"},
        {"op": "attention", "phase": "prefill", "batch": 2, "seq": 2048, "heads": 32, "kv_heads": 8,
         "head_dim": 128, "causal": True, "dtype": "bf16"},
        {"op": "rmsnorm", "tokens": 4096, "hidden": 8192, "dtype": "bf16", "impl": "torch-expr"},
        {"op": "rmsnorm", "tokens": 4096, "hidden": 8192, "dtype": "bf16", "impl": "F.rms_norm"},
        {"op": "swiglu", "tokens": 4096, "inter": 14336, "dtype": "bf16", "impl": "F.silu(a)*b"},
        {"op": "moe_ffn", "experts": 8, "top_k": 2, "hidden": 4096, "inter": 14336, "tokens": 64,
         "impl": "grouped", "dtype": "bf16"},
        {"op": "copy", "bytes": 1 << 30},
        {"op": "read", "bytes": 1 << 28},
    ],
)
def test_record_accounting_matches_the_cpp_ops(rec):
    hw = headroom.load_hardware("h200-sxm")
    flops, nbytes = hplot.record_accounting(rec)
    rec = dict(rec, hw="h200-sxm", timing="queued")
    (p,) = headroom.predict([rec], fidelity="roofline")
    peak = hw.peak_rate(rec.get("dtype", "bf16")) if rec["op"] in ("gemm", "attention", "moe_ffn") else hw.vector_fp32_flops
    expect_s = max(flops / peak, nbytes / hw.hbm_bandwidth_bps)
    assert p["predicted"]["ms"] == pytest.approx(expect_s * 1e3, rel=1e-9)


def test_ceilings_from_the_hardware_file():
    c = hplot.hardware_ceilings("h200-sxm")
    labels = [label for label, _ in c["compute"]]
    assert labels == ["fp8 matrix", "bf16/fp16 matrix", "tf32 matrix", "fp32 vector"]
    bw = {label.split(":")[0].split(" (")[0]: v for label, v, _ in c["bandwidth"]}
    assert bw["HBM datasheet"] == pytest.approx(4.8e12)
    km = c["kernel_model"]
    assert bw["HBM achievable read"] == pytest.approx(km["hbm_read_efficiency"] * 4.8e12)
    assert bw["L2"] == pytest.approx(km["l2_bandwidth_ratio"] * 4.8e12)


def _cli():
    path = os.environ.get("HEADROOM_CLI")
    if path and Path(path).is_file():
        return path
    # the build tree: <build>/python/headroom/__init__.py -> <build>/headroom
    guess = Path(headroom.__file__).resolve().parents[2] / "headroom"
    return str(guess) if guess.is_file() else None


def test_cli_roofline_plot(tmp_path, data_root):
    pytest.importorskip("matplotlib")
    cli = _cli()
    if cli is None:
        pytest.skip("no headroom binary (set HEADROOM_CLI)")
    out = tmp_path / "cli.png"
    env = dict(os.environ, HEADROOM_DATA=str(data_root))
    r = subprocess.run([cli, "roofline", "--model", "llama3-8b", "--hw", "h200-sxm", "--phase", "decode", "--batch",
                        "8", "--context", "4096", "--plot", str(out), "--trace",
                        str(data_root / "traces" / "h200" / "attention.jsonl")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    _is_png(out)
    # --trace alone is a usage error
    r = subprocess.run([cli, "roofline", "--model", "llama3-8b", "--hw", "h200-sxm", "--phase", "decode",
                        "--context", "4096", "--trace", "x.jsonl"], capture_output=True, text=True, env=env)
    assert r.returncode == 2
    assert "--trace needs --plot" in r.stderr

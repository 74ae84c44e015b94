"""Hardware and model specs through the binding: every shipped file loads; dicts go through the
same validation and raise the same text as files."""

import pytest

import headroom


def test_every_hardware_file_loads(hw_files):
    for path in hw_files:
        hw = headroom.load_hardware(str(path))
        assert hw.key == path.stem
        assert hw.name and hw.vendor and hw.source
        assert hw.sm_count > 0
        assert hw.boost_clock_hz >= hw.base_clock_hz > 0
        assert hw.hbm_capacity_bytes > 0 and hw.hbm_bandwidth_bps > 0 and hw.l2_bytes > 0
        assert hw.tdp_w > 0
        assert repr(hw).startswith("<HardwareSpec " + path.stem)
        # A pathlib.Path and the bare name load the same part.
        assert headroom.load_hardware(path).name == hw.name
        assert headroom.load_hardware(path.stem).name == hw.name


def test_every_model_file_loads(model_files):
    for path in model_files:
        m = headroom.load_model(str(path))
        assert m.key == path.stem
        assert m.layers > 0 and m.hidden > 0 and m.vocab > 0 and m.heads > 0
        assert m.params_total() >= m.params_active_per_token() > 0
        assert m.kv_elements_per_token_per_layer() > 0
        assert m.name in repr(m)
        assert headroom.load_model(path.stem).params_total() == m.params_total()


def test_h200_values():
    hw = headroom.load_hardware("h200-sxm")
    assert hw.sm_count == 132
    assert hw.boost_clock_hz == 1980e6
    assert hw.hbm_capacity_bytes == 141e9  # GB = 10^9
    assert hw.hbm_bandwidth_bps == 4.8e12
    assert hw.l2_bytes == 60 * 2**20  # MiB = 2^20
    assert hw.peak_rate("bf16") == 989.5e12
    assert hw.peak_rate("fp4") is None  # no fp4 unit on Hopper
    assert hw.peak_rate("fp32") == hw.vector_fp32_flops
    assert hw.scale_up["links"] == 18
    # one 8-GPU NVSwitch board, then one 400 Gb/s NIC per GPU (published figures)
    assert hw.scale_up["domain"] == 8
    assert hw.scale_out["bandwidth_bps"] == 50e9 and hw.scale_out["latency_s"] == pytest.approx(9.6e-6)
    assert hw.idle_w == 75 and hw.power_cap_max_w == 700
    with pytest.raises(headroom.UsageError, match='unknown dtype "bf17"'):
        hw.peak_rate("bf17")


def test_hardware_dict_goes_through_validation(h200_dict):
    hw = headroom.load_hardware(h200_dict)
    assert hw.name == "NVIDIA H200 SXM" and hw.file == ""
    assert hw.hbm_bandwidth_bps == 4.8e12


def test_hardware_dict_bare_number_is_an_input_error(h200_dict):
    h200_dict["memory"]["hbm"]["bandwidth"] = 4.8
    with pytest.raises(headroom.InputError) as e:
        headroom.load_hardware(h200_dict)
    assert 'memory.hbm.bandwidth: expected a bandwidth like "4.8 TB/s", got "4.8"' in str(e.value)
    assert str(e.value).startswith("<dict>:")
    assert isinstance(e.value, ValueError) and isinstance(e.value, headroom.Error)


def test_hardware_dict_unknown_key(h200_dict):
    h200_dict["memory"]["hbm"]["bandwdith"] = "1 TB/s"
    with pytest.raises(headroom.InputError, match="bandwdith"):
        headroom.load_hardware(h200_dict)


def test_missing_files_and_wrong_types():
    with pytest.raises(headroom.InputError, match='hardware "no-such-gpu" not found'):
        headroom.load_hardware("no-such-gpu")
    with pytest.raises(headroom.InputError, match='model "no-such-model" not found'):
        headroom.load_model("no-such-model")
    with pytest.raises(TypeError):
        headroom.load_hardware(42)


def test_llama3_8b_parameters():
    m = headroom.load_model("llama3-8b")
    assert m.params_total() == 8_030_261_248
    assert (m.layers, m.hidden, m.vocab, m.heads, m.kv_heads, m.head_dim) == (32, 4096, 128256, 32, 8, 128)
    assert not m.is_moe and m.experts is None
    assert m.kv_elements_per_token_per_layer() == 2 * 8 * 128


def test_model_yaml_round_trip():
    m = headroom.load_model("llama3-8b")
    yaml = pytest.importorskip("yaml")
    again = headroom.load_model(yaml.safe_load(m.to_yaml()))
    assert again.params_total() == m.params_total()
    assert again.name == m.name


def test_moe_model():
    m = headroom.load_model("mixtral-8x7b")
    assert m.is_moe and m.experts == 8 and m.top_k == 2
    assert m.params_active_per_token() < m.params_total()


def test_import_hf(hf_dir):
    m = headroom.import_hf(hf_dir / "llama3-8b.json")
    assert m.params_total() == 8_030_261_248
    import json

    with open(hf_dir / "llama3-8b.json", encoding="utf-8") as f:
        again = headroom.import_hf(json.load(f))
    assert again.params_total() == m.params_total()
    with pytest.raises(headroom.InputError):
        headroom.import_hf(hf_dir / "unsupported.json")


def test_units():
    assert headroom.parse_quantity("4.8 TB/s", "bandwidth") == 4.8e12
    assert headroom.parse_quantity("60 MiB", "bytes") == 60 * 2**20
    assert headroom.format_quantity(4.8e12, "bandwidth") == "4.80 TB/s"
    with pytest.raises(headroom.InputError):
        headroom.parse_quantity("4.8", "bandwidth")


def test_load_hardware_with_what_if_edits():
    """set= edits the named file before validation, as the CLI's --set: the edited keys change,
    the rest is the file's; a bad edit raises InputError naming the key; set= on a dict is refused."""
    base = headroom.load_hardware("h200-sxm")
    h = headroom.load_hardware("h200-sxm", set={"memory.hbm.bandwidth": "6 TB/s"})
    assert h.hbm_bandwidth_bps == 6e12
    assert h.hbm_capacity_bytes == base.hbm_capacity_bytes
    with pytest.raises(headroom.InputError, match="memory.hbm.bandwith: unknown key"):
        headroom.load_hardware("h200-sxm", set={"memory.hbm.bandwith": "6 TB/s"})
    with pytest.raises(headroom.InputError, match="unit is missing"):
        headroom.load_hardware("h200-sxm", set={"memory.hbm.bandwidth": "6"})
    with pytest.raises(headroom.UsageError):
        headroom.load_hardware({"name": "x"}, set={"memory.hbm.bandwidth": "6 TB/s"})

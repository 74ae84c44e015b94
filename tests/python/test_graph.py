"""build_step: operator accounting checked against hand-derived Llama-3-8B numbers."""

import pytest

import headroom

# Llama-3-8B (models/llama3-8b.yaml)
L, H, V = 32, 4096, 128256
HEADS, KVH, D, INTER = 32, 8, 128, 14336


def test_decode_flops_match_hand_derivation():
    context = 4096
    g = headroom.build_step("llama3-8b", "decode", batch=1, context=context)
    ops = g.ops()
    assert len(g) == len(ops)
    assert g.tokens == 1

    # GEMMs: 2 FLOP per weight per token. Per layer qkv [H -> (HEADS + 2 KVH) D], o [HEADS D -> H],
    # gate_up [H -> 2 INTER], down [INTER -> H]; then the lm head [H -> V].
    per_layer = H * (HEADS + 2 * KVH) * D + HEADS * D * H + H * 2 * INTER + INTER * H
    gemm_expected = 2 * (L * per_layer + V * H)
    gemm = sum(op["flops"] for op in ops if op["kind"] == "gemm")
    assert gemm == gemm_expected

    # ... which is 2 x (parameters without the input embedding and the norm weights).
    m = headroom.load_model("llama3-8b")
    norms = (2 * L + 1) * H
    assert gemm == 2 * (m.params_total() - V * H - norms)

    # Attention: one query against context + 1 keys, q.k and p.v, 2 FLOP per MAC, per head.
    attn_expected = L * 2 * HEADS * (context + 1) * (D + D)
    attn = sum(op["flops"] for op in ops if op["kind"] == "attention")
    assert attn == attn_expected

    # Everything else is elementwise and small.
    assert g.total_flops == pytest.approx(gemm_expected + attn_expected, rel=1e-3)
    assert g.total_flops >= gemm_expected + attn_expected


def test_prefill_tokens_and_gemm_shapes():
    g = headroom.build_step("llama3-8b", "prefill", batch=2, seq=512)
    assert g.tokens == 1024
    qkv = next(op for op in g.ops() if op["name"] == "L0.qkv")
    assert qkv["shape"] == {"m": 1024, "n": (HEADS + 2 * KVH) * D, "k": H, "batch": 1}
    assert qkv["flops"] == 2 * 1024 * (HEADS + 2 * KVH) * D * H
    assert qkv["layer"] == 0 and qkv["dtype"] == "bf16"
    assert qkv["intensity"] == pytest.approx(qkv["flops"] / (qkv["bytes_read"] + qkv["bytes_written"]))


def test_edges_form_a_dag_in_issue_order():
    g = headroom.build_step("llama3-8b", "decode", context=128, layers=2)
    n = len(g)
    edges = g.edges()
    assert edges
    for src, dst in edges:
        assert 0 <= src < dst < n  # ops() is a topological order
    names = [op["name"] for op in g.ops()]
    assert (names.index("L0.qkv"), names.index("L0.rope")) in edges
    assert g.layers == 2 and g.config["layers"] == 2


def test_tensor_parallel_adds_collectives():
    g = headroom.build_step("llama3-70b", "decode", batch=8, context=1024, tp=4)
    kinds = {op["kind"] for op in g.ops()}
    assert "collective" in kinds
    ar = next(op for op in g.ops() if op["name"] == "L0.o_proj.all_reduce")
    assert ar["shape"]["gpus"] == 4 and ar["wire_bytes"] > 0


def test_repr_and_totals():
    g = headroom.build_step(headroom.load_model("llama3-8b"), "decode", context=16)
    assert repr(g).startswith("<StepGraph Llama-3-8B decode")
    assert g.total_bytes == pytest.approx(sum(op["bytes_read"] + op["bytes_written"] for op in g.ops()))


def test_bad_plans():
    with pytest.raises(headroom.UsageError, match='phase: expected prefill or decode, got "train"'):
        headroom.build_step("llama3-8b", "train")
    with pytest.raises(headroom.UsageError, match="needs seq"):
        headroom.build_step("llama3-8b", "prefill")
    with pytest.raises(headroom.InputError, match="does not divide the 32 attention heads"):
        headroom.build_step("llama3-8b", "decode", context=16, tp=3)
    with pytest.raises(headroom.UsageError, match='unknown dtype "fp7"'):
        headroom.build_step("llama3-8b", "decode", context=16, kv_dtype="fp7")

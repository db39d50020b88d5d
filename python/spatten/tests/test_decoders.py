"""Decoders with computed rotary tables and parallel attention and MLP
through the compiler and simulator: GPT-NeoX (``spatten.export gpt-neox``:
Hugging Face's GPTNeoXForCausalLM, the Pythia suite), Falcon
(``spatten.export falcon``: FalconForCausalLM in Falcon-7B's multi-query
architecture) and Phi (``spatten.export phi``: PhiForCausalLM, separate
projections and a partial rotary embedding).

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch, without and with an attention_mask (a row
padded at its front, the other at its end). The fused QKV, viewed per head
([B, L, H, 3D] cut on the last axis; Falcon's [B, L, H + 2, D] cut on the
head axis), becomes three projections by the weight's columns when
canonicalized (docs/ONNXImport.md). The partial rotary embedding of
GPT-NeoX and Phi (the first ``rotary_pct`` of each head's columns) lifts to
one ``spatten.rotary_embedding`` with ``head_dim``; Falcon's one K/V head,
which its MatMuls broadcast over the query heads, is read as a group of
all of them. Every SpAtten technique is compared with the NumPy reference
on unpadded rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import reference as R
from spatten import tools
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import check_agreement
from test_llama import L0, check_dense


FAMILIES = ("gpt-neox", "falcon", "phi")


def export(tmp_path, family: str, opset: int = 14, layers: int = 2, **over):
    path = tmp_path / f"{family}-{opset}.onnx"
    model = spexport.export(family, str(path), opset=opset, seed=5, layers=layers, seq_len=L0, **over)
    return path, model


def lifted(path) -> str:
    """The spatten dialect of ``path`` at batch 2 and sequence L0."""
    proc, _ = tools.run_tool("spatten-compile", [path, "--shape", "batch=2", "--shape", f"sequence={L0}",
                                                 "--emit=spatten", "-o", "-"])
    return proc.stdout


@pytest.mark.parametrize("opset", [14, 17])
@pytest.mark.parametrize("family", FAMILIES)
def test_dense_matches_onnxruntime_and_torch(family, opset, tmp_path):
    path, model = export(tmp_path, family, opset)
    check_dense(tmp_path, path, model, spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))


@pytest.mark.parametrize("opset", [14, 17])
@pytest.mark.parametrize("family", FAMILIES)
def test_padded_dense_matches_onnxruntime_and_torch(family, opset, tmp_path):
    """Batch 2: the first row padded at its front, the second at its end."""
    path, model = export(tmp_path, family, opset, padding_mask=True)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    inputs["attention_mask"][0, :3] = 0
    assert inputs["attention_mask"][1, -1] == 0
    check_dense(tmp_path, path, model, inputs)


@pytest.mark.parametrize("family", ["gpt-neox", "phi"])
def test_rotary_on_a_quarter_of_each_head(family, tmp_path):
    """Pythia's rotary_pct 0.25: 2 of each head's 8 columns rotated; the
    lifted program has one rotary embedding for Q and one for K per layer,
    and three projections per layer for Q, K and V: GPT-NeoX's fused one is
    split, and the rotated and passed columns of a head are not."""
    path, model = export(tmp_path, family, rotary_pct=0.25)
    check_dense(tmp_path, path, model, spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))
    ir = lifted(path)
    assert ir.count("spatten.rotary_embedding") == 2 * model.config.layers
    assert ir.count("{head_dim = 8 : i64}") == 2 * model.config.layers
    # Q, K, V, the output projection and the MLP's two per layer, and the LM head.
    assert ir.count("spatten.linear") == 6 * model.config.layers + 1


@pytest.mark.parametrize("family", ["gpt-neox", "phi"])
def test_rotary_on_every_column_in_the_partial_form(family, tmp_path):
    """rotary_pct 1, which some GPT-NeoX derivatives use: the rotated slice
    is the whole head and the pass-through is empty; one rotary embedding
    without head_dim per Q and K."""
    path, model = export(tmp_path, family, rotary_pct=1.0)
    check_dense(tmp_path, path, model, spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))
    ir = lifted(path)
    assert ir.count("spatten.rotary_embedding") == 2 * model.config.layers
    assert "head_dim" not in ir


def test_falcon_reads_one_kv_head_for_every_query_head(tmp_path):
    """Falcon's Q, K and V projections are [.., 4 * 8], [.., 8] and [.., 8]
    (the fused [.., 6 * 8] cut on the head axis), and the one K/V head is
    repeated over the 4 query heads for the attention."""
    path, model = export(tmp_path, "falcon")
    ir = lifted(path)
    n = model.config.layers
    for width, count in ((32, 2 * n), (8, 2 * n)):  # Q and the output projection; K and V
        assert ir.count(f"tensor<32x{width}xf32>) -> tensor<2x{L0}x{width}xf32>") == count, width
    assert ir.count("spatten.concat") == 2 * n
    assert ir.count("num_heads = 4") == n


@pytest.mark.parametrize("opset", [14, 17])
@pytest.mark.parametrize("family", FAMILIES)
def test_reference_reads_the_onnx_export(family, opset, tmp_path):
    """spatten.reference.from_onnx (what scripts/demo.sh runs) finds the
    weights by torch's names and node paths and computes the rotary tables
    from the graph's inv_freq: the same logits as the torch model's
    weights, within the tables' cos/sin rounding."""
    path, model = export(tmp_path, family, opset)
    got, want = R.from_onnx(path), R.from_torch(model)
    assert (got.kind, got.heads, len(got.layers), got.kv_heads) == (want.kind, want.heads, len(want.layers),
                                                                    want.kv_heads)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    logits = [R.run_inputs(w, inputs).outputs["logits"] for w in (got, want)]
    assert float(np.max(np.abs(logits[0] - logits[1]))) < 1e-6


def test_export_config_checks():
    with pytest.raises(ValueError, match="rotates 1 columns"):
        spexport.tiny_config("gpt-neox", rotary_pct=0.125)
    with pytest.raises(ValueError, match="gpt-neox and phi option"):
        spexport.tiny_config("llama", rotary_pct=0.5)
    with pytest.raises(ValueError, match="falcon is multi-query"):
        spexport.tiny_config("falcon", kv_heads=2)


CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "head", "value", "pq", "all")}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("family", FAMILIES)
def test_spatten_agrees_with_reference(family, config, tmp_path):
    """Batch 1, four layers: kept tokens and heads, refetches, DRAM bytes
    and logits as the reference computes them."""
    path, model = export(tmp_path, family, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    check_agreement((path, R.from_torch(model), {"batch": 1, "sequence": L0}, inputs, L0), CONFIGS[config],
                    tmp_path)

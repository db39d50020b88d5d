"""GPT-NeoX (``spatten.export gpt-neox``: Hugging Face's GPTNeoXForCausalLM,
the Pythia suite) through the compiler and simulator.

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch, without and with an attention_mask (a row
padded at its front, the other at its end). The fused QKV, viewed per head
[B, L, H, 3D] and cut on the last axis, becomes three projections by the
weight's columns when canonicalized (docs/ONNXImport.md); the partial
rotary embedding (the first ``rotary_pct`` of each head's columns) lifts to
one ``spatten.rotary_embedding`` with ``head_dim``. Every SpAtten technique
is compared with the NumPy reference on unpadded rows.
"""

from __future__ import annotations

import pytest

from spatten import export as spexport
from spatten import reference as R
from spatten import tools
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import check_agreement
from test_llama import L0, check_dense


def export(tmp_path, opset: int = 14, layers: int = 2, **over):
    path = tmp_path / f"neox-{opset}.onnx"
    model = spexport.export("gpt-neox", str(path), opset=opset, seed=5, layers=layers, seq_len=L0, **over)
    return path, model


@pytest.mark.parametrize("opset", [14, 17])
def test_dense_matches_onnxruntime_and_torch(opset, tmp_path):
    path, model = export(tmp_path, opset)
    check_dense(tmp_path, path, model, spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))


@pytest.mark.parametrize("opset", [14, 17])
def test_padded_dense_matches_onnxruntime_and_torch(opset, tmp_path):
    """Batch 2: the first row padded at its front, the second at its end."""
    path, model = export(tmp_path, opset, padding_mask=True)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    inputs["attention_mask"][0, :3] = 0
    assert inputs["attention_mask"][1, -1] == 0
    check_dense(tmp_path, path, model, inputs)


def test_rotary_on_a_quarter_of_each_head(tmp_path):
    """Pythia's rotary_pct 0.25: 2 of each head's 8 columns rotated; the
    lifted program has one rotary embedding for Q and one for K per layer,
    and no projection is computed twice (three per layer for Q, K and V,
    where the fused one was)."""
    path, model = export(tmp_path, rotary_pct=0.25)
    check_dense(tmp_path, path, model, spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))
    lifted, _ = tools.run_tool("spatten-compile", [path, "--shape", "batch=2", "--shape", f"sequence={L0}",
                                                   "--emit=spatten", "-o", "-"])
    lifted = lifted.stdout
    assert lifted.count("spatten.rotary_embedding") == 2 * model.config.layers
    assert lifted.count("{head_dim = 8 : i64}") == 2 * model.config.layers
    # Q, K, V, the output projection and the MLP's two per layer, and the LM head.
    assert lifted.count("spatten.linear") == 6 * model.config.layers + 1


def test_export_config_checks():
    with pytest.raises(ValueError, match="rotates 1 columns"):
        spexport.tiny_config("gpt-neox", rotary_pct=0.125)
    with pytest.raises(ValueError, match="gpt-neox option"):
        spexport.tiny_config("llama", rotary_pct=0.5)


CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "head", "value", "pq", "all")}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_spatten_agrees_with_reference(config, tmp_path):
    """Batch 1, four layers: kept tokens and heads, refetches, DRAM bytes
    and logits as the reference computes them."""
    path, model = export(tmp_path, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    check_agreement((path, R.from_torch(model), {"batch": 1, "sequence": L0}, inputs, L0), CONFIGS[config],
                    tmp_path)

"""BERT with rotary position embeddings (``ModelConfig.rotary``: RoFormer's
positions in LLaMA's half-split form, no position table), the masked LM
that ``spatten.train bert`` trains (docs/Accuracy.md).

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch (padding mask included); every SpAtten
technique is compared with the NumPy reference, whose weights
``from_onnx`` reads with the rotary tables the export folded into
constants.
"""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import reference as R
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import check_agreement
from test_llama import BOUND, check_dense, max_err

L0 = 12


def export(tmp_path, opset: int = 14, layers: int = 2, **over):
    path = tmp_path / f"rotary-bert-{opset}.onnx"
    model = spexport.export("bert", str(path), opset=opset, seed=3, layers=layers, seq_len=L0, rotary=True,
                            **over)
    return path, model


@pytest.mark.parametrize("opset", [14, 17])
def test_dense_matches_onnxruntime_and_torch(opset, tmp_path):
    """Batch 2, the last row partly padding: both outputs equal
    onnxruntime's and PyTorch's."""
    path, model = export(tmp_path, opset)
    check_dense(tmp_path, path, model, spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))


def test_reference_reads_the_rotary_tables_from_onnx(tmp_path):
    path, model = export(tmp_path, mlm_head=True, pooler=False)
    inputs = spexport.make_inputs(model.config, seq_len=L0, seed=2)
    onnx_weights = R.from_onnx(path)
    assert onnx_weights.pos_emb is None and onnx_weights.rope is not None
    assert R.rotary_positions(path) == model.config.max_positions  # spatten.accuracy's longest window
    for a, b in zip(onnx_weights.rope, R.from_torch(model).rope):
        np.testing.assert_array_equal(a, b)
    got = R.run_inputs(onnx_weights, inputs).outputs["prediction_scores"]
    assert max_err(got, spexport.torch_outputs(model, inputs)["prediction_scores"]) < BOUND


def test_export_config_checks():
    with pytest.raises(ValueError, match="rotary is a bert option"):
        spexport.tiny_config("gpt2", rotary=True)
    with pytest.raises(ValueError, match="even head_dim"):
        spexport.tiny_config("bert", rotary=True, hidden=36, heads=4)


CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "head", "value", "pq", "all")}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_spatten_agrees_with_reference(config, tmp_path):
    """Batch 1, four layers: kept tokens (whose rotary positions stay their
    original ones), kept heads, refetched heads, unconfident rows, DRAM
    bytes and outputs as the reference computes them from the ONNX file."""
    path, model = export(tmp_path, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    check_agreement((path, R.from_onnx(path), {"batch": 1, "sequence": L0}, inputs, L0), CONFIGS[config], tmp_path)

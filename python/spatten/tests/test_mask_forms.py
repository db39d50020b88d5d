"""The padding masks newer Hugging Face exports compute from the int64
``attention_mask`` (``ModelConfig.mask_style``): transformers >= 4.36's
``_prepare_4d_attention_mask`` (``4d``) and DistilBERT's
``scores.masked_fill(mask == 0, finfo.min)`` (``masked-fill``); and
LLaMA's causal mask filled where the padding mask is set
(``ModelConfig.padding_mask``, transformers >= 4.36).

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch, padding included, and with mask values
other than 0 and 1, which each form treats in its own way; every SpAtten
technique is compared with the NumPy reference.
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
STYLES = ["4d", "masked-fill"]


def export(tmp_path, style: str, opset: int = 14, layers: int = 2):
    path = tmp_path / f"bert-{style}-{opset}.onnx"
    model = spexport.export("bert", str(path), opset=opset, seed=5, layers=layers, seq_len=L0,
                            mask_style=style)
    return path, model


@pytest.mark.parametrize("opset", [14, 17])
@pytest.mark.parametrize("style", STYLES)
def test_dense_matches_onnxruntime_and_torch(style, opset, tmp_path):
    """Batch 2, the last row partly padding."""
    path, model = export(tmp_path, style, opset)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    assert (inputs["attention_mask"] == 0).any()
    check_dense(tmp_path, path, model, inputs)


@pytest.mark.parametrize("style", STYLES)
def test_mask_values_other_than_0_and_1(style, tmp_path):
    """`4d` attends where the mask is 1 and `masked-fill` where it is not
    0, so a 2 is padding for one and not the other; the compiled mask
    follows the graph for every value, not only 0 and 1."""
    path, model = export(tmp_path, style)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    inputs["attention_mask"][0, 3] = 2
    inputs["attention_mask"][1, 1] = -7
    torch_out = spexport.torch_outputs(model, inputs)["last_hidden_state"]
    ones = dict(inputs, attention_mask=np.where(inputs["attention_mask"] != 0, 1, 0))
    same_as_ones = max_err(torch_out, spexport.torch_outputs(model, ones)["last_hidden_state"]) < BOUND
    assert same_as_ones == (style == "masked-fill")
    check_dense(tmp_path, path, model, inputs)


CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "value", "all")}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("style", STYLES)
def test_spatten_agrees_with_reference(style, config, tmp_path):
    """Batch 1, four layers, the last keys padding: kept tokens and heads,
    refetches, DRAM bytes and outputs as the reference computes them."""
    path, model = export(tmp_path, style, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    inputs["attention_mask"][0, -3:] = 0
    check_agreement((path, R.from_onnx(path), {"batch": 1, "sequence": L0}, inputs, L0), CONFIGS[config],
                    tmp_path)


@pytest.mark.parametrize("opset", [14, 17])
def test_padded_llama_matches_onnxruntime_and_torch(opset, tmp_path):
    """Batch 2 under the causal mask: the last row's last keys padding, the
    first row's first two (left padding: those query rows see only padding,
    and the graph spreads them over every key). Dense only: the NumPy
    reference has no padding under a causal mask."""
    path = tmp_path / f"llama-{opset}.onnx"
    model = spexport.export("llama", str(path), opset=opset, seed=1, seq_len=L0, padding_mask=True)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    assert (inputs["attention_mask"] == 0).any()
    inputs["attention_mask"][0, :2] = 0
    check_dense(tmp_path, path, model, inputs)


"""OPT (``spatten.export opt``: Hugging Face's OPTForCausalLM, whose
positions are counted from ``attention_mask``) through the compiler and
simulator.

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch, with padding at the end of one row and at the
front of the other (a front-padded query row sees only padding: the graph
spreads it over every key, docs/ISA.md "attn"). The lift counts the
positions on the vector unit and takes the mask for 0/1, which the host
checks. Every SpAtten technique is compared with the NumPy reference on
unpadded rows (it has no padding under a causal mask).
"""

from __future__ import annotations

import pytest

from spatten import export as spexport
from spatten import reference as R
from spatten import tools
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import check_agreement
from test_llama import L0, check_dense


def export(tmp_path, opset: int = 14, layers: int = 2):
    path = tmp_path / f"opt-{opset}.onnx"
    model = spexport.export("opt", str(path), opset=opset, seed=4, layers=layers, seq_len=L0)
    return path, model


@pytest.mark.parametrize("opset", [14, 17])
def test_dense_matches_onnxruntime_and_torch(opset, tmp_path):
    """Batch 2: the first row padded at its front, the second at its end."""
    path, model = export(tmp_path, opset)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    inputs["attention_mask"][0, :3] = 0
    assert (inputs["attention_mask"][1, -1] == 0) and inputs["attention_mask"][1, 0] == 1
    check_dense(tmp_path, path, model, inputs)


def test_mask_is_checked_for_0_and_1(tmp_path):
    """Positions are counted from the mask as a number, so the binary
    records that it holds 0 and 1, and the host refuses a 2."""
    path, model = export(tmp_path)
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 1, "sequence": L0})
    mask = next(t for t in binary.manifest["inputs"] if t["name"] == "attention_mask")
    assert mask["value_range"] == [0, 1]
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    inputs["attention_mask"][0, 5] = 2
    with pytest.raises(tools.ToolError) as failed:
        tools.simulate(binary, inputs, tmp_path / "out")
    assert "input 'attention_mask': element [0, 5] is 2, outside [0, 1]" in failed.value.stderr


CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "head", "value", "pq", "all")}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_spatten_agrees_with_reference(config, tmp_path):
    """Batch 1, four layers, unpadded: kept tokens and heads, refetches,
    DRAM bytes and logits as the reference computes them."""
    path, model = export(tmp_path, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    inputs["attention_mask"][:] = 1
    check_agreement((path, R.from_torch(model), {"batch": 1, "sequence": L0}, inputs, L0), CONFIGS[config],
                    tmp_path)


def test_reference_refuses_padding(tmp_path):
    """The reference has no padding under a causal mask: a padded row is
    refused rather than computed as if unpadded."""
    _, model = export(tmp_path)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    assert (inputs["attention_mask"] == 0).any()
    with pytest.raises(ValueError, match="no padding under a causal mask"):
        R.run_inputs(R.from_torch(model), inputs)


def test_onnx_reference_names_what_it_knows(tmp_path):
    """OPT's layer names look like the BERT export's (``layers.N.``); the
    ONNX weight reader says it does not know the model rather than naming
    a BERT initializer it lacks (what scripts/demo.sh shows)."""
    path, _ = export(tmp_path)
    with pytest.raises(ValueError, match="model this reference knows"):
        R.from_onnx(path)

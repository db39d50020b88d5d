"""torch.nn.TransformerEncoder (spatten.export's ``transformer-encoder``)
through the compiler and simulator.

PyTorch 1.13 exports ``nn.MultiheadAttention`` as [B*H, L, d] 3-D MatMuls
after a fused in-projection split by Slice, with Q scaled before Q*K^T and
the key padding mask applied through Where(mask, -inf, 0); the lift reads
that layout (docs/ONNXImport.md, "Supported model families"). Each variant
is exported at opsets 14 and 17, compiled dense and compared with
onnxruntime and PyTorch; the SpAtten techniques are compared with the NumPy
reference as test_agreement.py does for BERT and GPT-2.
"""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import ort, tools
from spatten import reference as R
from test_agreement import check_agreement

BOUND = 1e-4
L0 = 12

#: name -> export options: both norms, both activations, both layouts,
#: with and without the key padding mask input.
VARIANTS = {
    "post-relu-seq-mask": dict(activation="relu", key_padding_mask=True),
    "pre-gelu-batch-mask": dict(activation="gelu", norm_first=True, batch_first=True, key_padding_mask=True),
    "post-gelu-batch": dict(activation="gelu", batch_first=True),
    "pre-relu-seq": dict(activation="relu", norm_first=True),
}


def export(tmp_path, variant: str, opset: int = 14, layers: int = 2):
    path = tmp_path / f"{variant}-{opset}.onnx"
    model = spexport.export("transformer-encoder", str(path), opset=opset, seed=5, layers=layers,
                            seq_len=L0, **VARIANTS[variant])
    return path, model


def max_err(a, b, rows=None) -> float:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(np.max(d if rows is None else d[rows]))


@pytest.mark.parametrize("opset", [14, 17])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dense_matches_onnxruntime_and_torch(variant, opset, tmp_path):
    """Batch 2 (the last row partly padded when the mask is an input):
    every row equals onnxruntime's; PyTorch's eval fast path leaves padded
    rows 0, so only the others are compared with it."""
    path, model = export(tmp_path, variant, opset)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 2, "sequence": L0})
    got = tools.simulate(binary, inputs, tmp_path / "out").outputs["last_hidden_state"]
    assert max_err(got, ort.run(path, inputs)["last_hidden_state"]) < BOUND
    kept = inputs["key_padding_mask"] == 0 if "key_padding_mask" in inputs else None
    assert max_err(got, spexport.torch_outputs(model, inputs)["last_hidden_state"], kept) < BOUND


#: Every SpAtten technique, alone and together (test_agreement.py's).
CONFIGS = {
    "token": R.SpAttenConfig(token_keep=0.5),
    "head": R.SpAttenConfig(head_keep=0.75),
    "value": R.SpAttenConfig(value_keep=0.3),
    "pq": R.SpAttenConfig(pq_msb=6, pq_lsb=4, pq_threshold=0.1),
    "pq-values-value": R.SpAttenConfig(value_keep=0.3, pq_msb=6, pq_lsb=4, pq_threshold=0.1, pq_values=True),
    "all": R.SpAttenConfig(token_keep=0.5, head_keep=0.75, value_keep=0.3, pq_msb=6, pq_lsb=4,
                           pq_threshold=0.1),
    "attn-bits": R.SpAttenConfig(attn_bits=12),
}


def agreement(tmp_path, variant: str, config: str):
    """Batch 1, four layers: kept tokens, kept heads, refetched heads,
    unconfident rows, DRAM bytes and outputs as the reference computes them
    from the torch weights (padded keys carry the lift's -10000 bias)."""
    path, model = export(tmp_path, variant, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    if "key_padding_mask" in inputs:
        inputs["key_padding_mask"][0, -2:] = 1
    check_agreement((path, R.from_torch(model), {"batch": 1, "sequence": L0}, inputs, L0),
                    CONFIGS[config], tmp_path)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_spatten_agrees_with_reference(variant, config, tmp_path):
    """Batch or sequence first: token pruning gathers the sequence-first
    [L, 1, H] rows as [1, L, H]."""
    agreement(tmp_path, variant, config)

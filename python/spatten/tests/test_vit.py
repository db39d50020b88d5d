"""ViT (spatten.export's ``vit``: Conv2d patch embedding, CLS token, learned
position embeddings, pre-LN encoder) through the compiler and simulator.

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch: the patch-embedding Conv (stride = kernel)
lifts to a linear layer over the flattened patches, the CLS Concat and the
position Add run as they are, and the attention lifts as BERT's
(docs/ONNXImport.md, "Supported model families").
"""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import ort, tools

BOUND = 1e-4


def export(tmp_path, opset: int = 14, layers: int = 2):
    path = tmp_path / f"vit-{opset}.onnx"
    model = spexport.export("vit", str(path), opset=opset, seed=3, layers=layers)
    return path, model


def max_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.mark.parametrize("opset", [14, 17])
def test_dense_matches_onnxruntime_and_torch(opset, tmp_path):
    """Batch 2 of 32x32 images, 16 patches of 8x8 plus the CLS token."""
    path, model = export(tmp_path, opset)
    inputs = spexport.make_inputs(model.config, batch=2, seed=2)
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 2})
    got = tools.simulate(binary, inputs, tmp_path / "out").outputs["last_hidden_state"]
    assert got.shape == (2, model.config.patches + 1, model.config.hidden)
    assert max_err(got, ort.run(path, inputs)["last_hidden_state"]) < BOUND
    assert max_err(got, spexport.torch_outputs(model, inputs)["last_hidden_state"]) < BOUND


def test_export_config_checks():
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        spexport.tiny_config("vit", image_size=30)

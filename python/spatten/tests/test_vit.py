"""ViT (spatten.export's ``vit``: Conv2d patch embedding, CLS token, learned
position embeddings, pre-LN encoder) through the compiler and simulator.

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch: the patch-embedding Conv (stride = kernel)
lifts to a linear layer over the flattened patches, the CLS Concat and the
position Add run as they are, and the attention lifts as BERT's
(docs/ONNXImport.md, "Supported model families"). The SpAtten techniques
are compared with the NumPy reference, which embeds the patches itself
(``reference.PatchEmbedding``), as test_agreement.py does for BERT.
"""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import ort, tools
from spatten import reference as R
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import check_agreement

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


def test_export_cli_sizes(tmp_path, capsys):
    """--image-size and --patch-size set the input and the sequence; a
    size that is not a multiple of the patch is an error, not a trace."""
    path = tmp_path / "vit.onnx"
    assert spexport.main(["vit", "--image-size", "16", "--patch-size", "4", "-o", str(path)]) == 0
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 1})
    inputs = {"pixel_values": np.zeros((1, 3, 16, 16), np.float32)}
    assert tools.simulate(binary, inputs, tmp_path / "out").outputs["last_hidden_state"].shape == (1, 17, 64)
    assert spexport.main(["vit", "--image-size", "18", "--patch-size", "4", "-o", str(path)]) == 2
    assert "not divisible by patch_size" in capsys.readouterr().err


def test_reference_matches_torch(tmp_path):
    """The reference's patch embedding, CLS row and pre-LN layers equal
    PyTorch's forward on a batch of two images."""
    model = spexport.build_model(spexport.tiny_config("vit", seed=3))
    inputs = spexport.make_inputs(model.config, batch=2, seed=2)
    want = spexport.torch_outputs(model, inputs)["last_hidden_state"]
    assert max_err(R.run_inputs(R.from_torch(model), inputs).outputs["last_hidden_state"], want) < BOUND


#: Every SpAtten technique, alone and together (test_agreement.py's).
CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "head", "value", "pq", "all", "pq-values-value", "head-bits")}

#: Output bounds other than test_agreement.py's. With 6-bit V MSB planes a
#: value that rounds the other way after another fp32 summation order moves
#: the last layers' outputs by ~3e-4: a 1e-6 relative change of the weights
#: does so in the reference alone. Selections and DRAM bytes stay exact.
OUTPUT_BOUNDS = {"pq-values-value": 1e-3}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_spatten_agrees_with_reference(config, tmp_path):
    """Batch 1, four layers, 17 tokens (CLS + 16 patches): kept tokens,
    kept heads, refetched heads, unconfident rows, DRAM bytes and outputs
    as the reference computes them from the torch weights."""
    path, model = export(tmp_path, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seed=2)
    tokens = model.config.patches + 1
    bound = {"output_bound": OUTPUT_BOUNDS[config]} if config in OUTPUT_BOUNDS else {}
    check_agreement((path, R.from_torch(model), {"batch": 1}, inputs, tokens), CONFIGS[config], tmp_path, **bound)

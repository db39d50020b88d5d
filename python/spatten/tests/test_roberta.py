"""RoBERTa (``spatten.export roberta``): BERT whose position ids are counted
from ``input_ids`` at run time, as Hugging Face's
``create_position_ids_from_input_ids`` does, so padding keeps position
padding_idx (1) and the other tokens count from 2.

Exported by PyTorch 1.13 at opsets 14 and 17, compiled dense and compared
with onnxruntime and PyTorch, with padding at the end and at the front
(where every token's position moves); every SpAtten technique is compared
with the NumPy reference, which reads padding_idx from the graph. The lift
computes the ids on the vector unit (docs/ONNXImport.md, "Supported model
families").
"""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import reference as R
from spatten import tools
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import check_agreement
from test_llama import BOUND, L0, check_dense, max_err

PAD = 1


def export(tmp_path, opset: int = 14, layers: int = 2, **over):
    path = tmp_path / f"roberta-{opset}.onnx"
    model = spexport.export("roberta", str(path), opset=opset, seed=7, layers=layers, seq_len=L0, **over)
    return path, model


def left_padded(inputs):
    """The first row's first three tokens made padding: every later token
    of that row moves back three positions."""
    inputs["input_ids"][0, :3] = PAD
    inputs["attention_mask"][0, :3] = 0
    return inputs


@pytest.mark.parametrize("opset", [14, 17])
def test_dense_matches_onnxruntime_and_torch(opset, tmp_path):
    """Batch 2: the last row padded at its end, the first at its front."""
    path, model = export(tmp_path, opset)
    inputs = left_padded(spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2))
    assert (inputs["input_ids"][inputs["attention_mask"] == 0] == PAD).all()
    check_dense(tmp_path, path, model, inputs)


def test_positions_are_counted_from_the_ids(tmp_path):
    """The check above can fail: left padding changes the first row's
    outputs past the padding, which positions 0, 1, ... would not."""
    _, model = export(tmp_path)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=L0, seed=2)
    moved = spexport.torch_outputs(model, left_padded({k: v.copy() for k, v in inputs.items()}))
    same = spexport.torch_outputs(model, inputs)
    assert max_err(moved["last_hidden_state"][0, 3:], same["last_hidden_state"][0, 3:]) > 100 * BOUND


def test_reference_reads_padding_idx(tmp_path):
    path, model = export(tmp_path)
    assert R.from_onnx(path).padding_idx == PAD
    assert R.from_torch(model).padding_idx == PAD
    np.testing.assert_array_equal(R.roberta_positions(np.array([0, 1, 5, 1, 7]), PAD), [2, 1, 3, 1, 4])


CONFIGS = {k: AGREEMENT_CONFIGS[k] for k in ("token", "value", "all")}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_spatten_agrees_with_reference(config, tmp_path):
    """Batch 1, four layers, front padding: kept tokens and heads,
    refetches, DRAM bytes and outputs as the reference computes them."""
    path, model = export(tmp_path, layers=4)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    inputs["input_ids"][0, :2] = PAD
    inputs["attention_mask"][0, :2] = 0
    check_agreement((path, R.from_onnx(path), {"batch": 1, "sequence": L0}, inputs, L0), CONFIGS[config],
                    tmp_path)


def test_positions_past_the_table_are_refused(tmp_path):
    """A sequence whose last position id would be the table's row count is
    refused at compile time, naming the lookup, and nothing is written."""
    path, _ = export(tmp_path, max_positions=L0 + 2)
    out = tmp_path / "model.spbin"
    tools.compile(path, out, shapes={"batch": 1, "sequence": L0})
    with pytest.raises(tools.ToolError) as failed:
        tools.compile(path, tmp_path / "long.spbin", shapes={"batch": 1, "sequence": L0 + 1})
    assert "position_embeddings/Gather" in failed.value.stderr, failed.value.stderr
    assert f"may reach [1, {L0 + 2}], outside the table's {L0 + 2} rows" in failed.value.stderr
    assert not (tmp_path / "long.spbin").exists()


def test_ids_are_checked_without_wrapping(tmp_path):
    """input_ids index the word table and are read as values, so the host
    refuses an id outside [0, vocab), a negative one included: counting it
    from the end, as a lookup alone would, changes the positions."""
    path, model = export(tmp_path)
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 1, "sequence": L0})
    ids = next(t for t in binary.manifest["inputs"] if t["name"] == "input_ids")
    assert (ids["index_rows"], ids["index_wraps"]) == (model.config.vocab, False)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
    for bad in (-2, model.config.vocab):
        inputs["input_ids"][0, 4] = bad
        with pytest.raises(tools.ToolError) as failed:
            tools.simulate(binary, inputs, tmp_path / f"out{bad}")
        assert (f"input 'input_ids': element [0, 4] is {bad}, outside [0, {model.config.vocab})"
                in failed.value.stderr), failed.value.stderr


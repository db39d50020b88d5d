"""End to end: spatten-compile -> spatten-sim -> compare every output.

References: onnxruntime for every model; PyTorch for the models exported by
spatten.export; the model's own test_data_set_0 for GPT2Model.onnx.
Bound: max abs error <= 1e-4 against each reference (docs/Numerics.md: fp32
throughout; the simulator's reduction order differs from onnxruntime's).

A missing build/bin tool fails these tests (it never skips them); only the
shared-model cases skip, when ../shared is absent.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest

from conftest import shared_model
from spatten import export as spexport
from spatten import ort, tensors, tools
from spatten.report import Report

E2E_BOUND = 1e-4
TIMEOUT = 1800  # seconds per tool run; base-size shared models take a while


@dataclasses.dataclass
class Case:
    rel: str  # under ../shared/models/onnxruntime-testdata
    shapes: Dict[str, int]
    test_data: Optional[str] = None  # test_data_set_* folder with input_0.pb/output_0.pb


SHARED_CASES = {
    "gpt2_test_data": Case("gpt2_pytorch1.4_opset11_no_past/GPT2Model.onnx",
                           {"batch_size": 1, "seq_len": 2}, test_data="test_data_set_0"),
    "bert_toy": Case("bert_toy_optimized.onnx", {"batch": 2, "max_seq_len_in_batch": 7}),
    "gpt2_megatron": Case("gpt2_megatron.onnx", {"batch_size": 1, "seq_len": 4, "past_seq_len": 3}),
    "attention_past_state": Case("attention_past_state.onnx",
                                 {"batch": 1, "seq_len": 4, "past_sequence_length": 3}),
    # An empty past (`--shape past...=0`): the first step of generation.
    "gpt2_megatron_empty_past": Case("gpt2_megatron.onnx",
                                     {"batch_size": 1, "seq_len": 4, "past_seq_len": 0}),
    "attention_past_state_empty_past": Case("attention_past_state.onnx",
                                            {"batch": 1, "seq_len": 4, "past_sequence_length": 0}),
}


def compile_model(model: Path, shapes: Dict[str, int], out: Path, hw: Optional[Path] = None) -> tools.Binary:
    binary = tools.compile(model, out, shapes=shapes, hw=hw, timeout=TIMEOUT)
    assert out.is_file() and out.stat().st_size > 0
    return binary


def simulate(binary: tools.Binary, inputs: Dict[str, Path], outdir: Path) -> tools.SimRun:
    return tools.simulate(binary, inputs, outdir, timeout=TIMEOUT)


def compare(run: tools.SimRun, reference: Dict[str, np.ndarray], label: str):
    """Every reference output must be an output of the run and match."""
    errors = {}
    for name, want in reference.items():
        assert name in run.outputs, f"no output {name} (has: {sorted(run.outputs)})"
        got = run.outputs[name]
        assert got.shape == want.shape, f"{name}: shape {got.shape} vs {label} {want.shape}"
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} vs {label} {want.dtype}"
        errors[name] = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if want.size else 0.0
    bad = {k: v for k, v in errors.items() if not v <= E2E_BOUND}
    assert not bad, f"max abs error vs {label} above {E2E_BOUND}: {bad} (all: {errors})"
    return errors


def write_inputs(arrays: Dict[str, np.ndarray], d: Path) -> Dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    return {k: tensors.save_npy(d / f"{k}.npy", v) for k, v in arrays.items()}


def check_report(report: Report):
    """Sanity of the report fields the demo prints (they must be real counts)."""
    assert report.instructions > 0
    assert sum(report.instructions_by_opcode.values()) == report.instructions
    assert report.dram.read() > 0 and report.dram.written() > 0


@pytest.mark.parametrize("case", list(SHARED_CASES), ids=list(SHARED_CASES))
def test_shared_model(case, tmp_path, reference_ready):
    c = SHARED_CASES[case]
    model = shared_model(c.rel)
    if c.test_data:
        data = model.parent / c.test_data
        # The simulator reads the TensorProto .pb directly.
        inputs = {"input_ids": data / "input_0.pb"}
        arrays = {"input_ids": tensors.load_tensor(data / "input_0.pb")}
    else:
        arrays = tensors.random_inputs(model, c.shapes, seed=0)
        inputs = write_inputs(arrays, tmp_path / "in")
    reference = ort.run(model, arrays)
    run = simulate(compile_model(model, c.shapes, tmp_path / "model.spbin"), inputs, tmp_path / "out")
    compare(run, reference, "onnxruntime")
    if c.test_data:
        want = tensors.load_tensor(model.parent / c.test_data / "output_0.pb")
        compare(run, {"hidden_states": want}, "test_data_set_0/output_0.pb")
    check_report(run.report)


@pytest.mark.parametrize("opset", [13, 14, 17])
@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_exported_tiny_model(kind, opset, tiny_models, tmp_path, reference_ready):
    path, model = tiny_models(kind, opset)
    shapes = {"batch": 2, "sequence": 8}
    arrays = spexport.make_inputs(model.config, batch=2, seq_len=8, seed=11)
    binary = compile_model(path, shapes, tmp_path / "model.spbin")
    run = simulate(binary, write_inputs(arrays, tmp_path / "in"), tmp_path / "out")
    compare(run, ort.run(path, arrays), "onnxruntime")
    compare(run, spexport.torch_outputs(model, arrays), "PyTorch")
    check_report(run.report)


@pytest.mark.parametrize("k_bytes, v_bytes", [(24576, 24576), (200704, 24576), (24576, 200704)],
                         ids=["both-small", "v-smaller", "k-smaller"])
def test_heads_that_fill_more_than_half_the_kv_buffers(tmp_path, reference_ready, k_bytes, v_bytes):
    """One head's K or V (64 keys x 64 fp32 = 16 KiB) takes more than half
    of a 24 KiB buffer: the heads share one slot instead of double-buffering
    (BERT-base at 512 tokens does this on the `spatten` preset), and the
    outputs still match onnxruntime. K and V buffers of different sizes
    each place their slots in their own buffer: V's slot offset once came
    from the K buffer, so V loads fell past a smaller V buffer."""
    path = tmp_path / "model.onnx"
    model = spexport.export("bert", str(path), size="tiny", seed=7, layers=2, hidden=128, heads=2, seq_len=64)
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"preset": "spatten", "name": "small-kv",
                              "k_buffer_bytes": k_bytes, "v_buffer_bytes": v_bytes}))
    arrays = spexport.make_inputs(model.config, batch=1, seq_len=64, seed=8)
    binary = compile_model(path, {"batch": 1, "sequence": 64}, tmp_path / "model.spbin", hw)
    run = simulate(binary, write_inputs(arrays, tmp_path / "in"), tmp_path / "out")
    compare(run, ort.run(path, arrays), "onnxruntime")
    check_report(run.report)


def test_invalid_model_clear_error(tmp_path):
    model = shared_model("bert_squad_pytorch1.4_opset11/BertForQuestionAnswering_0.onnx")
    out = tmp_path / "bad.spbin"
    with pytest.raises(tools.ToolError) as failed:
        tools.compile(model, out, timeout=TIMEOUT)
    assert failed.value.returncode > 0, "an invalid model must be rejected with a non-zero exit"
    assert re.search(r"node_\d+|Concat|shape inference", failed.value.stderr, re.I), failed.value.stderr
    assert not out.exists(), "nothing may be written for a rejected model"


@pytest.mark.parametrize("shapes", [{"batch": 0, "max_seq_len_in_batch": 4},
                                    {"batch": 1, "max_seq_len_in_batch": 0}], ids=["batch", "sequence"])
def test_zero_dimension_that_empties_the_outputs_is_refused(shapes, tmp_path):
    model = shared_model("bert_toy_optimized.onnx")
    out = tmp_path / "empty.spbin"
    with pytest.raises(tools.ToolError) as failed:
        tools.compile(model, out, shapes=shapes, timeout=TIMEOUT)
    zero = next(name for name, value in shapes.items() if value == 0)
    assert failed.value.returncode == 1, failed.value.stderr
    assert "graph output 'prediction_scores' is empty" in failed.value.stderr
    assert f"--shape {zero}=0" in failed.value.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def tiny_bert_binary(tiny_models, tmp_path_factory):
    path, model = tiny_models("bert", 14)
    d = tmp_path_factory.mktemp("sim-errors")
    binary = compile_model(path, {"batch": 1, "sequence": 8}, d / "bert.spbin")
    arrays = spexport.make_inputs(model.config, batch=1, seq_len=8)
    return binary, write_inputs(arrays, d / "in"), d


def sim_error(binary, inputs, outdir) -> str:
    with pytest.raises(tools.ToolError) as failed:
        tools.simulate(binary, inputs, outdir, report=False, timeout=TIMEOUT)
    assert failed.value.returncode > 0, "spatten-sim accepted bad input"
    return failed.value.stderr


def test_sim_missing_input(tiny_bert_binary, tmp_path):
    binary, inputs, _ = tiny_bert_binary
    err = sim_error(binary, {k: v for k, v in inputs.items() if k != "token_type_ids"}, tmp_path)
    assert "token_type_ids" in err


def test_sim_wrong_shape_and_dtype(tiny_bert_binary, tmp_path):
    binary, inputs, d = tiny_bert_binary
    wrong_shape = tensors.save_npy(d / "ids_shape.npy", np.zeros((1, 5), np.int64))
    assert "input_ids" in sim_error(binary, {**inputs, "input_ids": wrong_shape}, tmp_path / "a")
    wrong_dtype = tensors.save_npy(d / "ids_dtype.npy", np.zeros((1, 8), np.float32))
    assert "input_ids" in sim_error(binary, {**inputs, "input_ids": wrong_dtype}, tmp_path / "b")


def test_sim_truncated_binary(tiny_bert_binary, tmp_path):
    binary, inputs, _ = tiny_bert_binary
    data = binary.path.read_bytes()
    for cut in (16, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.spbin"
        bad.write_bytes(data[:cut])
        err = sim_error(bad, inputs, tmp_path / f"o{cut}")
        assert bad.name in err or "truncated" in err.lower() or "section" in err.lower(), err

"""The onnxruntime reference runner (scripts/ort-run.mjs + spatten.ort) and
the tensor helpers it relies on."""

import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, shared_model
from spatten import ort, tensors

GPT2_DIR = "gpt2_pytorch1.4_opset11_no_past"


def identity_model(path, dtypes):
    """One Identity per dtype: the runner must round-trip data bit-exactly."""
    nodes, ins, outs = [], [], []
    for i, dt in enumerate(dtypes):
        et = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(dt)]
        ins.append(helper.make_tensor_value_info(f"x{i}", et, None))
        outs.append(helper.make_tensor_value_info(f"y/{i}", et, None))  # '/' must be sanitised
        nodes.append(helper.make_node("Identity", [f"x{i}"], [f"y/{i}"]))
    g = helper.make_graph(nodes, "id", ins, outs)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_roundtrip_dtypes(tmp_path, reference_ready):
    rng = np.random.default_rng(0)
    arrays = [
        rng.standard_normal((2, 3, 4)).astype(np.float32),
        rng.integers(-2**40, 2**40, size=(5,)).astype(np.int64),
        rng.integers(-100, 100, size=(1, 7)).astype(np.int32),
        rng.standard_normal((3,)).astype(np.float64),
        np.array([[True, False, True]]),
        np.array(3.5, dtype=np.float32),  # rank 0
    ]
    model = identity_model(tmp_path / "id.onnx", [a.dtype for a in arrays])
    out = ort.run(model, {f"x{i}": a for i, a in enumerate(arrays)})
    for i, a in enumerate(arrays):
        got = out[f"y/{i}"]
        assert got.dtype == a.dtype and got.shape == a.shape
        np.testing.assert_array_equal(got, a)


def test_pb_inputs_match_test_data_set(reference_ready):
    model = shared_model(f"{GPT2_DIR}/GPT2Model.onnx")
    data = model.parent / "test_data_set_0"
    out = ort.run(model, {"input_ids": data / "input_0.pb"})
    want = tensors.load_tensor(data / "output_0.pb")
    # The declared output width (768) is stale; the real width is 4.
    assert out["hidden_states"].shape == want.shape == (1, 2, 4)
    assert np.abs(out["hidden_states"] - want).max() <= 1e-5


def test_cli_writes_npy(tmp_path, reference_ready):
    model = identity_model(tmp_path / "id.onnx", [np.float32])
    t = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3))
    (tmp_path / "x.pb").write_bytes(t.SerializeToString())
    r = subprocess.run(["/usr/bin/python3", "-m", "spatten.ort", str(model), "--input", f"x0={tmp_path / 'x.pb'}",
                        "--output-dir", str(tmp_path / "out")], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "y_0.npy"), np.arange(6).reshape(2, 3))


def test_missing_input_is_named(tmp_path, reference_ready):
    model = identity_model(tmp_path / "id.onnx", [np.float32, np.int64])
    with pytest.raises(ort.ReferenceError, match="missing inputs: x1"):
        ort.run(model, {"x0": np.zeros(2, np.float32)})


def test_wrong_dtype_is_reported(tmp_path, reference_ready):
    model = identity_model(tmp_path / "id.onnx", [np.float32])
    with pytest.raises(ort.ReferenceError, match="(?i)type"):
        ort.run(model, {"x0": np.zeros(2, np.int64)})


def test_invalid_model_is_reported(reference_ready):
    model = shared_model("bert_squad_pytorch1.4_opset11/BertForQuestionAnswering_0.onnx")
    with pytest.raises(ort.ReferenceError, match="Concat"):
        ort.run(model, {})


def test_runner_rejects_corrupt_npy(tmp_path, reference_ready):
    model = identity_model(tmp_path / "id.onnx", [np.float32])
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 4), np.float32))
    bad.write_bytes(bad.read_bytes()[:-8])  # truncated data
    r = subprocess.run(["node", str(ROOT / "scripts" / "ort-run.mjs"), str(model), "--input", f"x0={bad}",
                        "--output-dir", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "bad.npy" in r.stderr and "elements" in r.stderr


def test_load_tensor_errors(tmp_path):
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unknown tensor file type"):
        tensors.load_tensor(tmp_path / "x.txt")
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="x.npy"):
        tensors.load_tensor(tmp_path / "x.npy")


def test_input_specs_and_binding():
    specs = tensors.input_specs(shared_model("bert_toy_optimized.onnx"))
    assert [s.name for s in specs] == ["input_ids", "token_type_ids", "input_mask"]
    assert specs[0].dims == ["batch", "max_seq_len_in_batch"]
    assert specs[0].bind({"batch": 2, "max_seq_len_in_batch": 7}) == [2, 7]
    with pytest.raises(KeyError, match="max_seq_len_in_batch"):
        specs[0].bind({"batch": 2})


def test_random_inputs_respect_tables():
    model = shared_model("bert_toy_optimized.onnx")
    ins = tensors.random_inputs(model, {"batch": 2, "max_seq_len_in_batch": 8}, seed=1)
    assert ins["input_ids"].dtype == np.int64 and ins["input_ids"].max() < 99
    assert set(np.unique(ins["input_mask"])) == {0, 1}
    assert ins["input_mask"][0].all() and not ins["input_mask"][1, -2:].any()
    again = tensors.random_inputs(model, {"batch": 2, "max_seq_len_in_batch": 8}, seed=1)
    for k in ins:
        np.testing.assert_array_equal(ins[k], again[k])


def test_time_runs_times_creation_and_each_run(tmp_path, reference_ready):
    model = identity_model(tmp_path / "id.onnx", [np.float32])
    timing = ort.time_runs(model, {"x0": np.zeros(4, np.float32)}, repeat=2, threads=2)
    assert timing.create_s > 0 and timing.first_s > 0
    assert len(timing.runs_s) == 2 and all(t > 0 for t in timing.runs_s)
    with pytest.raises(ort.ReferenceError, match="--time expects a run count"):
        ort.time_runs(model, {"x0": np.zeros(4, np.float32)}, repeat=-1)

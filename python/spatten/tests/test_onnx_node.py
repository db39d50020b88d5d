"""ONNX's own node tests (Debian's ``libonnx-testdata``, ONNX 1.12) through
spatten-compile and spatten-sim.

For each selected test, ``model.onnx`` is compiled and every
``test_data_set_*`` is simulated; every output must match the expected one
within 1e-4 (absolute, or relative for large magnitudes) with the same shape.
Two modes:

* ``inputs``: the graph inputs stay inputs, fed from ``input_*.pb``.
* ``constant``: for ops the project supports only when folded (Einsum, Trilu,
  Range, Where on constants), the data set's inputs become initializers, so
  the whole graph folds to constants and the folder is what is tested (the
  binary still produces the outputs).

A test that does not pass is listed, with its reason, in the table "ONNX node
tests" of docs/ONNXImport.md; the table is read here and each row becomes a
strict expected failure, so a test that starts passing fails until its row is
removed. A row naming no selected test fails too. Nothing is skipped except
when the package is absent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import ROOT
from spatten import tensors, tools

NODE_DATA = Path("/usr/share/libonnx-testdata/data/node")
BOUND = 1e-4
DOC = ROOT / "docs" / "ONNXImport.md"

# Node tests of the ops the transformer models use (LayerNormalization,
# ReduceMean, LogSoftmax, MatMul, Softmax; Erf, Tanh, Pow and Sqrt as in
# GELU) and of the ops that build their masks and tables (Einsum, Where,
# Trilu, Range). The `_expanded` variants are the same op written as a
# function body of smaller ops.
SELECTED = re.compile(
    r"test_(layer_normalization_.*|reduce_mean_.*|logsoftmax_.*|matmul_[234]d|"
    r"einsum_.*|softmax_.*|erf|tanh.*|pow|pow_bcast_.*|pow_example|sqrt.*|"
    r"where_.*|tril.*|triu.*|range_.*)$")
# Ops supported only on constants: also tested with their inputs folded in.
FOLDED_ONLY = re.compile(r"test_(einsum_|tril|triu|range_|where_)")


def selected_tests() -> List[str]:
    if not NODE_DATA.is_dir():
        return []
    return sorted(p.name for p in NODE_DATA.iterdir() if SELECTED.match(p.name))


def expected_failures() -> Dict[Tuple[str, str], str]:
    """``{(test, mode): reason}`` from the table after the heading "ONNX node
    tests" in docs/ONNXImport.md (rows ``| test | mode | reason |``)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## ONNX node tests", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`test_"):
            rows[(cells[0].strip("`"), cells[1])] = cells[2]
    return rows


def cases():
    xfails = expected_failures()
    for name in selected_tests():
        for mode in ("inputs", "constant") if FOLDED_ONLY.match(name) else ("inputs",):
            marks = []
            if (name, mode) in xfails:
                marks.append(pytest.mark.xfail(reason=xfails[(name, mode)], strict=True))
            yield pytest.param(name, mode, id=f"{name}-{mode}", marks=marks)


def data_sets(test_dir: Path) -> List[Path]:
    return sorted(test_dir.glob("test_data_set_*"))


def read_tensors(data_set: Path, prefix: str) -> List[np.ndarray]:
    files = sorted(data_set.glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[-1]))
    return [tensors.load_tensor(f) for f in files]


def inputs_as_initializers(model: onnx.ModelProto, values: Dict[str, np.ndarray]) -> onnx.ModelProto:
    """The model with the named graph inputs turned into initializers."""
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    graph = folded.graph
    kept = [i for i in graph.input if i.name not in values]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in values.items())
    return folded


def check_outputs(run: tools.SimRun, model: onnx.ModelProto, expected: List[np.ndarray]) -> None:
    names = [o.name for o in model.graph.output]
    assert len(names) == len(expected)
    for name, want in zip(names, expected):
        got = run.outputs[name]
        assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   atol=BOUND, rtol=BOUND, err_msg=name)


def test_expected_failures_name_selected_tests():
    """Every row of the docs table names a selected test and one of its modes."""
    if not NODE_DATA.is_dir():
        pytest.skip(f"libonnx-testdata is not installed ({NODE_DATA} is absent; scripts/setup.sh installs it)")
    known = {(c.values[0], c.values[1]) for c in cases()}
    stale = sorted(set(expected_failures()) - known)
    assert not stale, f"docs/ONNXImport.md lists tests that are not selected: {stale}"


@pytest.mark.parametrize("name, mode", list(cases()) or [pytest.param(
    "", "", marks=pytest.mark.skip(reason=f"libonnx-testdata is not installed ({NODE_DATA} is absent; "
                                          "scripts/setup.sh installs it)"))])
def test_node(name, mode, tmp_path):
    test_dir = NODE_DATA / name
    model = onnx.load(str(test_dir / "model.onnx"))
    sets = data_sets(test_dir)
    assert sets, f"{name} has no test_data_set_*"
    input_names = [i.name for i in model.graph.input]
    binary = None
    for k, data_set in enumerate(sets):
        values = dict(zip(input_names, read_tensors(data_set, "input")))
        if mode == "constant":
            path = tmp_path / f"{name}-{k}.onnx"
            onnx.save(inputs_as_initializers(model, values), str(path))
            binary, feed = tools.compile(path, tmp_path / f"{name}-{k}.spbin"), {}
        else:
            if binary is None:
                binary = tools.compile(test_dir / "model.onnx", tmp_path / f"{name}.spbin")
            feed = values
        run = tools.simulate(binary, feed, tmp_path / f"out-{k}", report=False)
        check_outputs(run, model, read_tensors(data_set, "output"))

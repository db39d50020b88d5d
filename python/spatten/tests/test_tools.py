"""spatten.tools (running the C++ tools) and spatten.report (reading the
simulator's report): typed accessors on hand-written reports, and a small
compile + simulate."""

from __future__ import annotations

import numpy as np
import pytest

from spatten import export as spexport
from spatten import tools
from spatten.report import KV_CLASSES, Report

# Two layers, 4 tokens, 2 heads: layer 0 keeps tokens 0 and 2 and head 1
# for layer 1; layer 0's two heads both refetch their LSB planes.
DATA = {
    "instructions": {"total": 7, "by_opcode": {"load": 4, "attn": 2, "halt": 1}},
    "dram_bytes": {"read": {"weights": 100, "k_msb": 30, "k_lsb": 8, "v": 12},
                   "written": {"activations": 40, "index": 2}, "total_read": 150, "total_written": 42},
    "cycles": {"total": 900, "serial_first_order": 1500, "time_us": 0.9,
               "by_queue": {"load": 700, "compute": 300, "store": 90}},
    "energy": {"total_uj": 0.5},
    "layers": [
        {"layer": 0, "dram_bytes": {"read": {"k_msb": 24, "k_lsb": 8, "v": 8}, "written": {}},
         "kept_tokens": 4, "kept_heads": 2, "refetched_rows": 8, "unconfident_rows": 3,
         "refetch_decisions": [True, True], "v_rows_kept": 4,
         "cycles": {"start": 0, "end": 500, "span": 500, "by_queue": {"load": 400}}},
        {"layer": 1, "dram_bytes": {"read": {"k_msb": 6, "v": 4}, "written": {}},
         "kept_tokens": 2, "kept_heads": 1, "refetched_rows": 0, "unconfident_rows": 0,
         "refetch_decisions": [False], "v_rows_kept": None,
         "cycles": {"start": 500, "end": 900, "span": 400, "by_queue": {"load": 300}}},
    ],
    "topk": [{"instruction": 3, "n": 4, "k": 2, "passes": 1, "cycles": 9, "layer": 0, "role": "tokens",
              "selected": [0, 2]},
             {"instruction": 4, "n": 2, "k": 1, "passes": 1, "cycles": 5, "layer": 0, "role": "heads",
              "selected": [1]}],
}


def test_report_totals_and_classes():
    r = Report(DATA)
    assert (r.cycles, r.serial_cycles, r.time_us, r.energy_uj) == (900, 1500, 0.9, 0.5)
    assert r.cycles_by_queue == {"load": 700, "compute": 300, "store": 90}
    assert r.instructions == 7 and r.instructions_by_opcode["attn"] == 2
    assert (r.dram.read(), r.dram.written()) == (150, 42)
    assert r.dram.read(KV_CLASSES) == 50 and r.dram.read(["q"]) == 0
    assert r.dram.by_class() == {"activations": 40, "index": 2, "k_lsb": 8, "k_msb": 30, "v": 12, "weights": 100}


def test_report_layers_and_topk():
    r = Report(DATA)
    l0, l1 = r.layers
    assert (l0.layer, l0.kept_tokens, l0.kept_heads, l0.refetched_rows, l0.cycles) == (0, 4, 2, 8, 500)
    assert l0.dram.read(["k_msb", "k_lsb"]) == 32 and l1.v_rows_kept is None
    assert l1.cycles_by_queue == {"load": 300}
    assert r.refetch_rate == 2 / 3
    assert [(t.role, t.selected) for t in r.topk] == [("tokens", [0, 2]), ("heads", [1])]


def test_layer_selections_compose_original_positions():
    sel = Report(DATA).layer_selections(tokens=4, heads=2)
    assert [(s.layer, s.tokens, s.heads, s.refetched_heads, s.unconfident_rows) for s in sel] == [
        (0, [0, 1, 2, 3], [0, 1], [0, 1], 3), (1, [0, 2], [1], [], 0)]
    with pytest.raises(ValueError, match="2 refetch decisions for 1 kept heads"):
        Report(DATA).layer_selections(tokens=4, heads=1)
    with pytest.raises(ValueError, match=r"selection \[0, 2\] does not index the 2 kept tokens"):
        Report(DATA).layer_selections(tokens=2, heads=2)


def test_report_missing_fields_are_named():
    r = Report({"dram_bytes": {"read": {}, "written": {}}})
    with pytest.raises(KeyError, match="cycles.total"):
        r.cycles
    assert r.dram.read() == 0 and r.energy_uj is None and r.layers == [] and r.refetch_rate is None


def test_report_load_names_a_bad_file(tmp_path):
    (tmp_path / "r.json").write_text("{")
    with pytest.raises(ValueError, match="r.json: not a JSON report"):
        Report.load(tmp_path / "r.json")


def test_missing_tool_is_a_tool_error(tmp_path):
    with pytest.raises(tools.ToolError, match="spatten-compile is missing") as failed:
        tools.compile(tmp_path / "m.onnx", tmp_path / "m.spbin", directory=tmp_path)
    assert failed.value.returncode is None and failed.value.tool == "spatten-compile"


def test_compile_error_carries_the_diagnostics(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(tools.ToolError) as failed:
        tools.compile(tmp_path / "bad.onnx", tmp_path / "m.spbin")
    assert failed.value.returncode == 1 and "bad.onnx" in failed.value.stderr
    assert "bad.onnx" in str(failed.value) and failed.value.command[1].endswith("bad.onnx")


def test_compile_and_simulate_a_tiny_bert(tmp_path):
    path = tmp_path / "bert.onnx"
    model = spexport.export("bert", str(path), size="tiny", seed=0)
    binary = tools.compile(path, tmp_path / "m.spbin", shapes={"batch": 1, "sequence": 8}, hw="spatten")
    assert binary.seconds > 0 and binary.hardware["name"] == "spatten"
    assert [(t.name, t.shape, t.dtype) for t in binary.inputs] == [
        (n, (1, 8), "int64") for n in ("input_ids", "attention_mask", "token_type_ids")]
    assert [t.name for t in binary.outputs] == ["last_hidden_state", "pooler_output"]
    arrays = spexport.make_inputs(model.config, batch=1, seq_len=8, seed=0)
    run = tools.simulate(binary, arrays, tmp_path / "out", trace=tmp_path / "trace.json")
    want = spexport.torch_outputs(model, arrays)
    for name, got in run.outputs.items():
        assert np.abs(got - want[name]).max() < 1e-4, name
    assert run.report.cycles > 0 and run.trace.is_file() and run.seconds > 0
    timing = tools.simulate(tools.Binary(binary.path), arrays, tmp_path / "timing", report=False, timing_only=True)
    assert timing.report is None

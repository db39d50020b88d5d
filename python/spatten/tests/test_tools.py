"""spatten.tools (running the C++ tools) and spatten.report (reading the
simulator's report): typed accessors on hand-written reports, a small
compile + simulate, and a toy text generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spatten import export as spexport
from spatten import report, tools
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
    assert binary.seconds > 0 and binary.hardware["name"] == "spatten" and binary.entries == ["main"]
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


# A generation report's `stages`: the prefill and two decode steps.
STAGES = {
    "prefill": {"cycles": 500, "dram_bytes": {"read": {"k": 64}, "written": {"k": 32}, "total_read": 64,
                                              "total_written": 32}},
    "generation": {
        "cycles": 70, "dram_bytes": {"read": {"k": 20}, "written": {"k": 8}, "total_read": 20, "total_written": 8},
        "steps": [{"step": s, "position": 3 + s, "cycles": 30 + 10 * s,
                   "dram_bytes": {"read": {"k": 10}, "written": {"k": 4}, "total_read": 10, "total_written": 4},
                   "layers": [{"layer": 0, "kept_tokens": 4 + s, "kept_heads": 2, "refetches": None}]}
                  for s in (1, 2)]},
}


def test_report_stages():
    assert Report(DATA).stages is None
    st = Report(dict(DATA, stages=STAGES)).stages
    assert (st.prefill.cycles, st.prefill.dram.read(), st.prefill.step) == (500, 64, None)
    assert (st.generation.cycles, st.generation.dram.written()) == (70, 8)
    assert [(s.step, s.position, s.cycles) for s in st.steps] == [(1, 4, 40), (2, 5, 50)]
    assert st.steps[1].layers == [report.StepLayer(0, 6, 2, None)]


TOY = Path(__file__).resolve().parents[3] / "test" / "Sim" / "Inputs"


def test_simulate_generates_tokens(tmp_path):
    # The toy generation binary of the lit tests: greedy decoding gives a
    # Fibonacci sequence (test/Sim/Inputs/toy-generation.s).
    binary = tmp_path / "gen.spbin"
    tools.run_tool("spatten-asm", [TOY / "toy-generation.s", "--manifest", TOY / "toy-generation.json", "-o", binary])
    assert tools.Binary(binary).entries == ["prefill", "decode"]
    prompt = np.array([[4, 1]], np.int64)
    run = tools.simulate(binary, {"input_ids": prompt}, tmp_path / "out", generate=5, save_logits=True,
                         trace=tmp_path / "trace.json")
    assert run.generated_ids.dtype == np.int64 and run.generated_ids.tolist() == [[2, 3, 5, 8, 13]]
    assert run.prefill_logits.shape == (1, 2, 16) and len(run.step_logits) == 4
    assert [int(np.argmax(l)) for l in run.step_logits] == [3, 5, 8, 13]
    st = run.report.stages
    assert [s.position for s in st.steps] == [2, 3, 4, 5]
    assert run.report.cycles == st.prefill.cycles + st.generation.cycles
    plain = tools.simulate(binary, {"input_ids": prompt}, tmp_path / "plain")
    assert plain.generated_ids is None and plain.step_logits == [] and plain.report.stages is None
    with pytest.raises(tools.ToolError, match="beyond the KV cache's max_context 8"):
        tools.simulate(binary, {"input_ids": prompt}, tmp_path / "long", generate=8)

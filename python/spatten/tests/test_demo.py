"""scripts/demo.sh's Python side: shape defaults, report summary, the
SpAtten flags, the side-by-side table, the accuracy cost on the trained
tiny GPT-2, and the whole default demo (which needs the built tools; a
missing tool fails)."""

import contextlib
import io
import re

import numpy as np
import pytest

from conftest import shared_model, tool
from spatten import accuracy, corpus, demo, train
from spatten import export as spexport
from spatten import reference as R
from spatten.report import Report


def test_default_dims_and_overrides():
    model = shared_model("gpt2_megatron.onnx")
    assert demo.bind_shapes(model, {}) == {"batch_size": 1, "seq_len": 8, "past_seq_len": 4}
    assert demo.bind_shapes(model, {"seq_len": 2})["seq_len"] == 2
    toy = shared_model("bert_toy_optimized.onnx")
    assert demo.bind_shapes(toy, {}) == {"batch": 1, "max_seq_len_in_batch": 8}
    with pytest.raises(demo.DemoError, match="not dynamic dimensions"):
        demo.bind_shapes(model, {"sequence": 2})


def test_report_lines_reads_simulator_keys():
    report = {
        "instructions": {"total": 7, "by_opcode": {"gemm": 4, "halt": 1, "dma_load": 2, "sync": 0}},
        "dram_bytes": {"read": {"weights": 2048, "activations": 100, "q": 0},
                       "written": {"activations": 64}, "total_read": 2148, "total_written": 64},
        "cycles": {"total": 1234, "time_us": 1.234},
    }
    text = "\n".join(demo.report_lines(Report(report)))
    assert "instructions: 7 (gemm 4, dma_load 2, halt 1)" in text
    assert "DRAM bytes read: 2.1 KiB (weights 2.0 KiB, activations 100 B)" in text
    assert "DRAM bytes written: 64 B (activations 64 B)" in text
    assert "cycles (cycle-level model): 1234, 1.23 us" in text


def test_compare_flags_errors(tmp_path):
    np.save(tmp_path / "y.npy", np.ones((2, 2), np.float32))
    lines = demo.compare(tmp_path, {"y": np.ones((2, 2), np.float32) + 5e-5}, "ref")
    assert "ok" in lines[0]
    with pytest.raises(demo.DemoError, match="ABOVE BOUND"):
        demo.compare(tmp_path, {"y": np.ones((2, 2), np.float32) + 1e-3}, "ref")
    with pytest.raises(demo.DemoError, match="wrote no z.npy"):
        demo.compare(tmp_path, {"z": np.ones(1, np.float32)}, "ref")


def test_bad_spatten_flags_are_refused_naming_the_option(tmp_path, capsys):
    assert demo.main(["--workdir", str(tmp_path), "--spatten-flags", "--token-keep=0.5 --frobnicate"]) == 1
    assert "--spatten-flags: unrecognized arguments: --frobnicate" in capsys.readouterr().err
    assert demo.main(["--workdir", str(tmp_path), "--spatten-flags=--pq-msb=5"]) == 1
    assert "--spatten-flags: pq_msb=5 must be 6 or 8" in capsys.readouterr().err


def _entry(layer, refetched, **read):
    return {"layer": layer, "dram_bytes": {"read": read, "written": {}}, "refetched_rows": refetched}


def _report(total_read, cycles, read, layers=(), topk=()):
    return Report({"dram_bytes": {"read": read, "written": {}, "total_read": total_read, "total_written": 0},
                   "cycles": {"total": cycles}, "layers": list(layers), "topk": list(topk)})


# Two layers, 4 tokens, 2 heads. Dense: 800 B of K and 800 B of V over both
# layers, no per-layer attribution. SpAtten: layer 0 keeps tokens 0 and 2
# and head 1 for layer 1; 4 of layer 0's 8 K rows refetch their LSBs.
DENSE = _report(3400, 1000, {"q": 800, "k": 800, "v": 800, "weights": 1000})
PRUNED = _report(1700, 400, {"q": 100, "k_msb": 300, "k_lsb": 40, "v": 60, "weights": 1000},
                 layers=[_entry(0, 4, q=80, k_msb=240, k_lsb=40, v=48), _entry(1, 0, q=20, k_msb=60, v=12)],
                 topk=[{"layer": 0, "role": "tokens", "selected": [0, 2]},
                       {"layer": 0, "role": "heads", "selected": [1]}])


def test_layer_rows_count_what_each_layer_computed():
    rows = demo.layer_rows(PRUNED, tokens=4, heads=2)
    assert [(r.layer, r.tokens, r.heads, r.kv_bytes) for r in rows] == [(0, 4, 2, 328), (1, 2, 1, 72)]
    assert [r.refetch for r in rows] == [0.5, 0.0]  # 4 / (4 x 2), 0 / (2 x 1)
    no_pq = Report({**PRUNED.data, "layers": [{**e, "refetched_rows": None} for e in PRUNED.data["layers"]]})
    assert [r.refetch for r in demo.layer_rows(no_pq, 4, 2)] == [None, None]


def test_comparison_table_side_by_side():
    text = "\n".join(demo.comparison_lines(DENSE, PRUNED, tokens=4, heads=2))
    assert re.search(r"^\s+0\s+4 -> 4\s+2 -> 2\s+800 B -> 328 B\s+50\.0%$", text, re.M), text
    assert re.search(r"^\s+1\s+4 -> 2\s+2 -> 1\s+800 B -> 72 B\s+0\.0%$", text, re.M), text
    assert "the dense program has no layer attribution" in text
    assert re.search(r"DRAM bytes read\s+3\.3 KiB -> 1\.7 KiB\s+reduction 2\.00x", text), text
    assert re.search(r"attention bytes read\s+2\.3 KiB -> 500 B\s+reduction 4\.80x", text), text
    assert re.search(r"cycles\s+1000 -> 400\s+speedup 2\.50x", text), text
    dense_layers = Report({**DENSE.data, "layers": [_entry(0, None, k=400, v=400), _entry(1, None, k=400, v=400)]})
    assert "no layer attribution" not in "\n".join(demo.comparison_lines(dense_layers, PRUNED, 4, 2))
    with pytest.raises(demo.DemoError, match="do not split evenly over 2 layers"):
        demo.comparison_lines(Report({**DENSE.data, "dram_bytes": {**DENSE.data["dram_bytes"], "read": {"k": 801}}}),
                              PRUNED, 4, 2)
    with pytest.raises(demo.DemoError, match="dense report has layers"):
        demo.comparison_lines(Report({**DENSE.data, "layers": [_entry(0, None, k=1)]}), PRUNED, 4, 2)


def test_pruning_needs_batch_one(tmp_path, capsys):
    assert demo.main(["--workdir", str(tmp_path), "--shape", "batch=2"]) == 1
    assert "token ids of shape [1, sequence], got [2, 32]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    """(exit status, stdout, stderr) of the default demo, run once."""
    tool("spatten-compile"), tool("spatten-sim")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = demo.main(["--workdir", str(tmp_path_factory.mktemp("demo"))])
    return status, out.getvalue(), err.getvalue()


def test_default_demo_end_to_end(default_demo, reference_ready):
    status, out, err = default_demo
    assert status == 0, err
    assert "outputs vs onnxruntime" in out and "max abs error" in out
    assert "instructions:" in out and "DRAM bytes read:" in out


def test_default_demo_shows_the_cascade_side_by_side(default_demo, reference_ready):
    status, out, err = default_demo
    assert status == 0, err
    assert "SpAtten outputs vs the NumPy reference" in out and "ABOVE BOUND" not in out
    assert re.search(r"accuracy cost on a trained GPT-2 (small|tiny) \(\d+ predictions in 4 test windows", out), out
    assert re.search(r"perplexity [\d.]+ dense -> [\d.]+ SpAtten \(\+[\d.]+%\)", out), out
    rows = re.findall(r"^\s+(\d+)\s+(\d+) -> +(\d+)\s+(\d+) -> (\d+)\s", out, re.M)
    assert [int(r[0]) for r in rows] == list(range(6)), out
    dense_tokens = {int(r[1]) for r in rows}
    tokens = [int(r[2]) for r in rows]
    heads = [int(r[4]) for r in rows]
    assert dense_tokens == {32} and {int(r[3]) for r in rows} == {4}
    assert tokens[0] == 32 and all(a >= b for a, b in zip(tokens, tokens[1:])) and tokens[-1] < 32, tokens
    assert all(a >= b for a, b in zip(heads, heads[1:])) and heads[-1] < 4, heads
    reduction = re.search(r"DRAM bytes read .* reduction ([\d.]+)x", out)
    assert reduction and float(reduction.group(1)) > 1, out


def test_dense_only(tmp_path, capsys, reference_ready):
    tool("spatten-compile"), tool("spatten-sim")
    assert demo.main(["--workdir", str(tmp_path), "--dense-only"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "dense outputs vs onnxruntime" in out and "DRAM bytes read:" in out
    assert "SpAtten" not in out.replace("SpAtten demo summary", "") and "reduction" not in out
    assert not (tmp_path / "spatten").exists()


@pytest.mark.parametrize("family", ["gpt-neox", "falcon", "phi"])
def test_demo_on_a_rotary_decoder_export(family, tmp_path, capsys, reference_ready):
    """The demo's SpAtten run on a user's decoder with computed rotary
    tables: the reference reads it from the ONNX file."""
    tool("spatten-compile"), tool("spatten-sim")
    path = tmp_path / f"{family}.onnx"
    spexport.export(family, str(path), seq_len=12)
    args = [str(path), "--workdir", str(tmp_path / "demo"), "--shape", "batch=1", "--shape", "sequence=12"]
    assert demo.main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "SpAtten outputs vs the NumPy reference" in out and "ABOVE BOUND" not in out, out
    assert re.search(r"attention bytes read .* reduction ([\d.]+)x", out), out


TINY_GPT2 = train.TrainSettings.of("gpt2", "tiny")


def test_accuracy_cost_is_the_perplexity_change_on_the_trained_tiny_gpt2():
    tool("spatten-compile"), tool("spatten-sim")
    lines = demo.accuracy_cost_lines(demo.SPATTEN_SETTINGS, TINY_GPT2)
    assert "GPT-2 tiny (508 predictions in 4 test windows of 128 tokens, simulator" in lines[0], lines
    m = re.search(r"perplexity ([\d.]+) dense -> ([\d.]+) SpAtten \(([+-][\d.]+)%\)", lines[1])
    assert m, lines
    dense, pruned = float(m[1]), float(m[2])
    want = accuracy.evaluate(train.cache_files(TINY_GPT2)["onnx"], corpus.corpus_files()["test"],
                             flags=demo.SPATTEN_SETTINGS.to_flags(), engine="reference", max_windows=4)
    assert pruned == pytest.approx(want.value, abs=0.005) and pruned > dense
    assert float(m[3]) == pytest.approx(100 * (pruned / dense - 1), abs=0.1)


def test_accuracy_cost_not_measured_when_the_settings_do_not_fit_the_model():
    tool("spatten-compile")
    cfg = R.SpAttenConfig.from_flags("--token-schedule=1,0.5,0.5,0.5,0.5,0.5")
    (line,) = demo.accuracy_cost_lines(cfg, TINY_GPT2)
    assert "GPT-2 tiny: not measured (" in line and "6 fractions for 2 layers" in line, line

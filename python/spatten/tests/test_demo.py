"""scripts/demo.sh's Python side: shape defaults, report summary, and the
whole default demo (which needs the built tools; a missing tool fails)."""

import numpy as np
import pytest

from conftest import shared_model, tool
from spatten import demo


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
    text = "\n".join(demo.report_lines(report))
    assert "instructions: 7 (gemm 4, dma_load 2, halt 1)" in text
    assert "DRAM bytes read: 2.1 KiB (weights 2.0 KiB, activations 100 B)" in text
    assert "DRAM bytes written: 64 B (activations 64 B)" in text
    assert "cycles (first-order estimate): 1234, 1.23 us" in text


def test_compare_flags_errors(tmp_path):
    np.save(tmp_path / "y.npy", np.ones((2, 2), np.float32))
    lines = demo.compare(tmp_path, {"y": np.ones((2, 2), np.float32) + 5e-5}, "ref")
    assert "ok" in lines[0]
    with pytest.raises(demo.DemoError, match="ABOVE BOUND"):
        demo.compare(tmp_path, {"y": np.ones((2, 2), np.float32) + 1e-3}, "ref")
    with pytest.raises(demo.DemoError, match="wrote no z.npy"):
        demo.compare(tmp_path, {"z": np.ones(1, np.float32)}, "ref")


def test_default_demo_end_to_end(tmp_path, capsys, reference_ready):
    tool("spatten-compile"), tool("spatten-sim")
    assert demo.main(["--workdir", str(tmp_path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "outputs vs onnxruntime" in out and "max abs error" in out
    assert "instructions:" in out and "DRAM bytes read:" in out

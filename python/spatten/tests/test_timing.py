"""End-to-end properties of the cycle-level model (docs/Simulator.md).

- Runs are deterministic: the same binary and inputs give the same cycles,
  report and trace.
- ``--timing-only`` gives the cycles and bytes of a full run whenever the
  program's control does not depend on computed values: dense and
  ``--attn-bits`` programs.
- Cascade token pruning fetches fewer DRAM bytes and takes fewer cycles
  than dense on the same hardware configuration; every SpAtten
  configuration with token pruning fetches fewer bytes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import tool
from spatten import export as spexport
from spatten import reference as R
from spatten import tensors
from test_agreement import CONFIGS, compile_flags

L0 = 64


@pytest.fixture(scope="module", params=["bert", "gpt2"])
def model(request, tmp_path_factory):
    """A 6-layer, hidden-64 export run on 64 tokens: (path, inputs)."""
    root = tmp_path_factory.mktemp(f"timing-{request.param}")
    path = root / "model.onnx"
    m = spexport.export(request.param, str(path), size="tiny", seed=3, layers=6, hidden=64, seq_len=L0)
    inputs = spexport.make_inputs(m.config, batch=1, seq_len=L0, seed=2)
    files = {name: tensors.save_npy(root / f"in_{i}.npy", v) for i, (name, v) in enumerate(inputs.items())}
    return path, files


def compile_model(path: Path, out: Path, cfg: R.SpAttenConfig) -> Path:
    cmd = [str(tool("spatten-compile")), str(path), "-o", str(out), "--shape", "batch=1",
           "--shape", f"sequence={L0}", *compile_flags(cfg)]
    subprocess.run(cmd, check=True)
    return out


def simulate(binary: Path, inputs: dict, out: Path, *extra: str) -> dict:
    cmd = [str(tool("spatten-sim")), str(binary), "--output-dir", str(out / "out"),
           "--report", str(out / "report.json"), *extra]
    for name, f in inputs.items():
        cmd += ["--input", f"{name}={f}"]
    subprocess.run(cmd, check=True)
    return json.loads((out / "report.json").read_text())


def run(model, tmp_path: Path, label: str, cfg: R.SpAttenConfig, *extra: str) -> dict:
    path, inputs = model
    d = tmp_path / label
    d.mkdir()
    return simulate(compile_model(path, d / "m.spbin", cfg), inputs, d, *extra)


def total_bytes(report: dict) -> int:
    return report["dram_bytes"]["total_read"] + report["dram_bytes"]["total_written"]


def test_same_binary_same_cycles_and_trace(model, tmp_path):
    cfg = CONFIGS["all"]
    path, inputs = model
    binary = compile_model(path, tmp_path / "m.spbin", cfg)
    runs = []
    for i in range(2):
        d = tmp_path / f"run{i}"
        d.mkdir()
        report = simulate(binary, inputs, d, "--trace", str(d / "trace.json"))
        runs.append((report, (d / "trace.json").read_text()))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == runs[1][1]
    trace = json.loads(runs[0][1])["traceEvents"]
    tracks = {e["args"]["name"] for e in trace if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"DMA load", "DMA store", "GEMM array", "attention pipeline", "top-k engine"} <= tracks
    assert any(e["ph"] == "X" and e["name"] == "attn" for e in trace)


@pytest.mark.parametrize("label", ["dense", "attn-bits"])
def test_timing_only_equals_a_full_run(model, tmp_path, label):
    cfg = R.SpAttenConfig() if label == "dense" else R.SpAttenConfig(attn_bits=12)
    full = run(model, tmp_path, "full", cfg)
    fast = run(model, tmp_path, "fast", cfg, "--timing-only")
    assert fast["cycles"] == full["cycles"]
    assert fast["dram_bytes"] == full["dram_bytes"]
    assert fast["layers"] == full["layers"]


def test_token_pruning_saves_bytes_and_cycles(model, tmp_path):
    dense = run(model, tmp_path, "dense", R.SpAttenConfig())
    pruned = run(model, tmp_path, "token", CONFIGS["token"])
    assert total_bytes(pruned) < total_bytes(dense)
    assert pruned["cycles"]["total"] < dense["cycles"]["total"]
    attention = ("q", "k", "v")
    kv = lambda r: sum(r["dram_bytes"]["read"][c] for c in attention)
    assert kv(pruned) < 0.6 * kv(dense)
    allr = run(model, tmp_path, "all", CONFIGS["all"])
    assert total_bytes(allr) < total_bytes(dense)

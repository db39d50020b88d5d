"""What a sweep's workers run: compile one binary, simulate one point, and
the results row a report gives (docs/Sweeps.md, "Results").

Both tasks return a dict and never raise for a tool's failure: a failed
compile or simulation becomes a row with ``status`` ``failed`` and the
tool's message, so the rest of the sweep goes on. Files are written
atomically (temporary file, then rename), so an interrupted sweep leaves
only whole binaries and results behind.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

from . import api, tools
from .reference.config import SpAttenConfig
from .report import ALL_CLASSES, ATTENTION_CLASSES, KV_CLASSES, Report


def failure_message(e: Exception) -> str:
    """One line: the tool's diagnostics (stderr), else the exception's text."""
    text = e.stderr if isinstance(e, tools.ToolError) and e.stderr.strip() else str(e)
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:2000]


def write_json(path: Path, data: Mapping) -> None:
    """Writes ``data`` as JSON, keys in their order (the results columns'),
    through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def compile_point(model: str, out: str, settings: Mapping[str, object], hw: Mapping[str, object],
                  shapes: Mapping[str, int], flags: Sequence[str], bin_dir: Optional[str]) -> Dict[str, object]:
    """Compiles ``model`` to ``out`` unless that binary exists (binaries
    are named by their content key). settings: the manifest's settings
    record; hw: the hardware fields the compiler reads. Returns
    ``{"status": "ok", "binary": out, "compile_seconds": s}`` or
    ``{"status": "failed", "error": message}``."""
    if Path(out).is_file():
        return {"status": "ok", "binary": out, "compile_seconds": None}
    try:
        b = api.compile(model, SpAttenConfig.from_manifest(settings), dict(hw) or None, shapes, out=out,
                        extra=flags, bin_dir=bin_dir)
    except (tools.ToolError, ValueError, OSError) as e:
        return {"status": "failed", "error": f"compile: {failure_message(e)}"}
    return {"status": "ok", "binary": out, "compile_seconds": b.seconds}


def simulate_point(compiled: Mapping[str, object], key: str, out_dir: str, inputs: Mapping[str, str],
                   generated_inputs: bool, hw: Mapping[str, object], generate: Optional[int], timing_only: bool,
                   bin_dir: Optional[str], host_threads: Optional[int] = None) -> Dict[str, object]:
    """Simulates the binary of ``compiled`` (a :func:`compile_point`
    result) on ``inputs`` (graph input -> file; ``generated_inputs``: made
    from the ONNX model's inputs, so those the binary does not take, such
    as position ids a generation binary binds itself, are left out) with
    the hardware fields ``hw``; writes the report to
    ``out_dir/reports/<key>.json`` and the row to
    ``out_dir/points/<key>.json``, and returns the row (``status``,
    ``error``, the :func:`metrics`, ``compile_seconds``, ``sim_seconds``).
    host_threads: the simulator's thread cap (None: all)."""
    row: Dict[str, object] = {"status": "failed", "error": compiled.get("error", "")}
    if compiled["status"] == "ok":
        try:
            binary = tools.Binary(str(compiled["binary"]), directory=bin_dir)
            if generated_inputs:
                inputs = {t.name: inputs[t.name] for t in binary.inputs if t.name in inputs}
            t0 = time.perf_counter()
            report = api.simulate(binary, dict(inputs), dict(hw) or None, timing_only, generate=generate,
                                  host_threads=host_threads, bin_dir=bin_dir)
            seconds = time.perf_counter() - t0
            write_json(Path(out_dir) / "reports" / f"{key}.json", report.data)
            row = ok_row(report, compiled.get("compile_seconds"), seconds)
        except (tools.ToolError, ValueError, KeyError, OSError) as e:
            row = {"status": "failed", "error": f"simulate: {failure_message(e)}"}
    write_json(Path(out_dir) / "points" / f"{key}.json", row)
    return row


def ok_row(report: Report, compile_seconds: Optional[float], sim_seconds: Optional[float]) -> Dict[str, object]:
    """The row of a point that ran: status, error, :func:`metrics`, seconds."""
    return {"status": "ok", "error": "", **metrics(report), "compile_seconds": compile_seconds,
            "sim_seconds": sim_seconds}


def metrics(report: Report) -> Dict[str, object]:
    """The results columns of one report (docs/Simulator.md, "Report"):
    cycles of the accelerator clock, microseconds, DRAM bytes read and
    written in total, of the attention (Q, K, V and their planes) and by
    tensor class, energy in microjoules in total and by component,
    utilization of the load/compute/store queues, achieved DRAM bytes per
    cycle, GFLOPS (2 operations per GEMM or attention MAC over the run's
    time) and attention GFLOPS (2 per attention MAC over the cycles the
    attention pipeline and the top-k engine ran, ``cycles.by_opcode``
    ``attn`` + ``topk``), the refetch rate of progressive quantization
    and, for a generation run, the prefill's and the generation stage's
    cycles and attention bytes."""
    d = report.data
    dram, ops = report.dram, d.get("energy", {}).get("operations", {})
    attention_ops = 2 * int(ops.get("attention_macs", 0))
    by_opcode = d.get("cycles", {}).get("by_opcode", {})
    attention_cycles = int(by_opcode.get("attn", 0)) + int(by_opcode.get("topk", 0))
    ns_per_cycle = report.time_us * 1e3 / report.cycles if report.time_us and report.cycles else None
    row: Dict[str, object] = {
        "cycles": report.cycles, "time_us": report.time_us, "serial_cycles": report.serial_cycles,
        "instructions": report.instructions,
        "dram_read_bytes": dram.read(), "dram_written_bytes": dram.written(),
        "attention_bytes_read": dram.read(ATTENTION_CLASSES), "kv_bytes_read": dram.read(KV_CLASSES),
        "energy_uj": report.energy_uj,
        "gflops": (2 * int(ops.get("gemm_macs", 0)) + attention_ops) / (report.cycles * ns_per_cycle)
        if ns_per_cycle else None,
        "attention_gflops": attention_ops / (attention_cycles * ns_per_cycle)
        if ns_per_cycle and attention_cycles else None,
        "dram_bytes_per_cycle": d.get("dram_bandwidth", {}).get("bytes_per_cycle"),
        "refetch_rate": report.refetch_rate,
    }
    row.update({f"utilization_{q}": u for q, u in sorted(d.get("cycles", {}).get("utilization", {}).items())})
    row.update({f"energy_{c}_uj": e for c, e in sorted(d.get("energy", {}).get("by_component_uj", {}).items())})
    row.update({f"read_{c}": dram.read([c]) for c in ALL_CLASSES})
    row.update({f"written_{c}": dram.written([c]) for c in ALL_CLASSES})
    stages = report.stages
    if stages is not None:
        row.update({"prefill_cycles": stages.prefill.cycles, "generation_cycles": stages.generation.cycles,
                    "generation_attention_bytes_read": stages.generation.dram.read(ATTENTION_CLASSES)})
    return row

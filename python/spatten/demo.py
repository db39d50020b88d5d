"""The quick-start demo behind scripts/demo.sh.

Without a model: exports a small BERT with PyTorch, compiles it with
spatten-compile, runs it on spatten-sim, checks every output against
onnxruntime (and PyTorch) and prints a short summary. With a model path it
does the same for that .onnx file, with seeded random inputs; every dynamic
dimension is bound to a default (``*past*`` -> 4, ``*seq*``/``*len*`` -> 8,
``*batch*`` -> 1, others -> 8) unless given with ``--shape NAME=VALUE``.

Exit status: 0 when every output is within the bound (docs/Numerics.md),
1 otherwise or when a step fails (its error is printed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np

from . import export as spexport
from . import ort, tensors

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "build" / "bin"
BOUND = 1e-4  # max abs error vs the reference, docs/Numerics.md


class DemoError(RuntimeError):
    pass


def default_dim(name: str) -> int:
    """``*past*`` -> 4; sequence-like (``*seq*``, ``*len*``) -> 8, checked
    before batch so ``max_seq_len_in_batch`` is a sequence; ``*batch*`` -> 1."""
    low = name.lower()
    if "past" in low:
        return 4
    if "seq" in low or "len" in low:
        return 8
    return 1 if "batch" in low else 8


def bind_shapes(model: Path, given: Mapping[str, int]) -> Dict[str, int]:
    shapes = {d: given.get(d, default_dim(d)) for d in tensors.symbolic_dims(model)}
    unknown = set(given) - set(shapes)
    if unknown:
        raise DemoError(f"--shape names {sorted(unknown)} are not dynamic dimensions of {model} "
                        f"(it has: {sorted(shapes) or 'none'})")
    return shapes


def run_step(what: str, cmd: List[str]) -> float:
    exe = Path(cmd[0])
    if not exe.is_file():
        raise DemoError(f"{exe} is missing: run scripts/setup.sh to build the tools")
    print(f"$ {' '.join(str(c) for c in cmd)}", flush=True)
    t = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise DemoError(f"{what} failed (exit {r.returncode}):\n{r.stderr.strip()}")
    return time.perf_counter() - t


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _nonzero(d: Mapping[str, float]) -> str:
    items = [(k, v) for k, v in d.items() if isinstance(v, (int, float)) and v]
    return ", ".join(f"{k} {human_bytes(v)}" for k, v in sorted(items, key=lambda kv: -kv[1]))


def report_lines(report: Mapping) -> List[str]:
    """Summary of spatten-sim's --report JSON, read defensively (the keys are
    documented in docs/Simulator.md: instructions.{total,by_opcode},
    dram_bytes.{read,written,total_read,total_written}, cycles.total)."""
    lines = []
    instr = report.get("instructions") or {}
    by_op = instr.get("by_opcode") or report.get("instruction_counts") or {}
    total = instr.get("total", sum(v for v in by_op.values() if isinstance(v, int)))
    ops = ", ".join(f"{k} {v}" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1]) if v)
    lines.append(f"  instructions: {total}" + (f" ({ops})" if ops else ""))
    dram = report.get("dram_bytes") or {}
    for key in ("read", "written"):
        per_class = dram.get(key) or {}
        tot = dram.get(f"total_{key}", sum(v for v in per_class.values() if isinstance(v, (int, float))))
        detail = _nonzero(per_class)
        lines.append(f"  DRAM bytes {key}: {human_bytes(tot)}" + (f" ({detail})" if detail else ""))
    cycles = report.get("cycles") or {}
    if "total" in cycles:
        extra = f", {cycles['time_us']:.2f} us" if isinstance(cycles.get("time_us"), (int, float)) else ""
        lines.append(f"  cycles (first-order estimate): {cycles['total']}{extra}")
    return lines


def compare(outdir: Path, reference: Mapping[str, np.ndarray], label: str) -> List[str]:
    """One line per output; raises DemoError listing outputs above BOUND."""
    lines, bad = [], []
    for name, want in reference.items():
        f = outdir / tensors.output_file_name(name)
        if not f.is_file():
            bad.append(f"{name}: the simulator wrote no {f.name}")
            continue
        got = np.load(f)
        if got.shape != want.shape:
            bad.append(f"{name}: shape {list(got.shape)} vs {label} {list(want.shape)}")
            continue
        err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if want.size else 0.0
        ok = err <= BOUND
        lines.append(f"    {name} {list(want.shape)}: max abs error {err:.2e} {'ok' if ok else 'ABOVE BOUND'}")
        if not ok:
            bad.append(f"{name}: {err:.3e} > {BOUND}")
    if bad:
        raise DemoError(f"outputs differ from {label}:\n  " + "\n  ".join(lines + bad))
    return lines


def default_model(workdir: Path):
    """The embedded default: a small BERT (2 layers, hidden 64, 4 heads)."""
    cfg = spexport.tiny_config("bert", hidden=64, seed=0)
    model = spexport.build_model(cfg)
    path = workdir / "bert-small.onnx"
    spexport.export_onnx(model, str(path), opset=14, batch=1, seq_len=16)
    return path, model


def demo(model_path: Optional[Path], given: Mapping[str, int], workdir: Path, seed: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    torch_model = None
    if model_path is None:
        print("exporting a small BERT with PyTorch (2 layers, hidden 64, 4 heads, opset 14) ...", flush=True)
        model_path, torch_model = default_model(workdir)
        given = {"batch": 1, "sequence": 16, **given}
    if not model_path.is_file():
        raise DemoError(f"{model_path}: no such file")
    shapes = bind_shapes(model_path, given)
    if torch_model is not None:
        arrays = spexport.make_inputs(torch_model.config, batch=shapes["batch"], seq_len=shapes["sequence"], seed=seed)
    else:
        arrays = tensors.random_inputs(model_path, shapes, seed=seed)
    indir, outdir = workdir / "inputs", workdir / "outputs"
    indir.mkdir(exist_ok=True)
    inputs = {k: tensors.save_npy(indir / tensors.output_file_name(k), v) for k, v in arrays.items()}

    binary, report_path = workdir / "model.spbin", workdir / "report.json"
    compile_cmd = [BIN / "spatten-compile", model_path, "-o", binary]
    for k, v in shapes.items():
        compile_cmd += ["--shape", f"{k}={v}"]
    t_compile = run_step("spatten-compile", compile_cmd)
    sim_cmd = [BIN / "spatten-sim", binary, "--output-dir", outdir, "--report", report_path]
    for k, f in inputs.items():
        sim_cmd += ["--input", f"{k}={f}"]
    t_sim = run_step("spatten-sim", sim_cmd)

    print(f"\nSpAtten demo summary: {model_path.name}")
    print("  shapes: " + (" ".join(f"{k}={v}" for k, v in shapes.items()) or "static"))
    print(f"  compile {t_compile:.2f} s, simulate {t_sim:.2f} s; binary {human_bytes(binary.stat().st_size)}")
    print(f"  outputs vs onnxruntime (bound {BOUND:.0e}):")
    for line in compare(outdir, ort.run(model_path, arrays), "onnxruntime"):
        print(line)
    if torch_model is not None:
        print(f"  outputs vs PyTorch (bound {BOUND:.0e}):")
        for line in compare(outdir, spexport.torch_outputs(torch_model, arrays), "PyTorch"):
            print(line)
    for line in report_lines(json.loads(report_path.read_text())):
        print(line)
    print(f"  files: {workdir}")


def parse_shape(text: str):
    name, sep, value = text.partition("=")
    if not sep or not name or not value.isdigit() or int(value) <= 0:
        raise argparse.ArgumentTypeError(f"expected NAME=POSITIVE_INT, got {text!r}")
    return name, int(value)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.demo", description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", type=Path, help=".onnx file (default: export a small BERT)")
    ap.add_argument("--shape", type=parse_shape, action="append", default=[], metavar="NAME=VALUE",
                    help="bind a dynamic dimension (repeatable)")
    ap.add_argument("--workdir", type=Path, default=ROOT / "out" / "demo", help="where files are written")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    args = ap.parse_args(argv)
    try:
        demo(args.model.resolve() if args.model else None, dict(args.shape), args.workdir.resolve(), args.seed)
    except (DemoError, ort.ReferenceError, ValueError, KeyError) as e:
        print(f"\ndemo: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

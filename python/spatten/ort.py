"""onnxruntime as the reference executor, through Node.js.

onnxruntime comes from npm (``onnxruntime-node``, pinned in the project's
package-lock.json; installed by scripts/setup.sh). ``run`` writes the inputs
as .npy, calls ``scripts/ort-run.mjs`` and reads the outputs back;
``time_runs`` measures session creation and runs inside one Node.js process.

CLI (inputs may be .npy or ONNX TensorProto .pb)::

    /usr/bin/python3 -m spatten.ort model.onnx --input NAME=FILE ... --output-dir DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .tensors import PathLike, load_tensor, output_file_name, save_npy

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "scripts" / "ort-run.mjs"


class ReferenceError(RuntimeError):
    """onnxruntime (or Node.js) could not produce reference outputs."""


def node_executable() -> str:
    """``$SPATTEN_NODE`` or ``node`` on PATH; raises ReferenceError if absent."""
    exe = os.environ.get("SPATTEN_NODE") or shutil.which("node")
    if not exe:
        raise ReferenceError("Node.js is not installed (run scripts/setup.sh)")
    return exe


def check_installed() -> None:
    """Raises ReferenceError unless node and the pinned onnxruntime-node exist."""
    node_executable()
    if not (ROOT / "node_modules" / "onnxruntime-node" / "package.json").is_file():
        raise ReferenceError(f"onnxruntime-node is not installed in {ROOT}/node_modules "
                             "(run scripts/setup.sh, or: npm ci --ignore-scripts)")


Inputs = Mapping[str, Union[np.ndarray, PathLike]]


def _runner(model_path: PathLike, inputs: Inputs, options: Sequence[str], tmp: Path, timeout: float) -> dict:
    """Runs ort-run.mjs with ``inputs`` written as .npy under ``tmp``;
    returns the JSON it printed. Raises ReferenceError with its message."""
    check_installed()
    cmd = [node_executable(), str(RUNNER), str(model_path)]
    for i, (name, value) in enumerate(inputs.items()):
        array = value if isinstance(value, np.ndarray) else load_tensor(value)
        cmd += ["--input", f"{name}={save_npy(tmp / f'in{i}.npy', array)}"]
    proc = subprocess.run(cmd + list(options), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ReferenceError(proc.stderr.strip() or f"ort-run.mjs exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(model_path: PathLike, inputs: Inputs, opt_level: str = "disabled",
        timeout: float = 900.0) -> Dict[str, np.ndarray]:
    """Runs ``model_path`` on onnxruntime (CPU, one thread, graph optimisations
    off by default) and returns ``{output name: array}``.

    ``inputs`` maps each graph input name to an array or to a .npy/.pb file.
    Raises ReferenceError with onnxruntime's message on failure."""
    with tempfile.TemporaryDirectory(prefix="spatten-ort-") as tmp:
        options = ["--output-dir", str(Path(tmp) / "out"), "--opt-level", opt_level]
        written = _runner(model_path, inputs, options, Path(tmp), timeout)
        return {name: np.load(f) for name, f in written.items()}


@dataclasses.dataclass
class Timing:
    """Wall-clock seconds inside one Node.js process (``performance.now``):
    session creation, the first (warm-up) run and each later run."""

    create_s: float
    first_s: float
    runs_s: List[float]


def time_runs(model_path: PathLike, inputs: Inputs, repeat: int = 1, threads: int = 1, opt_level: str = "all",
              timeout: float = 900.0) -> Timing:
    """Times onnxruntime on ``model_path``: session creation, a warm-up run
    and ``repeat`` runs on the same session, with ``threads`` intra-op
    threads. Raises ReferenceError with onnxruntime's message on failure."""
    with tempfile.TemporaryDirectory(prefix="spatten-ort-") as tmp:
        options = ["--time", str(repeat), "--threads", str(threads), "--opt-level", opt_level]
        ms = _runner(model_path, inputs, options, Path(tmp), timeout)
    return Timing(ms["create_ms"] / 1e3, ms["first_ms"] / 1e3, [t / 1e3 for t in ms["runs_ms"]])


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.ort", description="Run an ONNX model on onnxruntime.")
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE",
                    help=".npy or ONNX TensorProto .pb file for graph input NAME (repeatable)")
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--opt-level", default="disabled", choices=["disabled", "basic", "extended", "all"])
    args = ap.parse_args(argv)
    feeds = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name:
            ap.error(f"--input expects NAME=FILE, got {item!r}")
        feeds[name] = path
    try:
        outs = run(args.model, feeds, opt_level=args.opt_level)
    except (ReferenceError, ValueError) as e:
        print(f"spatten.ort: error: {e}", file=sys.stderr)
        return 1
    os.makedirs(args.output_dir, exist_ok=True)
    for name, a in outs.items():
        f = save_npy(Path(args.output_dir) / output_file_name(name), a)
        print(f"{name}: {list(a.shape)} {a.dtype} -> {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

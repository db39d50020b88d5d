"""The C++ tools from Python: ``spatten-compile``, ``spatten-sim`` and
``spatten-objdump`` (README, "Tools").

* :func:`compile` turns an ONNX model into a ``.spbin`` and returns a
  :class:`Binary`, whose manifest (docs/BinaryFormat.md) gives the graph
  inputs and outputs, the hardware configuration and the SpAtten settings
  compiled with (:class:`~spatten.reference.SpAttenConfig`).
* :func:`simulate` runs a binary and returns a :class:`SimRun`: the
  outputs as NumPy arrays and the :class:`~spatten.report.Report`; with
  ``generate=N`` a generation binary's greedy decoding of N tokens
  (docs/Simulator.md, "Generation").

Tools come from ``build/bin`` of this checkout, ``$SPATTEN_BIN``, or the
``bin_dir`` argument. Every failure (a missing tool, a non-zero exit, a
timeout, unreadable output) raises :class:`ToolError` with the tool's
stderr.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .reference.config import SpAttenConfig
from .report import Report
from .tensors import PathLike, output_file_name, save_npy

ROOT = Path(__file__).resolve().parents[2]

#: Receives each command line before it runs, as ``$ tool args...``.
Echo = Optional[Callable[[str], None]]


class ToolError(RuntimeError):
    """A tool could not be run or failed.

    tool: its name; command: the command line (empty when it did not run);
    returncode: the exit status (negative: killed by that signal; None: it
    did not run or timed out); stderr: what it printed there."""

    def __init__(self, tool: str, message: str, command: Sequence[str] = (), returncode: Optional[int] = None,
                 stderr: str = ""):
        super().__init__(f"{message}\n{stderr.strip()}" if stderr.strip() else message)
        self.tool, self.command, self.returncode, self.stderr = tool, list(command), returncode, stderr


def bin_dir(override: Optional[PathLike] = None) -> Path:
    """``override``, else ``$SPATTEN_BIN``, else ``build/bin`` of this checkout."""
    return Path(override or os.environ.get("SPATTEN_BIN") or ROOT / "build" / "bin")


def tool_path(name: str, directory: Optional[PathLike] = None) -> Path:
    """The executable ``name`` in :func:`bin_dir`; raises ToolError when it
    is missing."""
    p = bin_dir(directory) / name
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise ToolError(name, f"{p} is missing: build it (scripts/setup.sh, or ninja -C build {name})")
    return p


def run_tool(name: str, args: Sequence[object], *, directory: Optional[PathLike] = None, echo: Echo = None,
             timeout: Optional[float] = None) -> Tuple[subprocess.CompletedProcess, float]:
    """Runs tool ``name`` with ``args``; returns the finished process and its
    wall-clock seconds. Raises ToolError when it fails or times out."""
    cmd = [str(tool_path(name, directory)), *(str(a) for a in args)]
    if echo:
        echo("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ToolError(name, f"{name} timed out after {timeout} s", cmd, None,
                        e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or "")
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"failed (exit {proc.returncode})"
        raise ToolError(name, f"{name} {how}", cmd, proc.returncode, proc.stderr)
    return proc, seconds


# ----------------------------------------------------------------------------- binaries

@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A graph input or output of a binary: ONNX name, static shape,
    element type in DRAM (``float32``, ``int64`` or ``int32``)."""

    name: str
    shape: Tuple[int, ...]
    dtype: str


class Binary:
    """A ``.spbin`` file and its manifest (docs/BinaryFormat.md).

    path: the file; seconds: wall-clock seconds of the compile that wrote
    it (None when not compiled here). The manifest is read once, on first
    use, with ``spatten-objdump --manifest``."""

    def __init__(self, path: PathLike, *, seconds: Optional[float] = None, directory: Optional[PathLike] = None):
        self.path, self.seconds, self._directory = Path(path), seconds, directory

    def __repr__(self) -> str:
        return f"Binary({str(self.path)!r})"

    @functools.cached_property
    def manifest(self) -> dict:
        """The manifest JSON; raises ToolError for an unreadable binary."""
        proc, _ = run_tool("spatten-objdump", ["--manifest", self.path], directory=self._directory)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise ToolError("spatten-objdump", f"{self.path}: the manifest is not JSON ({e})") from e

    @property
    def inputs(self) -> List[TensorSpec]:
        """Graph inputs, in graph order."""
        return [_tensor_spec(t) for t in self.manifest["inputs"]]

    @property
    def outputs(self) -> List[TensorSpec]:
        """Graph outputs, in graph order."""
        return [_tensor_spec(t) for t in self.manifest["outputs"]]

    @property
    def entries(self) -> List[str]:
        """Entry point names in ``.text`` order (``["main"]`` for a binary
        without ``entries``; a generation binary has ``prefill`` and
        ``decode``)."""
        return [e["name"] for e in self.manifest.get("entries", [{"name": "main"}])]

    @property
    def hardware(self) -> dict:
        """The hardware configuration compiled for, every field
        (docs/HardwareConfig.md)."""
        return self.manifest["hardware"]

    @property
    def settings(self) -> SpAttenConfig:
        """The SpAtten settings compiled with (the manifest's ``settings``
        record). Raises ValueError naming the file when the manifest has
        none or a bad one."""
        record = self.manifest.get("settings")
        if record is None:
            raise ValueError(f"{self.path}: the manifest has no settings record")
        try:
            return SpAttenConfig.from_manifest(record)
        except ValueError as e:
            raise ValueError(f"{self.path}: {e}") from e


def _tensor_spec(t: Mapping) -> TensorSpec:
    return TensorSpec(t["name"], tuple(t["shape"]), t["dtype"])


def compile(model: PathLike, out: PathLike, *, settings: Optional[SpAttenConfig] = None,
            hw: Optional[PathLike] = None, shapes: Optional[Mapping[str, int]] = None, extra: Sequence[str] = (),
            directory: Optional[PathLike] = None, echo: Echo = None, timeout: Optional[float] = None) -> Binary:
    """``spatten-compile model -o out``: SpAtten ``settings`` as flags
    (``SpAttenConfig.to_flags``), ``--shape NAME=VALUE`` per entry of
    ``shapes``, ``--hw`` (a preset name or a JSON file), then ``extra``
    flags. Raises ToolError with the compiler's diagnostics."""
    args: List[object] = [model, "-o", out, *(settings.to_flags() if settings else [])]
    for name, value in (shapes or {}).items():
        args += ["--shape", f"{name}={value}"]
    if hw is not None:
        args += ["--hw", hw]
    _, seconds = run_tool("spatten-compile", [*args, *extra], directory=directory, echo=echo, timeout=timeout)
    return Binary(out, seconds=seconds, directory=directory)


# ----------------------------------------------------------------------------- simulation

class SimRun:
    """One ``spatten-sim`` run.

    binary: what ran; out_dir: where the outputs are (``<name>.npy``);
    report: the Report (None without ``--report``); trace: the trace file
    or None; seconds: wall-clock seconds of the run; generate: the number
    of tokens generated (None: an ordinary run)."""

    def __init__(self, binary: Binary, out_dir: Path, report: Optional[Report], trace: Optional[Path],
                 seconds: float, generate: Optional[int] = None):
        self.binary, self.out_dir, self.report, self.trace, self.seconds = binary, out_dir, report, trace, seconds
        self.generate = generate

    @functools.cached_property
    def outputs(self) -> Dict[str, np.ndarray]:
        """``{output name: array}`` in graph order, read on first use.
        Meaningless after ``timing_only``; empty after ``generate`` (see
        :attr:`generated_ids`)."""
        if self.generate is not None:
            return {}
        return {t.name: np.load(self.out_dir / output_file_name(t.name)) for t in self.binary.outputs}

    @functools.cached_property
    def generated_ids(self) -> Optional[np.ndarray]:
        """The generated token ids, np.int64 ``[1, N]`` (None without
        ``generate``)."""
        return None if self.generate is None else np.load(self.out_dir / "generated_ids.npy")

    @functools.cached_property
    def prefill_logits(self) -> Optional[np.ndarray]:
        """The prefill's logits float32, ``[1, 1, V]`` (the last prompt
        position's, as ``spatten-compile --max-context`` builds them) or
        ``[1, L0, V]`` (None unless
        ``save_logits``)."""
        path = self.out_dir / "logits_prefill.npy"
        return np.load(path) if self.generate is not None and path.exists() else None

    @functools.cached_property
    def generation_logits(self) -> Optional[np.ndarray]:
        """The logits each generated token was chosen from, float32 ``[N,
        V]``: the prefill's last row, then each decode step's (as
        ``spatten.generate.greedy`` returns them; None unless
        ``save_logits``)."""
        if self.prefill_logits is None:
            return None
        rows = [self.prefill_logits[0, -1]] + [s[0, -1] for s in self.step_logits]
        return np.stack(rows).astype(np.float32)

    @functools.cached_property
    def step_logits(self) -> List[np.ndarray]:
        """Each decode step's logits ``[1, 1, V]`` float32, step 1 first
        (N - 1 of them; empty unless ``save_logits``)."""
        if self.generate is None or not (self.out_dir / "logits_prefill.npy").exists():
            return []
        return [np.load(self.out_dir / f"logits_step_{s}.npy") for s in range(1, self.generate)]


def simulate(binary: Union[Binary, PathLike], inputs: Mapping[str, Union[np.ndarray, PathLike]],
             out_dir: PathLike, *, report: Union[bool, PathLike] = True, trace: Optional[PathLike] = None,
             timing_only: bool = False, hw: Optional[PathLike] = None, generate: Optional[int] = None,
             save_logits: bool = False, feed_ids: Optional[PathLike] = None,
             host_threads: Optional[int] = None, directory: Optional[PathLike] = None, echo: Echo = None,
             timeout: Optional[float] = None) -> SimRun:
    """``spatten-sim binary --output-dir out_dir``.

    inputs: graph input name -> array (written to a temporary .npy) or a
    .npy/.pb file (with ``generate``: the prefill's, ``input_ids`` the
    prompt ``[1, L0]``). report: True writes ``out_dir/report.json``, a
    path writes there, False writes none. trace: Chrome trace file (with
    ``generate``: every run one after another, a span per stage).
    timing_only: skip the arithmetic (outputs meaningless, cycles as a full
    run for dense and ``--attn-bits`` programs). hw: time with another
    hardware configuration. generate: greedily generate this many tokens
    with the binary's ``prefill`` and ``decode`` entry points
    (:attr:`SimRun.generated_ids`; the report's totals cover every run and
    :attr:`Report.stages <spatten.report.Report.stages>` each one).
    save_logits: with ``generate``, keep the logits of every run
    (:attr:`SimRun.prefill_logits`, :attr:`SimRun.step_logits`). feed_ids:
    with ``generate``, an ids file fed instead of the argmax (a full run's
    ``generated_ids.npy`` gives ``timing_only`` that run's report).
    host_threads: at most this many host threads (``--host-threads``, at
    least 1; results are the same for every count); None: all. Raises
    ToolError with the simulator's message (e.g. a binary without those
    entry points, or a prompt and N beyond the KV cache's
    ``max_context``)."""
    binary = binary if isinstance(binary, Binary) else Binary(binary, directory=directory)
    out_dir = Path(out_dir)
    report_path = out_dir / "report.json" if report is True else (Path(report) if report else None)
    args: List[object] = [binary.path, "--output-dir", out_dir]
    if report_path:
        args += ["--report", report_path]
    args += ["--trace", trace] if trace else []
    args += ["--timing-only"] if timing_only else []
    args += ["--hw", hw] if hw is not None else []
    args += ["--generate", generate] if generate is not None else []
    args += ["--save-logits"] if save_logits else []
    args += ["--feed-ids", feed_ids] if feed_ids is not None else []
    args += ["--host-threads", host_threads] if host_threads is not None else []
    with tempfile.TemporaryDirectory(prefix="spatten-sim-inputs-") as tmp:
        for i, (name, value) in enumerate(inputs.items()):
            f = save_npy(Path(tmp) / f"input_{i}.npy", value) if isinstance(value, np.ndarray) else value
            args += ["--input", f"{name}={f}"]
        _, seconds = run_tool("spatten-sim", args, directory=directory, echo=echo, timeout=timeout)
    return SimRun(binary, out_dir, Report.load(report_path) if report_path else None,
                  Path(trace) if trace else None, seconds, generate)

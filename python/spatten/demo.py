"""The quick-start demo behind scripts/demo.sh.

Without a model: exports a small BERT with PyTorch (6 layers, hidden 64,
4 heads, 32 tokens), compiles it with spatten-compile, runs it on
spatten-sim and checks every output against onnxruntime (and PyTorch).
With a model path it does the same for that .onnx file, with seeded random
inputs; every dynamic dimension is bound to a default (``*past*`` -> 4,
``*seq*``/``*len*`` -> 8, ``*batch*`` -> 1, others -> 8) unless given with
``--shape NAME=VALUE``.

Then, unless ``--dense-only``, it compiles the same model again with
SpAtten's pruning flags (``--spatten-flags``, default: token keep 0.5, head
keep 0.75, value keep 0.3, progressive quantization 6+4), runs it on the
same inputs, checks its outputs against the NumPy reference
(``spatten.reference``, same settings) and prints both runs side by side
from the simulator's reports (docs/Simulator.md, "Report"): tokens and
heads computed, K+V bytes and LSB refetch rate per layer; DRAM bytes,
attention bytes and cycles in total. Pruning works on one sequence, so
every ``*batch*`` dimension must be 1.

Exit status: 0 when every checked output is within the bound
(docs/Numerics.md), 1 otherwise or when a step fails (its error is printed).
The pruned-vs-dense output difference is printed, never checked: it is the
accuracy cost of pruning, not an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import export as spexport
from . import ort, simreport, tensors
from . import reference as R

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "build" / "bin"
BOUND = 1e-4  # max abs error vs the reference, docs/Numerics.md
SPATTEN_FLAGS = "--token-keep=0.5 --head-keep=0.75 --value-keep=0.3 --pq-msb=6"
# Report tensor classes (docs/Simulator.md): keys and values (v_msb/v_lsb
# only with --pq-values), and everything the attention path fetches.
KV_CLASSES = ("k", "k_msb", "k_lsb", "v", "v_msb", "v_lsb")
ATTN_CLASSES = ("q",) + KV_CLASSES


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
        lines.append(f"  cycles (cycle-level model): {cycles['total']}{extra}")
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
    """The embedded default: a small BERT (6 layers, hidden 64, 4 heads),
    deep enough for the cascade to show over the layers."""
    cfg = spexport.tiny_config("bert", hidden=64, layers=6, seed=0)
    model = spexport.build_model(cfg)
    path = workdir / "bert-small.onnx"
    spexport.export_onnx(model, str(path), opset=14, batch=1, seq_len=32)
    return path, model


# ----------------------------------------------------------------------------- SpAtten flags

class _FlagParser(argparse.ArgumentParser):
    def error(self, message):
        raise DemoError(f"--spatten-flags: {message}")


def spatten_config(flags: str) -> R.SpAttenConfig:
    """The reference's settings for the ``spatten-compile`` pruning flags in
    ``flags`` (same names and defaults). Raises DemoError for a flag the
    reference has no counterpart for, or a bad value."""
    ap = _FlagParser(prog="--spatten-flags", add_help=False)
    for name, typ in (("token-keep", float), ("head-keep", float), ("value-keep", float),
                      ("pq-msb", int), ("attn-bits", int)):
        ap.add_argument(f"--{name}", type=typ)
    ap.add_argument("--pq-lsb", type=int, default=4)
    ap.add_argument("--pq-threshold", type=float, default=0.1)
    ap.add_argument("--pq-values", action="store_true")
    ap.add_argument("--token-schedule", default="paper")
    ap.add_argument("--keep-positions", default="")
    a = ap.parse_args(shlex.split(flags))
    try:
        schedule = a.token_schedule if a.token_schedule == "paper" else [float(v) for v in a.token_schedule.split(",")]
        keep = [int(v) for v in a.keep_positions.split(",") if v.strip()]
        cfg = R.SpAttenConfig(token_keep=a.token_keep, token_schedule=schedule, keep_positions=keep,
                              head_keep=a.head_keep, value_keep=a.value_keep, pq_msb=a.pq_msb,
                              pq_lsb=a.pq_lsb, pq_threshold=a.pq_threshold, pq_values=a.pq_values,
                              attn_bits=a.attn_bits)
        cfg.validate()
    except ValueError as e:
        raise DemoError(f"--spatten-flags: {e}") from e
    return cfg


# ----------------------------------------------------------------------------- one run

@dataclasses.dataclass
class Run:
    """One compile + simulate: where it wrote, its report, its times (s)."""

    outdir: Path
    report: dict
    binary: Path
    t_compile: float
    t_sim: float


def compile_and_simulate(label: str, model: Path, shapes: Mapping[str, int], inputs: Mapping[str, Path],
                         flags: Sequence[str], workdir: Path) -> Run:
    """Writes model.spbin, report.json and outputs/ under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    binary, report = workdir / "model.spbin", workdir / "report.json"
    cmd = [BIN / "spatten-compile", model, "-o", binary, *flags]
    for k, v in shapes.items():
        cmd += ["--shape", f"{k}={v}"]
    t_compile = run_step(f"spatten-compile ({label} run)", cmd)
    sim = [BIN / "spatten-sim", binary, "--output-dir", workdir / "outputs", "--report", report]
    for k, f in inputs.items():
        sim += ["--input", f"{k}={f}"]
    t_sim = run_step(f"spatten-sim ({label} run)", sim)
    return Run(workdir / "outputs", json.loads(report.read_text()), binary, t_compile, t_sim)


# ----------------------------------------------------------------------------- side-by-side table

def read_bytes(entry: Mapping, classes: Sequence[str]) -> int:
    """DRAM bytes read of ``classes`` in a report (or one report layer)."""
    return sum(simreport.class_bytes(entry, c) for c in classes)


@dataclasses.dataclass
class LayerRow:
    """One layer of one run: tokens and heads computed, K+V bytes read,
    refetch rate = K rows whose LSB plane was fetched / K rows fetched
    (kept tokens x kept heads); None without progressive quantization."""

    layer: int
    tokens: int
    heads: int
    kv_bytes: int
    refetch: Optional[float]


def layer_rows(report: Mapping, tokens: int, heads: int) -> List[LayerRow]:
    """Rows of a run on one sequence of ``tokens`` tokens of a model with
    ``heads`` heads; kept tokens and heads from the report's top-k records
    (simreport.layer_selections). Empty when the report has no layers."""
    rows = []
    for sel, entry in zip(simreport.layer_selections(report, tokens, heads), report.get("layers", [])):
        k_rows = len(sel.tokens) * len(sel.heads)
        refetched = entry.get("refetched_rows")
        rate = None if refetched is None else (refetched / k_rows if k_rows else 0.0)
        rows.append(LayerRow(sel.layer, len(sel.tokens), len(sel.heads), read_bytes(entry, KV_CLASSES), rate))
    return rows


def dense_rows(report: Mapping, tokens: int, heads: int, layers: int) -> Tuple[List[LayerRow], bool]:
    """The dense run's rows and whether they were split evenly from the
    total: a dense program may carry no per-layer attribution
    (docs/Simulator.md), and then every layer fetches the same bytes."""
    rows = layer_rows(report, tokens, heads)
    if rows or not layers:
        return rows, False
    total = read_bytes(report, KV_CLASSES)
    if total % layers:
        raise DemoError(f"dense K+V bytes {total} do not split evenly over {layers} layers")
    return [LayerRow(l, tokens, heads, total // layers, None) for l in range(layers)], True


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def comparison_lines(dense: Mapping, pruned: Mapping, tokens: int, heads: int) -> List[str]:
    """The side-by-side table of two reports of the same model and inputs."""
    sp = layer_rows(pruned, tokens, heads)
    dn, split = dense_rows(dense, tokens, heads, len(sp))
    if [r.layer for r in dn] != [r.layer for r in sp]:
        raise DemoError(f"the dense report has layers {[r.layer for r in dn]}, "
                        f"the SpAtten report {[r.layer for r in sp]}")
    arrow = lambda d, s, fmt=str, w=2: f"{fmt(d):>{w}} -> {fmt(s):<{w}}"
    lines = [f"  {'layer':>5}  {'tokens':^8}  {'heads':^6}  {'K+V bytes read':^22}  refetch"]
    for d, s in zip(dn, sp):
        refetch = "-" if s.refetch is None else f"{100 * s.refetch:.1f}%"
        lines.append(f"  {s.layer:>5}  {arrow(d.tokens, s.tokens)}  {arrow(d.heads, s.heads, w=1)}  "
                     f"{arrow(d.kv_bytes, s.kv_bytes, human_bytes, 9)}  {refetch:>7}")
    if split:
        lines.append("  (dense K+V per layer: the report's total / layers; the dense program has no layer attribution)")
    totals = (("DRAM bytes read", dense["dram_bytes"]["total_read"], pruned["dram_bytes"]["total_read"], "reduction"),
              ("attention bytes read", read_bytes(dense, ATTN_CLASSES), read_bytes(pruned, ATTN_CLASSES), "reduction"),
              ("cycles", dense["cycles"]["total"], pruned["cycles"]["total"], "speedup"))
    for label, d, s, what in totals:
        fmt = str if what == "speedup" else human_bytes
        lines.append(f"  {label:<21} {arrow(d, s, fmt, 9)}  {what} {_ratio(d, s)}")
    return lines


def output_difference(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {float(np.abs(a[k].astype(np.float64) - b[k]).max()):.3g}" for k in a if k in b)


def token_ids(arrays: Mapping[str, np.ndarray]) -> Optional[np.ndarray]:
    """The token-id input, named like spatten.reference.run_inputs expects."""
    return next((v for k, v in arrays.items() if "ids" in k.lower() and "type" not in k.lower()), None)


def sim_outputs(outdir: Path, names) -> Dict[str, np.ndarray]:
    return {n: np.load(outdir / tensors.output_file_name(n)) for n in names}


# ----------------------------------------------------------------------------- the demo

def demo(model_path: Optional[Path], given: Mapping[str, int], workdir: Path, seed: int,
         spatten_flags: Optional[str] = SPATTEN_FLAGS) -> None:
    """``spatten_flags`` None: the dense run only."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = None if spatten_flags is None else spatten_config(spatten_flags)
    torch_model = None
    if model_path is None:
        print("exporting a small BERT with PyTorch (6 layers, hidden 64, 4 heads, opset 14) ...", flush=True)
        model_path, torch_model = default_model(workdir)
        given = {"batch": 1, "sequence": 32, **given}
    if not model_path.is_file():
        raise DemoError(f"{model_path}: no such file")
    shapes = bind_shapes(model_path, given)
    if torch_model is not None:
        arrays = spexport.make_inputs(torch_model.config, batch=shapes["batch"], seq_len=shapes["sequence"], seed=seed)
    else:
        arrays = tensors.random_inputs(model_path, shapes, seed=seed)
    ids = token_ids(arrays)
    if cfg is not None and (ids is None or ids.ndim != 2 or ids.shape[0] != 1):
        raise DemoError("SpAtten pruning needs one sequence: token ids of shape [1, sequence], got "
                        + (f"{list(ids.shape)}" if ids is not None else f"no token-id input among {list(arrays)}")
                        + " (bind the batch dimension to 1, or use --dense-only)")
    indir = workdir / "inputs"
    indir.mkdir(exist_ok=True)
    inputs = {k: tensors.save_npy(indir / tensors.output_file_name(k), v) for k, v in arrays.items()}

    dense = compile_and_simulate("dense", model_path, shapes, inputs, [], workdir / "dense")
    pruned = None
    if cfg is not None:
        try:
            mw = R.from_onnx(model_path)
        except ValueError as e:
            raise DemoError(f"{e}; the SpAtten run needs the NumPy reference (--dense-only skips it)") from e
        pruned = compile_and_simulate("SpAtten", model_path, shapes, inputs, shlex.split(spatten_flags),
                                      workdir / "spatten")

    print(f"\nSpAtten demo summary: {model_path.name}")
    print("  shapes: " + (" ".join(f"{k}={v}" for k, v in shapes.items()) or "static"))
    print(f"  dense: compile {dense.t_compile:.2f} s, simulate {dense.t_sim:.2f} s; "
          f"binary {human_bytes(dense.binary.stat().st_size)}")
    print(f"  dense outputs vs onnxruntime (bound {BOUND:.0e}):")
    onnx_ref = ort.run(model_path, arrays)
    for line in compare(dense.outdir, onnx_ref, "onnxruntime"):
        print(line)
    if torch_model is not None:
        print(f"  dense outputs vs PyTorch (bound {BOUND:.0e}):")
        for line in compare(dense.outdir, spexport.torch_outputs(torch_model, arrays), "PyTorch"):
            print(line)
    for line in report_lines(dense.report):
        print(line)
    if pruned is not None:
        want = R.run_inputs(mw, arrays, cfg)
        print(f"\n  SpAtten ({spatten_flags}): compile {pruned.t_compile:.2f} s, simulate {pruned.t_sim:.2f} s")
        print(f"  SpAtten outputs vs the NumPy reference, same settings (bound {BOUND:.0e}):")
        for line in compare(pruned.outdir, want.outputs, "the NumPy reference"):
            print(line)
        got = sim_outputs(pruned.outdir, want.outputs)
        print("  accuracy cost, max abs difference SpAtten vs dense (not checked): "
              + output_difference(got, sim_outputs(dense.outdir, want.outputs)))
        L0 = ids.shape[1]
        print(f"\n  dense vs SpAtten ({L0} tokens, {mw.heads} heads, {len(mw.layers)} layers):")
        for line in comparison_lines(dense.report, pruned.report, L0, mw.heads):
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
    ap.add_argument("--spatten-flags", default=SPATTEN_FLAGS, metavar="FLAGS",
                    help=f"spatten-compile flags of the SpAtten run, quoted (default: {SPATTEN_FLAGS!r}); "
                         "a single flag needs '=': --spatten-flags=--pq-msb=6")
    ap.add_argument("--dense-only", action="store_true", help="skip the SpAtten run")
    args = ap.parse_args(argv)
    try:
        demo(args.model.resolve() if args.model else None, dict(args.shape), args.workdir.resolve(), args.seed,
             None if args.dense_only else args.spatten_flags)
    except (DemoError, ort.ReferenceError, ValueError, KeyError, OSError) as e:
        print(f"\ndemo: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

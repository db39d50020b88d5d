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
The accuracy cost of the SpAtten settings is measured on a trained model,
since a random model's outputs say nothing about it: the perplexity of the
trained GPT-2 (``spatten.train``; the cached ``small`` one, else ``tiny``,
trained on first use in under a minute) dense and with the settings, on
the first test windows (``spatten.accuracy``, simulator engine). It is
printed, not checked; settings the trained model does not take (say a
token schedule of another depth) print why it was not measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import accuracy as acc
from . import corpus, ort, tensors, tools, train
from . import export as spexport
from . import reference as R
from .report import ATTENTION_CLASSES, KV_CLASSES, Report

ROOT = Path(__file__).resolve().parents[2]
BOUND = 1e-4  # max abs error vs the reference, docs/Numerics.md
SPATTEN_SETTINGS = R.SpAttenConfig(token_keep=0.5, head_keep=0.75, value_keep=0.3, pq_msb=6)
#: Test windows the accuracy cost is measured on (512 or 128 tokens each).
ACCURACY_WINDOWS = 4


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


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _nonzero(d: Mapping[str, float]) -> str:
    items = [(k, v) for k, v in d.items() if isinstance(v, (int, float)) and v]
    return ", ".join(f"{k} {human_bytes(v)}" for k, v in sorted(items, key=lambda kv: -kv[1]))


def report_lines(report: Report) -> List[str]:
    """Summary of a run's report: instructions by opcode, DRAM bytes read
    and written by class, cycles of the cycle-level model."""
    by_op = report.instructions_by_opcode
    ops = ", ".join(f"{k} {v}" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1]) if v)
    lines = [f"  instructions: {report.instructions}" + (f" ({ops})" if ops else "")]
    dram = report.dram
    for key, total, per_class in (("read", dram.read(), dram.read_by_class),
                                  ("written", dram.written(), dram.written_by_class)):
        detail = _nonzero(per_class)
        lines.append(f"  DRAM bytes {key}: {human_bytes(total)}" + (f" ({detail})" if detail else ""))
    extra = f", {report.time_us:.2f} us" if report.time_us is not None else ""
    lines.append(f"  cycles (cycle-level model): {report.cycles}{extra}")
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


# ----------------------------------------------------------------------------- one run

def compile_and_simulate(label: str, model: Path, shapes: Mapping[str, int], inputs: Mapping[str, Path],
                         settings: Optional[R.SpAttenConfig], workdir: Path) -> tools.SimRun:
    """Writes model.spbin, report.json and outputs/ under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    echo = lambda line: print(line, flush=True)
    try:
        binary = tools.compile(model, workdir / "model.spbin", settings=settings, shapes=shapes, echo=echo)
        return tools.simulate(binary, inputs, workdir / "outputs", report=workdir / "report.json", echo=echo)
    except tools.ToolError as e:
        raise DemoError(f"{label} run: {e}") from e


# ----------------------------------------------------------------------------- side-by-side table

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


def layer_rows(report: Report, tokens: int, heads: int) -> List[LayerRow]:
    """Rows of a run on one sequence of ``tokens`` tokens of a model with
    ``heads`` heads; kept tokens and heads from the report's top-k records
    (Report.layer_selections). Empty when the report has no layers."""
    rows = []
    for sel, entry in zip(report.layer_selections(tokens, heads), report.layers):
        k_rows = len(sel.tokens) * len(sel.heads)
        refetched = entry.refetched_rows
        rate = None if refetched is None else (refetched / k_rows if k_rows else 0.0)
        rows.append(LayerRow(sel.layer, len(sel.tokens), len(sel.heads), entry.dram.read(KV_CLASSES), rate))
    return rows


def dense_rows(report: Report, tokens: int, heads: int, layers: int) -> Tuple[List[LayerRow], bool]:
    """The dense run's rows and whether they were split evenly from the
    total: a dense program may carry no per-layer attribution
    (docs/Simulator.md), and then every layer fetches the same bytes."""
    rows = layer_rows(report, tokens, heads)
    if rows or not layers:
        return rows, False
    total = report.dram.read(KV_CLASSES)
    if total % layers:
        raise DemoError(f"dense K+V bytes {total} do not split evenly over {layers} layers")
    return [LayerRow(l, tokens, heads, total // layers, None) for l in range(layers)], True


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def comparison_lines(dense: Report, pruned: Report, tokens: int, heads: int) -> List[str]:
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
    totals = (("DRAM bytes read", dense.dram.read(), pruned.dram.read(), "reduction"),
              ("attention bytes read", dense.dram.read(ATTENTION_CLASSES), pruned.dram.read(ATTENTION_CLASSES),
               "reduction"),
              ("cycles", dense.cycles, pruned.cycles, "speedup"))
    for label, d, s, what in totals:
        fmt = str if what == "speedup" else human_bytes
        lines.append(f"  {label:<21} {arrow(d, s, fmt, 9)}  {what} {_ratio(d, s)}")
    return lines


def token_ids(arrays: Mapping[str, np.ndarray]) -> Optional[np.ndarray]:
    """The token-id input, named like spatten.reference.run_inputs expects."""
    return next((v for k, v in arrays.items() if "ids" in k.lower() and "type" not in k.lower()), None)


# ----------------------------------------------------------------------------- accuracy cost

def accuracy_model() -> train.TrainSettings:
    """The trained GPT-2 the accuracy cost is measured on: the cached
    ``small`` one when it was trained, else ``tiny`` (trained now when
    absent: corpus, tokenizer and 150 steps, under a minute)."""
    small, tiny = (train.TrainSettings.of("gpt2", size) for size in ("small", "tiny"))
    if train.is_trained(small):
        return small
    if not train.is_trained(tiny):
        print("training a tiny GPT-2 for the accuracy cost (once, then cached) ...", flush=True)
    return tiny


def accuracy_cost_lines(cfg: R.SpAttenConfig, model: train.TrainSettings) -> List[str]:
    """The perplexity of ``model`` (trained when absent) dense and with
    ``cfg`` on its first :data:`ACCURACY_WINDOWS` windows of the test
    split, on the simulator; or why it was not measured (the corpus is
    missing, or the settings do not fit the model)."""
    head = f"  accuracy cost on a trained GPT-2 {model.size}"
    try:
        onnx_file = train.train(model, stream=sys.stderr).onnx
        text = corpus.corpus_files()["test"]
        dense = acc.evaluate(onnx_file, text, max_windows=ACCURACY_WINDOWS)
        pruned = acc.evaluate(onnx_file, text, flags=cfg.to_flags(), max_windows=ACCURACY_WINDOWS)
    except (ValueError, tools.ToolError, corpus.CorpusError) as e:
        reason = ": ".join(line.strip() for line in str(e).splitlines() if line.strip())
        return [f"{head}: not measured ({reason})"]
    return [f"{head} ({dense.predictions} predictions in {dense.windows} test windows of {dense.window} tokens, "
            "simulator, not checked):",
            f"    perplexity {dense.value:.2f} dense -> {pruned.value:.2f} SpAtten "
            f"({100 * (pruned.value / dense.value - 1):+.1f}%)"]


# ----------------------------------------------------------------------------- the demo

def demo(model_path: Optional[Path], given: Mapping[str, int], workdir: Path, seed: int,
         cfg: Optional[R.SpAttenConfig] = SPATTEN_SETTINGS) -> None:
    """``cfg``: the SpAtten run's settings; None: the dense run only."""
    workdir.mkdir(parents=True, exist_ok=True)
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

    dense = compile_and_simulate("dense", model_path, shapes, inputs, None, workdir / "dense")
    pruned = None
    if cfg is not None:
        try:
            mw = R.from_onnx(model_path)
        except ValueError as e:
            raise DemoError(f"{e}; the SpAtten run needs the NumPy reference (--dense-only skips it)") from e
        pruned = compile_and_simulate("SpAtten", model_path, shapes, inputs, cfg, workdir / "spatten")

    print(f"\nSpAtten demo summary: {model_path.name}")
    print("  shapes: " + (" ".join(f"{k}={v}" for k, v in shapes.items()) or "static"))
    print(f"  dense: compile {dense.binary.seconds:.2f} s, simulate {dense.seconds:.2f} s; "
          f"binary {human_bytes(dense.binary.path.stat().st_size)}")
    print(f"  dense outputs vs onnxruntime (bound {BOUND:.0e}):")
    onnx_ref = ort.run(model_path, arrays)
    for line in compare(dense.out_dir, onnx_ref, "onnxruntime"):
        print(line)
    if torch_model is not None:
        print(f"  dense outputs vs PyTorch (bound {BOUND:.0e}):")
        for line in compare(dense.out_dir, spexport.torch_outputs(torch_model, arrays), "PyTorch"):
            print(line)
    for line in report_lines(dense.report):
        print(line)
    if pruned is not None:
        want = R.run_inputs(mw, arrays, cfg)
        print(f"\n  SpAtten ({' '.join(cfg.to_flags())}): compile {pruned.binary.seconds:.2f} s, "
              f"simulate {pruned.seconds:.2f} s")
        print(f"  SpAtten outputs vs the NumPy reference, same settings (bound {BOUND:.0e}):")
        for line in compare(pruned.out_dir, want.outputs, "the NumPy reference"):
            print(line)
        for line in accuracy_cost_lines(cfg, accuracy_model()):
            print(line)
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
    ap.add_argument("--spatten-flags", metavar="FLAGS",
                    help="spatten-compile flags of the SpAtten run, quoted (default: "
                         f"{' '.join(SPATTEN_SETTINGS.to_flags())!r}); a single flag needs '=': "
                         "--spatten-flags=--pq-msb=6")
    ap.add_argument("--dense-only", action="store_true", help="skip the SpAtten run")
    args = ap.parse_args(argv)
    try:
        cfg = SPATTEN_SETTINGS if args.spatten_flags is None else R.SpAttenConfig.from_flags(args.spatten_flags)
    except ValueError as e:
        print(f"\ndemo: error: --spatten-flags: {e}", file=sys.stderr)
        return 1
    try:
        demo(args.model.resolve() if args.model else None, dict(args.shape), args.workdir.resolve(), args.seed,
             None if args.dense_only else cfg)
    except (DemoError, ort.ReferenceError, ValueError, KeyError, OSError) as e:
        print(f"\ndemo: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

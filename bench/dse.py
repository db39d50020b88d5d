#!/usr/bin/python3
"""Design-space exploration at scale: the section "Design-space exploration"
of docs/results.md (bench/run.py runs it too).

    /usr/bin/python3 bench/dse.py            # about 5 minutes on 2 cores
    /usr/bin/python3 bench/dse.py --quick    # tiny models; output under --work-dir

It measures, side by side in one run:

- sweep throughput: one 12-point sweep (``spatten.sweep``) on a LocalCluster
  of 1 worker, then of 2, each into a new directory so nothing is cached;
  points per minute of wall-clock time, cluster start-up included;
- the HBM2 model's speed: ``bench/hbm_bench``'s transactions per second on
  each trace, with the memo of repeated calls, without it, and on the
  per-transaction reference model;
- the paper's Fig. 19 (``docs/examples/fig19.toml``, paper-figures §4) with
  ``--timing-only``: attention GFLOPS against the top-k comparators and the
  K/V SRAM, beside the paper's;
- a Pareto front of cycles against attention DRAM bytes over token and
  value pruning, on GPT-2 small's generation stage.

The full run against ``--timing-only`` is bench/timing_only.py's section.
Nothing here is a test: the figures are reported as measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import generation  # noqa: E402  (bench/generation.py: section writing)
from spatten import analysis as an  # noqa: E402
from spatten import export as spexport  # noqa: E402
from spatten import sweep, sweep_plot, sweep_spec  # noqa: E402

BEGIN, END = "<!-- dse:begin -->", "<!-- dse:end -->"
FIG19 = ROOT / "docs" / "examples" / "fig19.toml"
#: Attention GFLOPS by top-k comparators, paper-figures.md §4 (Fig. 19).
PAPER_FIG19 = {1: 168, 2: 299, 4: 485, 8: 653, 16: 776, 32: 771}
#: The BERT of the throughput sweep: 4 layers of width 256 at 128 tokens,
#: so a point takes about a second (compile and simulate) and the sweep
#: is not all cluster start-up.
THROUGHPUT_MODEL = dict(layers=4, hidden=256, heads=4, vocab=1000, max_positions=128)


def log(msg: str) -> None:
    print(f"[dse {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def export_once(path: Path, kind: str, size: str, seq_len: int, **over) -> Path:
    if not path.is_file():
        log(f"exporting {kind} ({size}) to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        spexport.export(kind, str(path), size=size, opset=14, seed=0, seq_len=seq_len, **over)
    return path


def run_spec(data: dict, out: Path, args, workers: int = 2, timing_only: bool = False):
    """Runs the sweep ``data`` (a parsed TOML spec) into a new ``out``;
    returns its DataFrame and the wall-clock seconds."""
    shutil.rmtree(out, ignore_errors=True)
    spec = sweep_spec.parse(data, out)
    start = time.perf_counter()
    df = sweep.run(spec, out, workers=workers, timing_only=timing_only, progress=False,
                   bin_dir=str(args.bin_dir))
    return df, time.perf_counter() - start


def sweep_throughput(args) -> List[Tuple]:
    """Points per minute of one 12-point sweep on 1 and on 2 workers."""
    over = {} if args.quick else THROUGHPUT_MODEL
    seq = 32 if args.quick else 128
    onnx = export_once(args.work_dir / "dse" / f"bert-throughput-{seq}.onnx", "bert", "tiny", seq, **over)
    data = {"model": [{"path": str(onnx), "name": "bert", "shapes": {"batch": 1, "sequence": seq}}],
            "axes": {"token-keep": [1.0, 0.5, 0.25], "head-keep": [1.0, 0.5],
                     "hw.topk_comparators": [1, 16]}}
    rows = []
    for workers in (1, 2):
        log(f"throughput sweep on {workers} worker(s)")
        df, seconds = run_spec(data, args.work_dir / "dse" / f"throughput-{workers}", args, workers)
        ok = int((df["status"] == "ok").sum())
        rows.append((workers, len(df), ok, seconds, 60.0 * len(df) / seconds))
    return rows


def hbm_speed(args) -> List[Tuple]:
    """Transactions per second of each hbm_bench trace: memo, no memo,
    per-transaction reference."""
    log("hbm_bench")
    out = args.work_dir / "dse" / "hbm_bench.json"
    subprocess.run([str(args.bin_dir / "hbm_bench"), f"--benchmark_out={out}", "--benchmark_out_format=json",
                    f"--benchmark_min_time={0.05 if args.quick else 0.5}"],
                   check=True, capture_output=True, text=True)
    rate: Dict[str, float] = {b["name"]: b["transactions_per_s"] for b in json.loads(out.read_text())["benchmarks"]
                              if "transactions_per_s" in b}
    rows = []
    for name, memo in rate.items():
        if "/no-memo" in name or "/reference" in name:
            continue
        trace, _, arg = name.partition("/")
        rows.append((name, memo, rate.get(f"{trace}/no-memo/{arg}"), rate.get(f"{trace}/reference/{arg}")))
    return rows


def fig19(args, plot_dir: Path):
    """The Fig. 19 sweep with --timing-only: its DataFrame and plot."""
    data = tomllib.loads(FIG19.read_text())
    model = data["model"][0]
    if args.quick:
        onnx = export_once(args.work_dir / "dse" / "gpt2-lm-tiny.onnx", "gpt2-lm", "tiny", 16)
        model.update(path=str(onnx), shapes={"batch": 1, "sequence": 24}, max_context=64, generate=8)
        data["settings"]["token-schedule"] = "0.9,0.7"  # the authors' first two layers
    else:
        onnx = export_once(args.work_dir / "generation" / "gpt2-lm-base.onnx", "gpt2-lm", "base", 16)
        model["path"] = str(onnx)
    log("Fig. 19 sweep, --timing-only")
    df, seconds = run_spec(data, args.work_dir / "dse" / "fig19", args, timing_only=True)
    plot = sweep_plot.line_plot(df, "hw.topk_comparators", "attention_gflops", "kv_sram", plot_dir)
    final = plot.with_name("dse_fig19_attention_gflops.png")
    os.replace(plot, final)
    return df, seconds, final


def pareto(args, plot_dir: Path):
    """Token keep x value keep on GPT-2 small's generation stage (full
    runs): its DataFrame, front and plot."""
    if args.quick:
        onnx = export_once(args.work_dir / "dse" / "gpt2-lm-tiny.onnx", "gpt2-lm", "tiny", 16)
        shapes, context, generate = {"batch": 1, "sequence": 24}, 64, 8
    else:
        onnx = export_once(args.work_dir / "generation" / "gpt2-lm-base.onnx", "gpt2-lm", "base", 16)
        shapes, context, generate = {"batch": 1, "sequence": 224}, 256, 32
    workload = f"{'tiny GPT-2' if args.quick else 'GPT-2 small'}, {shapes['sequence']} + {generate} tokens"
    data = {"model": [{"path": str(onnx), "name": "gpt2", "shapes": shapes, "max_context": context,
                       "generate": generate}],
            "axes": {"token-keep": [1.0, 0.5, 0.25], "value-keep": [1.0, 0.5, 0.2]}}
    log("Pareto sweep")
    df, seconds = run_spec(data, args.work_dir / "dse" / "pareto", args)
    path = plot_dir / "dse_pareto_cycles_attention_bytes.png"
    sweep_plot.pareto_plot(df, "cycles", "attention_bytes_read", path, ["token-keep", "value-keep"],
                           f"{workload}: cycles against attention DRAM bytes")
    return df, sweep_plot.pareto(df, "cycles", "attention_bytes_read"), seconds, path, workload


def fig19_table(df) -> str:
    ok = df[df["status"] == "ok"]
    sizes = list(dict.fromkeys(ok["kv_sram"]))
    rows = []
    for c in sorted(set(ok["hw.topk_comparators"])):
        at = ok[ok["hw.topk_comparators"] == c]
        ours = " / ".join(f"{at[at['kv_sram'] == s]['attention_gflops'].iloc[0]:.0f}" for s in sizes)
        rows.append((int(c), PAPER_FIG19.get(int(c), "-"), ours, f"{at['cycles'].iloc[0] / 1e6:.2f}"))
    return an.markdown_table(["top-k comparators", "paper, GFLOPS",
                              f"attention GFLOPS, {' / '.join(map(str, sizes))}", "cycles (M)"], rows)


def render(args, throughput, hbm, fig, par, loadavg: float) -> List[str]:
    fig_df, fig_s, fig_plot = fig
    par_df, front, par_s, par_plot, par_workload = par
    one, two = throughput
    mib = lambda b: f"{b / 2**20:.2f}"  # noqa: E731
    return [
        BEGIN, "## Design-space exploration", "",
        f"Written by `/usr/bin/python3 bench/dse.py{' --quick' if args.quick else ''}` (also run by "
        f"`bench/run.py`); 1-minute load average {loadavg:.2f} when it started, on the machine above. "
        "docs/Sweeps.md explains the sweep specification; the full run against `--timing-only` is the "
        "section \"Simulator speed\".", "",
        "### Sweep throughput", "",
        f"One 12-point sweep (BERT {'tiny' if args.quick else 'of 4 layers, width 256'}, token keep x head "
        "keep x top-k comparators: 6 compiles, 12 simulations), run on a `LocalCluster` of 1 worker and "
        "then of 2, each into a new directory (nothing cached). Points per minute of wall-clock time, "
        "cluster start-up included.", "",
        an.markdown_table(["workers", "points", "ran", "seconds", "points per minute"],
                          [(w, n, ok, f"{s:.1f}", f"{ppm:.1f}") for w, n, ok, s, ppm in throughput]), "",
        f"2 workers against 1: {an.fmt_ratio(two[4] / one[4])} the points per minute.", "",
        "### HBM2 model speed", "",
        "`bench/hbm_bench`: transactions per second of CPU time on each trace (docs/Memory.md, \"How the "
        "model runs fast\" and \"Repeated calls\"), with the memo of repeated calls, without it, and on "
        "the per-transaction model that specifies it. All three give the same cycles.", "",
        an.markdown_table(["trace", "memo (M/s)", "no memo (M/s)", "per-transaction (M/s)"],
                          [(n, f"{m / 1e6:.1f}", f"{nm / 1e6:.1f}" if nm else "-", f"{r / 1e6:.1f}" if r else "-")
                           for n, m, nm, r in hbm]), "",
        "### Fig. 19 with --timing-only", "",
        f"`docs/examples/fig19.toml` ({'tiny GPT-2, 24 + 8 tokens' if args.quick else 'GPT-2 small, 992 + 32 tokens'},"
        f" the authors' settings), {len(fig_df)} points in {fig_s:.0f} s with `--timing-only`; docs/Sweeps.md "
        "has the same sweep with full runs and discusses it. Paper: paper-figures.md §4.", "",
        fig19_table(fig_df), "",
        f"![Attention GFLOPS against the top-k comparators, a line per K/V SRAM size](results/{fig_plot.name})",
        "",
        "### A Pareto front", "",
        f"Token keep x value keep on {par_workload} "
        f"(seeded random weights, full runs), {len(par_df)} points in {par_s:.0f} s: cycles against the "
        "attention's DRAM bytes read, both minimised. The front:", "",
        an.markdown_table(["token keep", "value keep", "cycles", "attention MiB read"],
                          [(r["token-keep"], r["value-keep"], int(r["cycles"]), mib(r["attention_bytes_read"]))
                           for _, r in front.iterrows()]), "",
        f"![Cycles against attention DRAM bytes, Pareto front in red](results/{par_plot.name})", "", END]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    generation.add_page_args(ap, "tiny models")
    args = ap.parse_args(argv)
    output = generation.page_of(args)
    args.bin_dir = args.bin_dir.resolve()
    plot_dir = output.parent / "results"
    plot_dir.mkdir(parents=True, exist_ok=True)
    loadavg = os.getloadavg()[0]
    throughput = sweep_throughput(args)
    hbm = hbm_speed(args)
    fig = fig19(args, plot_dir)
    par = pareto(args, plot_dir)
    generation.write_section(output, render(args, throughput, hbm, fig, par, loadavg), BEGIN, END)
    log(f"wrote the design-space exploration section of {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Design-space sweeps on Dask (docs/Sweeps.md).

    python -m spatten.sweep SPEC.toml --out DIR [--scheduler tcp://HOST:PORT] [--pareto]

The specification (``spatten.sweep_spec``) names models, fixed SpAtten
settings and hardware fields, and axes; every combination is a point.
Each point compiles once per (model, settings, hardware fields the
compiler reads) and is timed with ``spatten-sim --hw`` for its full
hardware configuration, so an axis of timing fields (top-k comparators,
multipliers, DRAM timings) reuses one binary. Compiles and simulations
run as Dask tasks: on a ``LocalCluster`` (2 workers of 1 thread by
default) or on an existing cluster (``--scheduler``), whose workers must
see the same files (the model, DIR) and import ``spatten``.

Results: ``DIR/results.csv``, one row per point (:func:`load` reads it
into a pandas DataFrame); the reports under ``DIR/reports``, binaries
under ``DIR/binaries``. Each point's row is also kept under
``DIR/points/<key>.json``, keyed by the content of the model file, the
inputs, the settings, the hardware configuration and the tools'
executables, so a re-run computes only points it has not seen (failed
points included, unless ``--retry-failed``). A failing point is recorded
with its message and the sweep goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from . import api, tensors, tools
from .reference.config import FLAGS, SpAttenConfig
from .report import Report
from .sweep_plot import PARETO_METRICS, line_plot, pareto, write_pareto_plots  # noqa: F401 (API)
from .sweep_spec import Point, Spec, SpecError, load as load_spec  # noqa: F401 (API)
from .sweep_tasks import compile_point, ok_row, simulate_point

RESULTS = "results.csv"

#: Columns every row has, in front of the axes' and after them.
LEAD_COLUMNS = ["point", "model"]
TAIL_COLUMNS = ["error", "key", "compile_key"]


@dataclasses.dataclass
class Job:
    """A point with its keys: ``key`` names its results
    (``DIR/points/<key>.json``), ``compile_key`` its binary
    (``DIR/binaries/<compile_key>.spbin``); ``invalid``: why its settings
    cannot be compiled (then nothing runs)."""

    point: Point
    key: str
    compile_key: str
    settings: Dict[str, object]
    inputs: Dict[str, str]
    generated_inputs: bool
    invalid: Optional[str] = None


# ----------------------------------------------------------------------------- planning

def _model_inputs(spec: Spec, model, out_dir: Path) -> Dict[str, str]:
    """The model's input files: given, or seeded random ones made as the
    demo makes them (docs/Numerics.md) under ``DIR/inputs/<model>``."""
    if model.inputs:
        return {k: str(v) for k, v in model.inputs.items()}
    folder = out_dir / "inputs" / model.name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        arrays = tensors.random_inputs(model.path, model.shapes, seed=spec.seed)
    except (KeyError, ValueError) as e:
        raise SpecError(f"{spec.source}: model '{model.name}': {e.args[0] if e.args else e}") from None
    return {k: str(tensors.save_npy(folder / tensors.output_file_name(k), v)) for k, v in arrays.items()}


def plan(spec: Spec, out_dir: Path, bin_dir: str, timing_only: bool) -> List[Job]:
    """A Job per point, its keys from the content of everything that makes
    its results. Raises SpecError when a model's inputs cannot be made."""
    compiler, simulator = (api.tool_digest(t, bin_dir) for t in ("spatten-compile", "spatten-sim"))
    defaults = {f.name: f.default for f in FLAGS}
    per_model = {}
    jobs = []
    for p in spec.points():
        m = p.model
        if m.name not in per_model:
            inputs = _model_inputs(spec, m, out_dir)
            per_model[m.name] = (api.file_digest(m.path), inputs, {k: api.file_digest(v) for k, v in inputs.items()})
        model_digest, inputs, input_digests = per_model[m.name]
        invalid = None
        try:
            settings = SpAttenConfig.from_manifest({**defaults, **p.settings}).to_manifest()
        except ValueError as e:
            settings, invalid = {**defaults, **p.settings}, f"settings: {e}"
        ckey = api.content_key("compile", model_digest, dict(m.shapes), m.compile_flags(), settings,
                               p.compile_hw(), compiler)
        key = api.content_key("simulate", ckey, dict(p.hw), input_digests, m.generate, timing_only, simulator)
        jobs.append(Job(p, key, ckey, settings, inputs, not m.inputs, invalid))
    return jobs


# ----------------------------------------------------------------------------- running

@contextlib.contextmanager
def dask_client(scheduler: Optional[str], workers: int) -> Iterator[object]:
    """A Dask client of the cluster at ``scheduler`` (``tcp://HOST:PORT``),
    or of a new LocalCluster of ``workers`` processes of one thread each
    (its HTTP server on a free port), closed on exit."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def host_threads_per_point(scheduler: Optional[str], workers: int) -> Optional[int]:
    """The simulator's thread cap on a LocalCluster: the cores this process
    may run on, shared among its workers (at least 1), so that points running at once
    do not oversubscribe the cores (a simulation uses two threads, and
    more for large GEMMs). None on an existing cluster, whose hosts are
    not known here."""
    if scheduler:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // workers)


def _submit(client, jobs: Sequence[Job], out_dir: Path, bin_dir: str, timing_only: bool,
            host_threads: Optional[int]) -> List[object]:
    """One compile task per compile key and one simulate task per point,
    which waits for its compile; returns the simulate futures."""
    compiles, sims = {}, []
    for job in jobs:
        p = job.point
        if job.compile_key not in compiles:
            out = out_dir / "binaries" / f"{job.compile_key}.spbin"
            compiles[job.compile_key] = client.submit(
                compile_point, str(p.model.path), str(out), job.settings, p.compile_hw(), dict(p.model.shapes),
                p.model.compile_flags(), bin_dir, key=f"compile-{job.compile_key}")
        sims.append(client.submit(simulate_point, compiles[job.compile_key], job.key, str(out_dir), job.inputs,
                                  job.generated_inputs, dict(p.hw), p.model.generate, timing_only, bin_dir,
                                  host_threads, key=f"simulate-{job.key}"))
    return sims


def _compute(jobs: Sequence[Job], out_dir: Path, bin_dir: str, timing_only: bool, scheduler: Optional[str],
             workers: int, progress: bool) -> Dict[str, dict]:
    """Rows of ``jobs`` by key, computed on Dask. A task that raised (a
    worker that could not import ``spatten``, or died) gives a failed row
    that is not kept, so the next run tries again."""
    from dask.distributed import progress as progress_bar

    (out_dir / "binaries").mkdir(parents=True, exist_ok=True)
    rows = {}
    with dask_client(scheduler, workers) as client:
        futures = _submit(client, jobs, out_dir, bin_dir, timing_only,
                          host_threads_per_point(scheduler, workers))
        if progress:
            progress_bar(futures)
            print(file=sys.stdout, flush=True)
        for job, f in zip(jobs, futures):
            try:
                rows[job.key] = f.result()
            except Exception as e:  # any task failure is the point's, whatever raised it
                rows[job.key] = {"status": "failed", "error": f"task: {type(e).__name__}: {e}"}
    return rows


def _cached(out_dir: Path, job: Job, retry_failed: bool) -> Optional[dict]:
    """The row an earlier run kept for ``job``, its metrics derived again
    from the kept report (so they follow ``sweep_tasks.metrics``); None
    when there is none, or it failed and ``retry_failed``."""
    path = out_dir / "points" / f"{job.key}.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    if row.get("status") != "ok":
        return None if retry_failed else row
    report = out_dir / "reports" / f"{job.key}.json"
    return ok_row(Report.load(report), row.get("compile_seconds"), row.get("sim_seconds")) if report.is_file() else row


def run(spec: Spec, out_dir: Path, *, scheduler: Optional[str] = None, workers: int = 2,
        timing_only: bool = False, retry_failed: bool = False, progress: bool = True,
        bin_dir: Optional[str] = None):
    """Runs the sweep into ``out_dir`` and returns the results DataFrame
    (also written to ``out_dir/results.csv``). ``attrs`` of the frame:
    ``computed``, ``cached`` and ``failed`` point counts. timing_only:
    ``spatten-sim --timing-only`` (or the spec's ``timing_only``). Raises
    SpecError for a model whose inputs cannot be made, ToolError for a
    missing tool."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    timing_only = timing_only or spec.timing_only
    bin_dir = str(tools.bin_dir(bin_dir).resolve())
    jobs = plan(spec, out_dir, bin_dir, timing_only)
    rows = {job.key: {"status": "failed", "error": job.invalid} for job in jobs if job.invalid}
    cached = {job.key: row for job in jobs if not job.invalid
              for row in [_cached(out_dir, job, retry_failed)] if row is not None}
    rows.update(cached)
    pending = list({job.key: job for job in jobs if job.key not in rows}.values())
    if pending:
        rows.update(_compute(pending, out_dir, bin_dir, timing_only, scheduler, workers, progress))
    df = results_frame(spec, jobs, rows)
    tmp = out_dir / f"{RESULTS}.tmp"
    df.to_csv(tmp, index=False)
    os.replace(tmp, out_dir / RESULTS)
    df.attrs.update(computed=len(pending), cached=len(cached), failed=int((df["status"] != "ok").sum()))
    return df


def results_frame(spec: Spec, jobs: Sequence[Job], rows: Dict[str, dict]):
    """One row per point: point, model, the axes, status, the metrics
    (``sweep_tasks.metrics``), error, key, compile_key."""
    import pandas as pd

    records = []
    for job in jobs:
        p = job.point
        axes = {c: _cell(p.columns.get(c)) for c in spec.columns}
        records.append({"point": p.index, "model": p.model.name, **axes, **rows[job.key], "key": job.key,
                        "compile_key": job.compile_key})
    df = pd.DataFrame.from_records(records)
    front = LEAD_COLUMNS + spec.columns + ["status"]
    middle = [c for c in df.columns if c not in front and c not in TAIL_COLUMNS]
    return df[front + middle + TAIL_COLUMNS]


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def load(out_dir) -> "pandas.DataFrame":  # noqa: F821
    """The results of a sweep directory (``DIR/results.csv``) as a pandas
    DataFrame, one row per point (``error`` empty for points that ran).
    Raises FileNotFoundError naming the file."""
    import pandas as pd

    path = Path(out_dir) / RESULTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no sweep results (run python -m spatten.sweep SPEC --out {out_dir})")
    df = pd.read_csv(path)
    df["error"] = df["error"].fillna("")
    return df


# ----------------------------------------------------------------------------- command line

def _plot_option(text: str):
    parts = text.split(",")
    if len(parts) not in (2, 3) or not all(parts):
        raise argparse.ArgumentTypeError(f"expected X,Y or X,Y,GROUP (column names), got {text!r}")
    return parts


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.sweep", description=__doc__.splitlines()[0])
    ap.add_argument("spec", type=Path, help="the sweep specification (TOML, docs/Sweeps.md)")
    ap.add_argument("--out", type=Path, required=True, metavar="DIR", help="results directory (reused to resume)")
    ap.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler (default: a LocalCluster)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers, one thread each (default 2)")
    ap.add_argument("--timing-only", action="store_true", help="spatten-sim --timing-only for every point")
    ap.add_argument("--retry-failed", action="store_true", help="compute points that failed before again")
    ap.add_argument("--pareto", action="store_true",
                    help=f"write DIR/pareto-X-Y.png for each pair of {', '.join(PARETO_METRICS)}")
    ap.add_argument("--plot", type=_plot_option, action="append", default=[], metavar="X,Y[,GROUP]",
                    help="write DIR/plot-X-Y.png: column Y against X, a line per GROUP value (repeatable)")
    ap.add_argument("--bin-dir", help="where the tools are (default: $SPATTEN_BIN or build/bin)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    try:
        spec = load_spec(args.spec)
        df = run(spec, args.out, scheduler=args.scheduler, workers=args.workers, timing_only=args.timing_only,
                 retry_failed=args.retry_failed, progress=not args.quiet, bin_dir=args.bin_dir)
        plots = write_pareto_plots(df, args.out, spec.columns) if args.pareto else []
        plots += [line_plot(df, *p, out_dir=args.out) for p in args.plot]
    except (SpecError, tools.ToolError, KeyError, OSError) as e:
        print(f"spatten.sweep: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 1
    print(f"{len(df)} points: {df.attrs['computed']} computed, {df.attrs['cached']} from earlier runs, "
          f"{df.attrs['failed']} failed; results in {args.out / RESULTS}")
    for path in plots:
        print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Plots of sweep results (docs/Sweeps.md, "Plots"): Pareto fronts of two
metrics to minimise, and one metric against an axis.

Only points whose ``status`` is ``ok`` are plotted. PNG files are written
with matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import List, Sequence

#: The metrics ``--pareto`` pairs: cycles of the accelerator clock, bytes
#: read of the attention's tensors (Q, K, V and their planes), microjoules.
PARETO_METRICS = ("cycles", "attention_bytes_read", "energy_uj")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ok(df, *columns: str):
    """Rows that ran, with a value in each of ``columns``. Raises KeyError
    naming a column the results lack."""
    for c in columns:
        if c not in df.columns:
            raise KeyError(f"the results have no column '{c}' (columns: {', '.join(map(str, df.columns))})")
    return df[df["status"] == "ok"].dropna(subset=list(columns))


def pareto(df, x: str, y: str):
    """The rows of ``df`` (points that ran) on the Pareto front of ``x``
    and ``y``, both minimised: no other point is at most as large in both
    and smaller in one. Sorted by ``x``; of equal points the first is
    kept. Raises KeyError naming a missing column."""
    rows = _ok(df, x, y).sort_values([x, y], kind="stable")
    keep, best = [], None
    for index, value in zip(rows.index, rows[y]):
        if best is None or value < best:
            keep.append(index)
            best = value
    return rows.loc[keep]


def _label(row, columns: Sequence[str]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in columns if c in row and str(row[c]) != "nan")


def pareto_plot(df, x: str, y: str, path: Path, label_columns: Sequence[str] = (), title: str = "") -> Path:
    """Writes a PNG of every point (grey) and the Pareto front of ``x``
    and ``y`` (a step line, each front point labelled with its
    ``label_columns`` values). Returns ``path``."""
    plt = _pyplot()
    ok, front = _ok(df, x, y), pareto(df, x, y)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(ok[x], ok[y], s=18, color="0.6", label="points")
    ax.step(front[x], front[y], where="post", color="C3", label="Pareto front")
    ax.scatter(front[x], front[y], s=28, color="C3", zorder=3)
    for _, row in front.iterrows():
        ax.annotate(_label(row, label_columns), (row[x], row[y]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.set(xlabel=x, ylabel=y, title=title or f"{y} against {x}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def write_pareto_plots(df, out_dir: Path, label_columns: Sequence[str] = ()) -> List[Path]:
    """``out_dir/pareto-X-Y.png`` for each pair of :data:`PARETO_METRICS`,
    per model (``pareto-MODEL-X-Y.png``) when the results hold several."""
    models = sorted(set(df["model"]))
    paths = []
    for model in models:
        sub = df[df["model"] == model]
        stem = "pareto" if len(models) == 1 else f"pareto-{model}"
        for x, y in itertools.combinations(PARETO_METRICS, 2):
            paths.append(pareto_plot(sub, x, y, Path(out_dir) / f"{stem}-{x}-{y}.png", label_columns,
                                     f"{model}: {y} against {x}"))
    return paths


def line_plot(df, x: str, y: str, group: str = "", out_dir: Path = Path(".")) -> Path:
    """``out_dir/plot-X-Y.png``: ``y`` against ``x``, one line per value of
    ``group`` (and per model when the results hold several). Returns the
    path. Raises KeyError naming a missing column."""
    plt = _pyplot()
    ok = _ok(df, x, y, *([group] if group else []))
    fig, ax = plt.subplots(figsize=(7, 5))
    keys = ["model"] + ([group] if group else [])
    several_models = ok["model"].nunique() > 1
    for values, sub in ok.groupby(keys, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        name = " ".join(str(v) for v in (values if several_models else values[1:])) or y
        sub = sub.sort_values(x)
        ax.plot(sub[x], sub[y], marker="o", label=name)
    ax.set(xlabel=x, ylabel=y, title=f"{y} against {x}" + (f" by {group}" if group else ""))
    ax.legend(fontsize=8, title=group or None)
    fig.tight_layout()
    path = Path(out_dir) / f"plot-{x}-{y}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

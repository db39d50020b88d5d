"""Benchmark analysis: summaries of simulator reports, ratios against a
dense run, the paper's reported figures, the tool-speed goals and Markdown
tables.

Everything here is a pure function of :class:`~spatten.report.Report`
objects and measured times, so ``bench/run.py`` and the tests share it.
Plots are drawn by ``bench/run.py``; nothing here runs a tool or a model.

Units: cycles of the accelerator clock, bytes, microjoules, seconds.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from .report import ATTENTION_CLASSES, Report


@dataclasses.dataclass(frozen=True)
class PaperFigure:
    """A figure reported by the SpAtten paper (Wang, Zhang, Han, HPCA 2021,
    arXiv 2012.09852), or a figure looked for and not found (``value`` None).

    metric: what is compared (``attention_dram_reduction``, ...);
    config: the benchmark configuration it is compared with;
    source: where the number comes from, or why it is missing."""

    metric: str
    config: str
    value: Optional[float]
    source: str


#: The paper's DRAM access reductions (paper-figures.md beside the project,
#: which cites the paper by section). ``None`` where the paper gives no
#: factor of its own for a configuration.
PAPER_FIGURES = (
    PaperFigure("attention_dram_reduction", "all", 10.0,
                "paper, abstract and paper-figures §1: 10.0x average over 30 benchmarks "
                "(22 BERT, 8 GPT-2), attention DRAM access"),
    PaperFigure("attention_dram_reduction", "token", 1.9,
                "paper-figures §1: cascade token pruning with local value pruning, 1.9x over all 30 "
                "benchmarks (3.8x for GPT-2 alone, mostly its generation stage)"),
    PaperFigure("attention_dram_reduction", "head", 1.1,
                "paper-figures §1: cascade head pruning, a further 1.1x over all 30 benchmarks"),
    PaperFigure("attention_dram_reduction", "value", None,
                "paper-figures §1: counted with token pruning (1.9x together); a factor of its own is not found"),
    PaperFigure("attention_dram_reduction", "pq", 5.1,
                "paper-figures §1: progressive quantization, a further 5.1x over an fp32 baseline, "
                "GPT-2 only (BERT uses static quantization)"),
)


@dataclasses.dataclass
class RunSummary:
    """The numbers of one simulator report that the benchmark tabulates.

    cycles: ``cycles.total`` (cycle-level model); serial_cycles:
    ``cycles.serial_first_order``; dram_read / dram_written: bytes;
    by_class: bytes read + written per tensor class; energy_uj: the
    report's energy estimate (None when the report has none)."""

    cycles: int
    serial_cycles: Optional[int]
    dram_read: int
    dram_written: int
    by_class: Dict[str, int]
    energy_uj: Optional[float]

    @property
    def dram_total(self) -> int:
        return self.dram_read + self.dram_written

    @property
    def attention_bytes(self) -> int:
        """DRAM bytes of the attention classes (read + written)."""
        return sum(self.by_class.get(c, 0) for c in ATTENTION_CLASSES)


def summarize(report: Report) -> RunSummary:
    """A :class:`RunSummary` of one report.

    Raises KeyError naming the missing field when the report lacks
    ``cycles.total`` or ``dram_bytes`` (not a spatten-sim report)."""
    dram = report.dram
    return RunSummary(cycles=report.cycles, serial_cycles=report.serial_cycles, dram_read=dram.read(),
                      dram_written=dram.written(), by_class=dram.by_class(), energy_uj=report.energy_uj)


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """``numerator / denominator``, or None when either is missing or the
    denominator is 0 (a ratio that cannot be formed is never a guess)."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


@dataclasses.dataclass
class Comparison:
    """One configuration against the dense run of the same model.

    speedup: dense cycles / cycles; dram_reduction: dense total bytes /
    total bytes; attention_dram_reduction: the same over the attention
    classes only; energy_saving: dense energy / energy. Values above 1 are
    improvements, below 1 regressions."""

    config: str
    summary: RunSummary
    speedup: Optional[float]
    dram_reduction: Optional[float]
    attention_dram_reduction: Optional[float]
    energy_saving: Optional[float]


def compare_to_dense(runs: Mapping[str, RunSummary], dense: str = "dense") -> List[Comparison]:
    """Every run of ``runs`` (in its order) against ``runs[dense]``.

    Raises KeyError when there is no dense run to compare with."""
    if dense not in runs:
        raise KeyError(f"no '{dense}' run to compare with (runs: {', '.join(runs)})")
    base = runs[dense]
    return [Comparison(name, s, ratio(base.cycles, s.cycles), ratio(base.dram_total, s.dram_total),
                       ratio(base.attention_bytes, s.attention_bytes), ratio(base.energy_uj, s.energy_uj))
            for name, s in runs.items()]


@dataclasses.dataclass
class PaperCheck:
    """A measured ratio beside the paper's figure (``paper`` None: not found)."""

    model: str
    config: str
    metric: str
    measured: Optional[float]
    paper: Optional[float]
    source: str


def paper_comparison(by_model: Mapping[str, Sequence[Comparison]],
                     figures: Iterable[PaperFigure] = PAPER_FIGURES) -> List[PaperCheck]:
    """For every model and every paper figure whose configuration was run,
    the measured value of the figure's metric beside the paper's."""
    out = []
    for model, comps in by_model.items():
        by_config = {c.config: c for c in comps}
        for fig in figures:
            comp = by_config.get(fig.config)
            if comp is not None:
                out.append(PaperCheck(model, fig.config, fig.metric, getattr(comp, fig.metric),
                                      fig.value, fig.source))
    return out


@dataclasses.dataclass
class Goal:
    """A tool-speed goal: ``value`` (a ratio) must be <= or >= ``limit``."""

    name: str
    value: Optional[float]
    limit: float
    at_most: bool
    detail: str

    @property
    def met(self) -> Optional[bool]:
        """None when the ratio could not be measured."""
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit


def speed_goals(compile_s: Optional[float], parse_s: Optional[float], sim_full_s: Optional[float],
                sim_timing_s: Optional[float], torch_s: Optional[float]) -> List[Goal]:
    """The three tool-speed goals, from median wall-clock seconds:
    compile <= 3x the protobuf parse floor, full simulation <= 3x PyTorch
    inference, ``--timing-only`` >= 10x faster than the full simulation."""
    return [
        Goal("compile / parse floor", ratio(compile_s, parse_s), 3.0, True,
             "spatten-compile of the full ONNX file against onnx.load of the same file"),
        Goal("full simulation / PyTorch", ratio(sim_full_s, torch_s), 3.0, True,
             "spatten-sim (full) against one PyTorch CPU forward"),
        Goal("full / --timing-only", ratio(sim_full_s, sim_timing_s), 10.0, False,
             "how many times faster --timing-only is than the full simulation"),
    ]


def median(samples: Sequence[float]) -> float:
    """Median of at least one sample; raises ValueError on an empty list."""
    if not samples:
        raise ValueError("no samples")
    return statistics.median(samples)


def fmt_ratio(x: Optional[float]) -> str:
    """``2.35x``, or ``n/a`` when the ratio is missing."""
    return "n/a" if x is None else f"{x:.2f}x"


def fmt_mb(n: Optional[float]) -> str:
    """Bytes as MB (10^6 bytes), two decimals."""
    return "n/a" if n is None else f"{n / 1e6:.2f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub Markdown table; every row must have ``len(headers)`` cells
    (ValueError otherwise). Cells are converted with ``str``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for i, row in enumerate(rows):
        cells = [str(c) for c in row]
        if len(cells) != len(headers):
            raise ValueError(f"row {i} has {len(cells)} cells, the table {len(headers)} columns")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_table(comps: Sequence[Comparison]) -> str:
    """Markdown: per configuration, cycles, speedup, DRAM (total and
    attention), reductions and energy."""
    rows = [(c.config, f"{c.summary.cycles:,}", fmt_ratio(c.speedup), fmt_mb(c.summary.dram_total),
             fmt_ratio(c.dram_reduction), fmt_mb(c.summary.attention_bytes),
             fmt_ratio(c.attention_dram_reduction),
             "n/a" if c.summary.energy_uj is None else f"{c.summary.energy_uj:,.0f}",
             fmt_ratio(c.energy_saving)) for c in comps]
    return markdown_table(["config", "cycles", "speedup", "DRAM MB", "DRAM red.", "attn DRAM MB",
                           "attn DRAM red.", "energy uJ", "energy saving"], rows)


def class_table(comps: Sequence[Comparison], classes: Sequence[str] = ATTENTION_CLASSES) -> str:
    """Markdown: DRAM bytes (read + written, MB) per attention class."""
    rows = [(c.config,) + tuple(fmt_mb(c.summary.by_class.get(k, 0)) for k in classes) for c in comps]
    return markdown_table(["config"] + [f"{k} MB" for k in classes], rows)

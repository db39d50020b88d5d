"""spatten.analysis on small synthetic reports: no model export, no tools."""

from __future__ import annotations

import pytest

from spatten import analysis as an
from spatten.report import Report


def report(cycles, read, written=None, energy=None, serial=None):
    """A minimal spatten-sim report with per-class read bytes ``read``."""
    written = written or {}
    r = {"cycles": {"total": cycles},
         "dram_bytes": {"read": dict(read), "written": dict(written),
                        "total_read": sum(read.values()), "total_written": sum(written.values())}}
    if serial is not None:
        r["cycles"]["serial_first_order"] = serial
    if energy is not None:
        r["energy"] = {"total_uj": energy}
    return Report(r)


DENSE = report(1000, {"weights": 600, "q": 100, "k": 100, "v": 100}, {"activations": 100}, energy=50.0, serial=1500)
TOKEN = report(500, {"weights": 600, "q": 50, "k": 50, "v": 50}, {"activations": 50}, energy=25.0)
PQ = report(1250, {"weights": 600, "q": 100, "k_msb": 60, "k_lsb": 10, "v": 100}, {"activations": 100})


def test_summarize_sums_read_and_written_per_class():
    s = an.summarize(DENSE)
    assert (s.cycles, s.serial_cycles, s.dram_read, s.dram_written) == (1000, 1500, 900, 100)
    assert s.dram_total == 1000
    assert s.attention_bytes == 300
    assert s.by_class["activations"] == 100 and s.energy_uj == 50.0


def test_summarize_attention_bytes_counts_quantization_planes():
    assert an.summarize(PQ).attention_bytes == 100 + 60 + 10 + 100


def test_summarize_refuses_a_report_without_cycles():
    with pytest.raises(KeyError, match="cycles.total"):
        an.summarize(Report({"dram_bytes": {"read": {}, "written": {}}}))


def test_ratio_is_none_when_it_cannot_be_formed():
    assert an.ratio(6, 3) == 2
    assert an.ratio(1, 0) is None and an.ratio(None, 2) is None and an.ratio(2, None) is None


def test_compare_to_dense_speedups_and_reductions():
    runs = {n: an.summarize(r) for n, r in (("dense", DENSE), ("token", TOKEN), ("pq", PQ))}
    comps = {c.config: c for c in an.compare_to_dense(runs)}
    assert comps["dense"].speedup == 1.0 and comps["dense"].dram_reduction == 1.0
    assert comps["token"].speedup == 2.0
    assert comps["token"].attention_dram_reduction == 2.0
    assert comps["token"].dram_reduction == pytest.approx(1000 / 800)
    assert comps["token"].energy_saving == 2.0
    # A configuration that costs cycles shows a speedup below 1, not clamped.
    assert comps["pq"].speedup == pytest.approx(0.8)
    assert comps["pq"].energy_saving is None
    assert comps["pq"].attention_dram_reduction == pytest.approx(300 / 270)


def test_compare_to_dense_needs_a_dense_run():
    with pytest.raises(KeyError, match="no 'dense' run"):
        an.compare_to_dense({"token": an.summarize(TOKEN)})


def test_paper_comparison_pairs_measured_with_paper_and_marks_missing_figures():
    runs = {"dense": an.summarize(DENSE), "all": an.summarize(TOKEN)}
    checks = an.paper_comparison({"m": an.compare_to_dense(runs)})
    # Only configurations that ran are compared; 'all' has the 10.0x figure.
    assert [(c.config, c.paper) for c in checks] == [("all", 10.0)]
    assert checks[0].measured == 2.0 and "10.0x" in checks[0].source
    figs = [an.PaperFigure("attention_dram_reduction", "dense", None, "not found")]
    missing = an.paper_comparison({"m": an.compare_to_dense(runs)}, figs)
    assert missing[0].paper is None and missing[0].measured == 1.0


def test_every_paper_figure_has_a_source():
    assert any(f.value == 10.0 for f in an.PAPER_FIGURES)
    for f in an.PAPER_FIGURES:
        assert f.source and (f.value is not None or "not found" in f.source)


def test_speed_goals_met_and_missed():
    goals = {g.name: g for g in an.speed_goals(compile_s=6.0, parse_s=1.0, sim_full_s=4.0,
                                               sim_timing_s=1.0, torch_s=2.0)}
    assert goals["compile / parse floor"].value == 6.0 and goals["compile / parse floor"].met is False
    assert goals["full simulation / PyTorch"].value == 2.0 and goals["full simulation / PyTorch"].met is True
    assert goals["full / --timing-only"].value == 4.0 and goals["full / --timing-only"].met is False
    fast = {g.name: g for g in an.speed_goals(3.0, 1.0, 20.0, 2.0, None)}
    assert fast["compile / parse floor"].met is True  # exactly at the limit
    assert fast["full / --timing-only"].met is True
    assert fast["full simulation / PyTorch"].met is None  # not measured


def test_median_and_empty_samples():
    assert an.median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        an.median([])


def test_markdown_tables():
    t = an.markdown_table(["a", "b"], [(1, "x"), (2, "y")])
    assert t.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2 | y |"]
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        an.markdown_table(["a", "b"], [(1,)])
    runs = {"dense": an.summarize(DENSE), "token": an.summarize(TOKEN)}
    comps = an.compare_to_dense(runs)
    lines = an.comparison_table(comps).splitlines()
    assert lines[3].startswith("| token | 500 | 2.00x |")
    assert "0.00" in an.class_table(comps).splitlines()[2]  # 100 bytes = 0.0001 MB
    assert an.fmt_ratio(None) == "n/a" and an.fmt_mb(2_500_000) == "2.50"

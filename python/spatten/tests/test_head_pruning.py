"""Cascade head pruning never moves more DRAM bytes or takes more cycles
than dense on the same hardware configuration: later layers'
projections compute only the kept heads and every pruned tensor is read in
place by index-gather DMA, never copied (docs/Algorithms.md, "Cascade head
pruning")."""

from __future__ import annotations

from test_agreement import CONFIGS
from spatten import reference as R
from test_timing import model, run, total_bytes  # noqa: F401 (fixture)


def test_head_pruning_saves_bytes_and_cycles(model, tmp_path):  # noqa: F811
    dense = run(model, tmp_path, "dense", R.SpAttenConfig())
    pruned = run(model, tmp_path, "head", CONFIGS["head"])
    assert total_bytes(pruned) < total_bytes(dense)
    assert pruned.cycles < dense.cycles
    # The weights are where the kept heads save: Q/K/V columns, output rows.
    assert pruned.dram.read(["weights"]) < dense.dram.read(["weights"])

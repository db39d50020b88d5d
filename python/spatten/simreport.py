"""Reading ``spatten-sim --report`` JSON (docs/Simulator.md, "Report").

The simulator reports, per layer, counters and DRAM bytes by tensor class,
and every top-k it ran with its layer, role (``tokens`` or ``heads``) and
the candidates it selected. The selections are positions in the list of
tokens (heads) still kept, so the kept original positions of each layer are
recovered by composing them from layer 0, where every token and head is
kept. That is what :func:`layer_selections` returns, in the shape of
``spatten.reference.LayerRecord`` so that the two can be compared exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, List, Mapping, Union


@dataclasses.dataclass
class LayerSelection:
    """What layer ``layer`` computed, in original indices.

    tokens / heads: the original token positions and head indices the layer
    computed; refetched_heads: kept heads whose progressive-quantization
    ``decide`` found an unconfident row (their keys' LSB planes were
    fetched); unconfident_rows: query rows marked unconfident (a count)."""

    layer: int
    tokens: List[int]
    heads: List[int]
    refetched_heads: List[int]
    unconfident_rows: int


def load(path: Union[str, Path]) -> dict:
    """The report as a dict; raises OSError / ValueError on a bad file."""
    return json.loads(Path(path).read_text())


def layer_selections(report: Mapping, tokens: int, heads: int) -> List[LayerSelection]:
    """Per-layer selections of a run on one sequence of ``tokens`` tokens
    and a model of ``heads`` heads per layer.

    Raises ValueError when the report has a top-k whose selection does not
    index the current list (a report of another program or batch > 1)."""
    kept = {"tokens": list(range(tokens)), "heads": list(range(heads))}
    by_layer: Dict[int, List[dict]] = {}
    for rec in report.get("topk", []):
        if rec.get("layer") is not None and rec.get("role") in kept:
            by_layer.setdefault(rec["layer"], []).append(rec)
    out = []
    for entry in report.get("layers", []):
        l = entry["layer"]
        decisions = entry.get("refetch_decisions") or []
        if len(decisions) not in (0, len(kept["heads"])):
            raise ValueError(f"layer {l}: {len(decisions)} refetch decisions for "
                             f"{len(kept['heads'])} kept heads")
        refetched = [h for h, d in zip(kept["heads"], decisions) if d]
        out.append(LayerSelection(l, list(kept["tokens"]), list(kept["heads"]), refetched,
                                  entry.get("unconfident_rows") or 0))
        for rec in by_layer.get(l, []):
            cur = kept[rec["role"]]
            if any(not 0 <= s < len(cur) for s in rec["selected"]):
                raise ValueError(f"layer {l}: top-k selection {rec['selected']} does not index "
                                 f"the {len(cur)} kept {rec['role']}")
            kept[rec["role"]] = [cur[s] for s in rec["selected"]]
    return out


def class_bytes(entry: Mapping, cls: str, direction: str = "read") -> int:
    """DRAM bytes of tensor class ``cls`` in one report layer entry (or the
    top-level ``dram_bytes``)."""
    return int(entry["dram_bytes"][direction].get(cls, 0))

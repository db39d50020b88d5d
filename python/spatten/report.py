"""Typed view of ``spatten-sim --report`` JSON (docs/Simulator.md, "Report").

Units: cycles of the accelerator clock (``hardware.clock_ghz``),
microseconds, bytes, microjoules. Tensor classes are the simulator's
(``kTensorClassNames`` in include/spatten/ISA/Spec.h).

A text generation run (``spatten-sim --generate``) reports totals over its
runs and, in :attr:`Report.stages`, the prefill's and each decode step's
cycles, DRAM bytes and per-layer kept tokens, heads and refetches.

The report lists every top-k it ran with its layer, role (``tokens`` or
``heads``) and the candidates it selected. Selections are positions in the
list of tokens (heads) still kept, so :meth:`Report.layer_selections`
composes them from layer 0, where every token and head is kept, into
original positions, in the shape of ``spatten.reference.LayerRecord``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Union

#: DRAM tensor classes of the attention: Q, K, V and the progressive
#: quantization planes (``v_msb``/``v_lsb`` only with ``--pq-values``).
#: The paper accelerates attention only, so its DRAM figures compare to these.
ATTENTION_CLASSES = ("q", "k", "v", "k_msb", "k_lsb", "v_msb", "v_lsb")

#: Keys and values: what cascade token and head pruning, local value
#: pruning and progressive quantization fetch less of.
KV_CLASSES = tuple(c for c in ATTENTION_CLASSES if c != "q")

#: Every class, attention classes last.
ALL_CLASSES = ("weights", "activations", "index") + ATTENTION_CLASSES


def _field(data: Mapping, path: str):
    """``data[a][b]...`` for ``path`` ``"a.b..."``; raises KeyError naming
    the missing field."""
    node = data
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"report has no '{path}'")
        node = node[key]
    return node


@dataclasses.dataclass(frozen=True)
class DramBytes:
    """Bytes moved by DMA, by tensor class: read by load/gather, written
    by store/scatter. ``total_read``/``total_written``: the report's totals
    (None: the sum over classes)."""

    read_by_class: Mapping[str, int]
    written_by_class: Mapping[str, int]
    total_read: Optional[int] = None
    total_written: Optional[int] = None

    @classmethod
    def of(cls, entry: Mapping) -> "DramBytes":
        """From a report's (or a layer's) ``dram_bytes`` object."""
        return cls(_field(entry, "read"), _field(entry, "written"), entry.get("total_read"),
                   entry.get("total_written"))

    def read(self, classes: Optional[Iterable[str]] = None) -> int:
        """Bytes read of ``classes`` (every class when None)."""
        if classes is None and self.total_read is not None:
            return int(self.total_read)
        return _sum(self.read_by_class, classes)

    def written(self, classes: Optional[Iterable[str]] = None) -> int:
        """Bytes written of ``classes`` (every class when None)."""
        if classes is None and self.total_written is not None:
            return int(self.total_written)
        return _sum(self.written_by_class, classes)

    def by_class(self) -> Dict[str, int]:
        """Bytes read + written per class, classes sorted by name."""
        classes = sorted(set(self.read_by_class) | set(self.written_by_class))
        return {c: int(self.read_by_class.get(c, 0)) + int(self.written_by_class.get(c, 0)) for c in classes}


def _sum(by_class: Mapping[str, int], classes: Optional[Iterable[str]]) -> int:
    keys = by_class.keys() if classes is None else classes
    return sum(int(by_class.get(c, 0)) for c in keys)


@dataclasses.dataclass(frozen=True)
class TopkRecord:
    """One executed ``topk``: instruction index, ``n`` candidates, ``k``
    kept, quick-select passes and charged cycles; ``layer`` (None: no
    layer), ``role`` (``tokens``, ``heads`` or ``other``) and ``selected``,
    the kept positions in the list of candidates, ascending."""

    instruction: int
    n: int
    k: int
    passes: int
    cycles: int
    layer: Optional[int]
    role: str
    selected: List[int]


@dataclasses.dataclass(frozen=True)
class LayerReport:
    """One entry of the report's ``layers``. Counters are None when no
    instruction of the kind that defines them ran in the layer.

    kept_tokens / kept_heads: tokens and heads the layer's attention
    computed; refetched_rows: K rows whose LSB plane was fetched;
    unconfident_rows: query rows progressive quantization marked;
    refetch_decisions: per kept head in ascending order, whether it fetched
    its keys' LSB plane (empty without progressive quantization);
    v_rows_kept: V rows kept by at least one query row; cycles: the layer's
    span (end - start); data: the raw entry."""

    data: Mapping

    @property
    def layer(self) -> int:
        return int(self.data["layer"])

    @property
    def dram(self) -> DramBytes:
        return DramBytes.of(_field(self.data, "dram_bytes"))

    @property
    def kept_tokens(self) -> Optional[int]:
        return self.data.get("kept_tokens")

    @property
    def kept_heads(self) -> Optional[int]:
        return self.data.get("kept_heads")

    @property
    def refetched_rows(self) -> Optional[int]:
        return self.data.get("refetched_rows")

    @property
    def unconfident_rows(self) -> Optional[int]:
        return self.data.get("unconfident_rows")

    @property
    def refetch_decisions(self) -> List[bool]:
        return list(self.data.get("refetch_decisions") or [])

    @property
    def v_rows_kept(self) -> Optional[int]:
        return self.data.get("v_rows_kept")

    @property
    def cycles(self) -> int:
        return int(_field(self.data, "cycles.span"))

    @property
    def cycles_by_queue(self) -> Dict[str, int]:
        return dict(_field(self.data, "cycles.by_queue"))


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


@dataclasses.dataclass(frozen=True)
class StepLayer:
    """One layer of a decode step: the tokens and heads its attention
    computed, and how many of its progressive-quantization decisions
    refetched the keys' LSB planes (None: no decision taken). ``tokens``:
    under cascade token pruning, the positions it kept (None without).
    ``dram``: the layer's DRAM bytes at that step."""

    layer: int
    kept_tokens: Optional[int]
    kept_heads: Optional[int]
    refetches: Optional[int]
    tokens: Optional[List[int]] = None
    dram: Optional[DramBytes] = None


@dataclasses.dataclass(frozen=True)
class StageReport:
    """A stage of a generation run (the prefill, or all decode steps) or
    one decode step: cycles of the cycle-level model and DRAM bytes. A
    decode step also has ``step`` (1-based), ``position`` (the position of
    the token it computed) and ``layers``."""

    cycles: int
    dram: DramBytes
    step: Optional[int] = None
    position: Optional[int] = None
    layers: List[StepLayer] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, entry: Mapping) -> "StageReport":
        """From a ``stages`` entry; raises KeyError naming a missing field."""
        layers = [StepLayer(int(l["layer"]), l.get("kept_tokens"), l.get("kept_heads"), l.get("refetches"),
                            l.get("tokens"), DramBytes.of(l["dram_bytes"]) if "dram_bytes" in l else None)
                  for l in entry.get("layers", [])]
        return cls(int(_field(entry, "cycles")), DramBytes.of(_field(entry, "dram_bytes")), entry.get("step"),
                   entry.get("position"), layers)


@dataclasses.dataclass(frozen=True)
class Stages:
    """The ``stages`` of a generation report: the prefill, the decode steps
    together (``generation``: their summed cycles and bytes) and each
    step, in order."""

    prefill: StageReport
    generation: StageReport
    steps: List[StageReport]


class Report:
    """A ``spatten-sim --report`` (docs/Simulator.md, "Report").

    Accessors raise KeyError naming the field when the report lacks a
    required one (``cycles.total``, ``dram_bytes.read``, ...); ``data`` is
    the parsed JSON."""

    def __init__(self, data: Mapping):
        self.data = data

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Report":
        """Reads a report file; raises OSError, or ValueError naming the file."""
        try:
            return cls(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not a JSON report ({e})") from e

    def __eq__(self, other) -> bool:
        return isinstance(other, Report) and self.data == other.data

    # ------------------------------------------------------------------ cycles

    @property
    def cycles(self) -> int:
        """``cycles.total``: cycles of the cycle-level model."""
        return int(_field(self.data, "cycles.total"))

    @property
    def serial_cycles(self) -> Optional[int]:
        """``cycles.serial_first_order``: the serial first-order estimate."""
        return self.data.get("cycles", {}).get("serial_first_order")

    @property
    def time_us(self) -> Optional[float]:
        """``cycles.time_us``: cycles / clock, microseconds."""
        return self.data.get("cycles", {}).get("time_us")

    @property
    def cycles_by_queue(self) -> Dict[str, int]:
        """Busy cycles of the ``load``, ``compute`` and ``store`` queues."""
        return dict(_field(self.data, "cycles.by_queue"))

    # ------------------------------------------------------------------ instructions, DRAM, energy

    @property
    def instructions(self) -> int:
        """Executed instructions."""
        return int(_field(self.data, "instructions.total"))

    @property
    def instructions_by_opcode(self) -> Dict[str, int]:
        """Executed instructions per mnemonic, zeros included."""
        return dict(_field(self.data, "instructions.by_opcode"))

    @property
    def dram(self) -> DramBytes:
        """DRAM bytes of the whole run, by tensor class."""
        return DramBytes.of(_field(self.data, "dram_bytes"))

    @property
    def energy_uj(self) -> Optional[float]:
        """``energy.total_uj``: the energy estimate in microjoules (None
        when the report has none)."""
        e = self.data.get("energy", {}).get("total_uj")
        return None if e is None else float(e)

    # ------------------------------------------------------------------ generation

    @property
    def stages(self) -> Optional[Stages]:
        """The per-stage record of a ``--generate`` run (None for a single
        run, whose report has no ``stages``). The report's other figures are
        then totals over every run, but for ``layers`` and ``topk``, which
        are the prefill's."""
        st = self.data.get("stages")
        if st is None:
            return None
        gen = _field(st, "generation")
        return Stages(StageReport.of(_field(st, "prefill")), StageReport.of(gen),
                      [StageReport.of(s) for s in _field(gen, "steps")])

    # ------------------------------------------------------------------ layers and top-k

    @property
    def layers(self) -> List[LayerReport]:
        """Per layer that some instruction was attributed to, by layer."""
        return [LayerReport(e) for e in self.data.get("layers", [])]

    @property
    def topk(self) -> List[TopkRecord]:
        """Every executed ``topk``, in program order."""
        return [TopkRecord(r["instruction"], r["n"], r["k"], r["passes"], r["cycles"], r.get("layer"),
                           r["role"], list(r["selected"])) for r in self.data.get("topk", [])]

    @property
    def refetch_rate(self) -> Optional[float]:
        """Fraction of progressive-quantization decisions (one per kept head
        and layer) that fetched the keys' LSB planes; None when no
        ``decide`` ran (progressive quantization off)."""
        decisions = [d for layer in self.layers for d in layer.refetch_decisions]
        return sum(1 for d in decisions if d) / len(decisions) if decisions else None

    def layer_selections(self, tokens: int, heads: int) -> List[LayerSelection]:
        """Per-layer selections of a run on one sequence of ``tokens`` tokens
        and a model of ``heads`` heads per layer.

        Raises ValueError when a top-k selection does not index the current
        list (a report of another program, or batch > 1)."""
        kept = {"tokens": list(range(tokens)), "heads": list(range(heads))}
        by_layer: Dict[int, List[dict]] = {}
        for rec in self.data.get("topk", []):
            if rec.get("layer") is not None and rec.get("role") in kept:
                by_layer.setdefault(rec["layer"], []).append(rec)
        out = []
        for entry in self.layers:
            l, decisions = entry.layer, entry.refetch_decisions
            if len(decisions) not in (0, len(kept["heads"])):
                raise ValueError(f"layer {l}: {len(decisions)} refetch decisions for "
                                 f"{len(kept['heads'])} kept heads")
            refetched = [h for h, d in zip(kept["heads"], decisions) if d]
            out.append(LayerSelection(l, list(kept["tokens"]), list(kept["heads"]), refetched,
                                      entry.unconfident_rows or 0))
            for rec in by_layer.get(l, []):
                cur = kept[rec["role"]]
                if any(not 0 <= s < len(cur) for s in rec["selected"]):
                    raise ValueError(f"layer {l}: top-k selection {rec['selected']} does not index "
                                     f"the {len(cur)} kept {rec['role']}")
                kept[rec["role"]] = [cur[s] for s in rec["selected"]]
        return out

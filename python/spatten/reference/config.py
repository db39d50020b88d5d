"""SpAtten settings: the reference's options and the ``spatten-compile``
flags, binary manifest settings and reference CLI options they map to.

The flag table :data:`FLAGS` is the one place Python names the SpAtten
flags (``include/spatten/Dialect/SpAtten/Transforms/Settings.def`` is the
C++ one; same names, order and defaults). Three forms of the same settings:

* flags: ``["--token-keep=0.5", "--pq-values", "--keep-positions=0,3"]``;
* settings: the manifest's ``settings`` record (docs/BinaryFormat.md), one
  key per flag, every flag present, spatten-compile's defaults included
  (``{"token-keep": 1.0, "token-schedule": "paper", "pq-msb": 0, ...}``);
* :class:`SpAttenConfig`: what the reference runs, ``None`` for a technique
  that is off.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from typing import Dict, List, Mapping, Optional, Sequence, Union


@dataclasses.dataclass(frozen=True)
class Flag:
    """One ``spatten-compile`` flag.

    name: the flag without ``--``, also the manifest settings key;
    field: the :class:`SpAttenConfig` attribute (and argparse dest);
    kind: ``ratio`` (float, off at 1), ``bits`` (int, off at 0), ``int``,
    ``float``, ``bool`` (bare flag), ``schedule`` (``paper`` or
    comma-separated fractions), ``positions`` (comma-separated ints) or
    ``budget`` (comma-separated ints, off when empty);
    default: spatten-compile's default, in the settings form."""

    name: str
    field: str
    kind: str
    default: object


FLAGS = (
    Flag("token-keep", "token_keep", "ratio", 1.0),
    Flag("token-schedule", "token_schedule", "schedule", "paper"),
    Flag("keep-positions", "keep_positions", "positions", []),
    Flag("kv-budget", "kv_budget", "budget", []),
    Flag("head-keep", "head_keep", "ratio", 1.0),
    Flag("value-keep", "value_keep", "ratio", 1.0),
    Flag("pq-msb", "pq_msb", "bits", 0),
    Flag("pq-lsb", "pq_lsb", "int", 4),
    Flag("pq-threshold", "pq_threshold", "float", 0.1),
    Flag("pq-values", "pq_values", "bool", False),
    Flag("attn-bits", "attn_bits", "bits", 0),
    Flag("q-bits", "q_bits", "bits", 0),
    Flag("k-bits", "k_bits", "bits", 0),
    Flag("v-bits", "v_bits", "bits", 0),
)

@dataclasses.dataclass
class SpAttenConfig:
    """SpAtten options (``spatten-compile`` flags of the same names). ``None``
    or ``False`` means off / dense.

    token_keep, head_keep, value_keep: ratios in (0, 1].
    token_schedule: ``"paper"`` or, per layer, the fraction of the tokens it
        computes (``n`` values, non-increasing, the first 1 but in a
        generation's decode steps, whose layer 0 knows the importance of the
        steps before).
    head_schedule: the same for heads (reference only: no compile flag).
    keep_positions: original token positions never pruned (0 = [CLS]).
    kv_budget: ``(S, I, R)``, generation's fixed KV budget in place of the
        token schedule: each decode layer attends the first S tokens, the I
        most important and the R most recent (docs/Algorithms.md).
    pq_msb (6 or 8), pq_lsb (4), pq_threshold, pq_values: progressive
    quantization of keys (and values).
    attn_bits: fixed-point width of Q, K, V (4..16); keys/values handled by
    progressive quantization use ``pq_msb + pq_lsb`` bits instead.
    q_bits, k_bits, v_bits: the width of one tensor (4..16), ``attn_bits``
    where ``None`` (:attr:`query_bits`, :attr:`key_bits`, :attr:`value_bits`).
    The authors' GPT-2 generation setting is ``pq_msb=6, v_bits=6,
    q_bits=16, pq_threshold=0.05`` (K 6+4 progressive, V 6 bits, Q 16 bits).
    """

    token_keep: Optional[float] = None
    token_schedule: Union[str, Sequence[float]] = "paper"
    keep_positions: Sequence[int] = ()
    kv_budget: Optional[Sequence[int]] = None
    head_keep: Optional[float] = None
    head_schedule: Union[str, Sequence[float]] = "paper"
    value_keep: Optional[float] = None
    pq_msb: Optional[int] = None
    pq_lsb: int = 4
    pq_threshold: float = 0.1
    pq_values: bool = False
    attn_bits: Optional[int] = None
    q_bits: Optional[int] = None
    k_bits: Optional[int] = None
    v_bits: Optional[int] = None

    def validate(self) -> None:
        """Raises ValueError naming the bad field."""
        for name in ("token_keep", "head_keep", "value_keep"):
            v = getattr(self, name)
            if v is not None and not 0.0 < v <= 1.0:
                raise ValueError(f"{name}={v} is outside (0, 1]")
        if self.kv_budget is not None:
            self._validate_kv_budget()
        if self.pq_msb is not None and self.pq_msb not in (6, 8):
            raise ValueError(f"pq_msb={self.pq_msb} must be 6 or 8")
        if self.pq_msb is not None and self.pq_lsb != 4:
            raise ValueError(f"pq_lsb={self.pq_lsb} must be 4")
        if self.pq_values and self.pq_msb is None:
            raise ValueError("pq_values needs pq_msb")
        for name in ("attn_bits", "q_bits", "k_bits", "v_bits"):
            v = getattr(self, name)
            if v is not None and not 4 <= v <= 16:
                raise ValueError(f"{name}={v} is outside 4..16")

    def _validate_kv_budget(self) -> None:
        budget = list(self.kv_budget)
        if len(budget) != 3:
            raise ValueError(f"kv_budget={budget} must be (S, I, R), three token counts")
        if min(budget) < 0 or sum(budget) < 1:
            raise ValueError(f"kv_budget={budget}: counts must be >= 0 and keep a token")
        if self.token_keep is not None or self.token_schedule != "paper" or len(self.keep_positions):
            raise ValueError("kv_budget replaces cascade token pruning: give it without token_keep, "
                             "token_schedule and keep_positions")

    # Fixed-point widths in bits per tensor, None for fp32.
    @property
    def query_bits(self) -> Optional[int]:
        return self.attn_bits if self.q_bits is None else self.q_bits

    @property
    def key_bits(self) -> Optional[int]:
        return self.attn_bits if self.k_bits is None else self.k_bits

    @property
    def value_bits(self) -> Optional[int]:
        return self.attn_bits if self.v_bits is None else self.v_bits

    @property
    def prunes(self) -> bool:
        """True when an option needs batch 1 (anything but the fixed-point
        widths)."""
        return any(v is not None for v in (self.token_keep, self.kv_budget, self.head_keep, self.value_keep,
                                           self.pq_msb))

    # ------------------------------------------------------------------ settings

    @classmethod
    def from_manifest(cls, settings: Mapping[str, object]) -> "SpAttenConfig":
        """The config of a manifest ``settings`` record (every key of
        :data:`FLAGS`, defaults included, as spatten-compile writes it and
        its manifest reader requires). Raises ValueError naming a missing or
        unknown key or a bad value."""
        names = {f.name for f in FLAGS}
        unknown = sorted(set(settings) - names)
        # A list absent is empty, as spatten-compile's manifest reader has it.
        missing = [f.name for f in FLAGS if f.name not in settings and f.default != []]
        if unknown or missing:
            raise ValueError(f"settings: unknown keys {unknown}, missing keys {missing}")
        fields = {}
        for f in FLAGS:
            try:
                fields[f.field] = _to_config(f, settings.get(f.name, f.default))
            except (ValueError, TypeError, AttributeError):  # a value of the wrong JSON type
                raise ValueError(f"settings: {f.name}={settings.get(f.name)!r} is not a valid {f.kind} value") from None
        cfg = cls(**fields)
        # spatten-compile prunes tokens with an explicit schedule at any
        # --token-keep; the reference prunes when token_keep is set.
        if cfg.token_schedule != "paper" and cfg.token_keep is None:
            cfg.token_keep = 1.0
        cfg.validate()
        return cfg

    def to_manifest(self) -> Dict[str, object]:
        """The settings record spatten-compile writes for these options.
        Raises ValueError for a head schedule (no compile flag has one)."""
        if self.head_schedule != "paper":
            raise ValueError("head_schedule: spatten-compile has no head schedule flag")
        return {f.name: _to_setting(f, getattr(self, f.field)) for f in FLAGS}

    def to_flags(self) -> List[str]:
        """``spatten-compile`` flags for these options: non-default settings
        only, in :data:`FLAGS` order, ``--flag=value`` (``--pq-values``
        bare, ``--keep-positions=0,3``)."""
        settings = self.to_manifest()
        return [_flag_text(f, settings[f.name]) for f in FLAGS if settings[f.name] != f.default]

    @classmethod
    def from_flags(cls, flags: Union[str, Sequence[str]]) -> "SpAttenConfig":
        """Parses spatten-compile's SpAtten flags (a shell-quoted string or a
        list; ``--flag=value`` or ``--flag value``). Raises ValueError for
        an unknown flag or a bad value."""
        args = shlex.split(flags) if isinstance(flags, str) else list(flags)
        return from_arguments(_FlagParser().parse_args(args))


class _FlagParser(argparse.ArgumentParser):
    """argparse that raises ValueError instead of exiting."""

    def __init__(self):
        super().__init__(prog="spatten-compile", add_help=False, allow_abbrev=False)
        add_arguments(self)

    def error(self, message):
        raise ValueError(message)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds every flag of :data:`FLAGS` to ``parser`` (values kept as text;
    :func:`from_arguments` converts them)."""
    for f in FLAGS:
        if f.kind == "bool":
            parser.add_argument(f"--{f.name}", dest=f.field, action="store_true")
        else:
            parser.add_argument(f"--{f.name}", dest=f.field, metavar=f.kind.upper())


def from_arguments(ns: argparse.Namespace) -> SpAttenConfig:
    """The config of a namespace parsed with :func:`add_arguments`.
    Raises ValueError naming the flag of a value that does not parse."""
    settings = {}
    for f in FLAGS:
        text = getattr(ns, f.field)
        if f.kind == "bool":
            settings[f.name] = bool(text)
        else:
            settings[f.name] = f.default if text is None else _parse_text(f, text)
    return SpAttenConfig.from_manifest(settings)


# ---------------------------------------------------------------------- conversions

def _parse_text(f: Flag, text: str) -> object:
    """A flag's text as its settings value."""
    try:
        if f.kind in ("ratio", "float"):
            return float(text)
        if f.kind in ("bits", "int"):
            return int(text)
        if f.kind in ("positions", "budget"):
            return [int(p) for p in text.split(",") if p.strip()]
        if f.kind == "schedule":
            _schedule(text)
        return text
    except ValueError:
        raise ValueError(f"--{f.name}={text}: not a valid {f.kind} value") from None


def _to_config(f: Flag, value) -> object:
    """A settings value as the SpAttenConfig field (None where off)."""
    if f.kind in ("ratio", "bits"):
        return None if value == f.default else (float(value) if f.kind == "ratio" else int(value))
    if f.kind == "schedule":
        return _schedule(value)
    if f.kind == "positions":
        return tuple(int(p) for p in value)
    if f.kind == "budget":
        return tuple(int(p) for p in value) or None
    return {"int": int, "float": float, "bool": bool}[f.kind](value)


def _schedule(text: str) -> Union[str, List[float]]:
    """``paper`` or the fractions of a comma-separated list; ValueError
    for anything else."""
    return text if text == "paper" else [float(p) for p in text.split(",")]


def _to_setting(f: Flag, value) -> object:
    """A SpAttenConfig field as its settings value."""
    if value is None:
        return f.default
    if f.kind == "schedule":
        return value if isinstance(value, str) else ",".join(_number(v) for v in value)
    if f.kind in ("positions", "budget"):
        return [int(p) for p in value]
    return {"ratio": float, "float": float, "bits": int, "int": int, "bool": bool}[f.kind](value)


def _flag_text(f: Flag, value) -> str:
    if f.kind == "bool":
        return f"--{f.name}"
    if f.kind in ("positions", "budget"):
        return f"--{f.name}=" + ",".join(str(p) for p in value)
    return f"--{f.name}={_number(value) if isinstance(value, float) else value}"


def _number(x: float) -> str:
    """Shortest text that parses back to ``x``; whole numbers without
    ``.0`` (``1``, ``0.75``)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text

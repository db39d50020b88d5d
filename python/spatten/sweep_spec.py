"""The sweep specification: a TOML file (docs/Sweeps.md) read into models,
fixed settings, fixed hardware fields and axes, expanded into points.

An axis is a SpAtten setting under its flag name (``token-keep``, the
names of :data:`spatten.reference.config.FLAGS`), a hardware field
``hw.<field>`` (a key of ``configs/spatten.json``, ``hw.energy.<entry>``
for an energy figure, ``hw.preset`` for the base preset), or a named
compound axis whose values are tables of such keys (several fields that
change together, e.g. the K and V SRAM sizes), with an optional
``label``. Axes combine as a product, or element by element with
``zip = true``.

Every mistake in the file raises :class:`SpecError` naming the file and
the field. Values are checked for their type here; whether a combination
is valid (ranges, the model's depth) is the point's business: an invalid
point is recorded with its message and the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tomllib
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from . import tools
from .reference.config import FLAGS, Flag

#: Every hardware field and its default (the ``spatten`` preset, the file
#: the C++ presets are built from; docs/HardwareConfig.md).
HW_DEFAULTS: Dict[str, object] = json.loads((tools.ROOT / "configs" / "spatten.json").read_text())

#: Hardware fields the compiler reads (docs/Sweeps.md, "What forces a
#: recompile"): the SRAM sizes it tiles for, the keys per K/V fill and
#: double buffering that shape attention's tiles, and the DRAM capacity
#: its memory plan must fit; ``preset`` may change any of them. Every
#: other field only times the run, so ``spatten-sim --hw`` re-times a
#: binary without compiling it again.
COMPILE_FIELDS = frozenset([k for k in HW_DEFAULTS if k.endswith("_buffer_bytes")]
                           + ["max_keys_per_fill", "double_buffered", "dram_bytes", "preset"])

_FLAGS = {f.name: f for f in FLAGS}
_TOP_KEYS = {"zip", "timing_only", "seed", "model", "settings", "hw", "axes"}
_MODEL_KEYS = {"path", "name", "shapes", "inputs", "max_context", "generate"}


class SpecError(ValueError):
    """A sweep specification that cannot be run; the message names the file
    and the field."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A ``[[model]]`` entry. path: the ONNX file; name: its label in the
    results; shapes: dimension bindings; inputs: graph input -> .npy/.pb
    file (empty: seeded random inputs); max_context: compile a generation
    binary (True: the model's position table; int: KV cache positions);
    generate: tokens to generate greedily (``spatten-sim --generate``)."""

    path: Path
    name: str
    shapes: Mapping[str, int]
    inputs: Mapping[str, Path]
    max_context: object = None
    generate: Optional[int] = None

    def compile_flags(self) -> List[str]:
        if self.max_context is True:
            return ["--max-context"]
        return [f"--max-context={self.max_context}"] if self.max_context else []


@dataclasses.dataclass(frozen=True)
class Point:
    """One point: the model, the settings that differ from the defaults
    (flag name -> settings value, as the manifest records them), the
    hardware fields over the default configuration, and the value of each
    axis as the results table shows it (column -> value)."""

    index: int
    model: ModelSpec
    settings: Mapping[str, object]
    hw: Mapping[str, object]
    columns: Mapping[str, object]

    def compile_hw(self) -> Dict[str, object]:
        """The hardware fields the compiler reads (:data:`COMPILE_FIELDS`)."""
        return {k: v for k, v in self.hw.items() if k in COMPILE_FIELDS}


@dataclasses.dataclass(frozen=True)
class Axis:
    """An axis: its name and, per value, the column value and the settings
    and hardware fields it sets."""

    name: str
    values: List[Tuple[object, Dict[str, object], Dict[str, object]]]


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed specification. Expand it with :meth:`points`."""

    source: str
    models: List[ModelSpec]
    settings: Mapping[str, object]
    hw: Mapping[str, object]
    axes: List[Axis]
    zip: bool = False
    timing_only: bool = False
    seed: int = 0

    @property
    def columns(self) -> List[str]:
        """The results' axis columns, in order."""
        cols: List[str] = []
        for axis in self.axes:
            for col in [axis.name] + [k for _, s, h in axis.values for k in _keys_of(s, h)]:
                if col not in cols:
                    cols.append(col)
        return cols

    def points(self) -> List[Point]:
        """Every model times the axes' combinations (product, or zip)."""
        combos = (zip(*(a.values for a in self.axes)) if self.zip
                  else itertools.product(*(a.values for a in self.axes)))
        combos = list(combos)
        out = []
        for model in self.models:
            for combo in combos:
                settings, hw, columns = dict(self.settings), _merge_hw({}, self.hw), {}
                for axis, (label, s, h) in zip(self.axes, combo):
                    settings.update(s)
                    hw = _merge_hw(hw, h)
                    columns[axis.name] = label
                    columns.update({k: v for k, v in {**s, **_flat_hw(h)}.items() if k != axis.name})
                out.append(Point(len(out), model, settings, hw, columns))
        return out


# ----------------------------------------------------------------------------- reading

def load(path: Path) -> Spec:
    """Reads and checks a TOML specification. Raises SpecError naming the
    file and the field (bad TOML, an unknown key or axis, a value of the
    wrong type, a missing model file, zipped axes of different lengths)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise SpecError(f"{path}: cannot read the sweep specification ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    return parse(data, path)


def parse(data: Mapping, path: Path) -> Spec:
    """A specification from its parsed TOML; relative model and input paths
    are relative to ``path``'s folder."""
    where = str(path)
    _no_unknown(data, _TOP_KEYS, where, "top-level key")
    models = [_model(m, i, path.parent, where) for i, m in enumerate(_list_of_tables(data, "model", where))]
    if not models:
        raise SpecError(f"{where}: no [[model]] entry")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: [[model]] names repeat: {names} (give each a distinct 'name')")
    settings = _assignments(_table(data, "settings", where), f"{where}: [settings]", hw_allowed=False)[0]
    hw = _hw_fields(_table(data, "hw", where), f"{where}: [hw]")
    axes = [_axis(name, values, f"{where}: [axes] '{name}'") for name, values in _table(data, "axes", where).items()]
    zipped = _typed(data.get("zip", False), bool, f"{where}: 'zip'")
    if zipped and len({len(a.values) for a in axes}) > 1:
        raise SpecError(f"{where}: 'zip = true' needs axes of one length, got "
                        + ", ".join(f"{a.name} {len(a.values)}" for a in axes))
    return Spec(where, models, settings, hw, axes, zipped,
                _typed(data.get("timing_only", False), bool, f"{where}: 'timing_only'"),
                _typed(data.get("seed", 0), int, f"{where}: 'seed'"))


def _model(m: Mapping, i: int, base: Path, where: str) -> ModelSpec:
    at = f"{where}: [[model]] {i + 1}"
    _no_unknown(m, _MODEL_KEYS, at, "key")
    if "path" not in m:
        raise SpecError(f"{at}: 'path' is missing")
    path = (base / _typed(m["path"], str, f"{at} 'path'")).resolve()
    if not path.is_file():
        raise SpecError(f"{at} 'path': {path} is not a file")
    shapes = {k: _typed(v, int, f"{at} 'shapes.{k}'") for k, v in _table(m, "shapes", at).items()}
    inputs = {}
    for k, v in _table(m, "inputs", at).items():
        inputs[k] = (base / _typed(v, str, f"{at} 'inputs.{k}'")).resolve()
        if not inputs[k].is_file():
            raise SpecError(f"{at} 'inputs.{k}': {inputs[k]} is not a file")
    max_context = m.get("max_context")
    if max_context is not None and not isinstance(max_context, bool):
        max_context = _typed(max_context, int, f"{at} 'max_context'")
    generate = m.get("generate")
    generate = None if generate is None else _typed(generate, int, f"{at} 'generate'")
    name = _typed(m.get("name", path.stem), str, f"{at} 'name'")
    return ModelSpec(path, name, shapes, inputs, max_context, generate)


def _axis(name: str, values, at: str) -> Axis:
    if not isinstance(values, list) or not values:
        raise SpecError(f"{at}: an axis is a non-empty list of values")
    if all(isinstance(v, dict) for v in values):
        out = []
        for j, v in enumerate(values):
            fields = {k: x for k, x in v.items() if k != "label"}
            if not fields:
                raise SpecError(f"{at} value {j + 1}: a compound value sets at least one setting or hw.<field>")
            s, h = _assignments(fields, f"{at} value {j + 1}")
            label = v.get("label", " ".join(f"{k}={x}" for k, x in fields.items()))
            out.append((label, s, h))
        return Axis(name, out)
    if _flag_name(name) or name.startswith("hw."):
        name = _flag_name(name) or name
        return Axis(name, [(v, *_assignments({name: v}, f"{at} value {j + 1}")) for j, v in enumerate(values)])
    raise SpecError(f"{at}: unknown axis; an axis is a SpAtten setting ({', '.join(_FLAGS)}), "
                    "hw.<field> (docs/HardwareConfig.md), or a compound axis whose values are tables of those")


def _flag_name(name: str) -> Optional[str]:
    """The flag name of a SpAtten setting written as its flag
    (``token-keep``) or as its Python field (``token_keep``), else None."""
    for n in (name, name.replace("_", "-")):
        if n in _FLAGS:
            return n
    return None


def _assignments(fields: Mapping[str, object], at: str,
                 hw_allowed: bool = True) -> Tuple[Dict[str, object], Dict[str, object]]:
    """Settings (by flag name) and hardware fields of ``{setting or
    hw.<field>: value}``."""
    settings, hw = {}, {}
    for k, v in fields.items():
        if hw_allowed and k.startswith("hw."):
            hw.update(_hw_fields({k[3:]: v}, at))
        elif _flag_name(k):
            settings[_flag_name(k)] = _setting(_flag_name(k), v, f"{at} '{k}'")
        else:
            raise SpecError(f"{at}: '{k}' is neither a SpAtten setting ({', '.join(_FLAGS)})"
                            + (" nor hw.<field>" if hw_allowed else ""))
    return settings, hw


# ----------------------------------------------------------------------------- values

def _setting(name: str, value, at: str) -> object:
    """A SpAtten setting's value in the manifest's form (docs/BinaryFormat.md)."""
    f: Optional[Flag] = _FLAGS.get(name)
    if f is None:
        raise SpecError(f"{at}: unknown SpAtten setting; known: {', '.join(_FLAGS)}")
    if f.kind in ("ratio", "float"):
        return float(_typed(value, (int, float), at))
    if f.kind in ("bits", "int"):
        return _typed(value, int, at)
    if f.kind == "bool":
        return _typed(value, bool, at)
    if f.kind == "schedule":
        if isinstance(value, list):
            return ",".join(repr(float(_typed(x, (int, float), at))) for x in value)
        return _typed(value, str, at)
    if isinstance(value, str):
        value = [p for p in value.split(",") if p.strip()]
        try:
            return [int(p) for p in value]
        except ValueError:
            raise SpecError(f"{at}: expected comma-separated integers") from None
    return [_typed(p, int, at) for p in _typed(value, list, at)]


def _hw_fields(fields: Mapping[str, object], at: str) -> Dict[str, object]:
    """Hardware fields checked against the default configuration's keys and
    types; ``energy.<entry>`` nests under ``energy``."""
    out: Dict[str, object] = {}
    for key, value in fields.items():
        if key == "preset":
            out["preset"] = _typed(value, str, f"{at} 'preset'")
        elif key == "energy" and isinstance(value, dict):
            out = _merge_hw(out, _hw_fields({f"energy.{k}": v for k, v in value.items()}, at))
        elif key.startswith("energy."):
            entry = key.split(".", 1)[1]
            if entry not in HW_DEFAULTS["energy"]:
                raise SpecError(f"{at} 'hw.{key}': unknown energy entry; known: {', '.join(HW_DEFAULTS['energy'])}")
            out = _merge_hw(out, {"energy": {entry: float(_typed(value, (int, float), f"{at} 'hw.{key}'"))}})
        elif key in HW_DEFAULTS and key != "energy":
            default = HW_DEFAULTS[key]
            kind = bool if isinstance(default, bool) else (int, float) if isinstance(default, float) else type(default)
            out[key] = _typed(value, kind, f"{at} 'hw.{key}'")
        else:
            raise SpecError(f"{at} 'hw.{key}': unknown hardware field; known: "
                            f"{', '.join(k for k in HW_DEFAULTS if k != 'energy')}, preset, energy.<entry>")
    return out


def _merge_hw(base: Mapping[str, object], over: Mapping[str, object]) -> Dict[str, object]:
    out = dict(base)
    for k, v in over.items():
        out[k] = {**out.get(k, {}), **v} if k == "energy" else v
    return out


def _flat_hw(hw: Mapping[str, object]) -> Dict[str, object]:
    """``{"hw.<field>": value}``, energy entries as ``hw.energy.<entry>``."""
    out = {}
    for k, v in hw.items():
        if k == "energy":
            out.update({f"hw.energy.{e}": x for e, x in v.items()})
        else:
            out[f"hw.{k}"] = v
    return out


def _keys_of(settings: Mapping[str, object], hw: Mapping[str, object]) -> List[str]:
    return list(settings) + list(_flat_hw(hw))


def _typed(value, kind, at: str):
    """``value`` when it is of ``kind`` (bool is not an int here)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return value
    names = {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a table"}
    expected = "a number" if float in kinds else " or ".join(names[k] for k in kinds)
    raise SpecError(f"{at}: expected {expected}, got {value!r}")


def _table(data: Mapping, key: str, where: str) -> Mapping:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{where}: '{key}' must be a table ([{key}]), got {value!r}")
    return value


def _list_of_tables(data: Mapping, key: str, where: str) -> List[Mapping]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SpecError(f"{where}: '{key}' must be an array of tables ([[{key}]])")
    return value


def _no_unknown(data: Mapping, known, where: str, what: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SpecError(f"{where}: unknown {what} '{unknown[0]}'; known: {', '.join(sorted(known))}")

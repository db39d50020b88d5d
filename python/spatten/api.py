"""The short Python API: :func:`compile` and :func:`simulate`, exported at
the top of the package (``spatten.compile``, ``spatten.simulate``), thin
over :mod:`spatten.tools`.

* :func:`compile` takes SpAtten settings as a
  :class:`~spatten.reference.SpAttenConfig` or a dict of its fields, and a
  hardware configuration as a preset name, a JSON file, or a dict of
  fields merged over the default configuration (docs/HardwareConfig.md).
  Without ``out`` the binary lands in a cache directory keyed by the
  content of everything that makes it (:func:`content_key`), so compiling
  the same thing twice runs the compiler once.
* :func:`simulate` runs a binary and returns its
  :class:`~spatten.report.Report`; without ``inputs`` it makes seeded
  random inputs as the demo does (docs/Numerics.md).

Every failure raises :class:`Error` (``spatten.tools.ToolError``) carrying
the tool's message, or naming the bad setting.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from . import tensors, tools
from .reference.config import FLAGS, SpAttenConfig
from .report import Report
from .tensors import PathLike

#: Every failure of :func:`compile` and :func:`simulate`: the tool's name
#: (``tool``), command line, exit status and stderr (its diagnostics).
Error = tools.ToolError

Settings = Union[None, SpAttenConfig, Mapping[str, object]]
Hardware = Union[None, PathLike, Mapping[str, object]]


def cache_dir() -> Path:
    """Where :func:`compile` writes binaries when no ``out`` is given:
    ``$SPATTEN_CACHE_DIR``, else ``out/cache`` of this checkout."""
    return Path(os.environ.get("SPATTEN_CACHE_DIR") or tools.ROOT / "out" / "cache")


# ----------------------------------------------------------------------------- content keys

@functools.lru_cache(maxsize=256)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: PathLike) -> str:
    """SHA-256 of a file's bytes (hex), computed once per file version
    (path, size, modification time). Raises OSError."""
    st = os.stat(path)
    return _digest_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def content_key(*parts: object) -> str:
    """A 20-hex-digit key of JSON-serialisable ``parts`` (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tool_digest(name: str, directory: Optional[PathLike] = None) -> str:
    """The digest of a tool's executable: a rebuilt tool gives new keys.
    Raises ToolError when the tool is missing."""
    return file_digest(tools.tool_path(name, directory))


# ----------------------------------------------------------------------------- arguments

def settings_config(settings: Settings) -> Optional[SpAttenConfig]:
    """``settings`` as a validated SpAttenConfig: None (dense), a
    SpAttenConfig, or a dict of SpAttenConfig fields (``token_keep``,
    ``pq_msb``, ...; the flag names ``token-keep`` ... are accepted too).
    Raises ValueError naming an unknown field or a bad value."""
    if settings is None or isinstance(settings, SpAttenConfig):
        cfg = settings
    else:
        by_flag = {f.name: f.field for f in FLAGS}
        fields = {by_flag.get(k, k): v for k, v in settings.items()}
        known = {f.name for f in dataclasses.fields(SpAttenConfig)}
        unknown = sorted(k for k in fields if k not in known)
        if unknown:
            raise ValueError(f"settings: unknown fields {unknown} (known: {sorted(known)})")
        cfg = SpAttenConfig(**fields)
    if cfg is not None:
        cfg.validate()
    return cfg


def hardware_text(hw: Hardware) -> Optional[str]:
    """A dict of hardware fields as the JSON text ``--hw`` reads (keys
    absent keep the default configuration's value, ``preset`` picks
    another base); None for None or a preset name or file."""
    return None if hw is None or not isinstance(hw, Mapping) else json.dumps(dict(hw), sort_keys=True)


def _hardware_argument(hw: Hardware, tmp: Path) -> Optional[str]:
    """What ``--hw`` gets: a preset or file as given, a dict written to a
    file in ``tmp``."""
    text = hardware_text(hw)
    if text is None:
        return None if hw is None else str(hw)
    path = tmp / "hardware.json"
    path.write_text(text)
    return str(path)


def _hardware_identity(hw: Hardware) -> object:
    """What a cache key records of ``hw``: a dict's JSON, a file's digest,
    or a preset's name."""
    if hw is None or isinstance(hw, Mapping):
        return hardware_text(hw)
    return {"file": file_digest(hw)} if Path(hw).is_file() else {"preset": str(hw)}


# ----------------------------------------------------------------------------- compile

class ModelBinary(tools.Binary):
    """A :class:`~spatten.tools.Binary` that knows the ONNX model and the
    dimension bindings it was compiled from, so :func:`simulate` makes
    inputs as the demo does."""

    def __init__(self, path: PathLike, model: Path, shapes: Mapping[str, int], **kwargs):
        super().__init__(path, **kwargs)
        self.model, self.shapes = model, dict(shapes)


def compile(model: PathLike, settings: Settings = None, hw: Hardware = None,
            shapes: Optional[Mapping[str, int]] = None, *, out: Optional[PathLike] = None,
            max_context: Union[None, bool, int] = None, extra: Sequence[str] = (),
            bin_dir: Optional[PathLike] = None, timeout: Optional[float] = None) -> ModelBinary:
    """Compiles the ONNX ``model`` with ``spatten-compile``.

    settings: SpAtten settings (:func:`settings_config`); hw: a preset name
    (``spatten``, ``spatten-1/8``), a JSON file, or a dict of fields over
    the default (docs/HardwareConfig.md; sizes in bytes, timings in
    cycles); shapes: ``{dim_param: value}`` for every dynamic input
    dimension; max_context: build a generation binary (True: the model's
    position-table size; an int: the KV cache's positions); extra: more
    compiler flags. out: the ``.spbin`` to write; without it the binary is
    cached under :func:`cache_dir` by the content key of the model file,
    settings, hardware, shapes, flags and the compiler's executable (the
    cached file is returned without compiling again; ``seconds`` is then
    None). Raises Error with the compiler's diagnostics (an unknown op, an
    unbound dimension, a bad hardware field) or naming a bad setting.
    """
    try:
        cfg = settings_config(settings)
    except ValueError as e:
        raise Error("spatten-compile", f"settings: {e}") from None
    model = Path(model)
    extra = list(extra)
    if max_context is True:
        extra.insert(0, "--max-context")
    elif max_context:
        extra.insert(0, f"--max-context={max_context}")
    if out is None:
        if not model.is_file():
            raise Error("spatten-compile", f"{model}: no such model file")
        key = content_key(file_digest(model), cfg.to_manifest() if cfg else None, _hardware_identity(hw),
                          dict(shapes or {}), list(extra), tool_digest("spatten-compile", bin_dir))
        out = cache_dir() / "binaries" / f"{key}.spbin"
        if out.is_file():
            return ModelBinary(out, model, shapes or {}, directory=bin_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spatten-hw-") as tmp:
        b = tools.compile(model, out, settings=cfg, hw=_hardware_argument(hw, Path(tmp)), shapes=shapes,
                          extra=extra, directory=bin_dir, timeout=timeout)
    return ModelBinary(b.path, model, shapes or {}, seconds=b.seconds, directory=bin_dir)


# ----------------------------------------------------------------------------- simulate

def default_inputs(binary: tools.Binary, seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded random inputs for ``binary``'s graph inputs, made as the demo
    makes them (``tensors.random_inputs``, docs/Numerics.md): from the ONNX
    model when the binary is a :class:`ModelBinary`, else from the
    manifest (shapes, dtypes, ``index_rows`` of token ids)."""
    if isinstance(binary, ModelBinary):
        arrays = tensors.random_inputs(binary.model, binary.shapes, seed=seed)
        return {t.name: arrays[t.name] for t in binary.inputs}
    specs = [tensors.InputSpec(t["name"], np.dtype(t["dtype"]), list(t["shape"])) for t in binary.manifest["inputs"]]
    rows = {t["name"]: t.get("index_rows") for t in binary.manifest["inputs"]}
    return tensors.random_values(specs, {}, rows, seed=seed)


def simulate(binary: Union[tools.Binary, PathLike], inputs: Optional[Mapping[str, Union[np.ndarray, PathLike]]] = None,
             hw: Hardware = None, timing_only: bool = False, *, generate: Optional[int] = None, seed: int = 0,
             out_dir: Optional[PathLike] = None, host_threads: Optional[int] = None,
             bin_dir: Optional[PathLike] = None, timeout: Optional[float] = None) -> Report:
    """Runs ``binary`` on ``spatten-sim`` and returns its Report (cycles of
    the accelerator clock, DRAM bytes by tensor class, energy in
    microjoules; docs/Simulator.md, "Report").

    inputs: ``{graph input: array or .npy/.pb file}`` in the binary's
    shapes (``Binary.inputs``); None: :func:`default_inputs` with ``seed``.
    hw: re-time with this hardware (as :func:`compile`'s ``hw``; the SRAM
    sizes stay the binary's). timing_only: skip the arithmetic (same cycles
    for dense and fixed-point programs, outputs meaningless). generate:
    greedily generate this many tokens (a ``max_context`` binary). out_dir:
    keep the outputs there (default: a temporary directory, removed).
    host_threads: at most this many host threads (None: all; results are
    the same for every count). Raises Error with the simulator's message
    (a missing input, a wrong shape, a bad hardware field, a thread count
    of 0)."""
    binary = binary if isinstance(binary, tools.Binary) else tools.Binary(binary, directory=bin_dir)
    if inputs is None:
        try:
            inputs = default_inputs(binary, seed)
        except (KeyError, ValueError, OSError) as e:
            raise Error("spatten-sim", f"{binary.path}: cannot make its inputs: {e}") from None
    with tempfile.TemporaryDirectory(prefix="spatten-sim-") as tmp:
        run = tools.simulate(binary, inputs, Path(out_dir) if out_dir else Path(tmp) / "outputs",
                             report=Path(tmp) / "report.json", timing_only=timing_only,
                             hw=_hardware_argument(hw, Path(tmp)), generate=generate,
                             host_threads=host_threads, directory=bin_dir, timeout=timeout)
        return run.report

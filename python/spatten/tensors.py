"""Tensor files and model input specs shared by the reference runner, the
end-to-end tests and the demo.

* ``load_tensor`` reads ``.npy`` or ONNX ``TensorProto`` ``.pb`` (the format of
  ``test_data_set_*``) with ``onnx.numpy_helper``.
* ``input_specs`` lists a model's graph inputs (initializers excluded) with
  numpy dtype and dims, symbolic dims (``dim_param``) as strings.
* ``random_inputs`` makes seeded inputs for bound dims, with value ranges that
  suit transformers (token ids below the embedding table size, 0/1 masks).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

import numpy as np
import onnx
from onnx import numpy_helper

PathLike = Union[str, os.PathLike]


def load_tensor(path: PathLike) -> np.ndarray:
    """Reads ``.npy`` or a serialized ``onnx.TensorProto`` (``.pb``).
    Raises ValueError naming the file for anything else."""
    p = Path(path)
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ValueError(f"{p}: not a readable .npy file ({e})") from e
    if p.suffix == ".pb":
        t = onnx.TensorProto()
        try:
            t.ParseFromString(p.read_bytes())
        except Exception as e:  # protobuf raises DecodeError (not a public type)
            raise ValueError(f"{p}: not an ONNX TensorProto ({e})") from e
        return numpy_helper.to_array(t)
    raise ValueError(f"{p}: unknown tensor file type (expected .npy or .pb)")


def save_npy(path: PathLike, array: np.ndarray) -> Path:
    """Writes C-order .npy via a temporary file and rename (rank 0 stays
    rank 0, unlike np.ascontiguousarray)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp.npy")
    np.save(tmp, np.asarray(array, order="C"), allow_pickle=False)
    os.replace(tmp, p)
    return p


def output_file_name(name: str) -> str:
    """File name for a graph output: path separators become '_', so names
    like 'y/0' stay inside DIR. Same rule as spatten-sim and ort-run.mjs."""
    return re.sub(r"[/\\]", "_", name) + ".npy"


@dataclasses.dataclass
class InputSpec:
    name: str
    dtype: np.dtype
    dims: List[Union[int, str]]  # str = symbolic dim_param

    @property
    def symbols(self) -> List[str]:
        return [d for d in self.dims if isinstance(d, str)]

    def bind(self, shapes: Mapping[str, int]) -> List[int]:
        """Concrete shape; raises KeyError naming the unbound dim."""
        out = []
        for d in self.dims:
            if isinstance(d, str):
                if d not in shapes:
                    raise KeyError(f"input {self.name!r}: dynamic dimension {d!r} is not bound "
                                   f"(pass --shape {d}=N)")
                out.append(int(shapes[d]))
            else:
                out.append(d)
        return out


def input_specs(model: Union[PathLike, onnx.ModelProto]) -> List[InputSpec]:
    """Graph inputs that are not initializers, in graph order. A dimension
    with neither value nor name is reported as the symbol ``'<input>:<axis>'``."""
    m = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    specs = []
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims: List[Union[int, str]] = []
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or f"{vi.name}:{axis}")
        dtype = np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[tt.elem_type])  # onnx 1.12 API
        specs.append(InputSpec(vi.name, dtype, dims))
    return specs


def symbolic_dims(model: Union[PathLike, onnx.ModelProto]) -> List[str]:
    """Every dim_param of the graph inputs, in first-use order."""
    seen: List[str] = []
    for s in input_specs(model):
        for d in s.symbols:
            if d not in seen:
                seen.append(d)
    return seen


def _gather_table_rows(m: onnx.ModelProto, name: str) -> Optional[int]:
    """Rows of the embedding table that ``Gather`` indexes with input ``name``."""
    tables = {t.name: list(t.dims) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Gather" and len(n.input) == 2 and n.input[1] == name and n.input[0] in tables:
            return tables[n.input[0]][0]
    return None


def random_inputs(model: Union[PathLike, onnx.ModelProto], shapes: Mapping[str, int],
                  seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded inputs for every graph input, dims bound by ``shapes``.

    Rules (by dtype and input name, documented in docs/Numerics.md):
    integer inputs that index an embedding table -> uniform below its row count;
    ``*mask*`` -> ones, with the last quarter of the last batch row set to 0
    (integer) or a lower-triangular 0/1 pattern on the last two axes (float);
    ``*position*`` -> arange over the last axis, offset by the bound dims whose
    name contains ``past``; other float inputs -> N(0, 1), scaled by
    1/sqrt(fan_in) when all dims are fixed (weights passed as inputs, e.g.
    attention_past_state's ``weight`` and ``bias``).
    """
    m = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    specs = input_specs(m)
    return random_values(specs, shapes, {s.name: _gather_table_rows(m, s.name) for s in specs}, seed)


def random_values(specs: List[InputSpec], shapes: Mapping[str, int], table_rows: Mapping[str, Optional[int]],
                  seed: int = 0) -> Dict[str, np.ndarray]:
    """:func:`random_inputs` for inputs described by ``specs`` (dims bound
    by ``shapes``), ``table_rows[name]`` the row count of the embedding
    table an integer input indexes (None or absent: 2), e.g. a binary
    manifest's ``index_rows``."""
    rng = np.random.default_rng(seed)
    out: Dict[str, np.ndarray] = {}
    past = sum(int(v) for k, v in shapes.items() if "past" in k.lower())
    for spec in specs:
        shape = spec.bind(shapes)
        lname = spec.name.lower()
        if np.issubdtype(spec.dtype, np.integer) or spec.dtype == np.bool_:
            if "mask" in lname:
                a = np.ones(shape, dtype=spec.dtype)
                if a.ndim >= 2 and shape[-1] >= 3:
                    a[-1, ..., shape[-1] - max(1, shape[-1] // 4):] = 0
            elif "position" in lname:
                a = np.broadcast_to(np.arange(past, past + shape[-1]), shape).astype(spec.dtype)
            else:
                rows = table_rows.get(spec.name) or 2
                a = rng.integers(0, rows, size=shape).astype(spec.dtype)
        else:
            if "mask" in lname and len(shape) >= 2:
                a = np.broadcast_to(np.tril(np.ones(shape[-2:])), shape).astype(spec.dtype)
            elif spec.symbols or not shape:
                a = rng.standard_normal(shape).astype(spec.dtype)
            else:
                a = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(spec.dtype)
        out[spec.name] = np.asarray(a, order="C")
    return out

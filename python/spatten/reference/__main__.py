"""CLI: runs the NumPy reference on a model and prints the per-layer
selections as JSON. The SpAtten flags are spatten-compile's (``--flag
value`` or ``--flag=value``)::

    /usr/bin/python3 -m spatten.reference model.onnx --token-keep 0.5 \\
        --keep-positions 0 --shape batch=1 --shape sequence=16
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Optional

from ..tensors import load_tensor, random_inputs, symbolic_dims
from . import config
from .loaders import from_onnx
from .models import run_inputs


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.reference",
                                 description="Run the SpAtten NumPy reference; print per-layer selections as JSON.")
    ap.add_argument("model", help="BERT- or GPT-2-style .onnx")
    config.add_arguments(ap)
    ap.add_argument("--shape", action="append", default=[], metavar="DIM=N",
                    help="bind a symbolic input dim for seeded random inputs (default: every dim 1, sequence 16)")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE", help=".npy or .pb input")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        cfg = config.from_arguments(args)
        mw = from_onnx(args.model)
        inputs = {k: load_tensor(v) for k, v in (i.split("=", 1) for i in args.input)}
        if not inputs:
            shapes = {k: int(v) for k, v in (s.split("=", 1) for s in args.shape)}
            inputs = random_inputs(args.model, _default_shapes(args.model, shapes), seed=args.seed)
        res = run_inputs(mw, inputs, cfg)
    except (ValueError, OSError) as e:
        print(f"spatten.reference: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"layers": [r.to_json() for r in res.layers[0]]}, indent=1))
    return 0


def _default_shapes(model: str, shapes: Dict[str, int]) -> Dict[str, int]:
    """Unbound symbolic dims: 16 when the name looks like a sequence, else 1."""
    out = dict(shapes)
    for d in symbolic_dims(model):
        out.setdefault(d, 16 if ("seq" in d.lower() or "len" in d.lower()) else 1)
    return out


if __name__ == "__main__":
    sys.exit(main())

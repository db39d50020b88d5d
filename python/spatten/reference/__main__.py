"""CLI: runs the NumPy reference on a model and prints the per-layer
selections as JSON. The SpAtten flags are spatten-compile's (``--flag
value`` or ``--flag=value``)::

    /usr/bin/python3 -m spatten.reference model.onnx --token-keep 0.5 \\
        --keep-positions 0 --shape batch=1 --shape sequence=16

With ``--generate N`` (a GPT-2 model with an LM head, ``spatten.export
gpt2-lm``), it generates N tokens greedily after the ``input_ids`` prompt
and prints the tokens and every step's per-layer records
(docs/Algorithms.md "Generation").
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Optional

from ..tensors import load_tensor, random_inputs, symbolic_dims
from . import config
from .generation import generate
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
    ap.add_argument("--generate", type=int, metavar="N", help="generate N tokens after the input_ids prompt")
    args = ap.parse_args(argv)
    try:
        cfg = config.from_arguments(args)
        mw = from_onnx(args.model)
        inputs = {k: load_tensor(v) for k, v in (i.split("=", 1) for i in args.input)}
        if not inputs:
            shapes = {k: int(v) for k, v in (s.split("=", 1) for s in args.shape)}
            inputs = random_inputs(args.model, _default_shapes(args.model, shapes), seed=args.seed)
        if args.generate is not None:
            if "input_ids" not in inputs:
                raise ValueError("--generate needs an input_ids prompt")
            gen = generate(mw, inputs["input_ids"], args.generate, cfg)
            out = {"tokens": gen.tokens[0].tolist(),
                   "steps": [dict(step=s.step, context=s.context, query=s.query, token=s.token,
                                  layers=[r.to_json() for r in s.layers]) for s in gen.steps]}
        else:
            out = {"layers": [r.to_json() for r in run_inputs(mw, inputs, cfg).layers[0]]}
    except (ValueError, OSError) as e:
        print(f"spatten.reference: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=1))
    return 0


def _default_shapes(model: str, shapes: Dict[str, int]) -> Dict[str, int]:
    """Unbound symbolic dims: 16 when the name looks like a sequence, else 1."""
    out = dict(shapes)
    for d in symbolic_dims(model):
        out.setdefault(d, 16 if ("seq" in d.lower() or "len" in d.lower()) else 1)
    return out


if __name__ == "__main__":
    sys.exit(main())

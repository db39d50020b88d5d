#!/usr/bin/env python3
"""The model zoo, measured: every family ``spatten.export`` writes, at opsets
14 and 17, compiled dense and with each SpAtten technique, beside
onnxruntime, PyTorch and the NumPy reference. Writes the section "Model
zoo" of docs/results.md.

    /usr/bin/python3 bench/zoo.py                 # after building build/bin
    /usr/bin/python3 bench/zoo.py --bin-dir DIR --output FILE

Each family is the tiny size (seed 3) at batch 1 and 12 tokens (BART and
T5: a 12-token source and an 8-token target). A dense
run's error is the largest absolute difference of any output element from
onnxruntime's and from PyTorch's; a technique's is the largest from the
reference's outputs for the same settings (docs/Algorithms.md), on the
hardware configuration the compiler uses by default. A failure is
recorded with the tool's message and the table goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))

from generation import write_section  # noqa: E402
from spatten import export as E  # noqa: E402
from spatten import ort, tensors, tools  # noqa: E402
from spatten import reference as R  # noqa: E402

BEGIN, END = "<!-- zoo:begin -->", "<!-- zoo:end -->"
FAMILIES = ("bert", "roberta", "gpt2-lm", "opt", "transformer-encoder", "llama", "gpt-neox", "falcon", "phi", "vit",
            "bart", "t5")
OPSETS = (14, 17)
#: Families whose techniques run on an unpadded row: the reference has no
#: padding under a causal mask (dense runs keep the padding).
UNPADDED_TECHNIQUES = ("opt",)
SEQ = 12
#: The techniques, each alone and together (the accuracy benchmark's
#: simulator points).
TECHNIQUES: Dict[str, R.SpAttenConfig] = {
    "token": R.SpAttenConfig(token_keep=0.5),
    "head": R.SpAttenConfig(head_keep=0.5),
    "value": R.SpAttenConfig(value_keep=0.3),
    "pq": R.SpAttenConfig(pq_msb=6),
    "all": R.SpAttenConfig(token_keep=0.5, head_keep=0.5, value_keep=0.3, pq_msb=6),
}
HARDWARE = ROOT / "configs" / "spatten.json"


def max_error(got: Dict[str, np.ndarray], want: Dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(got[k], np.float64) - np.asarray(want[k], np.float64))))
               for k in want if np.asarray(want[k]).size)


def measure(family: str, opset: int, work: Path, bin_dir: Optional[Path]) -> Dict[str, object]:
    """Dense errors against onnxruntime and PyTorch, and each technique's
    error against the reference (or the message that stopped it)."""
    model_path = work / f"{family}-{opset}.onnx"
    model = E.export(family, str(model_path), opset=opset, seed=3, seq_len=SEQ)
    inputs = E.make_inputs(model.config, batch=1, seq_len=SEQ, seed=2)
    # Each dynamic dim as long as the inputs are (BART's target is shorter).
    shapes = {d: inputs[spec.name].shape[axis] for spec in tensors.input_specs(model_path)
              for axis, d in enumerate(spec.dims) if isinstance(d, str)}
    weights, hardware = R.from_torch(model), json.loads(HARDWARE.read_text())

    def run(cfg: R.SpAttenConfig) -> Dict[str, np.ndarray]:
        binary = tools.compile(model_path, work / "model.spbin", settings=cfg, shapes=shapes, directory=bin_dir)
        return tools.simulate(binary, inputs, work / "run", directory=bin_dir).outputs

    row: Dict[str, object] = {"family": family, "opset": opset}
    try:
        dense = run(R.SpAttenConfig())
        row["onnxruntime"] = max_error(dense, ort.run(model_path, inputs))
        row["pytorch"] = max_error(dense, E.torch_outputs(model, inputs))
    except (tools.ToolError, RuntimeError, ValueError) as e:
        row["dense_error"] = str(e).splitlines()[0]
        return row
    if family in UNPADDED_TECHNIQUES:
        inputs = {**inputs, "attention_mask": np.ones_like(inputs["attention_mask"])}
    for name, cfg in TECHNIQUES.items():
        try:
            row[name] = max_error(run(cfg), R.run_inputs(weights, inputs, cfg, hardware).outputs)
        except (tools.ToolError, RuntimeError, ValueError) as e:
            row[name] = str(e).splitlines()[0]
    return row


def cell(value: object) -> str:
    return f"{value:.1e}" if isinstance(value, float) else f"refused: {value}"


def render(rows: List[Dict[str, object]]) -> List[str]:
    head = ["family", "opset", "dense vs onnxruntime", "dense vs PyTorch", *(f"{t} vs reference" for t in TECHNIQUES)]
    lines = [BEGIN, "## Model zoo", "",
             "Every family `spatten.export` writes, exported by PyTorch 1.13 (tiny size, seed 3, batch 1, "
             f"{SEQ} tokens; ViT a 32 x 32 image, 16 patches and its class token; BART and T5 (ReLU FFN) a source "
             f"of {SEQ} tokens and a target of {E.decoder_length(SEQ)}), compiled and simulated: the "
             "largest absolute difference of any output element "
             "from onnxruntime and PyTorch (dense), and from the NumPy reference for each SpAtten technique "
             "(token keep 0.5, head keep 0.5, value keep 0.3, progressive quantization 6+4 bits, and all "
             "four; OPT's on an unpadded row, as the reference has no padding under a causal mask). "
             "Produced by `bench/zoo.py`; docs/ONNXImport.md lists the families and what is refused.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "dense_error" in r:
            cells = [cell(r["dense_error"])] + [""] * (len(head) - 3)
        else:
            cells = [cell(r["onnxruntime"]), cell(r["pytorch"]), *(cell(r[t]) for t in TECHNIQUES)]
        lines.append(f"| {r['family']} | {r['opset']} | " + " | ".join(cells) + " |")
    return lines + ["", END]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", type=Path, default=None, help="spatten tools (default: $SPATTEN_BIN or build/bin)")
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "results.md")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            for opset in OPSETS:
                work = Path(tmp) / f"{family}-{opset}"
                work.mkdir()
                rows.append(measure(family, opset, work, args.bin_dir))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    write_section(args.output, render(rows), BEGIN, END)
    print(f"wrote the model zoo section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

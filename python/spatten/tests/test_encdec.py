"""Encoder-decoder models through the compiler and simulator:
spatten.export's ``bart`` (post-LN encoder and decoder, causal decoder
self-attention, cross-attention on the encoder's output, tied LM head with
``final_logits_bias``) and ``t5`` (pre-norm RMSNorm blocks, unscaled
scores plus a relative position bias, ReLU or gated-GELU FFN).

Exported by PyTorch 1.13 at opsets 14 and 17 with a source of 12 tokens
and a target of 8, compiled dense and compared with onnxruntime and
PyTorch: every self- and cross-attention lifts to ``spatten.attention``,
T5's position bias as its per-head score bias (docs/ONNXImport.md,
"Supported model families"). The SpAtten techniques are compared with the
NumPy reference (``reference.encdec``): the outputs, each attention's
heads, each stack's kept tokens and the unconfident rows
(docs/Algorithms.md, "Encoder-decoder models").
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from spatten import export as spexport
from spatten import ort, tools
from spatten import reference as R
from spatten.export_encdec import decoder_length
from spatten.report import Report
from test_agreement import CONFIGS as AGREEMENT_CONFIGS
from test_agreement import OUTPUT_BOUND, max_err

BOUND = 1e-4
SOURCE = 12
TARGET = decoder_length(SOURCE)
SHAPES = {"sequence": SOURCE, "decoder_sequence": TARGET}


#: name -> (spatten.export kind, options).
FAMILIES = {"bart": ("bart", {}), "t5": ("t5", {}), "t5-gated": ("t5", {"activation": "gelu"})}


def export(tmp_path: Path, family: str, opset: int = 14, layers: int = 2):
    kind, options = FAMILIES[family]
    path = tmp_path / f"{family}-{opset}.onnx"
    model = spexport.export(kind, str(path), opset=opset, seed=3, layers=layers, seq_len=SOURCE, **options)
    return path, model


@pytest.mark.parametrize("opset", [14, 17])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_dense_matches_onnxruntime_and_torch(family, opset, tmp_path):
    """Batch 2: every row's logits equal onnxruntime's and PyTorch's."""
    path, model = export(tmp_path, family, opset)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=SOURCE, seed=2)
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 2, **SHAPES})
    got = tools.simulate(binary, inputs, tmp_path / "out").outputs["logits"]
    assert got.shape == (2, TARGET, model.config.vocab)
    assert max_err(got, ort.run(path, inputs)["logits"]) < BOUND
    assert max_err(got, spexport.torch_outputs(model, inputs)["logits"]) < BOUND


@pytest.mark.parametrize("family", list(FAMILIES))
def test_reference_matches_torch(family):
    """The reference's encoder, decoder and cross-attention (T5: and its
    bucketed relative position bias) equal PyTorch's forward on a batch of
    two."""
    kind, options = FAMILIES[family]
    model = spexport.build_model(spexport.tiny_config(kind, seed=3, **options))
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=SOURCE, seed=2)
    want = spexport.torch_outputs(model, inputs)["logits"]
    assert max_err(R.run_inputs(R.from_torch(model), inputs).outputs["logits"], want) < BOUND


@pytest.mark.parametrize("args", [["bart"], ["t5", "--activation", "gelu"]])
def test_export_cli(args, tmp_path, capsys):
    """``spatten.export bart`` and ``t5`` write both inputs with their own
    dynamic lengths."""
    path = tmp_path / "model.onnx"
    assert spexport.main([*args, "--layers", "1", "-o", str(path)]) == 0
    from spatten import tensors
    assert set(tensors.symbolic_dims(path)) == {"batch", "sequence", "decoder_sequence"}
    assert "wrote" in capsys.readouterr().out


def selections(report: Report, encoder_layers: int, heads: int) -> List[Dict[str, List[int]]]:
    """Per attention (the report's layers, in execution order): the heads it
    computed and the tokens its stack keeps after it. The encoder's
    attentions are the first ``encoder_layers``; each stack's token top-k
    indexes its own kept list."""
    kept = {"encoder": list(range(SOURCE)), "decoder": list(range(TARGET)), "heads": list(range(heads))}
    by_layer: Dict[int, List[dict]] = {}
    for rec in report.data.get("topk", []):
        by_layer.setdefault(rec["layer"], []).append(rec)
    out = []
    for entry in report.layers:
        l = entry.layer
        stack = "encoder" if l < encoder_layers else "decoder"
        computed = list(kept["heads"])
        for rec in by_layer.get(l, []):
            role = "heads" if rec["role"] == "heads" else stack
            kept[role] = [kept[role][s] for s in rec["selected"]]
        out.append({"heads": computed, "kept_tokens": list(kept[stack])})
    return out


#: Every SpAtten technique, alone and together (test_agreement.py's), and
#: fixed-point attention.
CONFIGS = {**{k: AGREEMENT_CONFIGS[k] for k in ("token", "head", "value", "pq", "all", "pq-values-value",
                                                 "head-bits")},
           "attn-bits": R.SpAttenConfig(attn_bits=12)}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("family", ["bart", "t5"])
def test_spatten_agrees_with_reference(family, config, tmp_path):
    """Batch 1, three encoder and three decoder layers: logits within the
    agreement bound, and per attention the heads, the kept tokens of its
    stack and the unconfident rows as the reference computes them (T5:
    the score bias follows the kept tokens and heads)."""
    path, model = export(tmp_path, family, layers=3)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=SOURCE, seed=2)
    cfg = CONFIGS[config]
    binary = tools.compile(path, tmp_path / "model.spbin", settings=cfg, shapes={"batch": 1, **SHAPES})
    run = tools.simulate(binary, inputs, tmp_path / "out")
    want = R.run_inputs(R.from_torch(model), inputs, cfg, binary.hardware)
    assert max_err(run.outputs["logits"], want.outputs["logits"]) < OUTPUT_BOUND
    records = want.layers[0]
    got = selections(run.report, model.config.layers, model.config.heads)
    assert len(got) == len(records) == 3 * model.config.layers
    for sel, entry, r in zip(got, run.report.layers, records):
        assert sel["heads"] == r.heads, f"attention {r.layer}: heads"
        assert sel["kept_tokens"] == r.kept_tokens, f"attention {r.layer}: kept tokens"
        assert (entry.unconfident_rows or 0) == sum(len(v) for v in r.unconfident_rows.values())

"""The compiler + simulator against the NumPy reference.

For each model and SpAtten configuration, the ONNX model is compiled with
``spatten-compile`` and run on ``spatten-sim``; ``spatten.reference`` runs
the same model from its ONNX weights. Per layer, the kept token positions,
the kept heads and the heads that refetched key LSBs must be equal, and the
DRAM bytes of the report must be what those selections imply
(docs/Algorithms.md, "DRAM bytes"). Outputs agree within OUTPUT_BOUND:
both sides compute the same fp32 algorithm and differ only in summation
order (docs/Numerics.md, "Pruned runs").

Models: 4-layer tiny BERT and GPT-2 exported with PyTorch (summarization
mode: the whole prompt at once), and GPT2Model.onnx and
bert_toy_optimized.onnx from ../shared/models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest

from conftest import shared_model
from spatten import export as spexport
from spatten import reference as R
from spatten import tensors, tools
from spatten.report import Report

OUTPUT_BOUND = 1e-4
L0 = 16  # tokens per sequence (batch 1: pruning is per sequence) ...
GPT2MODEL_L0 = 8  # ... except GPT2Model.onnx, whose causal mask buffer is 8x8

CONFIGS = {
    "token": R.SpAttenConfig(token_keep=0.5),
    "head": R.SpAttenConfig(head_keep=0.75),
    "value": R.SpAttenConfig(value_keep=0.3),
    "pq": R.SpAttenConfig(pq_msb=6, pq_lsb=4, pq_threshold=0.1),
    "all": R.SpAttenConfig(token_keep=0.5, head_keep=0.75, value_keep=0.3, pq_msb=6, pq_lsb=4,
                           pq_threshold=0.1),
    # --pq-values, alone and with the value-row-masked V fetch.
    "pq-values": R.SpAttenConfig(pq_msb=8, pq_lsb=4, pq_threshold=0.1, pq_values=True),
    "pq-values-value": R.SpAttenConfig(value_keep=0.3, pq_msb=6, pq_lsb=4, pq_threshold=0.1,
                                       pq_values=True),
    # Head pruning of fixed-point K and V: the kept heads' rows are gathered
    # at their width.
    "head-bits": R.SpAttenConfig(head_keep=0.5, k_bits=4, v_bits=6),
}


def simulate(tmp: Path, model: Path, shapes: Dict[str, int], inputs: Dict[str, np.ndarray],
             cfg: R.SpAttenConfig, hw: Optional[Path] = None) -> Tuple[Dict[str, np.ndarray], Report]:
    """Compiles (for hardware configuration ``hw``) and runs ``model``;
    returns (outputs by graph name, report)."""
    binary = tools.compile(model, tmp / "model.spbin", settings=cfg, shapes=shapes, hw=hw)
    run = tools.simulate(binary, inputs, tmp / "out", report=tmp / "report.json")
    return run.outputs, run.report


# ----------------------------------------------------------------------------- models

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``get(name) -> (onnx path, ModelWeights, shapes, inputs, tokens)``,
    cached."""
    root = tmp_path_factory.mktemp("agreement-models")
    cache = {}

    def get(name: str):
        if name in cache:
            return cache[name]
        if name in ("bert", "gpt2"):
            path = root / f"{name}.onnx"
            model = spexport.export(name, str(path), size="tiny", seed=3, layers=4, seq_len=L0)
            inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=2)
            shapes = {"batch": 1, "sequence": L0}
        elif name == "gpt2model":
            path = shared_model("gpt2_pytorch1.4_opset11_no_past/GPT2Model.onnx")
            shapes = {"batch_size": 1, "seq_len": GPT2MODEL_L0}
            inputs = tensors.random_inputs(path, shapes, seed=2)
        else:
            path = shared_model("bert_toy_optimized.onnx")
            shapes = {"batch": 1, "max_seq_len_in_batch": L0}
            inputs = tensors.random_inputs(path, shapes, seed=2)
        tokens = GPT2MODEL_L0 if name == "gpt2model" else L0
        cache[name] = (path, R.from_onnx(path), shapes, inputs, tokens)
        return cache[name]

    return get


def max_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def row_bytes(d: int, bits) -> int:
    return 4 * d if bits is None else R.row_bytes(d, bits) + 4


# ----------------------------------------------------------------------------- agreement

@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("name", ["bert", "gpt2", "gpt2model", "bert_toy"])
def test_simulator_agrees_with_reference(name, config, models, tmp_path):
    check_agreement(models(name), CONFIGS[config], tmp_path)


@pytest.mark.parametrize("buffers", [("k", "v"), ("q",)], ids=["kv", "q"])
@pytest.mark.parametrize("config", ["pq", "all", "pq-values-value"])
def test_one_slot_agrees_with_reference(config, buffers, models, tmp_path):
    """Buffers that hold one head's keys (K/V) or query rows (Q) but not
    two, as BERT-base at 512 tokens on the spatten preset: every head uses
    offset 0 (with progressive quantization all query rows must share one
    ATTN), and the next head's inputs must not be fetched while this head
    still reads them, as the prefetch under progressive quantization
    otherwise does."""
    model = models("bert")
    d, tokens = model[1].head_dim, model[4]
    size = 4 * d * tokens * 3 // 2  # 1.5 heads of fp32 rows
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"preset": "spatten", "name": "one-slot",
                              **{f"{b}_buffer_bytes": size for b in buffers}}))
    check_agreement(model, CONFIGS[config], tmp_path, hw)


MULTI_FILL = {
    "token": CONFIGS["token"],
    "head": CONFIGS["head"],
    "token-head": R.SpAttenConfig(token_keep=0.5, head_keep=0.75),
    "value": CONFIGS["value"],
}


@pytest.mark.parametrize("config", list(MULTI_FILL))
@pytest.mark.parametrize("name", ["bert", "gpt2", "gpt2model", "bert_toy"])
def test_multi_fill_agrees_with_reference(name, config, models, tmp_path):
    """Keys over several K/V buffer fills (4 keys a fill: 16 tokens take
    four fills, and still two after token pruning; GPT2Model.onnx's 8 two,
    with its per-query causal mask) and query tiles of 6 rows: the two-pass
    softmax keeps the same tokens and heads as the reference, and each K
    row is read twice per query tile and each V row once (check_bytes)."""
    d = models(name)[1].head_dim
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"preset": "spatten", "name": "four-keys", "max_keys_per_fill": 4,
                              "q_buffer_bytes": 6 * 4 * d}))
    check_agreement(models(name), MULTI_FILL[config], tmp_path, hw)


def check_agreement(model, cfg: R.SpAttenConfig, tmp_path: Path, hw: Optional[Path] = None,
                    output_bound: float = OUTPUT_BOUND) -> Dict[str, np.ndarray]:
    """Checks the simulator's run of ``model`` against the reference's,
    outputs within ``output_bound``; returns the simulator's outputs."""
    path, mw, shapes, inputs, tokens = model
    got, report = simulate(tmp_path, path, shapes, inputs, cfg, hw)
    hardware = tools.Binary(tmp_path / "model.spbin").hardware
    want = R.run_inputs(mw, inputs, cfg, hardware)
    records = want.layers[0]
    sel = report.layer_selections(tokens, mw.heads)
    assert [s.layer for s in sel] == [r.layer for r in records]
    for s, r in zip(sel, records):
        assert s.tokens == r.tokens, f"layer {r.layer}: kept tokens"
        assert s.heads == r.heads, f"layer {r.layer}: kept heads"
        assert s.refetched_heads == sorted(r.refetched_rows), f"layer {r.layer}: refetched heads"
        assert s.unconfident_rows == sum(len(v) for v in r.unconfident_rows.values())
    for out in got:
        assert max_err(got[out], want.outputs[out]) < output_bound, out
    check_bytes(report, records, mw.head_dim, cfg, hardware)
    return got


def check_bytes(report: Report, records: List[R.LayerRecord], d: int, cfg: R.SpAttenConfig,
                hardware: Optional[dict] = None):
    """Every layer's K and V bytes are the kept rows times the row bytes:
    the K MSB plane for every key row, the LSB plane for exactly the
    refetched rows, and only the V rows local value pruning kept (with
    --pq-values: their MSB plane, and their LSB plane in refetching
    heads). Keys over several K/V buffer fills of ``hardware``, and
    progressive quantization's query rows over several tiles, are read
    more than once (R.fill_fetches, R.pq_query_tiles)."""
    for layer, r in zip(report.layers, records):
        c, read = r.counts, layer.dram.read
        k_fetches, v_fetches = R.fill_fetches(len(r.tokens), len(r.tokens), d, hardware, *R.kv_bits(cfg))
        if cfg.pq_msb is not None:
            assert read(["k_msb"]) == c["k_msb_rows"] * row_bytes(d, cfg.pq_msb)
            assert read(["k_lsb"]) == c["k_lsb_rows"] * R.row_bytes(d, cfg.pq_lsb)
            assert layer.refetched_rows == c["k_lsb_rows"]
            assert (c["k_lsb_rows"] > 0) == bool(r.refetched_rows)
            assert read(["k"]) == 0
        else:
            assert read(["k"]) == len(r.heads) * len(r.tokens) * k_fetches * row_bytes(d, cfg.key_bits)
            assert read(["k"]) == c["k_bytes"]
        if cfg.pq_values:
            assert read(["v"]) == 0
            assert read(["v_msb"]) == c["v_msb_rows"] * row_bytes(d, cfg.pq_msb)
            assert read(["v_lsb"]) == c["v_lsb_rows"] * R.row_bytes(d, cfg.pq_lsb)
        else:
            if cfg.pq_msb is None:
                assert read(["v"]) == c["v_rows"] * v_fetches * row_bytes(d, cfg.value_bits)
            assert read(["v"]) == c["v_bytes"]
        assert read(["q"]) == c["q_rows"] * row_bytes(d, cfg.query_bits)


# ----------------------------------------------------------------------------- totals and bounds

def test_token_keep_half_fetches_half_the_keys_and_values(tmp_path):
    """Paper schedule at token keep 0.5 on a 12-layer model: K/V bytes over
    all layers are 0.5 +- 0.05 of dense (docs/Algorithms.md, "Schedules")."""
    path = tmp_path / "bert12.onnx"
    model = spexport.export("bert", str(path), size="tiny", seed=4, layers=12, seq_len=64)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=64, seed=1)
    inputs["attention_mask"][:] = 1  # padding would make pruning choose it first
    shapes = {"batch": 1, "sequence": 64}
    totals = {}
    for label, cfg in (("dense", R.SpAttenConfig()), ("pruned", R.SpAttenConfig(token_keep=0.5))):
        (tmp_path / label).mkdir()
        _, report = simulate(tmp_path / label, path, shapes, inputs, cfg)
        totals[label] = report.dram.read(["k", "v"])
        assert len(report.layers) == 12
    ratio = totals["pruned"] / totals["dense"]
    assert 0.45 <= ratio <= 0.55, ratio


def fixed_point_bound(cfg: R.SpAttenConfig, n_layers: int) -> float:
    """docs/Numerics.md, "Fixed-point attention": the bound on |y - y_dense|
    relative to max|y_dense|, n (1.5 (u_q + u_k) + u_v) with u = 2^-N per
    tensor (0 in fp32; 2^-msb for a tensor fetched MSB plane first). With
    one width N for Q, K and V it is 4 n 2^-N."""
    u = lambda bits: 0.0 if bits is None else 2.0 ** -bits
    u_k = u(cfg.key_bits) if cfg.pq_msb is None else u(cfg.pq_msb)
    u_v = u(cfg.pq_msb) if cfg.pq_values else u(cfg.value_bits)
    return n_layers * (1.5 * (u(cfg.query_bits) + u_k) + u_v)


def check_within_bound(model, cfg: R.SpAttenConfig, got: Dict[str, np.ndarray]):
    """The fixed-point run moves every output, by less than the bound."""
    _, mw, _, inputs, _ = model
    dense = R.run_inputs(mw, inputs).outputs
    for out in got:
        bound = fixed_point_bound(cfg, len(mw.layers)) * float(np.max(np.abs(dense[out])))
        assert 0 < max_err(got[out], dense[out]) < bound, out


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_attn_bits_12_within_the_derived_bound(name, models, tmp_path):
    """The simulator equals the reference's fixed-point run within the fp32
    bound, with its DRAM bytes, and stays within the derived bound of the
    dense run."""
    cfg = R.SpAttenConfig(attn_bits=12)
    check_within_bound(models(name), cfg, check_agreement(models(name), cfg, tmp_path))


#: Q, K and V at widths of their own: 16/8/6 bits, and the paper's
#: generation setting (keys progressive, 6 MSB + 4 LSB bits at threshold
#: 0.05; values 6 bits; queries 16).
TENSOR_WIDTHS = {
    "q16-k8-v6": R.SpAttenConfig(q_bits=16, k_bits=8, v_bits=6),
    "generation": R.SpAttenConfig(pq_msb=6, pq_lsb=4, pq_threshold=0.05, q_bits=16, v_bits=6),
}


@pytest.mark.parametrize("config", list(TENSOR_WIDTHS))
@pytest.mark.parametrize("name", ["bert", "gpt2", "gpt2model", "bert_toy"])
def test_tensor_widths_within_the_derived_bound(name, config, models, tmp_path):
    """Kept tokens, heads, refetches and DRAM bytes (each tensor's rows at
    its width) equal the reference's; outputs within the fp32 bound of the
    reference's run and within the derived bound of the dense run."""
    cfg = TENSOR_WIDTHS[config]
    check_within_bound(models(name), cfg, check_agreement(models(name), cfg, tmp_path))


@pytest.mark.parametrize("config", ["value", "pq", "all", "pq-values", "pq-values-value"])
@pytest.mark.parametrize("name", ["bert", "gpt2", "gpt2model", "bert_toy"])
def test_pruning_over_fills_agrees_with_reference(name, config, models, tmp_path):
    """Local value pruning and progressive quantization over fills of 4
    keys, every query row in one tile: each row keeps the largest
    probabilities of its whole row, each head decides on the statistics of
    every fill (docs/Algorithms.md, "Attention over several fills"), so
    tokens, heads, refetches and outputs are the reference's; K MSB and LSB
    bytes follow R.pq_query_tiles (check_bytes)."""
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"preset": "spatten", "name": "four-keys", "max_keys_per_fill": 4}))
    check_agreement(models(name), CONFIGS[config], tmp_path, hw)


@pytest.mark.parametrize("fill", [None, 4], ids=["one-fill", "fills-of-4"])
@pytest.mark.parametrize("config", ["pq", "all", "pq-value", "pq-values", "pq-values-value"])
@pytest.mark.parametrize("name", ["bert", "gpt2", "bert_toy"])
def test_pq_across_query_tiles_agrees_with_reference(name, config, fill, models, tmp_path):
    """Progressive quantization with query tiles of 6 rows (16 tokens take
    three): the head first decides on decide statistics of every tile
    (docs/ISA.md, `next_tile`), then each tile runs its statistics and
    apply passes with the LSB planes fetched for a refetching head. Tokens,
    heads, refetched heads, unconfident rows and outputs are the
    reference's (with --pq-values every row of a refetching head reads full
    values); the bytes follow R.pq_query_tiles."""
    d = models(name)[1].head_dim
    hw = tmp_path / "hw.json"
    fields = {"q_buffer_bytes": 6 * 4 * d, **({"max_keys_per_fill": fill} if fill else {})}
    hw.write_text(json.dumps({"preset": "spatten", "name": "six-rows", **fields}))
    cfg = R.SpAttenConfig(value_keep=0.3, pq_msb=6, pq_lsb=4, pq_threshold=0.2) if config == "pq-value" \
        else CONFIGS[config]
    check_agreement(models(name), cfg, tmp_path, hw)

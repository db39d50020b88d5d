"""Attention over more keys than one K/V buffer fill, end to end.

A head whose keys exceed one fill runs a statistics pass and an apply
pass over each fill (docs/Algorithms.md, "Attention over several fills").
The outputs are compared with onnxruntime within 1e-4 max abs error
(docs/Numerics.md: fp32 throughout, only the summation order differs),
and the report's K and V bytes with the fetches the reference
counts (``spatten.reference.fill_fetches``). Fixed-point K and V, which
the K/V buffers hold at their width, are compared with the NumPy
reference instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from spatten import export as spexport
from spatten import ort, tools
from spatten import reference as R
from test_agreement import check_agreement, fixed_point_bound
from test_e2e import check_report, compare, compile_model, simulate, write_inputs


def run_long(kind: str, tokens: int, tmp_path: Path, hw: Optional[dict] = None, **widths):
    """Exports a 2-layer ``kind`` model of ``widths`` for ``tokens`` tokens,
    compiles it (for hardware ``hw`` over the spatten preset), simulates it
    and compares with onnxruntime. Returns (binary, run, head width)."""
    path = tmp_path / "model.onnx"
    model = spexport.export(kind, str(path), size="tiny", seed=5, layers=2, seq_len=tokens, **widths)
    arrays = spexport.make_inputs(model.config, batch=1, seq_len=tokens, seed=6)
    binary = compile_model(path, {"batch": 1, "sequence": tokens}, tmp_path / "model.spbin",
                           hw_file(tmp_path, hw))
    run = simulate(binary, write_inputs(arrays, tmp_path / "in"), tmp_path / "out")
    compare(run, ort.run(path, arrays), "onnxruntime")
    check_report(run.report)
    return binary, run, model.config.hidden // model.config.heads


def hw_file(tmp_path: Path, hw: Optional[dict]) -> Optional[Path]:
    """A hardware configuration of the spatten preset with ``hw``'s fields."""
    if hw is None:
        return None
    path = tmp_path / "hw.json"
    path.write_text(json.dumps({"preset": "spatten", "name": "long-attention", **hw}))
    return path


def check_kv_bytes(binary, run, tokens: int, heads: int, d: int, fetches):
    """Each layer reads every K row k times and every V row v times."""
    assert R.fill_fetches(tokens, tokens, d, binary.hardware) == fetches
    rows = heads * tokens * 4 * d
    for layer in run.report.layers:
        assert layer.dram.read(["k"]) == rows * fetches[0]
        assert layer.dram.read(["v"]) == rows * fetches[1]


def test_gpt2_1024_tokens(tmp_path, reference_ready):
    """GPT-2 at 1024 tokens with 64-wide heads: 1024 keys take two fills of
    784 on the spatten preset (the K buffer holds 784 rows of 64 fp32), and
    the 1024 query rows two tiles, so each K row is read four times."""
    binary, run, d = run_long("gpt2", 1024, tmp_path, hidden=256, heads=4, max_positions=1024)
    check_kv_bytes(binary, run, 1024, 4, d, (4, 2))


def test_bert_2048_tokens(tmp_path, reference_ready):
    """A BERT-style model with a 2048-position table at 2048 tokens: two
    fills of 1024 keys (max_keys_per_fill) and one query tile."""
    binary, run, d = run_long("bert", 2048, tmp_path, hidden=64, heads=4, max_positions=2048)
    check_kv_bytes(binary, run, 2048, 4, d, (2, 1))


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_small_kv_buffers(kind, tmp_path, reference_ready):
    """Five keys a fill and seven query rows a tile: 24 tokens take five
    fills (the last of four keys) and four tiles (the last of three rows),
    so fills lie wholly past some query rows of a causal tile."""
    binary, run, d = run_long(kind, 24, tmp_path, {"max_keys_per_fill": 5, "q_buffer_bytes": 7 * 4 * 8},
                              hidden=32, heads=4, max_positions=64)
    check_kv_bytes(binary, run, 24, 4, d, (8, 4))


def test_gpt2_kv_cache_over_fills(tmp_path, reference_ready):
    """A KV cache of 3 tokens and 6 new ones over fills of 4 keys: the first
    fill holds cached and new rows, and the presents (written per fill by
    the first query tile) and logits match onnxruntime."""
    path = tmp_path / "lm.onnx"
    model = spexport.export("gpt2-lm", str(path), size="tiny", past=True)
    arrays = spexport.make_inputs(model.config, seq_len=6, seed=1, past_len=3)
    shapes = {"batch": 1, "sequence": 6, "past_sequence": 3}
    binary = compile_model(path, shapes, tmp_path / "lm.spbin",
                           hw_file(tmp_path, {"max_keys_per_fill": 4, "q_buffer_bytes": 4 * 4 * 8}))
    run = simulate(binary, write_inputs(arrays, tmp_path / "in"), tmp_path / "out")
    compare(run, ort.run(path, arrays), "onnxruntime")


#: Fixed-point K and V that hold 1024 keys of width 64 in one fill, and the
#: hardware each needs: progressive quantization needs the 1024 query rows
#: in one ATTN, which takes a Q buffer of 256 KiB.
ONE_FILL = {
    "attn-bits-value-keep": (R.SpAttenConfig(attn_bits=12, value_keep=0.3), None),
    "pq-msb": (R.SpAttenConfig(pq_msb=6, pq_lsb=4, pq_threshold=0.1, v_bits=6),
               {"q_buffer_bytes": 262144}),
}


@pytest.mark.parametrize("config", list(ONE_FILL))
def test_gpt2_1024_fixed_point_keys_take_one_fill(config, tmp_path):
    """The K and V buffers hold keys at their width (docs/ISA.md, "SRAM
    operands"): at 1024 tokens GPT-2's 64-wide fixed-point keys and values
    fit one fill, where fp32 ones take two, so local value pruning and
    progressive quantization run there. Kept tokens, refetches and K/V
    bytes (each row fetched once) equal the NumPy reference's, outputs are
    within the fixed-point bound of its outputs."""
    cfg, hw = ONE_FILL[config]
    tokens = 1024
    path = tmp_path / "model.onnx"
    model = spexport.export("gpt2", str(path), size="tiny", seed=5, layers=2, seq_len=tokens, hidden=256,
                            heads=4, max_positions=tokens)
    arrays = spexport.make_inputs(model.config, batch=1, seq_len=tokens, seed=6)
    mw = R.from_onnx(path)
    # Over 2 x 1024 x 256 quantized elements per tensor, a few land on the
    # other side of a rounding boundary (the GEMMs sum in another order than
    # NumPy) and move the outputs by about one code step: the fixed-point
    # bound, not the fp32 one, holds (docs/Numerics.md).
    dense = R.run_inputs(mw, arrays).outputs
    bound = fixed_point_bound(cfg, len(mw.layers)) * max(float(np.max(np.abs(y))) for y in dense.values())
    check_agreement((path, mw, {"batch": 1, "sequence": tokens}, arrays, tokens), cfg, tmp_path,
                    hw_file(tmp_path, hw), output_bound=bound)
    hardware = tools.Binary(tmp_path / "model.spbin").hardware
    assert R.keys_per_fill(hardware, 64) == 784
    assert R.fill_fetches(tokens, tokens, 64, hardware, *R.kv_bits(cfg)) == (1, 1)


@pytest.mark.parametrize("flags", [R.SpAttenConfig(value_keep=0.5), R.SpAttenConfig(pq_msb=6, pq_threshold=0.5),
                                   R.SpAttenConfig(value_keep=0.2, pq_msb=8, pq_values=True, pq_threshold=0.5)],
                         ids=["value-keep", "pq-msb", "pq-values-value-keep"])
def test_techniques_that_need_a_whole_row_run_over_several_fills(flags, tmp_path):
    """Local value pruning and progressive quantization over fills of 4
    keys (docs/Algorithms.md, "Attention over several fills"): 8 tokens
    take two fills, and kept tokens, refetches, outputs and K/V bytes are
    the NumPy reference's."""
    path = tmp_path / "model.onnx"
    model = spexport.export("gpt2", str(path), size="tiny", layers=1, seq_len=8)
    arrays = spexport.make_inputs(model.config, batch=1, seq_len=8, seed=6)
    mw = R.from_onnx(path)
    check_agreement((path, mw, {"batch": 1, "sequence": 8}, arrays, 8), flags, tmp_path,
                    hw_file(tmp_path, {"max_keys_per_fill": 4}))
    hardware = tools.Binary(tmp_path / "model.spbin").hardware
    assert R.fill_fetches(8, 8, mw.head_dim, hardware, *R.kv_bits(flags)) == (2, 1)

"""spatten.reference: the NumPy reference of SpAtten (docs/Algorithms.md).

Dense runs are checked against onnxruntime and the models' own test data;
the SpAtten pieces against hand calculations; pruned runs on small models
against the invariants of the schedules (counts, forced positions, cascade).
Bounds are explained in docs/Numerics.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, shared_model
from spatten import export as spexport
from spatten import ort, tensors
from spatten import reference as R
from spatten.reference.attention import _counts, _prune, _State, _value_prune

DENSE_BOUND = 1e-4  # same as the simulator's fp32 bound, docs/Numerics.md
GPT2_DIR = "gpt2_pytorch1.4_opset11_no_past"
F32 = np.float32


def max_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def attn_bits_bound(bits: int, n_layers: int, ref: np.ndarray) -> float:
    """docs/Numerics.md "Fixed-point attention": 4 n 2^-N max|y|."""
    return 4.0 * n_layers * 2.0 ** -bits * float(np.max(np.abs(ref)))


# ----------------------------------------------------------------------------- models

@pytest.fixture(scope="module")
def small_models():
    """Tiny BERT and GPT-2 (torch, lifted), 4 layers unless asked: enough
    layers for a cascade. ``get(kind, layers=4) -> (ModelWeights, torch model)``."""
    cache = {}

    def get(kind, layers=4):
        if (kind, layers) not in cache:
            model = spexport.build_model(spexport.tiny_config(kind, seed=3, layers=layers))
            cache[kind, layers] = (R.from_torch(model), model)
        return cache[kind, layers]

    return get


def bert_toy():
    p = shared_model("bert_toy_optimized.onnx")
    return p, R.from_onnx(p)


def gpt2_model():
    p = shared_model(f"{GPT2_DIR}/GPT2Model.onnx")
    return p, R.from_onnx(p)


# ----------------------------------------------------------------------------- dense equivalence

@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_dense_tiny_export_matches_onnxruntime(kind, tiny_models, reference_ready):
    path, model = tiny_models(kind, 14)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=8, seed=5)
    want = ort.run(path, inputs)
    for mw in (R.from_onnx(path), R.from_torch(model)):
        got = R.run_inputs(mw, inputs).outputs
        assert set(got) == set(want)
        for name in want:
            assert got[name].shape == want[name].shape
            assert max_err(got[name], want[name]) < DENSE_BOUND, name


def test_dense_gpt2model_matches_test_data_and_onnxruntime(reference_ready):
    path, mw = gpt2_model()
    ids = tensors.load_tensor(path.parent / "test_data_set_0" / "input_0.pb")
    expected = tensors.load_tensor(path.parent / "test_data_set_0" / "output_0.pb")
    assert (mw.kind, mw.heads, len(mw.layers)) == ("gpt2", 2, 12)
    got = R.run(mw, ids).outputs["hidden_states"]
    assert max_err(got, expected) < DENSE_BOUND
    longer = np.array([[3, 1, 4, 1, 5, 9, 2, 6]], dtype=np.int64)
    want = ort.run(path, {"input_ids": longer})["hidden_states"]
    assert max_err(R.run(mw, longer).outputs["hidden_states"], want) < DENSE_BOUND


def test_dense_bert_toy_matches_onnxruntime(reference_ready):
    path, mw = bert_toy()
    assert (mw.kind, mw.heads, len(mw.layers)) == ("bert", 4, 5)
    inputs = tensors.random_inputs(path, {"batch": 2, "max_seq_len_in_batch": 7})
    assert inputs["input_mask"][-1, -1] == 0  # the padding path is exercised
    want = ort.run(path, inputs)
    got = R.run_inputs(mw, inputs).outputs
    assert list(got) == ["prediction_scores", "seq_relationship_score"]
    for name in want:
        assert max_err(got[name], want[name]) < DENSE_BOUND, name


# ----------------------------------------------------------------------------- fixed point only

@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_attn_bits_within_derived_bound(kind, small_models):
    mw, model = small_models(kind)
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=12, seed=1)
    dense = R.run_inputs(mw, inputs).outputs["last_hidden_state"]
    errs = {}
    for bits in (8, 12):
        got = R.run_inputs(mw, inputs, R.SpAttenConfig(attn_bits=bits)).outputs["last_hidden_state"]
        errs[bits] = max_err(got, dense)
        assert 0 < errs[bits] < attn_bits_bound(bits, len(mw.layers), dense), (bits, errs)
    # The error follows the quantization step: 4 fewer bits, ~16x the error.
    assert 4 < errs[8] / errs[12] < 64, errs


def test_attn_bits_shared_models_within_bound():
    for path, mw in (gpt2_model(), bert_toy()):
        inputs = tensors.random_inputs(path, {"batch_size": 1, "seq_len": 8, "batch": 1, "max_seq_len_in_batch": 8})
        inputs = {k: v for k, v in inputs.items()}
        dense = R.run_inputs(mw, inputs).outputs
        q12 = R.run_inputs(mw, inputs, R.SpAttenConfig(attn_bits=12)).outputs
        for name in dense:
            err = max_err(q12[name], dense[name])
            assert 0 < err < attn_bits_bound(12, len(mw.layers), dense[name]), (path.name, name, err)


# ----------------------------------------------------------------------------- top-k and schedules

def test_topk_ties_go_to_the_earliest_and_output_is_in_original_order():
    s = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=F32)
    assert R.topk(s, 2, range(5)).tolist() == [1, 2]
    assert R.topk(s, 3, range(5)).tolist() == [1, 2, 4]
    assert R.topk(s, 4, range(5)).tolist() == [1, 2, 3, 4]
    assert R.topk(s, 2, [4, 3, 0]).tolist() == [3, 4]  # candidates in any order
    assert R.topk(s, 9, [3, 0]).tolist() == [0, 3]
    assert R.topk(np.zeros(6), 3, range(6)).tolist() == [0, 1, 2]


def test_paper_schedule_formula():
    f = R.paper_schedule(12, 0.5, 0.15)
    assert f[0] == 1.0 and f[1] < 1.0  # n0 = floor(1.8) = 1
    assert math.isclose(f.mean(), 0.5, rel_tol=1e-12)
    assert np.all(np.diff(f) <= 0)
    a = 2 * 12 * 0.5 / (11 * 12)
    assert np.allclose(f[1:], 1 - a * np.arange(1, 12))
    heads = R.paper_schedule(10, 0.75, 0.3)
    assert heads[:3].tolist() == [1, 1, 1] and heads[3] < 1
    assert math.isclose(heads.mean(), 0.75, rel_tol=1e-12)
    # floor(0.3 * 3) = 0, yet layer 0 always computes every head:
    # n0 = 1, m = 2, a = 2*3*0.5/(2*3) = 0.5, f = [1, 0.5, 0].
    assert np.allclose(R.paper_schedule(3, 0.5, 0.3), [1.0, 0.5, 0.0])
    for n in range(1, 20):
        assert R.paper_schedule(n, 0.2, 0.15)[0] == 1.0 and R.paper_schedule(n, 0.2, 0.3)[0] == 1.0


def test_paper_schedule_clips_at_zero_and_mean_rises():
    f = R.paper_schedule(4, 0.1, 0.15)  # n0 = max(1, 0) = 1, a = 2*4*0.9/12 = 0.6
    assert np.allclose(f, [1.0, 0.4, 0.0, 0.0])
    assert f.mean() > 0.1
    assert R.keep_count(16, f[2]) == 1  # max(1, floor(L0 f))
    assert R.keep_count(16, 0.4) == 6


def test_explicit_schedule_is_checked():
    assert R.resolve_schedule([1, 0.5, 0.5], 3, 0.5, 0.15).tolist() == [1, 0.5, 0.5]
    for bad, msg in (([1, 0.5], "3 layers"), ([1, 0.5, 0.7], "non-increasing"), ([1, 0.5, 0], r"\(0, 1\]"),
                     ([0.9, 0.5, 0.5], "start at 1")):
        with pytest.raises(ValueError, match=msg):
            R.resolve_schedule(bad, 3, 0.5, 0.15)
    with pytest.raises(ValueError, match="unknown schedule"):
        R.resolve_schedule("linear", 3, 0.5, 0.15)


def test_forced_positions_count_toward_k():
    s = np.array([0.0, 5.0, 4.0, 3.0, 2.0], dtype=F32)
    kept = np.arange(5)
    assert R.select_tokens(s, 2, kept, [0]).tolist() == [0, 1]
    assert R.select_tokens(s, 3, kept, [0, 4]).tolist() == [0, 1, 4]
    assert R.select_tokens(s, 1, kept, [0, 4]).tolist() == [0, 4]  # forced beyond k


def test_importance_accumulates_in_fp32_with_float64_head_sums():
    s = np.array([1.0, 0.0, 1.0], dtype=F32)
    # [2]: fp32(2^-24 + 2^-50) = 2^-24 (2^-50 is 1/8 ulp of 2^-24), then
    # 1 + 2^-24 in fp32 is a tie (half an ulp of 1) -> even -> 1.0. Adding
    # the float64 value before rounding would give 1 + 2^-23 (above the tie).
    got = R.accumulate(s, np.array([2.0 ** -25, 0.1, 2.0 ** -24 + 2.0 ** -50]))
    assert got.dtype == F32 and got[0] == F32(1.0) and got[1] == F32(0.1) and got[2] == F32(1.0)


def test_prune_adds_heads_in_ascending_order_and_keeps_f_of_the_next_layer():
    """docs/Algorithms.md: one fp32 add per kept head, in ascending head
    order; after layer l, k = max(1, floor(L0 f_{l+1}))."""
    u = 2.0 ** -23  # one ulp of 1.0 in fp32
    tok = [np.array([u / 2, u, 0.5]), np.array([u / 2, u / 2, 0.25])]  # heads 0, 1
    att = R.AttentionResult(np.zeros((3, 4), F32), tok, np.array([u / 2 + 2.0 ** -50, 0.5]), {}, {})
    state = _State(np.arange(3), np.arange(2), np.array([1, 1, 0], F32), np.array([1, 3], F32), None)
    _prune(state, att, 0, np.array([1.0, 0.34]), np.array([1.0, 0.5]), 3, R.SpAttenConfig())
    # token 0: 1 + u/2 is a tie -> 1 (even), twice; one float64 add of u
    #          would give 1 + u.
    # token 1: head 0 first: 1 + u, then + u/2 is a tie between 1 + u (odd)
    #          and 1 + 2u (even) -> 1 + 2u; head 1 first would give 1, then 1 + u.
    # token 2: 0.5 + 0.25 = 0.75 exactly.
    assert state.token_imp.tolist() == [1.0, 1.0 + 2 * u, 0.75]
    # head 0: fp32(u/2 + 2^-50) = u/2, 1 + u/2 -> 1 (tie, even); head 1: 3.5.
    assert state.head_imp.tolist() == [1.0, 3.5]
    # k = floor(3 * 0.34) = 1 token (f_0 = 1 would keep all 3): token 1;
    # floor(2 * 0.5) = 1 head: head 1.
    assert state.tokens.tolist() == [1] and state.heads.tolist() == [1]


# ----------------------------------------------------------------------------- quantization

def test_quantize_rounds_half_to_even_and_handles_zero_rows():
    x = np.array([[7.0, 2.5, -0.5, 1.5, -3.5], [0, 0, 0, 0, 0]], dtype=F32)
    q, s = R.quantize_rows(x, 4)  # qmax 7: s = 1 for row 0
    assert s[:, 0].tolist() == [1.0, 0.0]
    assert q.tolist() == [[7, 2, 0, 2, -4], [0, 0, 0, 0, 0]]
    assert R.dequantize(q, s).tolist() == [[7, 2, 0, 2, -4], [0, 0, 0, 0, 0]]


def test_quantize_error_and_clamp_on_random_rows():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 16)) * rng.uniform(0.01, 100, (64, 1))).astype(F32)
    for bits in (4, 8, 12, 16):
        q, s = R.quantize_rows(x, bits)
        qmax = 2 ** (bits - 1) - 1
        assert np.abs(q).max() == qmax  # the row maximum hits qmax exactly
        err = np.abs(R.dequantize(q, s).astype(np.float64) - x)
        assert np.all(err <= s.astype(np.float64) * (0.5 + 1e-5))


def test_msb_lsb_split_identities():
    q = np.arange(-2047, 2048, dtype=np.int32)
    m, r = R.pq_split(q, 4)
    assert np.array_equal(m * 16 + r, q)
    assert r.min() == 0 and r.max() == 15
    assert m.min() == -128 and m.max() == 127  # an 8-bit MSB plane
    assert R.pq_split(np.array([-1, 17, -16]), 4)[0].tolist() == [-1, 1, -1]
    s = np.array([[0.5]], dtype=F32)
    assert R.pq_msb_value(np.array([[1, -1]]), s, 4).tolist() == [[12.0, -4.0]]
    assert R.row_bytes(64, 6) == 48 and R.row_bytes(5, 4) == 3


# ----------------------------------------------------------------------------- attention pieces

def test_head_and_token_importance_by_hand():
    # q = 0: uniform probabilities, so O = mean of V per head.
    xq = np.zeros((2, 2), dtype=F32)
    xk = np.array([[1, 2], [3, 4]], dtype=F32)
    xv = np.array([[2, 1], [-4, 3]], dtype=F32)  # head 0: [2, -4], head 1: [1, 3]
    res = R.attention(xq, xk, xv, [0, 1], 2, np.zeros(2, F32), False, R.SpAttenConfig())
    assert res.out.tolist() == [[-1, 2], [-1, 2]]
    assert res.head_contrib.tolist() == [2.0, 4.0]
    # Per kept head, sum over the 2 query rows of P = 0.5: [1, 1] each.
    assert [c.tolist() for c in res.token_contrib] == [[1.0, 1.0], [1.0, 1.0]]
    only1 = R.attention(xq, xk, xv, [1], 2, np.zeros(2, F32), False, R.SpAttenConfig())
    assert only1.out[:, 0].tolist() == [0, 0] and only1.head_contrib.tolist() == [0.0, 4.0]
    assert [c.tolist() for c in only1.token_contrib] == [[1.0, 1.0]]


def test_local_value_pruning_keeps_top_k_without_renormalising():
    p = np.array([[0.1, 0.4, 0.2, 0.3], [0.25, 0.25, 0.25, 0.25]], dtype=F32)
    pv, rows = _value_prune(p, 0.5)  # kv = 2
    assert pv.tolist() == [[0, F32(0.4), 0, F32(0.3)], [0.25, 0.25, 0, 0]]
    # Two rows each keeping 2 of 4 need 1 - (1/2)^2 = 3/4 of V: all fetched.
    assert rows == 4
    # One row (a generation step) fetches only the 2 it keeps.
    assert _value_prune(p[:1], 0.5)[1] == 2
    assert _value_prune(p, 0.1)[0][0].tolist() == [0, F32(0.4), 0, 0]  # max(1, floor(0.4))


def test_progressive_quantization_recomputes_only_unconfident_rows():
    rng = np.random.default_rng(7)
    L, D = 16, 4
    k = rng.standard_normal((L, D)).astype(F32)
    q = np.stack([8 * k[3], 0.05 * k[5]]).astype(F32)  # row 0 confident, row 1 nearly uniform
    v = rng.standard_normal((L, D)).astype(F32)
    cfg = R.SpAttenConfig(pq_msb=6, pq_lsb=4, pq_threshold=0.1)
    o, p, unconf, _ = R.attention_head(q, k, v, np.zeros(L, F32), False, cfg)
    assert unconf == [1]
    codes, s = R.quantize_rows(k, 10)
    k_msb = R.pq_msb_value(R.pq_split(codes, 4)[0], s, 4)
    k_full = R.dequantize(codes, s)
    sm = lambda kk, row: R.softmax(q[row:row + 1] @ kk.T / F32(2.0))[0]
    # To fp32 rounding (the BLAS rounds a 1-row and a 2-row product
    # differently), far below what the LSBs change.
    close = lambda a, b: np.allclose(a, b, rtol=1e-5, atol=1e-9)
    assert close(p[0], sm(k_msb, 0))   # kept its MSB-only probabilities
    assert close(p[1], sm(k_full, 1))  # recomputed with full keys
    assert not close(sm(k_msb, 1), sm(k_full, 1))
    assert not close(sm(k_msb, 0), sm(k_full, 0))
    assert sm(k_msb, 1).max() < 0.1 < p[0].max()
    # Per-head decision and counts: a second, confident head fetches no LSBs.
    xq = np.concatenate([q, np.stack([8 * k[0], 8 * k[1]])], axis=1)
    res = R.attention(xq, np.tile(k, (1, 2)), np.tile(v, (1, 2)), [0, 1], 2, np.zeros(L, F32), False, cfg)
    assert res.unconfident == {0: [1]}
    state = _State(np.arange(L), np.arange(2), None, None, None)
    c = _counts(res, state, D, cfg)
    assert (c["k_rows"], c["k_msb_rows"], c["k_lsb_rows"]) == (32, 32, 16)
    assert c["k_bytes"] == 32 * (3 + 4) + 16 * 2


# ----------------------------------------------------------------------------- pruned runs

CONFIGS = {
    "token": R.SpAttenConfig(token_keep=0.5, keep_positions=(0,)),
    "head": R.SpAttenConfig(head_keep=0.75),
    "value": R.SpAttenConfig(value_keep=0.3),
    "pq": R.SpAttenConfig(pq_msb=6, pq_lsb=4, pq_threshold=0.1),
    "all": R.SpAttenConfig(token_keep=0.5, keep_positions=(0,), head_keep=0.75, value_keep=0.3,
                           pq_msb=6, pq_lsb=4, pq_threshold=0.1),
}


def check_records(recs, cfg: R.SpAttenConfig, L0: int, H: int):
    """Invariants of docs/Algorithms.md for one run's per-layer records."""
    n = len(recs)
    f_tok = R.resolve_schedule(cfg.token_schedule, n, cfg.token_keep, 0.15) if cfg.token_keep else None
    f_head = R.resolve_schedule(cfg.head_schedule, n, cfg.head_keep, 0.3) if cfg.head_keep else None
    gone_heads = set()
    assert recs[0].tokens == list(range(L0)) and recs[0].heads == list(range(H))
    for l, r in enumerate(recs):
        if l > 0:
            assert r.tokens == recs[l - 1].kept_tokens and r.heads == recs[l - 1].kept_heads
        assert set(r.kept_tokens) <= set(r.tokens) and r.kept_tokens == sorted(r.kept_tokens)
        assert set(r.kept_heads) <= set(r.heads) and r.kept_heads == sorted(r.kept_heads)
        # f_l is what layer l computes: the cut after layer l uses f_{l+1}.
        want_tok = R.keep_count(L0, f_tok[l + 1]) if f_tok is not None and l < n - 1 else len(r.tokens)
        want_head = R.keep_count(H, f_head[l + 1]) if f_head is not None and l < n - 1 else len(r.heads)
        assert len(r.kept_tokens) == want_tok
        assert len(r.kept_heads) == want_head
        if f_tok is not None:
            assert len(r.tokens) == R.keep_count(L0, f_tok[l])
        if f_head is not None:
            assert len(r.heads) == R.keep_count(H, f_head[l])
        assert not gone_heads & set(r.heads)  # pruned heads never return
        gone_heads |= set(r.heads) - set(r.kept_heads)
        for p in cfg.keep_positions:
            assert p in r.kept_tokens
        c = r.counts
        assert c["k_rows"] == len(r.heads) * len(r.tokens)
        if cfg.value_keep:
            kv = R.keep_count(len(r.tokens), cfg.value_keep)
            assert kv * len(r.heads) <= c["v_rows"] <= c["k_rows"]
        else:
            assert c["v_rows"] == c["k_rows"]
        assert set(r.refetched_rows) == set(r.unconfident_rows) <= set(r.heads)
        for h, rows in r.refetched_rows.items():
            assert rows == r.tokens and set(r.unconfident_rows[h]) <= set(rows)
        assert c["k_lsb_rows"] == len(r.refetched_rows) * len(r.tokens)
    if f_tok is not None:
        assert len(recs[-1].tokens) < L0
    if f_head is not None:
        assert len(recs[-1].heads) < H


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_pruned_runs_on_small_models(kind, name, small_models):
    mw, model = small_models(kind)
    cfg = CONFIGS[name]
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=16, seed=2)
    res = R.run_inputs(mw, inputs, cfg)
    check_records(res.layers[0], cfg, 16, mw.heads)
    dense = R.run_inputs(mw, inputs).outputs["last_hidden_state"]
    out = res.outputs["last_hidden_state"]
    assert out.shape == dense.shape and np.all(np.isfinite(out))
    assert max_err(out, dense) > 0  # every configuration changes something
    if name == "pq":  # these models have confident and unconfident heads
        lsb = sum(r.counts["k_lsb_rows"] for r in res.layers[0])
        assert 0 < lsb < sum(r.counts["k_rows"] for r in res.layers[0])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_pruned_runs_on_shared_models(name):
    cfg = CONFIGS[name]
    for path, mw in (gpt2_model(), bert_toy()):
        L0 = 8
        inputs = tensors.random_inputs(path, {"batch_size": 1, "seq_len": L0, "batch": 1, "max_seq_len_in_batch": L0})
        res = R.run_inputs(mw, inputs, cfg)
        check_records(res.layers[0], cfg, L0, mw.heads)


def test_padding_tokens_are_pruned_first(small_models):
    mw, model = small_models("bert")
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=16, seed=2)
    pad = np.nonzero(inputs["attention_mask"][0] == 0)[0].tolist()
    assert pad == [12, 13, 14, 15]
    cfg = R.SpAttenConfig(token_keep=0.5, token_schedule=[1, 0.75, 0.5, 0.25], keep_positions=(0,))
    res = R.run_inputs(mw, inputs, cfg)
    # floor(16 * f_1) = floor(16 * 0.75) = 12 kept for layer 1. Padding keys
    # get P = 0 exactly, so their importance is 0 and they go first.
    assert res.layers[0][0].kept_tokens == list(range(12))
    # paper: n0 = max(1, floor(0.6)) = 1, a = 2*4*0.5/(3*4) = 1/3,
    # f = [1, 2/3, 1/3, 0]: floor(16 * 2/3) = 10 for layer 1, the padding
    # still pruned first.
    paper = R.run_inputs(mw, inputs, CONFIGS["token"]).layers[0][0].kept_tokens
    assert len(paper) == 10 and 0 in paper and not set(paper) & set(pad)


def test_pruned_tokens_keep_their_last_layer_output(small_models):
    mw, model = small_models("bert")
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=16, seed=2)
    cfg = R.SpAttenConfig(token_schedule=[1, 0.5, 0.5, 0.5], token_keep=0.5)  # 8 kept for layers 1..3
    res = R.run_inputs(mw, inputs, cfg)
    pruned = sorted(set(range(16)) - set(res.layers[0][0].kept_tokens))
    assert len(pruned) == 8
    one_layer = dataclasses.replace(mw, layers=mw.layers[:1])
    after0 = R.run_inputs(one_layer, inputs).outputs["last_hidden_state"][0]
    out = res.outputs["last_hidden_state"][0]
    assert np.array_equal(out[pruned], after0[pruned])
    kept = res.layers[0][0].kept_tokens
    assert max_err(out[kept], after0[kept]) > 0.01
    # The pooler reads token 0's final value, like the dense model's heads.
    assert res.outputs["pooler_output"].shape == (1, mw.hidden)


def test_gpt2_causal_mask_uses_original_positions(small_models):
    """Causality survives pruning: token 0 sees only itself in every layer,
    so pruning later tokens leaves its output unchanged (a missing or
    transposed mask would let it see the others)."""
    mw, model = small_models("gpt2")
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=16, seed=2)
    dense = R.run_inputs(mw, inputs).outputs["last_hidden_state"][0]
    pruned = R.run_inputs(mw, inputs, R.SpAttenConfig(token_keep=0.5, keep_positions=(0,)))
    assert max_err(pruned.outputs["last_hidden_state"][0][0], dense[0]) < 1e-6
    assert max_err(pruned.outputs["last_hidden_state"][0][1:], dense[1:]) > 1e-3


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_paper_token_schedule_fetches_about_token_keep_of_dense_k_rows(kind, small_models):
    """f_l is what layer l computes, so the K rows over all layers are about
    mean(f) = token_keep of dense (docs/Algorithms.md "Schedules")."""
    mw, model = small_models(kind, layers=8)
    L0, n, H = 32, 8, mw.heads
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=L0, seed=4)
    k_rows = lambda res: sum(r.counts["k_rows"] for r in res.layers[0])
    dense = k_rows(R.run_inputs(mw, inputs))
    pruned = R.run_inputs(mw, inputs, CONFIGS["token"])
    assert dense == n * H * L0
    # n0 = max(1, floor(1.2)) = 1, m = 7, a = 2*8*0.5/(7*8) = 1/7,
    # f = [1, 6/7, 5/7, ..., 1/7, 0] (mean 4/8 = 0.5); layer l computes
    # max(1, floor(32 f_l)) = 32, 27, 22, 18, 13, 9, 4, 1 = 126 tokens.
    assert [len(r.tokens) for r in pruned.layers[0]] == [32, 27, 22, 18, 13, 9, 4, 1]
    assert k_rows(pruned) == H * 126
    assert abs(k_rows(pruned) / dense - 0.5) <= 0.05  # 126/256 = 0.492


# ----------------------------------------------------------------------------- errors and CLI

def test_bad_options_and_batches_are_rejected(small_models):
    mw, _ = small_models("bert")
    ids = np.zeros((2, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="batch 1"):
        R.run(mw, ids, R.SpAttenConfig(token_keep=0.5))
    R.run(mw, ids, R.SpAttenConfig(attn_bits=12))  # fixed point alone works per row
    for cfg, msg in ((R.SpAttenConfig(token_keep=0.0), "token_keep"), (R.SpAttenConfig(head_keep=1.5), "head_keep"),
                     (R.SpAttenConfig(pq_msb=5), "pq_msb"), (R.SpAttenConfig(attn_bits=3), "attn_bits"),
                     (R.SpAttenConfig(token_keep=0.5, token_schedule=[1, 0.5]), "4 layers"),
                     (R.SpAttenConfig(token_keep=0.5, keep_positions=(9,)), "keep position 9")):
        with pytest.raises(ValueError, match=msg):
            R.run(mw, ids[:1], cfg)


def test_from_onnx_rejects_unknown_models(tmp_path):
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    import onnx
    onnx.save(helper.make_model(g), str(tmp_path / "id.onnx"))
    with pytest.raises(ValueError, match="model this reference knows"):
        R.from_onnx(tmp_path / "id.onnx")


def test_cli_prints_per_layer_json(tiny_models):
    path, _ = tiny_models("bert", 14)
    cmd = [sys.executable, "-m", "spatten.reference", str(path), "--token-keep", "0.5", "--keep-positions", "0",
           "--head-keep", "0.75", "--shape", "batch=1", "--shape", "sequence=12"]
    cli = lambda args: subprocess.run(args, capture_output=True, text=True, cwd=ROOT,
                                      env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"})
    proc = cli(cmd)
    assert proc.returncode == 0, proc.stderr
    layers = json.loads(proc.stdout)["layers"]
    # 2 layers. Tokens, paper: n0 = max(1, floor(0.3)) = 1, m = 1,
    # a = 2*2*0.5/(1*2) = 1, f = [1, 0]: max(1, floor(12 * 0)) = 1 token for
    # layer 1, the forced position 0. Heads: n0 = max(1, floor(0.6)) = 1,
    # a = 2*2*0.25/2 = 0.5, f = [1, 0.5]: floor(4 * 0.5) = 2 heads.
    assert len(layers) == 2 and layers[0]["kept_tokens"] == [0] and layers[1]["tokens"] == [0]
    assert len(layers[0]["tokens"]) == 12 and len(layers[0]["heads"]) == 4
    assert len(layers[0]["kept_heads"]) == 2 and layers[1]["heads"] == layers[0]["kept_heads"]
    listed = cli(cmd + ["--token-schedule", "1,0.5"])
    assert listed.returncode == 0, listed.stderr
    kept = json.loads(listed.stdout)["layers"][0]["kept_tokens"]
    assert len(kept) == 6 and 0 in kept  # floor(12 * 0.5)
    bad = cli(cmd[:4] + ["--token-keep", "0"])
    assert bad.returncode == 1 and "token_keep=0.0 is outside (0, 1]" in bad.stderr


def test_value_fetch_is_deferred_only_when_a_tile_needs_at_most_half():
    # One generation step keeps 38 of 128 V rows: fetch them after the top-k.
    assert R.defer_value_fetch(38, 128, 1)
    # 128 query rows need nearly every row: fetch V with K.
    assert not R.defer_value_fetch(38, 128, 128)
    # 1 - (1 - 1/4)^2 = 0.4375 <= 0.5, but 1 - (3/4)^3 = 0.58 > 0.5.
    assert R.defer_value_fetch(1, 4, 2) and not R.defer_value_fetch(1, 4, 3)
    assert not R.defer_value_fetch(4, 4, 1)

"""The NumPy reference of SpAtten in generation (spatten.reference.generation,
docs/Algorithms.md "Generation"): dense it is PyTorch greedy generation;
each technique keeps the cross-step rules and fetches less than dense."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spatten import export as spexport
from spatten import generate as torch_generate
from spatten import reference as R
from spatten.reference import generation as G

#: NumPy vs PyTorch logits: both fp32, only the reduction order differs.
REFERENCE_VS_TORCH = 1e-5

PROMPT = [5, 17, 42, 3, 88, 61, 9, 30, 71, 2]
STEPS = 6

#: One config per technique, and all of them; thresholds above the tiny
#: model's typical max probability so progressive quantization refetches.
TECHNIQUES = {
    "token": R.SpAttenConfig(token_keep=0.5),
    "token-positions": R.SpAttenConfig(token_keep=0.5, keep_positions=(0,)),
    "head": R.SpAttenConfig(head_keep=0.5),
    "value": R.SpAttenConfig(value_keep=0.3),
    "pq": R.SpAttenConfig(pq_msb=6, pq_threshold=0.3),
    "pqv": R.SpAttenConfig(pq_msb=8, pq_values=True, pq_threshold=0.3),
    "bits": R.SpAttenConfig(attn_bits=12),
    "authors": R.SpAttenConfig(pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05),
    "all": R.SpAttenConfig(token_keep=0.5, head_keep=0.5, value_keep=0.3, pq_msb=6, pq_threshold=0.3),
}


@pytest.fixture(scope="module")
def lm():
    # 4 layers so the paper schedules prune; init std 0.3 gives argmax
    # margins far above fp32 rounding.
    return spexport.build_model(spexport.tiny_config("gpt2", lm_head=True, layers=4, init_std=0.3))


@pytest.fixture(scope="module")
def mw(lm):
    return R.from_torch(lm)


@pytest.fixture(scope="module")
def dense(mw):
    return R.generate(mw, PROMPT, STEPS)


@pytest.fixture(scope="module", params=list(TECHNIQUES))
def pruned(request, mw):
    return request.param, R.generate(mw, PROMPT, STEPS, TECHNIQUES[request.param])


def test_dense_reference_is_pytorch_greedy(lm, dense):
    ids, logits = torch_generate.greedy(lm, PROMPT, STEPS)
    np.testing.assert_array_equal(dense.tokens, ids)
    err = float(np.abs(dense.logits - logits).max())
    assert err <= REFERENCE_VS_TORCH, f"max abs error {err}"
    assert len(set(ids[0].tolist())) > 1


def test_cache_equals_rerunning_the_whole_sequence(mw, dense):
    """Dense, the prefill plus one-query steps against the cache give the
    logits of the whole-sequence reference on the prompt and the tokens fed,
    to fp32 rounding: the BLAS rounds a GEMM of one row and of many rows
    differently (OpenBLAS picks kernels by shape)."""
    seq = np.asarray(PROMPT + dense.tokens[0, :-1].tolist())
    for t in range(STEPS):
        full = R.run(mw, seq[None, :len(PROMPT) + t]).outputs["logits"][0, -1]
        np.testing.assert_allclose(dense.logits[t], full, rtol=0, atol=1e-5)


def test_prefill_is_the_whole_sequence_reference(mw):
    """Step 0 is run_sequence with the last prompt position kept."""
    cfg = TECHNIQUES["all"]
    gen = R.generate(mw, PROMPT, 1, cfg)
    _, records = R.run_sequence(mw, np.asarray(PROMPT), dataclasses.replace(cfg, keep_positions=(len(PROMPT) - 1,)))
    assert [r.to_json() for r in gen.steps[0].layers] == [r.to_json() for r in records]


def test_steps_record_the_context(dense):
    assert [s.step for s in dense.steps] == list(range(STEPS))
    assert [s.context for s in dense.steps] == [len(PROMPT) + t for t in range(STEPS)]
    assert [s.query for s in dense.steps] == [len(PROMPT) - 1 + t for t in range(STEPS)]
    assert [s.token for s in dense.steps] == dense.tokens[0].tolist()
    for s in dense.steps[1:]:
        for r in s.layers:
            assert r.tokens == list(range(s.context)) and r.heads == [0, 1, 2, 3]
            assert r.counts["q_rows"] == 4 and r.counts["k_rows"] == r.counts["v_rows"] == 4 * s.context


def _layer_sets(gen, attr):
    return [[set(getattr(r, attr)) for r in s.layers] for s in gen.steps]


def test_kept_sets_only_shrink_but_for_the_new_token(pruned):
    """Per layer and step: a subset of the layer above at this step and of
    the layer at the step before plus the new token; the new token is kept
    (it is the query); a token pruned by a layer never reappears there or
    in a later layer; at most the schedule's count (or the forced tokens)."""
    name, gen = pruned
    tokens, heads = _layer_sets(gen, "tokens"), _layer_sets(gen, "heads")
    for t, step in enumerate(gen.steps[1:], start=1):
        for l in range(len(step.layers)):
            assert step.query in tokens[t][l]
            assert tokens[t][l] <= tokens[t - 1][l] | {step.query}
            assert heads[t][l] <= heads[t - 1][l]
            if l:
                assert tokens[t][l] <= tokens[t][l - 1] and heads[t][l] <= heads[t][l - 1]
            pruned_before = set().union(*(set(range(gen.steps[u].context)) - tokens[u][m]
                                          for u in range(t) for m in range(l + 1)))
            assert not tokens[t][l] & pruned_before
    cfg = TECHNIQUES[name]
    if cfg.token_keep is not None:
        f = R.resolve_schedule(cfg.token_schedule, 4, cfg.token_keep, 0.15)
        for step in gen.steps[1:]:
            forced = len(set(cfg.keep_positions) | {step.query})  # kept even beyond the count
            for r, x in zip(step.layers, f):
                assert len(r.tokens) <= max(R.keep_count(step.context, x), forced)
            assert set(cfg.keep_positions) <= set(step.layers[-1].tokens)


def test_value_pruning_keeps_k_rows_per_head_query(pruned):
    """Per head the kept V rows, plus the query's own row when the top-k
    dropped it (it is read for the cache anyway; docs/Algorithms.md)."""
    name, gen = pruned
    keep = TECHNIQUES[name].value_keep
    for step in gen.steps[1:]:
        for r in step.layers:
            if keep is None:
                assert r.counts["v_rows"] == len(r.heads) * len(r.tokens)
                continue
            per_head = R.keep_count(len(r.tokens), keep)
            assert len(r.heads) * per_head <= r.counts["v_rows"] <= len(r.heads) * (per_head + 1)


def test_refetches_are_whole_heads_of_the_query(pruned):
    """A refetching head fetches the LSB plane of every key it attends; its
    unconfident row is the query; no refetch without progressive
    quantization."""
    name, gen = pruned
    cfg = TECHNIQUES[name]
    for step in gen.steps[1:]:
        for r in step.layers:
            assert set(r.refetched_rows) == set(r.unconfident_rows) <= set(r.heads)
            assert all(rows == [step.query] for rows in r.unconfident_rows.values())
            assert all(rows == r.tokens for rows in r.refetched_rows.values())
            if cfg.pq_msb is None:
                assert not r.refetched_rows and r.counts["k_lsb_rows"] == 0
            else:
                assert r.counts["k_msb_rows"] == len(r.heads) * len(r.tokens)
                assert r.counts["k_lsb_rows"] == len(r.refetched_rows) * len(r.tokens)


def test_every_technique_fetches_less_than_dense(pruned, dense):
    """Per decode step, K+V bytes below dense (rows below dense too for
    the pruning techniques)."""
    name, gen = pruned
    for step, base in zip(gen.steps[1:], dense.steps[1:]):
        got, want = step.totals(), base.totals()
        assert got["k_bytes"] + got["v_bytes"] < want["k_bytes"] + want["v_bytes"], (name, step.step)
        if name in ("token", "token-positions", "head", "all"):
            assert got["k_rows"] < want["k_rows"]
        if name == "value":
            assert got["v_rows"] < want["v_rows"]


def test_refetch_decision_is_the_threshold():
    """One query: a head refetches its keys' LSBs exactly when the max
    MSB-only probability is below the threshold."""
    rng = np.random.default_rng(7)
    q, keys, values = (rng.standard_normal(s).astype(np.float32) for s in ((1, 16), (9, 16), (9, 16)))
    mw = R.ModelWeights("gpt2", 2, 1e-5, np.zeros((4, 16), np.float32), np.zeros((4, 16), np.float32), [])
    state = G._State(np.arange(9), np.arange(2), np.zeros(9, np.float32), np.zeros(2, np.float32), None)
    maxima = []
    for h in range(2):
        k_msb = R.pq_msb_value(*_msb_and_scale(keys[:, h * 8:(h + 1) * 8]), 4)
        scores = (q[:, h * 8:(h + 1) * 8] @ k_msb.T).astype(np.float32) / np.float32(np.sqrt(8))
        maxima.append(float(R.softmax(scores.astype(np.float32)).max()))
    for threshold in (0.0, min(maxima) + 1e-6, max(maxima) + 1e-6):
        cfg = R.SpAttenConfig(pq_msb=6, pq_threshold=threshold)
        att = G._decode_attention(q, keys, values, state, mw, cfg)
        assert sorted(att.unconfident) == [h for h in range(2) if maxima[h] < threshold]


def _msb_and_scale(k):
    codes, scale = R.quantize_rows(k, 10)
    return R.pq_split(codes, 4)[0], scale


def test_schedule_from_keys_reproduces_the_authors_keeps():
    keys = [921, 716] + [204] * 4 + [102] * 6
    f = R.schedule_from_keys(keys, 1024)
    assert [R.keep_count(1024, x) for x in f] == keys
    assert f[:3] == [921 / 1024, 716 / 1024, 204 / 1024]
    odd = R.schedule_from_keys([700, 350, 1], 1000)
    assert [R.keep_count(1000, x) for x in odd] == [700, 350, 1]
    with pytest.raises(ValueError, match="non-increasing"):
        R.schedule_from_keys([10, 20], 100)
    with pytest.raises(ValueError, match=r"in \[1, 100\]"):
        R.schedule_from_keys([101], 100)


def test_the_authors_gpt2_setting_at_1024_keys():
    """12 layers, a 1022-token prompt, 3 tokens: the last step has 1024
    keys and at most the authors' per-layer keeps (the prefill keeps
    floor(1022 f_l), then one more candidate per step; a layer keeps fewer
    when the layer above dropped one of its tokens)."""
    keys = [921, 716] + [204] * 4 + [102] * 6
    lm = spexport.build_model(spexport.tiny_config("gpt2", lm_head=True, layers=12, hidden=16, heads=2,
                                                   max_positions=1024))
    cfg = R.SpAttenConfig(token_keep=1.0, token_schedule=R.schedule_from_keys(keys, 1024), value_keep=0.2,
                          pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05)
    prompt = np.random.default_rng(0).integers(0, 99, 1022)
    gen = R.generate(R.from_torch(lm), prompt, 3, cfg)
    assert [len(r.tokens) for r in gen.steps[0].layers] == [1022] + [R.keep_count(1022, x)
                                                                     for x in cfg.token_schedule[1:]]
    last = [len(r.tokens) for r in gen.steps[-1].layers]
    assert gen.steps[-1].context == 1024
    assert all(k - 2 <= got <= k for got, k in zip(last, keys)), last


def test_generation_refuses_bad_input(mw):
    with pytest.raises(ValueError, match="language-model head"):
        R.generate(dataclasses.replace(mw, lm_head=None), PROMPT, 2)
    with pytest.raises(ValueError, match="exceeds the 64 positions"):
        R.generate(mw, [1] * 60, 6)
    with pytest.raises(ValueError, match="non-empty"):
        R.generate(mw, [], 2)
    with pytest.raises(ValueError, match="q_bits=3 is outside 4..16"):
        R.generate(mw, PROMPT, 2, R.SpAttenConfig(q_bits=3))


def test_per_tensor_widths():
    cfg = R.SpAttenConfig(attn_bits=12, q_bits=16, v_bits=6)
    assert (cfg.query_bits, cfg.key_bits, cfg.value_bits) == (16, 12, 6)
    assert R.SpAttenConfig(k_bits=8).query_bits is None
    assert R.SpAttenConfig.from_flags("--q-bits=16 --v-bits=6").to_flags() == ["--q-bits=16", "--v-bits=6"]


def test_cli_generate(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import ROOT
    path = tmp_path / "lm.onnx"
    lm = spexport.export("gpt2-lm", str(path), size="tiny", init_std=0.3)
    env = {"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"}
    ids = spexport.make_inputs(lm.config, seq_len=5, seed=2)["input_ids"]
    np.save(tmp_path / "ids.npy", ids)
    r = subprocess.run([sys.executable, "-m", "spatten.reference", str(path), "--generate", "3", "--token-keep=0.5",
                        "--input", f"input_ids={tmp_path / 'ids.npy'}"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    want = R.generate(R.from_torch(lm), ids, 3, R.SpAttenConfig(token_keep=0.5))
    assert out["tokens"] == want.tokens[0].tolist()
    assert [s["context"] for s in out["steps"]] == [5, 6, 7]
    assert out["steps"][2]["layers"][1] == want.steps[2].layers[1].to_json()


def test_several_fills_fetch_keys_twice(mw, dense):
    """Over more keys than one K/V buffer fill (4 here), the prefill (query
    tiles of 6 rows) and every decode step (one query) read each K row twice
    per query tile and each V row once; with the keys in one fill, once."""
    d = mw.head_dim
    hw = {"max_keys_per_fill": 4, "k_buffer_bytes": 1 << 20, "v_buffer_bytes": 1 << 20,
          "q_buffer_bytes": 6 * 4 * d, "acc_buffer_bytes": 1 << 20}
    filled = R.generate(mw, PROMPT, STEPS, hardware=hw)
    assert filled.tokens.tolist() == dense.tokens.tolist()
    for one, many in zip(dense.steps, filled.steps):
        queries = len(PROMPT) if one.step == 0 else 1
        k, v = R.fill_fetches(one.context, queries, d, hw)
        assert (k, v) == ((2 * -(-queries // 6), -(-queries // 6)))
        for a, b in zip(one.layers, many.layers):
            assert b.counts["k_bytes"] == k * a.counts["k_bytes"]
            assert b.counts["v_bytes"] == v * a.counts["v_bytes"]
    assert R.fill_fetches(4, 10, d, hw) == (1, 1)
    assert R.fill_fetches(1024, 1024, d, None) == (1, 1)

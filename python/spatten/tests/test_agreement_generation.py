"""Cascade token and head pruning across decode steps (docs/Generation.md,
"Cascade token pruning", "Cascade head pruning"; paper Sec. III-A/B):
token importance accumulates over heads, layers and steps, the prompt's
included; each layer keeps ``max(1, floor(n f_l))`` of the ``n`` tokens of
the current context among the tokens it kept at the step before that the
previous layer kept at this step, plus the new token; a pruned token is
never fetched again. Each layer attends the heads its prefill kept. The
simulated generation must agree with the NumPy reference
(``spatten.reference.generation``) step by step and layer by layer: the
kept positions and heads, the refetches, the Q/K/V bytes, the tokens, and
the logits within LOGITS_TOL (fp32 on both sides, reductions in another
order). Local value pruning, static widths and progressive quantization
alone are checked the same way in test_generation_sim.py."""

import numpy as np
import pytest

from spatten import export as spexport
from spatten import reference as R
from spatten.reference import SpAttenConfig, schedule_from_keys
from test_generation_sim import LOGITS_TOL, N, PROMPT, compile_lm, generate_on_sim, kv_read, lm  # noqa: F401
from test_long_attention import hw_file

ATTENTION = ["q", "k", "v", "k_msb", "k_lsb", "v_msb", "v_lsb"]


def check_steps(run, ref, tokens=True, logits_tol=LOGITS_TOL):
    """Tokens, logits (within ``logits_tol``), and per step and layer the
    kept positions (with ``tokens``) and heads, the refetching heads and the
    Q, K and V bytes (MSB and LSB planes included) equal the reference's."""
    np.testing.assert_array_equal(run.generated_ids, ref.tokens)
    assert float(np.abs(run.generation_logits - ref.logits).max()) <= logits_tol
    steps = run.report.stages.steps
    assert len(steps) == len(ref.steps) - 1
    for sim, r in zip(steps, ref.steps[1:]):
        if tokens:
            assert [l.tokens for l in sim.layers] == [list(rec.tokens) for rec in r.layers], sim.position
        assert [l.kept_heads for l in sim.layers] == [len(rec.heads) for rec in r.layers], sim.position
        assert [l.refetches or 0 for l in sim.layers] == [len(rec.refetched_rows) for rec in r.layers]
        for layer, rec in zip(sim.layers, r.layers):
            c = rec.counts
            assert layer.dram.read(["q"]) == c["q_bytes"], (sim.position, layer.layer)
            assert layer.dram.read(["k", "k_msb", "k_lsb"]) == c["k_bytes"], (sim.position, layer.layer)
            assert layer.dram.read(["v", "v_msb", "v_lsb"]) == c["v_bytes"], (sim.position, layer.layer)
        totals = r.totals()
        assert sim.dram.read(["q"]) == totals["q_bytes"]
        assert sim.dram.read(["k", "k_msb", "k_lsb"]) == totals["k_bytes"]
        assert sim.dram.read(["k_lsb"]) == totals.get("k_lsb_bytes", 0)
        assert sim.dram.read(["v", "v_msb", "v_lsb"]) == totals["v_bytes"]


@pytest.mark.parametrize("settings", [
    dict(token_keep=0.5),
    dict(token_keep=0.3, keep_positions=(0, 2)),
    dict(token_keep=0.5, token_schedule=(0.9, 0.7, 0.2)),  # prunes at a decode step's layer 0
    dict(token_keep=0.5, value_keep=0.3),
    dict(token_keep=0.5, k_bits=12, v_bits=8),
    dict(token_keep=0.5, pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05),
    dict(token_keep=0.5, pq_msb=8, pq_values=True, value_keep=0.4, pq_threshold=0.6),
    dict(head_keep=0.5),
    dict(head_keep=0.75, k_bits=8, q_bits=12),
    dict(head_keep=0.5, token_keep=0.5),
    dict(head_keep=0.5, token_keep=0.5, value_keep=0.3, pq_msb=6, pq_threshold=0.5),  # all of them
])
def test_cascade_pruning_in_generation_matches_the_reference(lm, tmp_path, settings):  # noqa: F811
    model, onnx = lm
    cfg = SpAttenConfig(**settings)
    binary = compile_lm(onnx, tmp_path / "t.spbin", context=16, settings=cfg)
    run = generate_on_sim(binary, tmp_path / "t")
    check_steps(run, R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"],
                                context=16), tokens=cfg.token_keep is not None)
    dense = generate_on_sim(compile_lm(onnx, tmp_path / "d.spbin", context=16), tmp_path / "d")
    assert all(s.dram.read(ATTENTION) < d.dram.read(ATTENTION)
               for s, d in zip(run.report.stages.steps, dense.report.stages.steps))


@pytest.mark.parametrize("settings", [
    dict(token_keep=0.6), dict(token_keep=0.6, k_bits=8, v_bits=8), dict(head_keep=0.5, token_keep=0.6),
    dict(token_keep=0.6, value_keep=0.3),
    dict(token_keep=0.6, pq_msb=6, pq_threshold=0.5),
    dict(token_keep=0.6, head_keep=0.5, value_keep=0.3, pq_msb=8, pq_values=True, pq_threshold=0.6),
    dict(value_keep=0.3, pq_msb=6, pq_threshold=0.5),
])
def test_pruning_over_several_fills(lm, tmp_path, settings):  # noqa: F811
    """Kept keys over several K/V fills of 4: the fills gather runs of the
    kept list, the exact two-pass softmax adds importance per fill, local
    value pruning selects over the whole row and progressive quantization
    decides per head over every fill. A layer whose keep count at the
    context fits one fill streams one."""
    model, onnx = lm
    cfg = SpAttenConfig(**settings)
    binary = compile_lm(onnx, tmp_path / "t.spbin", context=32, hw=hw_file(tmp_path, {"max_keys_per_fill": 4}),
                        settings=cfg)
    run = generate_on_sim(binary, tmp_path / "t")
    check_steps(run, R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"],
                                context=32), tokens=cfg.token_keep is not None)


def test_the_authors_keep_counts_are_a_decode_schedule():
    """The authors' GPT-2-small keeps at 1024 keys (paper-figures §2)
    start below 1 at layer 0: a decode step's schedule."""
    f = schedule_from_keys([921, 716] + [204] * 4 + [102] * 6, 1024)
    assert R.keep_count(1024, f[0]) == 921 and f[0] < 1


def test_progressive_quantization_on_a_deep_model(tmp_path):
    """24 layers (GPT-2 medium's depth): the DRAM plan gives each key
    projection the MSB/LSB planes it writes as the plan grows, and every
    layer's decisions and bytes equal the reference's (a plan entry once
    copied from a reference the growing map had moved was garbage at the
    last layer). Logits within 1e-3 (|logits| up to about 6): over 24
    layers, fp32 reductions in another order move values across the 16-,
    12- and 6-bit rounding steps now and then."""
    path = tmp_path / "deep.onnx"
    model = spexport.export("gpt2-lm", str(path), seq_len=8, layers=24, init_std=0.3)
    cfg = SpAttenConfig(pq_msb=6, v_bits=12, q_bits=16, pq_threshold=0.05)
    binary = compile_lm(path, tmp_path / "deep.spbin", context=16, settings=cfg)
    run = generate_on_sim(binary, tmp_path / "deep", n=3)
    check_steps(run, R.generate(R.from_torch(model), PROMPT[0], 3, cfg, hardware=binary.manifest["hardware"],
                                context=16), tokens=False, logits_tol=1e-3)

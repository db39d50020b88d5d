"""The fixed KV budget ``--kv-budget=S,I,R`` in generation
(docs/Algorithms.md "Fixed KV budget", docs/Generation.md): each decode
layer attends the first S tokens, the last max(R, 1) and the I others it
still holds with the largest cumulative token importance; what it evicts
it never fetches again. The simulated generation must agree with the NumPy
reference step by step and layer by layer (kept positions, Q/K/V bytes,
tokens, logits within LOGITS_TOL), as cascade pruning does in
test_agreement_generation.py."""

import numpy as np
import pytest

from spatten import reference as R
from spatten import tools
from spatten.reference import SpAttenConfig
from test_agreement_generation import ATTENTION, check_steps
from test_generation_sim import LOGITS_TOL, N, PROMPT, compile_lm, generate_on_sim, lm  # noqa: F401
from test_long_attention import hw_file

# The prompt has 7 tokens; the steps' contexts are 8 .. 7 + N - 1.
BUDGETS = [
    (2, 2, 2),  # evicts from the first decode step
    (0, 3, 2),  # no first tokens
    (2, 0, 3),  # no important tokens: the first and the most recent only
    (1, 3, 0),  # no recent window: the new token is still attended
    (3, 4, 4),  # larger than the prompt: evicts once the context passes 11
]


def reference(model, binary, cfg, context):
    return R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"],
                      context=context)


@pytest.mark.parametrize("budget", BUDGETS)
def test_kv_budget_matches_the_reference(lm, tmp_path, budget):  # noqa: F811
    model, onnx = lm
    cfg = SpAttenConfig(kv_budget=budget)
    binary = compile_lm(onnx, tmp_path / "t.spbin", context=16, settings=cfg)
    run = generate_on_sim(binary, tmp_path / "t")
    ref = reference(model, binary, cfg, 16)
    check_steps(run, ref)
    S, I, Rc = budget
    for step in ref.steps[1:]:
        n = step.context
        for record in step.layers:
            assert len(record.tokens) == min(n, S + I + max(Rc, 1))
            assert set(range(min(S, n))) | set(range(max(n - max(Rc, 1), 0), n)) <= set(record.tokens)


def test_a_budget_above_the_context_is_dense(lm, tmp_path):  # noqa: F811
    """Every token fits: the same tokens, logits and attention bytes as the
    dense binary."""
    model, onnx = lm
    run = generate_on_sim(compile_lm(onnx, tmp_path / "b.spbin", context=16,
                                     settings=SpAttenConfig(kv_budget=(4, 8, 8))), tmp_path / "b")
    dense = generate_on_sim(compile_lm(onnx, tmp_path / "d.spbin", context=16), tmp_path / "d")
    np.testing.assert_array_equal(run.generated_ids, dense.generated_ids)
    assert float(np.abs(run.generation_logits - dense.generation_logits).max()) <= LOGITS_TOL
    assert [s.dram.read(ATTENTION) for s in run.report.stages.steps] == \
        [s.dram.read(ATTENTION) for s in dense.report.stages.steps]


def test_evicted_rows_are_not_fetched(lm, tmp_path):  # noqa: F811
    """Once the context passes the budget, every step reads fewer K and V
    bytes than the dense step."""
    _, onnx = lm
    run = generate_on_sim(compile_lm(onnx, tmp_path / "t.spbin", context=16,
                                     settings=SpAttenConfig(kv_budget=(1, 2, 2))), tmp_path / "t")
    dense = generate_on_sim(compile_lm(onnx, tmp_path / "d.spbin", context=16), tmp_path / "d")
    assert all(s.dram.read(ATTENTION) < d.dram.read(ATTENTION)
               for s, d in zip(run.report.stages.steps, dense.report.stages.steps))


@pytest.mark.parametrize("settings", [
    dict(kv_budget=(1, 3, 2), value_keep=0.5),
    dict(kv_budget=(1, 3, 2), k_bits=8, v_bits=8),
    dict(kv_budget=(2, 2, 2), head_keep=0.5),
    dict(kv_budget=(2, 2, 2), pq_msb=6, pq_threshold=0.5),
])
def test_kv_budget_with_other_techniques(lm, tmp_path, settings):  # noqa: F811
    model, onnx = lm
    cfg = SpAttenConfig(**settings)
    binary = compile_lm(onnx, tmp_path / "t.spbin", context=16, settings=cfg)
    check_steps(generate_on_sim(binary, tmp_path / "t"), reference(model, binary, cfg, 16))


def test_kv_budget_over_several_fills(lm, tmp_path):  # noqa: F811
    model, onnx = lm
    cfg = SpAttenConfig(kv_budget=(2, 3, 2))
    binary = compile_lm(onnx, tmp_path / "t.spbin", context=32, hw=hw_file(tmp_path, {"max_keys_per_fill": 4}),
                        settings=cfg)
    check_steps(generate_on_sim(binary, tmp_path / "t"), reference(model, binary, cfg, 32))


def test_kv_budget_needs_a_generation_binary(lm, tmp_path):  # noqa: F811
    _, onnx = lm
    with pytest.raises(tools.ToolError, match="--kv-budget is a policy of generation's decode steps"):
        tools.compile(onnx, tmp_path / "s.spbin", shapes={"batch": 1, "sequence": 7},
                      settings=SpAttenConfig(kv_budget=(1, 1, 1)))


@pytest.mark.parametrize("budget, message", [
    ((1, 2), "three token counts"), ((1, -1, 2), ">= 0"), ((0, 0, 0), "keep a token")])
def test_bad_budgets_are_refused(budget, message):
    with pytest.raises(ValueError, match=message):
        SpAttenConfig(kv_budget=budget).validate()


def test_kv_budget_excludes_the_token_schedule():
    with pytest.raises(ValueError, match="replaces cascade token pruning"):
        SpAttenConfig(kv_budget=(1, 1, 1), token_keep=0.5).validate()

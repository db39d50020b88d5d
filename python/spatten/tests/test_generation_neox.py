"""Text generation with the GPT-NeoX family (docs/Generation.md): a
``spatten.export gpt-neox`` model compiled with ``--max-context=C`` (its
rotary tables are computed in the graph from the positions, so no table
gives the context) rotates the first columns of each decode step's query
and key heads at the step's position. ``spatten-sim --generate`` gives
PyTorch's greedy tokens (the model's KV-cache ``step``) with logits within
LOGITS_TOL, and with SpAtten's techniques the NumPy reference's tokens,
logits, kept tokens and heads and Q/K/V bytes, step by step."""

import numpy as np
import pytest

from spatten import export as spexport
from spatten import generate, tools
from spatten import reference as R
from spatten.reference import SpAttenConfig
from test_agreement_generation import check_steps
from test_generation_sim import LOGITS_TOL, N, PROMPT, generate_on_sim

#: Context of the generation binaries: the tiny model's 64 positions.
CONTEXT = 64


@pytest.fixture(scope="module")
def neox(tmp_path_factory):
    """Tiny GPT-NeoX (4 heads of 8 columns, 4 of them rotated) whose greedy
    tokens vary from step to step."""
    path = tmp_path_factory.mktemp("neox") / "neox.onnx"
    return spexport.export("gpt-neox", str(path), opset=17, seed=5, init_std=0.3), path


def compile_neox(onnx, out, context=CONTEXT, settings=None):
    return tools.compile(onnx, out, shapes={"batch": 1, "sequence": PROMPT.shape[1]},
                         extra=[f"--max-context={context}"], settings=settings)


def test_dense_generation_equals_pytorch_greedy(neox, tmp_path):
    model, onnx = neox
    binary = compile_neox(onnx, tmp_path / "g.spbin")
    assert binary.entries == ["prefill", "decode"]
    assert [layer["k"]["shape"] for layer in binary.manifest["kv_cache"]["layers"]] == [[1, 4, CONTEXT, 8]] * 2
    run = generate_on_sim(binary, tmp_path / "out")
    ids, logits = generate.greedy(model, PROMPT, N)
    assert len(set(ids[0].tolist())) > 2
    np.testing.assert_array_equal(run.generated_ids, ids)
    assert float(np.abs(run.generation_logits - logits).max()) <= LOGITS_TOL


def test_the_context_must_be_given(neox, tmp_path):
    _, onnx = neox
    with pytest.raises(tools.ToolError) as e:
        tools.compile(onnx, tmp_path / "g.spbin", shapes={"batch": 1, "sequence": PROMPT.shape[1]},
                      extra=["--max-context"])
    assert "no position table" in e.value.stderr and "give it as --max-context=C" in e.value.stderr


@pytest.mark.parametrize("settings", [
    dict(token_keep=0.5),
    dict(head_keep=0.5),
    dict(head_keep=0.5, token_keep=0.5, value_keep=0.3, pq_msb=6, pq_threshold=0.5),
], ids=["token", "head", "all"])
def test_spatten_generation_matches_the_reference(neox, tmp_path, settings):
    model, onnx = neox
    cfg = SpAttenConfig(**settings)
    binary = compile_neox(onnx, tmp_path / "s.spbin", settings=cfg)
    run = generate_on_sim(binary, tmp_path / "s")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"], context=CONTEXT)
    check_steps(run, ref, tokens=cfg.token_keep is not None)

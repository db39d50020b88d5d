"""Text generation with the GPT-NeoX, Falcon and Phi families
(docs/Generation.md): a ``spatten.export gpt-neox``, ``falcon`` or ``phi``
model compiled with
``--max-context=C`` (their rotary tables are computed in the graph from the
positions, so no table gives the context) rotates each decode step's query
and key heads at the step's position: the first columns of each head for
GPT-NeoX and Phi, all of them for Falcon, whose cache holds its one K/V
head.
``spatten-sim --generate`` gives PyTorch's greedy tokens (the model's
KV-cache ``step``) with logits within LOGITS_TOL, and with SpAtten's
techniques the NumPy reference's tokens, logits, kept tokens and heads and
Q/K/V bytes, step by step."""

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


#: family -> (export seed, K/V heads of the cache): seeds whose tiny model's
#: greedy tokens vary from step to step.
FAMILIES = {"gpt-neox": (5, 4), "falcon": (2, 1), "phi": (4, 4)}


@pytest.fixture(scope="module", params=list(FAMILIES))
def decoder(request, tmp_path_factory):
    """A tiny model of the family: 4 heads of 8 columns (GPT-NeoX and Phi
    rotate 4 of them; Falcon all, with one K/V head)."""
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    seed, kv_heads = FAMILIES[request.param]
    return spexport.export(request.param, str(path), opset=17, seed=seed, init_std=0.3), path, kv_heads


def compile_decoder(onnx, out, context=CONTEXT, settings=None):
    return tools.compile(onnx, out, shapes={"batch": 1, "sequence": PROMPT.shape[1]},
                         extra=[f"--max-context={context}"], settings=settings)


def test_dense_generation_equals_pytorch_greedy(decoder, tmp_path):
    model, onnx, kv_heads = decoder
    binary = compile_decoder(onnx, tmp_path / "g.spbin")
    assert binary.entries == ["prefill", "decode"]
    assert [layer["k"]["shape"] for layer in binary.manifest["kv_cache"]["layers"]] == [[1, kv_heads, CONTEXT, 8]] * 2
    run = generate_on_sim(binary, tmp_path / "out")
    ids, logits = generate.greedy(model, PROMPT, N)
    assert len(set(ids[0].tolist())) > 2
    np.testing.assert_array_equal(run.generated_ids, ids)
    assert float(np.abs(run.generation_logits - logits).max()) <= LOGITS_TOL


def test_the_context_must_be_given(decoder, tmp_path):
    _, onnx, _ = decoder
    with pytest.raises(tools.ToolError) as e:
        tools.compile(onnx, tmp_path / "g.spbin", shapes={"batch": 1, "sequence": PROMPT.shape[1]},
                      extra=["--max-context"])
    assert "no position table" in e.value.stderr and "give it as --max-context=C" in e.value.stderr


@pytest.mark.parametrize("settings", [
    dict(token_keep=0.5),
    dict(head_keep=0.5),
    dict(head_keep=0.5, token_keep=0.5, value_keep=0.3, pq_msb=6, pq_threshold=0.5),
], ids=["token", "head", "all"])
def test_spatten_generation_matches_the_reference(decoder, tmp_path, settings):
    model, onnx, _ = decoder
    cfg = SpAttenConfig(**settings)
    binary = compile_decoder(onnx, tmp_path / "s.spbin", settings=cfg)
    run = generate_on_sim(binary, tmp_path / "s")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"], context=CONTEXT)
    check_steps(run, ref, tokens=cfg.token_keep is not None)

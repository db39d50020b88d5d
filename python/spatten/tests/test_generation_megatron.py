"""Text generation on a model nobody here exported: onnxruntime's
``gpt2_megatron.onnx`` (PyTorch 1.9, opset 12; docs/Generation.md, "Inputs
of a generation model"). Its graph takes ``position_ids``, a
``[B, 1, 64, 64]`` causal ``attention_mask`` and a stacked ``past_0``
besides the token ids; the generation binary takes the token ids only.
Its greedy tokens and logits must be those of onnxruntime running the
ONNX model itself step by step with its KV cache, fed as the model
expects."""

import numpy as np
import pytest

from conftest import shared_model
from spatten import ort, tools

#: fp32 on both sides; only the order of reductions differs.
LOGITS_TOL = 1e-4

MODEL = "gpt2_megatron.onnx"
#: The rows of the position table and the side of the causal mask.
CONTEXT = 64
VOCAB = 10


def reference_greedy(model, prompt, n):
    """onnxruntime's greedy loop on the model: the prompt with an empty
    ``past_0``, then one token per step with the previous ``present_0``;
    ``position_ids`` are the tokens' positions and ``attention_mask`` is
    Megatron's lower-triangular 0/1 mask. Returns the ids ``[1, n]`` and
    the logits each was chosen from ``[n, V]``."""
    mask = np.tril(np.ones((CONTEXT, CONTEXT), np.float32))[None, None]
    past = np.zeros((2, 1, 2, 0, 4), np.float32)
    ids, start = prompt, 0
    tokens, logits = [], []
    for _ in range(n):
        positions = np.arange(start, start + ids.shape[1], dtype=np.int64)[None]
        out = ort.run(model, {"input_ids": ids, "position_ids": positions,
                              "attention_mask": mask, "past_0": past})
        row = out["logits"][0, -1]
        token = int(np.argmax(row))  # ties to the lowest id, as the host
        tokens.append(token)
        logits.append(row)
        start += ids.shape[1]
        ids, past = np.array([[token]], np.int64), out["present_0"]
    return np.array([tokens], np.int64), np.stack(logits).astype(np.float32)


def compile_megatron(tmp_path, prompt_length, context=None):
    flag = "--max-context" if context is None else f"--max-context={context}"
    return tools.compile(shared_model(MODEL), tmp_path / "megatron.spbin",
                         shapes={"batch_size": 1, "seq_len": prompt_length}, extra=[flag])


def prompt_of(length, seed):
    return np.random.default_rng(seed).integers(0, VOCAB, size=(1, length), dtype=np.int64)


@pytest.mark.parametrize("length, n, context", [
    (8, 6, None),
    (3, 12, None),
    (1, 5, None),
    (5, 12, 16),            # a smaller cache, filled to its last row
    (8, CONTEXT - 8 + 1, None),  # every position of the model's context
], ids=["prompt8", "prompt3", "prompt1", "context16", "full-context"])
def test_generation_equals_onnxruntime_greedy(reference_ready, tmp_path, length, n, context):
    prompt = prompt_of(length, seed=length + n)
    binary = compile_megatron(tmp_path, length, context)
    assert binary.entries == ["prefill", "decode"]
    assert [t.name for t in binary.inputs] == ["input_ids"]
    assert binary.manifest["kv_cache"]["max_context"] == (context or CONTEXT)
    run = tools.simulate(binary, {"input_ids": prompt}, tmp_path / "out", generate=n, save_logits=True)
    ids, logits = reference_greedy(shared_model(MODEL), prompt, n)
    np.testing.assert_array_equal(run.generated_ids, ids)
    err = float(np.abs(run.generation_logits - logits).max())
    assert err <= LOGITS_TOL, f"max abs logit error {err}"


def test_a_context_past_the_mask_and_position_table_is_refused(tmp_path):
    with pytest.raises(tools.ToolError) as e:
        compile_megatron(tmp_path, 8, context=CONTEXT + 1)
    assert ("--max-context=65 exceeds the 64 rows of the position table 'position_embeddings.weight' "
            "that input 'position_ids' indexes") in e.value.stderr


def test_generation_past_the_context_is_refused(tmp_path):
    binary = compile_megatron(tmp_path, 8, context=10)
    with pytest.raises(tools.ToolError, match="--generate"):
        tools.simulate(binary, {"input_ids": prompt_of(8, 0)}, tmp_path / "out", generate=4)

"""Text generation with the LLaMA family (docs/Generation.md, "The LLaMA
family"): a ``spatten.export llama`` model compiled with ``--max-context``
rotates each decode step's query and key by the rotary tables' rows at the
step's position, and its KV cache holds the K/V heads of grouped-query
attention. ``spatten-sim --generate`` gives PyTorch's greedy tokens (the
model's KV-cache ``step``) with logits within LOGITS_TOL, and with every
SpAtten technique the NumPy reference's tokens, logits, kept tokens and
heads and Q/K/V bytes, step by step and layer by layer."""

import numpy as np
import pytest
import torch
from torch import nn

from spatten import export as spexport
from spatten import generate, tools
from spatten import reference as R
from spatten.reference import SpAttenConfig
from test_agreement_generation import check_steps
from test_generation_sim import LOGITS_TOL, N, PROMPT, generate_on_sim
from test_long_attention import hw_file

#: Context of the pruning runs: small keeps the per-position tables short.
CONTEXT = 16


def export_llama(directory, opset=17, kv_heads=2):
    """Tiny LLaMA: 4 query heads of width 8 over ``kv_heads`` K/V heads."""
    path = directory / f"llama-{kv_heads}-{opset}.onnx"
    model = spexport.export("llama", str(path), opset=opset, seed=3, kv_heads=kv_heads, init_std=0.3)
    return model, path


def compile_llama(onnx, out, context=None, settings=None, hw=None):
    flag = "--max-context" if context is None else f"--max-context={context}"
    return tools.compile(onnx, out, shapes={"batch": 1, "sequence": PROMPT.shape[1]}, extra=[flag],
                         settings=settings, hw=hw)


@pytest.fixture(scope="module")
def gqa(tmp_path_factory):
    return export_llama(tmp_path_factory.mktemp("llama"))


def check_pytorch_greedy(binary, model, out):
    """spatten-sim --generate N on ``binary`` gives PyTorch's greedy tokens,
    with logits within LOGITS_TOL at every step."""
    run = generate_on_sim(binary, out)
    ids, logits = generate.greedy(model, PROMPT, N)
    np.testing.assert_array_equal(run.generated_ids, ids)
    assert float(np.abs(run.generation_logits - logits).max()) <= LOGITS_TOL


@pytest.mark.parametrize("opset,kv_heads", [(14, 2), (17, 2), (17, 1)], ids=["gqa-14", "gqa-17", "mqa-17"])
def test_dense_generation_equals_pytorch_greedy(tmp_path, opset, kv_heads):
    """The context defaults to the rotary tables' 64 rows; the cache holds
    the K/V heads, [1, kv_heads, 64, 8] fp32 per layer and side."""
    model, onnx = export_llama(tmp_path, opset, kv_heads)
    binary = compile_llama(onnx, tmp_path / "l.spbin")
    assert binary.entries == ["prefill", "decode"]
    layers = binary.manifest["kv_cache"]["layers"]
    assert [layer["k"]["shape"] for layer in layers] == [[1, kv_heads, 64, 8]] * 2
    check_pytorch_greedy(binary, model, tmp_path / "out")


def test_a_context_past_the_rotary_tables_is_refused(gqa, tmp_path):
    _, onnx = gqa
    with pytest.raises(tools.ToolError) as e:
        compile_llama(onnx, tmp_path / "l.spbin", context=65)
    assert "--max-context=65 exceeds the 64 rows of the position table" in e.value.stderr


def test_cache_bytes_written_per_step_are_the_kv_heads(gqa, tmp_path):
    """Each step writes one K and one V row per K/V head and layer (2 K/V
    heads of 8 fp32), and reads the cached rows once per query head: the
    attention reads grow by a K and a V row per query head and layer."""
    _, onnx = gqa
    steps = generate_on_sim(compile_llama(onnx, tmp_path / "l.spbin"), tmp_path / "out").report.stages.steps
    row, layers, heads, kv_heads = 8 * 4, 2, 4, 2
    assert {s.dram.written(["k"]) for s in steps} == {layers * kv_heads * row}
    reads = [s.dram.read(["k", "v"]) for s in steps]
    assert np.diff(reads).tolist() == [2 * layers * heads * row] * (len(reads) - 1)


@pytest.mark.parametrize("settings", [
    dict(token_keep=0.5),
    dict(head_keep=0.5),
    dict(value_keep=0.3),
    dict(pq_msb=6, pq_threshold=0.5),
    dict(k_bits=12, v_bits=8),
    dict(head_keep=0.5, token_keep=0.5, value_keep=0.3, pq_msb=6, pq_threshold=0.5),
    dict(kv_budget=(1, 2, 2)),
    dict(kv_budget=(2, 1, 1), head_keep=0.5, value_keep=0.5),
], ids=["token", "head", "value", "pq", "bits", "all", "kv-budget", "kv-budget-head-value"])
def test_spatten_generation_matches_the_reference(gqa, tmp_path, settings):
    model, onnx = gqa
    cfg = SpAttenConfig(**settings)
    binary = compile_llama(onnx, tmp_path / "s.spbin", context=CONTEXT, settings=cfg)
    run = generate_on_sim(binary, tmp_path / "s")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"], context=CONTEXT)
    check_steps(run, ref, tokens=cfg.token_keep is not None or cfg.kv_budget is not None)


@pytest.mark.parametrize("settings", [dict(), dict(token_keep=0.5, k_bits=8, v_bits=8),
                                      dict(pq_msb=8, pq_values=True, value_keep=0.3, pq_threshold=0.6)],
                         ids=["dense", "token-bits", "pq-values-value"])
def test_fills_match_the_reference(gqa, tmp_path, settings):
    """Fills of 4 keys: the query heads of a group each stream their K/V
    head's cached rows fill by fill; the group's first head writes the
    token's rows."""
    model, onnx = gqa
    cfg = SpAttenConfig(**settings)
    binary = compile_llama(onnx, tmp_path / "f.spbin", context=32, settings=cfg,
                           hw=hw_file(tmp_path, {"max_keys_per_fill": 4}))
    run = generate_on_sim(binary, tmp_path / "f")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"], context=32)
    check_steps(run, ref, tokens=cfg.token_keep is not None)


class WithInputs(nn.Module):
    """A LlamaForCausalLM exported as Hugging Face's generation exports
    are: position ids [batch, sequence] as a graph input, and optionally a
    padding mask [batch, sequence] (1: a token) added to the causal mask."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, input_ids, position_ids, attention_mask=None):
        m, l = self.m, input_ids.shape[1]
        low = torch.finfo(torch.float32).min
        mask = torch.triu(torch.full((l, l), low), diagonal=1)[None, None]
        if attention_mask is not None:
            mask = mask + (1.0 - attention_mask[:, None, None, :].float()) * low
        x = m.embed_tokens(input_ids)
        for layer in m.layers:
            x = layer(x, m.cos_cached, m.sin_cached, position_ids, mask)
        return m.lm_head(m.norm(x))


def export_with_inputs(model, path, names):
    ids = torch.zeros(1, 5, dtype=torch.long)
    args = (ids, torch.arange(5)[None], torch.ones(1, 5, dtype=torch.long))[:len(names)]
    torch.onnx.export(WithInputs(model).eval(), args, str(path), input_names=names, output_names=["logits"],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names}, opset_version=17)


def test_position_ids_input_is_bound(gqa, tmp_path):
    """position_ids index the rotary tables: the compiler binds them to the
    positions (docs/Generation.md, "Inputs of a generation model")."""
    model, _ = gqa
    export_with_inputs(model, tmp_path / "pos.onnx", ["input_ids", "position_ids"])
    binary = compile_llama(tmp_path / "pos.onnx", tmp_path / "pos.spbin")
    assert [t.name for t in binary.inputs] == ["input_ids"]
    check_pytorch_greedy(binary, model, tmp_path / "out")


def test_padding_mask_input_is_refused(gqa, tmp_path):
    model, _ = gqa
    export_with_inputs(model, tmp_path / "mask.onnx", ["input_ids", "position_ids", "attention_mask"])
    with pytest.raises(tools.ToolError) as e:
        compile_llama(tmp_path / "mask.onnx", tmp_path / "mask.spbin")
    assert "graph input 'attention_mask' is read by" in e.value.stderr
    assert "padding masks and a non-empty KV cache are not supported" in e.value.stderr


def test_reference_generation_is_pytorch_greedy(gqa):
    model, _ = gqa
    ids, logits = generate.greedy(model, PROMPT, N)
    ref = R.generate(R.from_torch(model), PROMPT[0], N)
    np.testing.assert_array_equal(ref.tokens, ids)
    assert float(np.abs(ref.logits - logits).max()) <= LOGITS_TOL

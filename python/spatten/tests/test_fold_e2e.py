"""End to end: a model whose constant tables are computed with ops the
accelerator never runs, exported by PyTorch at opsets 14 and 17.

The model is the tiny GPT-2 of spatten.export with two changes LLaMA-style
exports have:

* a rotary-style table: ``einsum("i,j->ij", arange(L), inv_freq)``, doubled
  with ``cat``, through ``cos`` and ``sin`` (Range, Einsum, Concat, Cos, Sin
  over the sequence length the compiler binds); it scales the embeddings
  elementwise, ``x * cos + sin`` (not rotary attention itself);
* a causal mask built with ``torch.triu(full((L, L), -1e4), 1)`` (Trilu of a
  ConstantOfShape) and added to the attention scores.

Both fold to constants during -canonicalize, so only ops the project lowers
remain (GPT-2 attention with an additive causal mask, elementwise Mul/Add).
The dense outputs must match onnxruntime within 1e-4.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
import torch

from spatten import export as spexport
from spatten import ort, tools

BOUND = 1e-4
SEQ = 8


def rotary_table(length: int, dim: int):
    """cos and sin of positions times inverse frequencies, [length, dim]."""
    positions = torch.arange(length, dtype=torch.float32)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    freqs = torch.einsum("i,j->ij", positions, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class TriuMaskAttention(spexport.GPT2Attention):
    """GPT-2 attention whose causal mask is an additive triu(-1e4) built from
    the sequence length."""

    def forward(self, x, layer_past=None):
        q, k, v = self.c_attn(x).split(self.hidden, dim=2)
        q = self.split_heads(q, (0, 2, 1, 3))
        k_t = self.split_heads(k, (0, 2, 3, 1))
        v = self.split_heads(v, (0, 2, 1, 3))
        length = x.shape[1]
        mask = torch.triu(torch.full((length, length), -10000.0), diagonal=1)
        w = torch.matmul(q, k_t) / math.sqrt(self.head_dim) + mask
        a = torch.matmul(torch.softmax(w, dim=-1), v)
        b, _, l, _ = a.shape
        return self.c_proj(a.permute(0, 2, 1, 3).contiguous().view(b, l, self.hidden))


class RotaryScaledGPT2(spexport.GPT2Model):
    """The GPT-2 embeddings scaled by the rotary table before the blocks."""

    def forward(self, input_ids):
        length = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe(self.position_ids[:, :length])
        cos, sin = rotary_table(length, self.config.hidden)
        x = x * cos + sin
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


def build() -> torch.nn.Module:
    """spatten.export's seeded tiny GPT-2, with the forwards above (same
    modules and weights)."""
    model = spexport.build_model(spexport.tiny_config("gpt2"))
    model.__class__ = RotaryScaledGPT2
    for block in model.h:
        block.attn.__class__ = TriuMaskAttention
    return model


@pytest.mark.parametrize("opset", [14, 17])
def test_folded_tables_match_onnxruntime(opset, tmp_path, reference_ready):
    model = build()
    path = str(tmp_path / f"rotary-triu-opset{opset}.onnx")
    spexport.export_onnx(model, path, opset=opset, seq_len=SEQ)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"Einsum", "Cos", "Sin", "Trilu", "Range"} <= ops, ops

    inputs = spexport.make_inputs(model.config, seq_len=SEQ)
    binary = tools.compile(path, tmp_path / "model.spbin", shapes={"batch": 1, "sequence": SEQ})
    run = tools.simulate(binary, inputs, tmp_path / "out", report=False)
    reference = ort.run(path, inputs)
    for name, want in reference.items():
        got = run.outputs[name]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=BOUND, rtol=0, err_msg=name)
    with torch.no_grad():  # onnxruntime agrees with the PyTorch model itself
        torch_out = model(torch.from_numpy(inputs["input_ids"])).numpy()
    np.testing.assert_allclose(reference["last_hidden_state"], torch_out, atol=BOUND, rtol=0)

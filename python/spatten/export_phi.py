"""The Phi family for ``spatten.export``: Hugging Face's ``PhiForCausalLM``
(Phi-1.5 and Phi-2, Li et al. 2023) in plain torch, written so that
``torch.onnx.export`` produces the node patterns a user's export with
current transformers does:

* ``embed_tokens``; per layer one ``input_layernorm`` (LayerNorm, eps 1e-5)
  whose output feeds both the attention and the MLP, and the parallel
  residual ``attention(h) + mlp(h) + x``;
* separate ``q_proj``, ``k_proj``, ``v_proj`` and ``dense`` projections
  with biases, each viewed ``[B, L, H, D]`` and transposed to heads;
* a partial rotary embedding on the first ``int(D * rotary_pct)`` columns of
  each Q and K head (HF's ``partial_rotary_factor``), LLaMA's half split,
  the rest passed through; cos and sin computed in the graph from
  ``inv_freq`` and ``arange(sequence)``;
* eager attention ``softmax(q @ k^T * D^-0.5 + mask) @ v`` under the causal
  mask (with ``padding_mask``, the padding filled in as transformers >= 4.36
  does);
* the MLP ``fc2(gelu_new(fc1(h)))`` (tanh GELU);
* ``final_layernorm`` and an untied ``lm_head`` with a bias (output
  ``logits`` [batch, sequence, vocab]).

Input int64 ``input_ids`` [batch, sequence] (and ``attention_mask`` with
``padding_mask``). The export has no KV-cache inputs; ``step``
(:class:`~spatten.export_neox.RotaryCausalLM`) is PyTorch's KV-cache step
that greedy generation runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .export_neox import ParallelDecoderLayer, RotaryCausalLM, apply_partial_rotary, rotary_dims

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig


class PhiAttention(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.scaling = self.head_dim ** -0.5
        self.q_proj = nn.Linear(c.hidden, c.hidden)
        self.k_proj = nn.Linear(c.hidden, c.hidden)
        self.v_proj = nn.Linear(c.hidden, c.hidden)
        self.dense = nn.Linear(c.hidden, c.hidden)

    def heads_of(self, proj: nn.Linear, x):
        b, l, _ = x.shape
        return proj(x).view(b, l, -1, self.head_dim).transpose(1, 2)

    def forward(self, x, cos, sin, mask, past=None):
        """``past``: the cache (k, v) [b, heads, p, d] (rotated K), or None;
        with it also returns the cache grown by x's positions."""
        b, l, _ = x.shape
        q, k, v = self.heads_of(self.q_proj, x), self.heads_of(self.k_proj, x), self.heads_of(self.v_proj, x)
        q, k = apply_partial_rotary(q, cos, sin), apply_partial_rotary(k, cos, sin)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        w = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * self.scaling + mask, dim=-1)
        out = self.dense(torch.matmul(w, v).transpose(1, 2).reshape(b, l, -1))
        return out if past is None else (out, (k, v))


class PhiMLP(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.fc1 = nn.Linear(c.hidden, c.intermediate)
        self.fc2 = nn.Linear(c.intermediate, c.hidden)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class PhiDecoderLayer(ParallelDecoderLayer):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.self_attn = PhiAttention(c)
        self.mlp = PhiMLP(c)

    def attend(self, *args):
        return self.self_attn(*args)


class PhiForCausalLM(RotaryCausalLM):
    """``RotaryCausalLM`` with Phi's modules."""

    def __init__(self, c: "ModelConfig"):
        super().__init__(c, rotary_dims(c))
        self.embed_tokens = nn.Embedding(c.vocab, c.hidden)
        self.layers = nn.ModuleList(PhiDecoderLayer(c) for _ in range(c.layers))
        self.final_layernorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.lm_head = nn.Linear(c.hidden, c.vocab)

    def embed(self, input_ids):
        return self.embed_tokens(input_ids)

    @property
    def blocks(self):
        return self.layers

    def logits(self, x):
        return self.lm_head(self.final_layernorm(x))

"""The Falcon family for ``spatten.export``: Hugging Face's
``FalconForCausalLM`` in Falcon-7B's architecture (Almazrouei et al. 2023:
``multi_query``, ``parallel_attn``, no biases, rotary embeddings) in plain
torch, written so that ``torch.onnx.export`` produces the node patterns a
user's export with current transformers does:

* ``word_embeddings``; per layer one ``input_layernorm`` (LayerNorm, eps
  1e-5) whose output feeds both the attention and the MLP, and the parallel
  residual ``x + (mlp(h) + attention(h))``;
* one fused ``query_key_value`` projection ``[B, L, (H + 2) * D]`` viewed as
  ``[B, L, H + 2, D]``: the H query heads, then one key and one value head
  (``_split_heads``: ``x[..., :-2, :]``, ``x[..., [-2], :]``,
  ``x[..., [-1], :]``), each transposed to ``[B, heads, L, D]``;
* rotary embeddings on every column of Q and K (LLaMA's half split), cos
  and sin ``[1, L, D]`` computed in the graph from ``inv_freq`` and the
  positions ``arange(sequence)``;
* multi-query attention: the single K and V head broadcast over the query
  heads by the MatMuls themselves, ``softmax(q @ k^T / sqrt(D) + mask) @ v``
  under the causal mask (with ``padding_mask``, the padding filled in as
  transformers >= 4.36 does), ``dense`` output projection;
* the MLP ``dense_4h_to_h(gelu(dense_h_to_4h(h)))`` (erf GELU);
* ``ln_f`` and an ``lm_head`` tied to ``word_embeddings`` (output
  ``logits`` [batch, sequence, vocab]).

Input int64 ``input_ids`` [batch, sequence] (and ``attention_mask`` with
``padding_mask``). The export has no KV-cache inputs; ``step``
(:class:`~spatten.export_neox.RotaryCausalLM`) is PyTorch's KV-cache step
that greedy generation runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from .export_llama import rotate_half
from .export_neox import ParallelDecoderLayer, RotaryCausalLM

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig


class FalconAttention(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.query_key_value = nn.Linear(c.hidden, (c.heads + 2) * self.head_dim, bias=False)
        self.dense = nn.Linear(c.hidden, c.hidden, bias=False)

    def forward(self, x, cos, sin, mask, past=None):
        """``past``: the cache (k, v) [b, 1, p, d] (rotated K), or None;
        with it also returns the cache grown by x's positions."""
        b, l, _ = x.shape
        fused = self.query_key_value(x).view(b, l, self.heads + 2, self.head_dim)
        q, k, v = fused[..., :-2, :], fused[..., [-2], :], fused[..., [-1], :]
        q = q.transpose(1, 2).reshape(b, self.heads, l, self.head_dim)
        k = k.transpose(1, 2).reshape(b, 1, l, self.head_dim)
        v = v.transpose(1, 2).reshape(b, 1, l, self.head_dim)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        w = q @ k.transpose(-1, -2)
        w = torch.softmax(w / math.sqrt(self.head_dim) + mask, dim=-1)
        a = (w @ v).view(b, self.heads, l, self.head_dim).permute(0, 2, 1, 3)
        out = self.dense(a.reshape(b, l, self.heads * self.head_dim))
        return out if past is None else (out, (k, v))


class FalconMLP(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.dense_4h_to_h = nn.Linear(c.intermediate, c.hidden, bias=False)

    def forward(self, x):
        return self.dense_4h_to_h(nn.functional.gelu(self.dense_h_to_4h(x)))


class FalconDecoderLayer(ParallelDecoderLayer):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.self_attention = FalconAttention(c)
        self.mlp = FalconMLP(c)

    def attend(self, *args):
        return self.self_attention(*args)


class FalconForCausalLM(RotaryCausalLM):
    """``RotaryCausalLM`` with Falcon's modules; the LM head is tied to the
    word embeddings."""

    def __init__(self, c: "ModelConfig"):
        super().__init__(c, c.hidden // c.heads)
        self.word_embeddings = nn.Embedding(c.vocab, c.hidden)
        self.h = nn.ModuleList(FalconDecoderLayer(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def embed(self, input_ids):
        return self.word_embeddings(input_ids)

    @property
    def blocks(self):
        return self.h

    def logits(self, x):
        return torch.matmul(self.ln_f(x), self.word_embeddings.weight.t())

"""The GPT-NeoX family for ``spatten.export``: Hugging Face's
``GPTNeoXForCausalLM`` (Black et al. 2022; the Pythia suite, Biderman et al.
2023) in plain torch, written so that ``torch.onnx.export`` produces the node
patterns a user's export with current transformers does:

* ``embed_in``; no position table;
* per layer ``input_layernorm`` and ``post_attention_layernorm`` (LayerNorm
  with bias, eps 1e-5) applied to the same input, with the parallel
  residual ``x + attention(ln1(x)) + mlp(ln2(x))``;
* one fused ``query_key_value`` projection whose output is viewed per
  head, ``[B, L, H, 3*D]``, transposed to ``[B, H, L, 3*D]`` and chunked
  into Q, K and V along the last axis (the head-interleaved layout: head h's
  Q, K and V are columns ``[3hD, 3hD + D)``, ``[3hD + D, 3hD + 2D)`` and
  ``[3hD + 2D, 3hD + 3D)`` of the projection);
* partial rotary position embeddings: the first ``rotary_dims`` =
  ``int(D * rotary_pct)`` columns of each Q and K head are rotated
  (``q_rot * cos + rotate_half(q_rot) * sin``, LLaMA's half split), the
  rest pass through; cos and sin ``[1, L, rotary_dims]`` are computed in the
  graph from ``inv_freq = 1 / base^(2i/rotary_dims)`` and the positions
  ``arange(sequence)``, as ``GPTNeoXRotaryEmbedding`` does;
* eager attention ``softmax(q @ k^T * D^-0.5 + mask) @ v`` under the causal
  mask (with ``padding_mask``, the padding filled in as transformers >= 4.36
  does), ``dense`` output projection;
* the MLP ``dense_4h_to_h(gelu(dense_h_to_4h(x)))`` (erf GELU);
* ``final_layer_norm`` and an untied ``embed_out`` (output ``logits``
  [batch, sequence, vocab]).

Input int64 ``input_ids`` [batch, sequence] (and ``attention_mask`` with
``padding_mask``). The export has no KV-cache inputs; ``spatten-compile
--max-context`` builds the generation binary, and ``step`` is PyTorch's
KV-cache step that greedy generation runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .export_llama import causal_mask_4d, rotate_half, step_inputs

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig


def rotary_dims(c: "ModelConfig") -> int:
    """The rotated columns of each head: ``int(head_dim * rotary_pct)``, as
    ``GPTNeoXAttention.rotary_ndims``."""
    return int(c.hidden // c.heads * c.rotary_pct)


def inverse_frequencies(dims: int, base: float) -> torch.Tensor:
    """``GPTNeoXRotaryEmbedding.inv_freq`` [dims / 2]: 1 / base^(2i/dims)."""
    return 1.0 / (base ** (torch.arange(0, dims, 2, dtype=torch.int64).float() / dims))


def rotary_cos_sin(inv_freq: torch.Tensor, position_ids: torch.Tensor):
    """``GPTNeoXRotaryEmbedding.forward``: cos and sin [1, L, dims] of the
    positions [1, L]."""
    freqs = (inv_freq[None, :, None].float() @ position_ids[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_partial_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, L, D]; cos, sin [1, L, R]: the first R columns of each head
    rotated, the rest passed through (``apply_rotary_pos_emb``)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    r = cos.shape[-1]
    x_rot, x_pass = x[..., :r], x[..., r:]
    return torch.cat([(x_rot * cos) + (rotate_half(x_rot) * sin), x_pass], dim=-1)


class GPTNeoXAttention(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.scaling = self.head_dim ** -0.5
        self.query_key_value = nn.Linear(c.hidden, 3 * c.hidden)
        self.dense = nn.Linear(c.hidden, c.hidden)

    def forward(self, x, cos, sin, mask, past=None):
        """``past``: the cache (k, v) [b, heads, p, d] of the earlier
        positions (rotated K, as HF caches it), or None. Returns the output,
        and with ``past`` also the cache grown by x's positions."""
        b, l, _ = x.shape
        qkv = self.query_key_value(x).view(b, l, -1, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        q, k = apply_partial_rotary(q, cos, sin), apply_partial_rotary(k, cos, sin)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        w = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        w = torch.softmax(w + mask, dim=-1)
        a = torch.matmul(w, v).transpose(1, 2).contiguous()
        out = self.dense(a.reshape(b, l, -1))
        return out if past is None else (out, (k, v))


class GPTNeoXMLP(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(c.hidden, c.intermediate)
        self.dense_4h_to_h = nn.Linear(c.intermediate, c.hidden)

    def forward(self, x):
        return self.dense_4h_to_h(nn.functional.gelu(self.dense_h_to_4h(x)))


class ParallelDecoderLayer(nn.Module):
    """A layer whose attention and MLP both read the layer's input (GPT-NeoX,
    Falcon, Phi): ``mlp(h_mlp) + attention(h_attn) + x``. A subclass gives
    ``input_layernorm``, ``attend`` (its attention module under the
    family's name) and ``mlp``, and ``normed`` when the MLP has a
    LayerNorm of its own."""

    def normed(self, x):
        """(the attention's input, the MLP's input): one LayerNorm for both."""
        h = self.input_layernorm(x)
        return h, h

    def forward(self, x, cos, sin, mask, past=None):
        """With ``past`` (the layer's cache), returns (output, present)."""
        h_attn, h_mlp = self.normed(x)
        attn = self.attend(h_attn, cos, sin, mask, past)
        attn, present = (attn, None) if past is None else attn
        out = self.mlp(h_mlp) + attn + x
        return out if past is None else (out, present)


class GPTNeoXLayer(ParallelDecoderLayer):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.post_attention_layernorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.attention = GPTNeoXAttention(c)
        self.mlp = GPTNeoXMLP(c)

    def normed(self, x):
        return self.input_layernorm(x), self.post_attention_layernorm(x)

    def attend(self, *args):
        return self.attention(*args)


class RotaryCausalLM(nn.Module):
    """A decoder whose rotary angles are computed from the positions, as
    current transformers' GPT-NeoX and Falcon do: a subclass names its
    modules with ``embed``, ``blocks`` and ``logits``.

    Input int64 input_ids [batch, sequence] (and with
    ``ModelConfig.padding_mask`` int64 attention_mask [batch, sequence], 1:
    attend, 0: padding); output logits [batch, sequence, vocab]."""

    def __init__(self, c: "ModelConfig", dims: int):
        super().__init__()
        self.config = c
        self.register_buffer("inv_freq", inverse_frequencies(dims, c.rope_theta), persistent=False)

    def rotary_tables(self, positions: int):
        """The cos and sin tables [positions, rotary dims] of positions 0 ..
        positions - 1."""
        ids = torch.arange(positions, dtype=torch.long).unsqueeze(0)
        cos, sin = rotary_cos_sin(self.inv_freq, ids)
        return cos[0], sin[0]

    def step(self, input_ids, past=None):
        """input_ids [b, l] after ``past`` (None: an empty cache; else per
        layer (k, v) [b, kv_heads, p, d]) -> (logits [b, l, vocab],
        presents): positions p .. p+l-1 take their rotary angles, and each
        query sees the cache and the tokens up to itself. The one call
        greedy generation makes per step (:func:`spatten.generate.greedy`)."""
        past, position_ids, mask = step_inputs(self.config, input_ids, past)
        cos, sin = rotary_cos_sin(self.inv_freq, position_ids)
        x, presents = self.embed(input_ids), []
        for layer, kv in zip(self.blocks, past):
            x, present = layer(x, cos, sin, mask, kv)
            presents.append(present)
        return self.logits(x), presents

    def forward(self, input_ids, attention_mask=None):
        l = input_ids.shape[1]
        position_ids = torch.arange(0, l, dtype=torch.long).unsqueeze(0)
        cos, sin = rotary_cos_sin(self.inv_freq, position_ids)
        mask = causal_mask_4d(attention_mask, l)
        x = self.embed(input_ids)
        for layer in self.blocks:
            x = layer(x, cos, sin, mask)
        return self.logits(x)


class GPTNeoXForCausalLM(RotaryCausalLM):
    """``RotaryCausalLM`` with GPT-NeoX's modules."""

    def __init__(self, c: "ModelConfig"):
        super().__init__(c, rotary_dims(c))
        self.embed_in = nn.Embedding(c.vocab, c.hidden)
        self.layers = nn.ModuleList(GPTNeoXLayer(c) for _ in range(c.layers))
        self.final_layer_norm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.embed_out = nn.Linear(c.hidden, c.vocab, bias=False)

    def embed(self, input_ids):
        return self.embed_in(input_ids)

    @property
    def blocks(self):
        return self.layers

    def logits(self, x):
        return self.embed_out(self.final_layer_norm(x))

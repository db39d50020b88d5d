"""The LLaMA family for ``spatten.export``: Hugging Face's ``LlamaForCausalLM``
in plain torch (no transformers dependency), written so that
``torch.onnx.export`` produces the node patterns a user's HF export does:

* ``embed_tokens``; per layer ``input_layernorm`` = RMSNorm
  (``x * rsqrt(mean(x^2) + eps) * weight``), ``q/k/v/o_proj`` without bias;
* rotary position embeddings (RoFormer, Su et al. 2021) as HF applies them:
  ``cos``/``sin`` tables ``[max_positions, head_dim]`` built from
  ``inv_freq = 1 / theta^(2i/d)`` with ``cat((freqs, freqs))``, indexed by
  ``position_ids = arange(past, past + sequence)``, and
  ``q * cos + rotate_half(q) * sin`` with ``rotate_half(x) = cat(-x2, x1)``;
* grouped-query attention: ``kv_heads`` K/V heads, each shared by
  ``heads / kv_heads`` query heads through HF's ``repeat_kv`` (``[:, :,
  None]`` + ``expand`` + ``reshape``);
* the causal mask ``triu(full((L, L), finfo.min), 1)`` (ONNX Trilu), added
  to the scores after the division by sqrt(head_dim);
* ``post_attention_layernorm``, the SwiGLU MLP ``down_proj(silu(gate_proj(x))
  * up_proj(x))``, a final RMSNorm and an untied ``lm_head`` (output
  ``logits`` [batch, sequence, vocab]).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


def rotary_tables(positions: int, head_dim: int, theta: float):
    """HF's ``LlamaRotaryEmbedding`` caches: cos and sin [positions, head_dim]."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    t = torch.arange(positions, dtype=inv_freq.dtype)
    freqs = torch.einsum("i,j->ij", t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, position_ids):
    """q [b, heads, l, d], k [b, kv_heads, l, d]; cos/sin [positions, d]
    gathered by position_ids [1, l] to [1, 1, l, d]."""
    cos = cos[position_ids].unsqueeze(1)
    sin = sin[position_ids].unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[b, kv_heads, l, d] -> [b, kv_heads * n_rep, l, d], query head h
    reading K/V head h // n_rep."""
    b, kv, l, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, l, d).reshape(b, kv * n_rep, l, d)


class LlamaAttention(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.kv_heads = c.heads, c.kv_heads
        self.head_dim = c.hidden // c.heads
        self.q_proj = nn.Linear(c.hidden, c.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(c.hidden, c.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(c.hidden, c.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(c.heads * self.head_dim, c.hidden, bias=False)

    def forward(self, x, cos, sin, position_ids, mask, past=None):
        """``past``: the cache (k, v) [b, kv_heads, p, d] of the earlier
        positions (rotated K, before repeat_kv, as HF caches it), or None.
        Returns the output, and with ``past`` also the cache grown by x's
        positions."""
        b, l, _ = x.shape
        q = self.q_proj(x).view(b, l, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, l, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, l, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin, position_ids)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
            present = (k, v)
        k = repeat_kv(k, self.heads // self.kv_heads)
        v = repeat_kv(v, self.heads // self.kv_heads)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        w = torch.softmax(w + mask, dim=-1)
        a = torch.matmul(w, v).transpose(1, 2).contiguous().reshape(b, l, self.heads * self.head_dim)
        return self.o_proj(a) if past is None else (self.o_proj(a), present)


class LlamaMLP(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.up_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.down_proj = nn.Linear(c.intermediate, c.hidden, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.input_layernorm = LlamaRMSNorm(c.hidden, c.ln_eps)
        self.self_attn = LlamaAttention(c)
        self.post_attention_layernorm = LlamaRMSNorm(c.hidden, c.ln_eps)
        self.mlp = LlamaMLP(c)

    def forward(self, x, cos, sin, position_ids, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, position_ids, mask)
        return x + self.mlp(self.post_attention_layernorm(x))

    def forward_cached(self, x, cos, sin, position_ids, mask, past):
        """As forward, after the cached positions ``past``: (output, present)."""
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, position_ids, mask, past)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), present


def causal_mask_4d(attention_mask: Optional[torch.Tensor], l: int) -> torch.Tensor:
    """The additive mask [1 or batch, 1, l, l] of a decoder-only model:
    ``finfo.min`` above the diagonal and, with an int64 attention_mask
    [batch, l] (1: attend, 0: padding), at the padded keys, built as
    transformers >= 4.36 builds it (AttentionMaskConverter.to_4d): the
    padding mask expanded and inverted, then the causal mask filled where it
    is set."""
    lowest = torch.finfo(torch.float32).min
    mask = torch.triu(torch.full((l, l), lowest), diagonal=1)[None, None]
    if attention_mask is None:
        return mask
    b = attention_mask.shape[0]
    inverted = 1.0 - attention_mask[:, None, None, :].expand(b, 1, l, l).to(torch.float32)
    padded = inverted.masked_fill(inverted.to(torch.bool), lowest)
    return mask.masked_fill(padded.to(torch.bool), lowest)


def step_inputs(c: "ModelConfig", input_ids: torch.Tensor, past):
    """What a KV-cache step of a rotary decoder needs besides its tokens
    input_ids [b, l]: the cache (``past``, or per layer an empty (k, v)
    [b, kv_heads, 0, head_dim]), the position ids [1, l] of p .. p+l-1
    after its p cached positions, and the mask [1, 1, l, p+l] that lets
    each query see the cache and the tokens up to itself."""
    if past is None:
        empty = torch.zeros(input_ids.shape[0], c.kv_heads, 0, c.hidden // c.heads)
        past = [(empty, empty)] * c.layers
    p, l = past[0][0].shape[2], input_ids.shape[1]
    position_ids = torch.arange(p, p + l, dtype=torch.long).unsqueeze(0)
    mask = torch.triu(torch.full((l, p + l), torch.finfo(torch.float32).min), diagonal=p + 1)
    return past, position_ids, mask[None, None]


class LlamaForCausalLM(nn.Module):
    """Input int64 input_ids [batch, sequence], and with
    ``ModelConfig.padding_mask`` int64 attention_mask [batch, sequence] (1:
    attend, 0: padding); output logits [batch, sequence, vocab]."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab, c.hidden)
        self.layers = nn.ModuleList(LlamaDecoderLayer(c) for _ in range(c.layers))
        self.norm = LlamaRMSNorm(c.hidden, c.ln_eps)
        self.lm_head = nn.Linear(c.hidden, c.vocab, bias=False)
        cos, sin = rotary_tables(c.max_positions, c.hidden // c.heads, c.rope_theta)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)

    def step(self, input_ids, past=None):
        """input_ids [b, l] after ``past`` (None: an empty cache; else per
        layer (k, v) [b, kv_heads, p, d], the grouped-query cache holds the
        K/V heads) -> (logits [b, l, vocab], presents). Positions p .. p+l-1
        take their rotary rows; the mask lets each query see the cache and
        the tokens up to itself. The one call greedy generation makes per
        step (:func:`spatten.generate.greedy`)."""
        past, position_ids, mask = step_inputs(self.config, input_ids, past)
        x, presents = self.embed_tokens(input_ids), []
        for layer, kv in zip(self.layers, past):
            x, present = layer.forward_cached(x, self.cos_cached, self.sin_cached, position_ids, mask, kv)
            presents.append(present)
        return self.lm_head(self.norm(x)), presents

    def forward(self, input_ids, attention_mask=None):
        b, l = input_ids.shape
        position_ids = torch.arange(0, l, dtype=torch.long).unsqueeze(0)
        mask = causal_mask_4d(attention_mask, l)
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, self.cos_cached, self.sin_cached, position_ids, mask)
        return self.lm_head(self.norm(x))

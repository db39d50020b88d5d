"""The BERT family for ``spatten.export``: Hugging Face's ``BertModel`` in
plain torch (no transformers dependency), written so that
``torch.onnx.export`` produces the node patterns a user's HF export does:
token + position + token-type embeddings, LayerNorm (eps 1e-12), Q/K/V
``nn.Linear`` (MatMul+Add), per-head ``view`` + ``permute(0,2,1,3)``, K
permuted ``(0,2,3,1)``, ``Div`` by sqrt(d), additive padding mask
``(1 - mask) * -10000``, Softmax, GELU (erf), FFN, optional tanh pooler or
the masked-LM head ``cls.predictions``.

``ModelConfig.mask_style`` picks how the padding mask reaches the scores,
as the Hugging Face versions export it: ``extended`` (the additive
``(1 - mask) * -10000`` above), ``4d`` (transformers >= 4.36,
``_prepare_4d_attention_mask``: the mask expanded to ``[B, 1, Lq, Lk]``,
inverted, and ``masked_fill(inv.bool(), finfo.min)`` added) or
``masked-fill`` (DistilBERT: ``scores.masked_fill(mask == 0, finfo.min)``
on the mask viewed ``[B, 1, 1, Lk]`` and expanded over the scores).

With ``ModelConfig.rotary`` the position table gives way to rotary
embeddings on Q and K (RoFormer, Su et al. 2021) in LLaMA's half-split
form (:mod:`spatten.export_llama`'s tables and ``rotate_half``), K
transposed after its rotation as LLaMA does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from .export_llama import apply_rotary_pos_emb, rotary_tables

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig



class BertSelfAttention(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.masked_fill = c.mask_style == "masked-fill"
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)

    def split_heads(self, x: torch.Tensor, perm) -> torch.Tensor:
        b, l, _ = x.shape
        return x.view(b, l, self.heads, self.head_dim).permute(*perm)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, rope=None) -> torch.Tensor:
        """mask: the additive bias, or with ``masked-fill`` the int64
        attention_mask [b, l]. rope: None, or (cos, sin [positions,
        head_dim], position_ids [1, l])."""
        q = self.split_heads(self.query(x), (0, 2, 1, 3))
        if rope is None:
            k_t = self.split_heads(self.key(x), (0, 2, 3, 1))  # [b, h, d, l]
        else:
            q, k = apply_rotary_pos_emb(q, self.split_heads(self.key(x), (0, 2, 1, 3)), *rope)
            k_t = k.transpose(2, 3)
        v = self.split_heads(self.value(x), (0, 2, 1, 3))
        scores = torch.matmul(q, k_t) / math.sqrt(self.head_dim)
        if self.masked_fill:
            padded = (mask == 0).view(mask.shape[0], 1, 1, -1).expand_as(scores)
            scores = scores.masked_fill(padded, torch.finfo(scores.dtype).min)
        else:
            scores = scores + mask
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, _, l, _ = ctx.shape
        return ctx.permute(0, 2, 1, 3).contiguous().view(b, l, self.heads * self.head_dim)


class BertLayer(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.attention = BertSelfAttention(c)
        self.attn_out = nn.Linear(c.hidden, c.hidden)
        self.attn_ln = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.intermediate = nn.Linear(c.hidden, c.intermediate)
        self.output = nn.Linear(c.intermediate, c.hidden)
        self.out_ln = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, x: torch.Tensor, mask_add: torch.Tensor, rope=None) -> torch.Tensor:
        x = self.attn_ln(x + self.attn_out(self.attention(x, mask_add, rope)))
        h = nn.functional.gelu(self.intermediate(x))  # erf form, as HF "gelu"
        return self.out_ln(x + self.output(h))


class BertPredictionTransform(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(nn.functional.gelu(self.dense(x)))


class BertPredictions(nn.Module):
    """Hugging Face's ``cls.predictions``: transform, then the decoder tied
    to the word embeddings (passed in, not owned) plus its own bias."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.transform = BertPredictionTransform(c)
        self.bias = nn.Parameter(torch.zeros(c.vocab))

    def forward(self, x: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.transform(x), word_embeddings.t()) + self.bias


class BertMLMHead(nn.Module):
    """Named ``cls`` so the initializers are Hugging Face's
    ``cls.predictions.*`` (BertForMaskedLM / BertForPreTraining)."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.predictions = BertPredictions(c)


class BertModel(nn.Module):
    """Inputs int64 [batch, sequence]; outputs last_hidden_state
    [batch, sequence, hidden] (+ pooler_output [batch, hidden]); with
    ``mlm_head`` only prediction_scores [batch, sequence, vocab], the
    masked-LM logits."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.config = c
        self.word_embeddings = nn.Embedding(c.vocab, c.hidden)
        if c.rotary:
            cos, sin = rotary_tables(c.max_positions, c.hidden // c.heads, c.rope_theta)
            self.register_buffer("cos_cached", cos, persistent=False)
            self.register_buffer("sin_cached", sin, persistent=False)
        else:
            self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.type_vocab, c.hidden)
        self.emb_ln = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.register_buffer("position_ids", torch.arange(c.max_positions).unsqueeze(0), persistent=False)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.layers))
        self.pooler = nn.Linear(c.hidden, c.hidden) if c.pooler else None
        if c.mlm_head:
            self.cls = BertMLMHead(c)

    def encode(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        """The last layer's hidden states [batch, sequence, hidden]."""
        # This order keeps the node order of the learned-table export as it was.
        seq = input_ids.shape[1]
        x = self.word_embeddings(input_ids)
        positions = self.position_ids[:, :seq] if self.config.padding_idx is None else self.positions(input_ids)
        rope = (self.cos_cached, self.sin_cached, positions) if self.config.rotary else None
        if rope is None:
            x = x + self.position_embeddings(positions)
        x = self.emb_ln(x + self.token_type_embeddings(token_type_ids))
        mask = self.padding_mask(attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, mask, rope)
        return x

    def positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """RoBERTa's position ids [batch, sequence], counted from input_ids
        as Hugging Face's ``create_position_ids_from_input_ids`` does:
        padding_idx at padding tokens, padding_idx + 1, + 2, ... at the
        others."""
        mask = input_ids.ne(self.config.padding_idx).int()
        return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + self.config.padding_idx

    def padding_mask(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """What the layers take for ``ModelConfig.mask_style`` (module doc)."""
        style = self.config.mask_style
        if style == "masked-fill":
            return attention_mask
        if style == "4d":
            b, lk = attention_mask.shape
            expanded = attention_mask[:, None, None, :].expand(b, 1, lk, lk).to(dtype)
            inverted = 1.0 - expanded
            return inverted.masked_fill(inverted.to(torch.bool), torch.finfo(dtype).min)
        return (1.0 - attention_mask[:, None, None, :].to(dtype)) * -10000.0

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        """Masked-LM logits [..., vocab] of hidden states [..., hidden]."""
        return self.cls.predictions(hidden, self.word_embeddings.weight)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.encode(input_ids, attention_mask, token_type_ids)
        if self.config.mlm_head:
            return self.predict(x)
        if self.pooler is None:
            return x
        return x, torch.tanh(self.pooler(x[:, 0]))

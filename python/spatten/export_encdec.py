"""The encoder-decoder family for ``spatten.export``: Hugging Face's
``BartForConditionalGeneration`` in plain torch (no transformers
dependency), written so that ``torch.onnx.export`` produces the node
patterns a user's HF export does:

* ``shared`` token embeddings (encoder, decoder and the tied LM head) and
  learned positions ``BartLearnedPositionalEmbedding`` (rows
  ``arange(L) + 2``: BART's offset of 2), then ``layernorm_embedding``;
* post-LN encoder layers: ``self_attn`` (``BartAttention``: Q scaled by
  ``head_dim ** -0.5`` after ``q_proj``, heads as ``[B*H, L, D]`` 3-D
  ``bmm``), residual, ``self_attn_layer_norm``, erf-GELU FFN ``fc1``/``fc2``,
  residual, ``final_layer_norm``;
* post-LN decoder layers: causal ``self_attn`` (HF's
  ``_make_causal_mask``: ``finfo.min`` above the diagonal, expanded to
  ``[B, 1, tgt, tgt]`` and added to the scores viewed as ``[B, H, tgt,
  tgt]``), then ``encoder_attn``, the cross-attention whose keys and values
  are projections of the encoder's output, each followed by its residual
  and LayerNorm, then the FFN;
* ``lm_head`` tied to ``shared`` plus ``final_logits_bias``.

Inputs are int64 ``input_ids [batch, sequence]`` (the source) and
``decoder_input_ids [batch, decoder_sequence]`` (the target so far); the
output is ``logits [batch, decoder_sequence, vocab]``. No padding masks:
rows are unpadded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig

#: BartLearnedPositionalEmbedding's offset: position p reads row p + 2.
POSITION_OFFSET = 2


class BartLearnedPositionalEmbedding(nn.Embedding):
    def __init__(self, positions: int, hidden: int):
        super().__init__(positions + POSITION_OFFSET, hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(0, ids.shape[1], dtype=torch.long)
        return super().forward(positions + POSITION_OFFSET)


class BartAttention(nn.Module):
    """Self-attention (``kv`` is ``x``) or cross-attention (``kv`` is the
    encoder's output), as HF's BartAttention without a cache."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.scaling = self.head_dim ** -0.5
        self.k_proj = nn.Linear(c.hidden, c.hidden)
        self.v_proj = nn.Linear(c.hidden, c.hidden)
        self.q_proj = nn.Linear(c.hidden, c.hidden)
        self.out_proj = nn.Linear(c.hidden, c.hidden)

    def _shape(self, t: torch.Tensor, length: int, bsz: int) -> torch.Tensor:
        return t.view(bsz, length, self.heads, self.head_dim).transpose(1, 2).contiguous()

    def forward(self, x: torch.Tensor, kv: torch.Tensor, mask=None) -> torch.Tensor:
        bsz, tgt, embed = x.shape
        proj = (bsz * self.heads, -1, self.head_dim)
        q = self._shape(self.q_proj(x) * self.scaling, tgt, bsz).view(*proj)
        k = self._shape(self.k_proj(kv), -1, bsz).view(*proj)
        v = self._shape(self.v_proj(kv), -1, bsz).view(*proj)
        src = k.size(1)
        w = torch.bmm(q, k.transpose(1, 2))
        if mask is not None:
            w = (w.view(bsz, self.heads, tgt, src) + mask).view(bsz * self.heads, tgt, src)
        w = nn.functional.softmax(w, dim=-1)
        out = torch.bmm(w, v).view(bsz, self.heads, tgt, self.head_dim).transpose(1, 2)
        return self.out_proj(out.reshape(bsz, tgt, embed))


class BartEncoderLayer(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.self_attn = BartAttention(c)
        self.self_attn_layer_norm = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.fc1 = nn.Linear(c.hidden, c.intermediate)
        self.fc2 = nn.Linear(c.intermediate, c.hidden)
        self.final_layer_norm = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer_norm(x + self.fc2(nn.functional.gelu(self.fc1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.self_attn_layer_norm(x + self.self_attn(x, x)))


class BartDecoderLayer(BartEncoderLayer):
    def __init__(self, c: "ModelConfig"):
        super().__init__(c)
        self.encoder_attn = BartAttention(c)
        self.encoder_attn_layer_norm = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, causal: torch.Tensor) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.self_attn(x, x, causal))
        x = self.encoder_attn_layer_norm(x + self.encoder_attn(x, memory))
        return self.ffn(x)


def causal_mask(bsz: int, tgt: int) -> torch.Tensor:
    """HF's ``_make_causal_mask``: [bsz, 1, tgt, tgt], 0 where key j <=
    query i and ``finfo.min`` above the diagonal."""
    mask = torch.full((tgt, tgt), torch.finfo(torch.float32).min)
    cond = torch.arange(mask.size(-1))
    mask.masked_fill_(cond < (cond + 1).view(mask.size(-1), 1), 0)
    return mask[None, None, :, :].expand(bsz, 1, tgt, tgt)


class BartForConditionalGeneration(nn.Module):
    """``layers`` encoder and ``layers`` decoder layers; see the module
    docstring for inputs and output."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.config = c
        self.shared = nn.Embedding(c.vocab, c.hidden)
        self.encoder_positions = BartLearnedPositionalEmbedding(c.max_positions, c.hidden)
        self.decoder_positions = BartLearnedPositionalEmbedding(c.max_positions, c.hidden)
        self.encoder_layernorm_embedding = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.decoder_layernorm_embedding = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.encoder_layers = nn.ModuleList(BartEncoderLayer(c) for _ in range(c.layers))
        self.decoder_layers = nn.ModuleList(BartDecoderLayer(c) for _ in range(c.layers))
        self.final_logits_bias = nn.Parameter(torch.zeros(1, c.vocab))

    def encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.shared(input_ids) + self.encoder_positions(input_ids)
        x = self.encoder_layernorm_embedding(x)
        for layer in self.encoder_layers:
            x = layer(x)
        return x

    def decode(self, decoder_input_ids: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.shared(decoder_input_ids) + self.decoder_positions(decoder_input_ids)
        x = self.decoder_layernorm_embedding(x)
        mask = causal_mask(decoder_input_ids.shape[0], decoder_input_ids.shape[1])
        for layer in self.decoder_layers:
            x = layer(x, memory, mask)
        return x

    def forward(self, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        x = self.decode(decoder_input_ids, self.encode(input_ids))
        return nn.functional.linear(x, self.shared.weight) + self.final_logits_bias


def decoder_length(source_length: int) -> int:
    """The target length ``spatten.export`` samples for a source of
    ``source_length`` tokens: two thirds of it (at least 1), so source and
    target differ and the tracer cannot confuse the two."""
    return max(1, 2 * source_length // 3)

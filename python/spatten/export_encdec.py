"""The encoder-decoder families for ``spatten.export``: Hugging Face's
``BartForConditionalGeneration`` and ``T5ForConditionalGeneration`` in plain torch (no transformers
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

T5 (``T5ForConditionalGeneration``): shared embeddings, pre-norm blocks
with T5LayerNorm (RMSNorm without mean or bias), bias-free projections, no
scaling of Q·K, a relative position bias from bucketed relative positions
(``T5Attention.compute_bias``, computed by each stack's first layer and
reused by the others) plus the mask added to the scores as the position
bias (zeros plus the mask in cross-attention), a ReLU or gated-GELU FFN, a
final T5LayerNorm per stack and the tied LM head on the decoder's output
scaled by ``hidden ** -0.5``.

Inputs are int64 ``input_ids [batch, sequence]`` (the source) and
``decoder_input_ids [batch, decoder_sequence]`` (the target so far); the
output is ``logits [batch, decoder_sequence, vocab]``. No padding masks:
rows are unpadded.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from .export_llama import LlamaRMSNorm

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig

#: BartLearnedPositionalEmbedding's offset: position p reads row p + 2.
POSITION_OFFSET = 2
#: T5's relative_attention_num_buckets and relative_attention_max_distance.
T5_BUCKETS, T5_MAX_DISTANCE = 32, 128


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



# ----------------------------------------------------------------------------- T5

def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """HF's ``T5Attention._relative_position_bucket``: exact buckets for
    small distances, logarithmic ones up to ``max_distance`` (both signs
    when ``bidirectional``, the encoder's; only the past in the decoder)."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


class T5Attention(nn.Module):
    """HF's T5Attention without a cache: no biases, no scaling of Q·K, the
    position bias (relative, or zeros) plus the mask added to the scores."""

    def __init__(self, c: "ModelConfig", relative_bias: bool, bidirectional: bool):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.bidirectional = bidirectional
        self.q = nn.Linear(c.hidden, c.hidden, bias=False)
        self.k = nn.Linear(c.hidden, c.hidden, bias=False)
        self.v = nn.Linear(c.hidden, c.hidden, bias=False)
        self.o = nn.Linear(c.hidden, c.hidden, bias=False)
        self.relative_attention_bias = nn.Embedding(T5_BUCKETS, c.heads) if relative_bias else None

    def compute_bias(self, lq: int, lk: int) -> torch.Tensor:
        """[1, heads, lq, lk] from the bucketed relative positions."""
        relative = torch.arange(lk, dtype=torch.long)[None, :] - torch.arange(lq, dtype=torch.long)[:, None]
        bucket = relative_position_bucket(relative, self.bidirectional, T5_BUCKETS, T5_MAX_DISTANCE)
        return self.relative_attention_bias(bucket).permute([2, 0, 1]).unsqueeze(0)

    def forward(self, x, kv, mask, position_bias=None):
        b = x.shape[0]
        shape = lambda t: t.view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = shape(self.q(x)), shape(self.k(kv)), shape(self.v(kv))
        scores = torch.matmul(q, k.transpose(3, 2))
        if position_bias is None:
            lq, lk = x.shape[1], kv.shape[1]
            if self.relative_attention_bias is None:
                position_bias = torch.zeros((1, self.heads, lq, lk), dtype=scores.dtype)
            else:
                position_bias = self.compute_bias(lq, lk)
            position_bias = position_bias + mask
        scores += position_bias
        w = nn.functional.softmax(scores.float(), dim=-1).type_as(scores)
        out = torch.matmul(w, v).transpose(1, 2).contiguous().view(b, -1, self.heads * self.head_dim)
        return self.o(out), position_bias


class T5FeedForward(nn.Module):
    """``DenseReluDense`` (ReLU) or T5 v1.1's ``DenseGatedActDense``
    (``wo(gelu_new(wi_0(h)) * wi_1(h))``, activation ``gelu``)."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.gated = c.activation == "gelu"
        if self.gated:
            self.wi_0 = nn.Linear(c.hidden, c.intermediate, bias=False)
            self.wi_1 = nn.Linear(c.hidden, c.intermediate, bias=False)
        else:
            self.wi = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.wo = nn.Linear(c.intermediate, c.hidden, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.gated:
            return self.wo(nn.functional.relu(self.wi(h)))
        from .export import gelu_tanh
        return self.wo(gelu_tanh(self.wi_0(h)) * self.wi_1(h))


class T5Block(nn.Module):
    """Pre-norm: self-attention, (decoder) cross-attention, FFN, each
    ``x + sublayer(T5LayerNorm(x))``."""

    def __init__(self, c: "ModelConfig", decoder: bool, first: bool):
        super().__init__()
        self.self_norm = LlamaRMSNorm(c.hidden, c.ln_eps)
        self.self_attn = T5Attention(c, relative_bias=first, bidirectional=not decoder)
        if decoder:
            self.cross_norm = LlamaRMSNorm(c.hidden, c.ln_eps)
            self.cross_attn = T5Attention(c, relative_bias=False, bidirectional=True)
        self.ff_norm = LlamaRMSNorm(c.hidden, c.ln_eps)
        self.ff = T5FeedForward(c)


class T5Stack(nn.Module):
    """The encoder or the decoder: layer 0 computes the position biases,
    every later layer reuses them; a final T5LayerNorm."""

    def __init__(self, c: "ModelConfig", decoder: bool):
        super().__init__()
        self.decoder = decoder
        self.block = nn.ModuleList(T5Block(c, decoder, i == 0) for i in range(c.layers))
        self.final_layer_norm = LlamaRMSNorm(c.hidden, c.ln_eps)

    def forward(self, x, self_mask, memory=None, cross_mask=None):
        self_bias = cross_bias = None
        for block in self.block:
            y = block.self_norm(x)
            h, self_bias = block.self_attn(y, y, self_mask, self_bias)
            x = x + h
            if self.decoder:
                y = block.cross_norm(x)
                h, cross_bias = block.cross_attn(y, memory, cross_mask, cross_bias)
                x = x + h
            x = x + block.ff(block.ff_norm(x))
        return self.final_layer_norm(x)


def inverted_mask(ones: torch.Tensor) -> torch.Tensor:
    """HF's ``invert_attention_mask`` of an all-ones [B, L] mask: zeros
    [B, 1, 1, L] (no padding)."""
    return (1.0 - ones[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min


def t5_causal_mask(bsz: int, tgt: int) -> torch.Tensor:
    """HF's ``get_extended_attention_mask`` for a decoder: [B, 1, tgt, tgt],
    0 where key j <= query i and ``finfo.min`` above."""
    seq = torch.arange(tgt)
    causal = (seq[None, None, :].repeat(bsz, tgt, 1) <= seq[None, :, None]).to(torch.float32)
    return (1.0 - causal[:, None, :, :]) * torch.finfo(torch.float32).min


class T5ForConditionalGeneration(nn.Module):
    """HF's T5ForConditionalGeneration without padding or cache: shared
    embeddings, ``layers`` encoder and decoder blocks, the tied LM head on
    the decoder's output scaled by ``hidden ** -0.5``."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.config = c
        self.shared = nn.Embedding(c.vocab, c.hidden)
        self.encoder = T5Stack(c, decoder=False)
        self.decoder = T5Stack(c, decoder=True)

    def forward(self, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(input_ids.shape, dtype=torch.long)
        memory = self.encoder(self.shared(input_ids), inverted_mask(ones))
        x = self.decoder(self.shared(decoder_input_ids), t5_causal_mask(*decoder_input_ids.shape), memory,
                         inverted_mask(ones))
        return nn.functional.linear(x * (self.config.hidden ** -0.5), self.shared.weight)

def decoder_length(source_length: int) -> int:
    """The target length ``spatten.export`` samples for a source of
    ``source_length`` tokens: two thirds of it (at least 1), so source and
    target differ and the tracer cannot confuse the two."""
    return max(1, 2 * source_length // 3)

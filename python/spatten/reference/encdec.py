"""Encoder-decoder models (``spatten.export bart``, Hugging Face's
BartForConditionalGeneration): the forward pass with SpAtten's techniques
on self- and cross-attention (docs/Algorithms.md, "Encoder-decoder
models").

* Every attention is one layer of the head cascade, in execution order:
  the encoder's self-attentions, then per decoder layer its self-attention
  and its cross-attention. Head importance accumulates over all of them.
* Token pruning runs two cascades: the encoder's tokens by their encoder
  self-attention importance (its output restored to every source token, as
  BERT's, before the decoder reads it), and the decoder's tokens by their
  causal self-attention importance. Cross-attention queries are the
  decoder's kept rows; its keys are every source token.
* BART scales Q by ``head_dim ** -0.5`` after its projection; the lift
  takes that as the attention's scale (``q k^T / sqrt(D)``, as BERT's).
"""

from __future__ import annotations

import dataclasses
from typing import List, Mapping, Optional, Tuple

import numpy as np

from .attention import AttentionResult, LayerRecord, accumulate, attention, keep_count, resolve_schedule, select_tokens
from .config import SpAttenConfig
from .kernels import F32, gelu_erf, layer_norm, linear, topk
from .models import AttentionWeights, LayerWeights, Result


@dataclasses.dataclass
class CrossAttentionWeights(AttentionWeights):
    """A decoder layer's cross-attention (``encoder_attn``) and the
    LayerNorm after its residual."""

    ln_g: np.ndarray
    ln_b: np.ndarray


@dataclasses.dataclass
class EncoderDecoderWeights:
    """A lifted BART. word_emb [V, hidden] (shared by both stacks and the
    tied LM head), encoder_pos / decoder_pos [P, hidden] (row p is
    position p: BART's offset already applied), *_emb_ln (gamma, beta).
    encoder / decoder: post-LN layers (``ln1`` after self-attention,
    ``ln2`` after the FFN); cross: per decoder layer. lm_bias [V]:
    ``final_logits_bias``."""

    heads: int
    ln_eps: float
    word_emb: np.ndarray
    encoder_pos: np.ndarray
    decoder_pos: np.ndarray
    encoder_emb_ln: Tuple[np.ndarray, np.ndarray]
    decoder_emb_ln: Tuple[np.ndarray, np.ndarray]
    encoder: List[LayerWeights]
    decoder: List[LayerWeights]
    cross: List[CrossAttentionWeights]
    lm_bias: np.ndarray
    kind: str = "bart"
    outputs: Tuple[str, ...] = ("logits",)

    @property
    def hidden(self) -> int:
        return self.word_emb.shape[1]

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def attention_layers(self) -> int:
        """Attentions in execution order: the head cascade's layers."""
        return len(self.encoder) + 2 * len(self.decoder)


class _Heads:
    """The head cascade over every attention (see the module docstring)."""

    def __init__(self, mw: EncoderDecoderWeights, cfg: SpAttenConfig):
        self.kept = np.arange(mw.heads)
        self.importance = np.zeros(mw.heads, F32)
        n = mw.attention_layers
        self.f = None if cfg.head_keep is None else resolve_schedule(cfg.head_schedule, n, cfg.head_keep, 0.3)
        self.layer, self.n = 0, n

    def after(self, att: AttentionResult) -> None:
        self.importance[self.kept] = accumulate(self.importance[self.kept], att.head_contrib[self.kept])
        if self.f is not None and self.layer + 1 < self.n:
            self.kept = topk(self.importance, keep_count(len(self.importance), self.f[self.layer + 1]), self.kept)
        self.layer += 1


class _Tokens:
    """One token cascade (encoder or decoder) over ``n`` self-attentions."""

    def __init__(self, length: int, n: int, cfg: SpAttenConfig):
        self.kept = np.arange(length)
        self.importance = np.zeros(length, F32)
        self.f = None if cfg.token_keep is None else resolve_schedule(cfg.token_schedule, n, cfg.token_keep, 0.15)
        self.cfg, self.length, self.n = cfg, length, n

    def after(self, layer: int, att: AttentionResult) -> None:
        for c in att.token_contrib:
            self.importance[self.kept] = accumulate(self.importance[self.kept], c)
        if self.f is not None and layer + 1 < self.n:
            self.kept = select_tokens(self.importance, keep_count(self.length, self.f[layer + 1]), self.kept,
                                      self.cfg.keep_positions)


def _attend(w: AttentionWeights, xq: np.ndarray, xkv: np.ndarray, heads: _Heads, mw: EncoderDecoderWeights,
            mask: np.ndarray, causal: bool, cfg: SpAttenConfig) -> AttentionResult:
    """The attention of rows xq on rows xkv over the kept heads."""
    q, k, v = linear(xq, w.wq, w.bq), linear(xkv, w.wk, w.bk), linear(xkv, w.wv, w.bv)
    return attention(q, k, v, heads.kept.tolist(), mw.heads, mask, causal, cfg)


def _ffn(lw: LayerWeights, x: np.ndarray, eps: float) -> np.ndarray:
    h = linear(gelu_erf(linear(x, lw.w1, lw.b1)), lw.w2, lw.b2)
    return layer_norm((x + h).astype(F32), lw.ln2_g, lw.ln2_b, eps)


def _record(layer: int, rows: np.ndarray, heads: np.ndarray, after_rows: np.ndarray, after_heads: np.ndarray,
            att: AttentionResult) -> LayerRecord:
    return LayerRecord(layer, rows.tolist(), heads.tolist(), after_rows.tolist(), after_heads.tolist(),
                       {h: rows[u].tolist() for h, u in att.unconfident.items()}, {}, {})


def _embed(ids: np.ndarray, pos: np.ndarray, ln: Tuple[np.ndarray, np.ndarray],
           mw: EncoderDecoderWeights) -> np.ndarray:
    """Shared token embedding plus learned positions, then the LayerNorm."""
    x = (mw.word_emb[ids] + pos[np.arange(len(ids))]).astype(F32)
    return layer_norm(x, ln[0], ln[1], mw.ln_eps)


def _encode(mw: EncoderDecoderWeights, ids: np.ndarray, heads: _Heads, cfg: SpAttenConfig,
            records: List[LayerRecord]) -> np.ndarray:
    """The encoder on one source [Ls]; returns its output [Ls, hidden], each
    pruned token's last layer output at its position."""
    x = _embed(ids, mw.encoder_pos, mw.encoder_emb_ln, mw)
    tokens = _Tokens(len(ids), len(mw.encoder), cfg)
    final = x.copy()
    for l, lw in enumerate(mw.encoder):
        rows, kept_heads = tokens.kept.copy(), heads.kept.copy()
        att = _attend(lw, x, x, heads, mw, np.zeros(len(rows), F32), False, cfg)
        x1 = layer_norm((x + linear(att.out, lw.wo, lw.bo)).astype(F32), lw.ln1_g, lw.ln1_b, mw.ln_eps)
        y = _ffn(lw, x1, mw.ln_eps)
        final[rows] = y
        heads.after(att)
        tokens.after(l, att)
        records.append(_record(len(records), rows, kept_heads, tokens.kept, heads.kept, att))
        x = y[np.searchsorted(rows, tokens.kept)]
    return final


def _decode(mw: EncoderDecoderWeights, ids: np.ndarray, memory: np.ndarray, heads: _Heads, cfg: SpAttenConfig,
            records: List[LayerRecord]) -> np.ndarray:
    """The decoder on one target [Lt] reading the encoder's output memory
    [Ls, hidden]; returns its output [Lt, hidden] (pruned rows restored)."""
    x = _embed(ids, mw.decoder_pos, mw.decoder_emb_ln, mw)
    tokens = _Tokens(len(ids), len(mw.decoder), cfg)
    final = x.copy()
    source = np.arange(len(memory))
    for l, (lw, cw) in enumerate(zip(mw.decoder, mw.cross)):
        rows = tokens.kept.copy()
        kept_heads = heads.kept.copy()
        causal = rows[None, :] <= rows[:, None]
        att = _attend(lw, x, x, heads, mw, causal, True, cfg)
        x = layer_norm((x + linear(att.out, lw.wo, lw.bo)).astype(F32), lw.ln1_g, lw.ln1_b, mw.ln_eps)
        heads.after(att)
        records.append(_record(len(records), rows, kept_heads, rows, heads.kept, att))
        kept_heads = heads.kept.copy()
        cross = _attend(cw, x, memory, heads, mw, np.zeros(len(memory), F32), False, cfg)
        x = layer_norm((x + linear(cross.out, cw.wo, cw.bo)).astype(F32), cw.ln_g, cw.ln_b, mw.ln_eps)
        heads.after(cross)
        y = _ffn(lw, x, mw.ln_eps)
        final[rows] = y
        tokens.after(l, att)
        records.append(_record(len(records), source, kept_heads, tokens.kept, heads.kept, cross))
        x = y[np.searchsorted(rows, tokens.kept)]
    return final


def run_inputs(mw: EncoderDecoderWeights, inputs: Mapping[str, np.ndarray], cfg: Optional[SpAttenConfig] = None,
               hardware: Optional[Mapping] = None):
    """``input_ids`` [B, Ls] and ``decoder_input_ids`` [B, Lt] -> Result
    with ``logits`` [B, Lt, V] and per sequence one LayerRecord per
    attention (a cross-attention's ``tokens`` are the source tokens it
    reads). Pruning and progressive quantization need B = 1 (ValueError).
    ``hardware`` is accepted for the other families' signature; the records
    carry no byte counts."""
    cfg = cfg or SpAttenConfig()
    cfg.validate()
    src, tgt = np.asarray(inputs["input_ids"]), np.asarray(inputs["decoder_input_ids"])
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[0] != tgt.shape[0]:
        raise ValueError(f"input_ids and decoder_input_ids must be [batch, length], got {src.shape}, {tgt.shape}")
    if cfg.prunes and src.shape[0] != 1:
        raise ValueError(f"SpAtten pruning and progressive quantization need batch 1, got batch {src.shape[0]}")
    logits, records = [], []
    for b in range(src.shape[0]):
        heads, rec = _Heads(mw, cfg), []
        memory = _encode(mw, src[b], heads, cfg, rec)
        x = _decode(mw, tgt[b], memory, heads, cfg, rec)
        logits.append((linear(x, mw.word_emb.T, None) + mw.lm_bias).astype(F32))
        records.append(rec)
    return Result({"logits": np.stack(logits).astype(F32)}, records)


def from_torch(model) -> EncoderDecoderWeights:
    """Lifts ``spatten.export``'s BartForConditionalGeneration."""
    sd = {k: v.detach().numpy().astype(F32) for k, v in model.state_dict().items()}
    c = model.config
    lin = lambda p: (sd[p + ".weight"].T.copy(), sd[p + ".bias"])
    ln = lambda p: (sd[p + ".weight"], sd[p + ".bias"])

    def layer(p: str) -> LayerWeights:
        attn = [x for n in ("q_proj", "k_proj", "v_proj", "out_proj") for x in lin(p + "self_attn." + n)]
        return LayerWeights(*attn, *ln(p + "self_attn_layer_norm"), *lin(p + "fc1"), *lin(p + "fc2"),
                            *ln(p + "final_layer_norm"))

    def cross(p: str) -> CrossAttentionWeights:
        attn = [x for n in ("q_proj", "k_proj", "v_proj", "out_proj") for x in lin(p + "encoder_attn." + n)]
        return CrossAttentionWeights(*attn, *ln(p + "encoder_attn_layer_norm"))

    offset = 2  # BartLearnedPositionalEmbedding's
    return EncoderDecoderWeights(
        c.heads, c.ln_eps, sd["shared.weight"], sd["encoder_positions.weight"][offset:],
        sd["decoder_positions.weight"][offset:], ln("encoder_layernorm_embedding"),
        ln("decoder_layernorm_embedding"), [layer(f"encoder_layers.{i}.") for i in range(c.layers)],
        [layer(f"decoder_layers.{i}.") for i in range(c.layers)],
        [cross(f"decoder_layers.{i}.") for i in range(c.layers)], sd["final_logits_bias"][0])

"""Encoder-decoder models (``spatten.export bart`` and ``t5``, Hugging
Face's BartForConditionalGeneration and T5ForConditionalGeneration): the
forward pass with SpAtten's techniques on self- and cross-attention
(docs/Algorithms.md, "Encoder-decoder models").

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
  T5 does not scale the scores and adds its relative position bias (with
  the decoder's causal mask in it) to them as a per-head score bias.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, List, Mapping, Optional, Tuple

import numpy as np

from .attention import AttentionResult, LayerRecord, accumulate, attention, keep_count, resolve_schedule, select_tokens
from .config import SpAttenConfig
from .kernels import F32, gelu_erf, gelu_tanh, layer_norm, linear, relu, rms_norm, topk
from .models import AttentionWeights, LayerWeights, Result


@dataclasses.dataclass
class CrossAttentionWeights(AttentionWeights):
    """A decoder layer's cross-attention (``encoder_attn``) and the
    LayerNorm after its residual."""

    ln_g: np.ndarray
    ln_b: np.ndarray


@dataclasses.dataclass
class EncoderDecoderWeights:
    """A lifted BART or T5 (``kind``). word_emb [V, hidden] (shared by both
    stacks and the tied LM head). encoder / decoder: their layers (BART:
    post-LN, ``ln1`` after self-attention, ``ln2`` after the FFN; T5:
    pre-norm RMSNorm gains ``ln1_g`` before self-attention, ``ln2_g``
    before the FFN, ``w1``/``w2`` = ``wi``/``wo``, gated GELU with ``w3`` =
    ``wi_1``, no biases); cross: per decoder layer (its norm before it in
    T5, after it in BART).
    BART: encoder_pos / decoder_pos [P, hidden] (row p is position p:
    BART's offset already applied), *_emb_ln (gamma, beta), lm_bias [V]
    (``final_logits_bias``). T5: position_bias, the encoder's and the
    decoder's ``relative_attention_bias`` tables [buckets, H]; final_ln,
    the two stacks' final RMSNorm gains; logits = (x * hidden^-0.5) @
    word_emb^T."""

    heads: int
    ln_eps: float
    word_emb: np.ndarray
    encoder: List[LayerWeights]
    decoder: List[LayerWeights]
    cross: List[CrossAttentionWeights]
    kind: str = "bart"
    encoder_pos: Optional[np.ndarray] = None
    decoder_pos: Optional[np.ndarray] = None
    encoder_emb_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
    decoder_emb_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
    lm_bias: Optional[np.ndarray] = None
    position_bias: Optional[Tuple[np.ndarray, np.ndarray]] = None
    final_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
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


#: T5's relative_attention_num_buckets and relative_attention_max_distance
#: (Hugging Face's defaults, as spatten.export_encdec builds the model).
T5_BUCKETS, T5_MAX_DISTANCE = 32, 128


def relative_position_bucket(relative: np.ndarray, bidirectional: bool) -> np.ndarray:
    """T5's bucket of each relative position (key - query), int64: exact
    below half the buckets, logarithmic up to the maximum distance; both
    signs apart when ``bidirectional`` (the encoder), only the past in the
    decoder. fp32 arithmetic, as PyTorch's."""
    n, buckets = T5_BUCKETS, np.zeros(relative.shape, np.int64)
    if bidirectional:
        n //= 2
        buckets += (relative > 0).astype(np.int64) * n
        relative = np.abs(relative)
    else:
        relative = -np.minimum(relative, 0)
    exact = n // 2
    with np.errstate(divide="ignore"):
        ratio = np.log((relative.astype(F32) / F32(exact)).astype(F32)).astype(F32)
    large = ratio / F32(math.log(T5_MAX_DISTANCE / exact)) * F32(n - exact)
    large = exact + np.where(relative < exact, 0, large.astype(F32)).astype(np.int64)
    return buckets + np.where(relative < exact, relative, np.minimum(large, n - 1))


def t5_position_bias(table: np.ndarray, lq: int, lk: int, decoder: bool) -> np.ndarray:
    """The score bias [H, lq, lk] of one stack's self-attention: the table's
    bucket rows, plus in the decoder ``finfo.min`` above the diagonal."""
    relative = np.arange(lk)[None, :] - np.arange(lq)[:, None]
    bias = table[relative_position_bucket(relative, not decoder)].transpose(2, 0, 1).astype(F32)
    if decoder:
        bias = (bias + np.where(relative > 0, np.finfo(F32).min, F32(0))[None]).astype(F32)
    return bias


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
    """The attention of rows xq on rows xkv over the kept heads (T5's
    scores are not scaled)."""
    q, k, v = linear(xq, w.wq, w.bq), linear(xkv, w.wk, w.bk), linear(xkv, w.wv, w.bv)
    return attention(q, k, v, heads.kept.tolist(), mw.heads, mask, causal, cfg, scaled=mw.kind != "t5")


def _residual(mw: EncoderDecoderWeights, x: np.ndarray, g: np.ndarray, b: Optional[np.ndarray],
              sublayer: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """BART's post-LN ``LN(x + f(x))`` or T5's pre-norm ``x + f(RMSNorm(x))``."""
    if mw.kind == "t5":
        return (x + sublayer(rms_norm(x, g, mw.ln_eps))).astype(F32)
    return layer_norm((x + sublayer(x)).astype(F32), g, b, mw.ln_eps)


def _ffn(mw: EncoderDecoderWeights, lw: LayerWeights, h: np.ndarray) -> np.ndarray:
    """BART's erf GELU, T5's ReLU or gated GELU (``w3`` set) FFN."""
    if lw.w3 is not None:
        return linear((gelu_tanh(linear(h, lw.w1, None)) * linear(h, lw.w3, None)).astype(F32), lw.w2, None)
    act = relu if mw.kind == "t5" else gelu_erf
    return linear(act(linear(h, lw.w1, lw.b1)), lw.w2, lw.b2)


def _record(layer: int, rows: np.ndarray, heads: np.ndarray, after_rows: np.ndarray, after_heads: np.ndarray,
            att: AttentionResult) -> LayerRecord:
    """One attention's record: the query rows (a cross-attention's: the
    source tokens) and heads it computed, its stack's kept tokens and the
    kept heads after it, its unconfident rows; no byte counts."""
    return LayerRecord(layer, rows.tolist(), heads.tolist(), after_rows.tolist(), after_heads.tolist(),
                       {h: rows[u].tolist() for h, u in att.unconfident.items()}, {}, {})


def _embed(mw: EncoderDecoderWeights, ids: np.ndarray, decoder: bool) -> np.ndarray:
    """The shared token embedding (BART: plus learned positions, then the
    LayerNorm)."""
    x = mw.word_emb[ids].astype(F32)
    if mw.kind == "t5":
        return x
    pos, ln = (mw.decoder_pos, mw.decoder_emb_ln) if decoder else (mw.encoder_pos, mw.encoder_emb_ln)
    return layer_norm((x + pos[np.arange(len(ids))]).astype(F32), ln[0], ln[1], mw.ln_eps)


def _self_mask(mw: EncoderDecoderWeights, bias: Optional[np.ndarray], rows: np.ndarray, decoder: bool):
    """(mask, causal) of a self-attention over the kept rows: T5's score
    bias rows and columns, BART's causal visibility or zeros."""
    if bias is not None:
        return bias[:, rows][:, :, rows], False
    if decoder:
        return rows[None, :] <= rows[:, None], True
    return np.zeros(len(rows), F32), False


def _stack_bias(mw: EncoderDecoderWeights, length: int, decoder: bool) -> Optional[np.ndarray]:
    if mw.position_bias is None:
        return None
    return t5_position_bias(mw.position_bias[int(decoder)], length, length, decoder)


def _encode(mw: EncoderDecoderWeights, ids: np.ndarray, heads: _Heads, cfg: SpAttenConfig,
            records: List[LayerRecord]) -> np.ndarray:
    """The encoder on one source [Ls]; returns its output [Ls, hidden], each
    pruned token's last layer output at its position (T5: then its final
    RMSNorm)."""
    x = _embed(mw, ids, decoder=False)
    bias = _stack_bias(mw, len(ids), decoder=False)
    tokens = _Tokens(len(ids), len(mw.encoder), cfg)
    final = x.copy()
    for l, lw in enumerate(mw.encoder):
        rows, kept_heads, out = tokens.kept.copy(), heads.kept.copy(), {}

        def self_attention(h):
            out["att"] = _attend(lw, h, h, heads, mw, *_self_mask(mw, bias, rows, False), cfg)
            return linear(out["att"].out, lw.wo, lw.bo)
        x = _residual(mw, x, lw.ln1_g, lw.ln1_b, self_attention)
        y = _residual(mw, x, lw.ln2_g, lw.ln2_b, lambda h: _ffn(mw, lw, h))
        final[rows] = y
        heads.after(out["att"])
        tokens.after(l, out["att"])
        records.append(_record(len(records), rows, kept_heads, tokens.kept, heads.kept, out["att"]))
        x = y[np.searchsorted(rows, tokens.kept)]
    return final if mw.final_ln is None else rms_norm(final, mw.final_ln[0], mw.ln_eps)


def _decode(mw: EncoderDecoderWeights, ids: np.ndarray, memory: np.ndarray, heads: _Heads, cfg: SpAttenConfig,
            records: List[LayerRecord]) -> np.ndarray:
    """The decoder on one target [Lt] reading the encoder's output memory
    [Ls, hidden]; returns its output [Lt, hidden] (pruned rows restored;
    T5: then its final RMSNorm)."""
    x = _embed(mw, ids, decoder=True)
    bias = _stack_bias(mw, len(ids), decoder=True)
    tokens = _Tokens(len(ids), len(mw.decoder), cfg)
    final = x.copy()
    source = np.arange(len(memory))
    for l, (lw, cw) in enumerate(zip(mw.decoder, mw.cross)):
        rows, out = tokens.kept.copy(), {}

        def self_attention(h):
            out["self"] = _attend(lw, h, h, heads, mw, *_self_mask(mw, bias, rows, True), cfg)
            return linear(out["self"].out, lw.wo, lw.bo)

        def cross_attention(h):
            out["cross"] = _attend(cw, h, memory, heads, mw, np.zeros(len(memory), F32), False, cfg)
            return linear(out["cross"].out, cw.wo, cw.bo)
        kept_heads = heads.kept.copy()
        x = _residual(mw, x, lw.ln1_g, lw.ln1_b, self_attention)
        heads.after(out["self"])
        records.append(_record(len(records), rows, kept_heads, rows, heads.kept, out["self"]))
        kept_heads = heads.kept.copy()
        x = _residual(mw, x, cw.ln_g, cw.ln_b, cross_attention)
        heads.after(out["cross"])
        y = _residual(mw, x, lw.ln2_g, lw.ln2_b, lambda h: _ffn(mw, lw, h))
        final[rows] = y
        tokens.after(l, out["self"])
        records.append(_record(len(records), source, kept_heads, tokens.kept, heads.kept, out["cross"]))
        x = y[np.searchsorted(rows, tokens.kept)]
    return final if mw.final_ln is None else rms_norm(final, mw.final_ln[1], mw.ln_eps)


def _logits(mw: EncoderDecoderWeights, x: np.ndarray) -> np.ndarray:
    """The tied LM head: BART's plus ``final_logits_bias``, T5's on x
    scaled by hidden^-0.5."""
    if mw.kind == "t5":
        return linear((x * F32(mw.hidden ** -0.5)).astype(F32), mw.word_emb.T, None)
    return (linear(x, mw.word_emb.T, None) + mw.lm_bias).astype(F32)


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
        logits.append(_logits(mw, x))
        records.append(rec)
    return Result({"logits": np.stack(logits).astype(F32)}, records)


def from_torch(model) -> EncoderDecoderWeights:
    """Lifts ``spatten.export``'s BartForConditionalGeneration or
    T5ForConditionalGeneration."""
    sd = {k: v.detach().numpy().astype(F32) for k, v in model.state_dict().items()}
    c = model.config
    if c.kind == "t5":
        return _t5_from_torch(sd, c)
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
        c.heads, c.ln_eps, sd["shared.weight"], [layer(f"encoder_layers.{i}.") for i in range(c.layers)],
        [layer(f"decoder_layers.{i}.") for i in range(c.layers)],
        [cross(f"decoder_layers.{i}.") for i in range(c.layers)], "bart",
        encoder_pos=sd["encoder_positions.weight"][offset:], decoder_pos=sd["decoder_positions.weight"][offset:],
        encoder_emb_ln=ln("encoder_layernorm_embedding"), decoder_emb_ln=ln("decoder_layernorm_embedding"),
        lm_bias=sd["final_logits_bias"][0])


def _t5_from_torch(sd, c) -> EncoderDecoderWeights:
    """T5: bias-free projections (None biases), RMSNorm gains, the first
    layers' relative position tables."""
    lin = lambda p: sd[p + ".weight"].T.copy()

    def attn(p: str) -> List[Optional[np.ndarray]]:
        return [x for n in "qkvo" for x in (lin(p + n), None)]

    def layer(p: str) -> LayerWeights:
        gated = p + "ff.wi_0.weight" in sd
        w1, w3 = (lin(p + "ff.wi_0"), lin(p + "ff.wi_1")) if gated else (lin(p + "ff.wi"), None)
        return LayerWeights(*attn(p + "self_attn."), sd[p + "self_norm.weight"], None, w1, None,
                            lin(p + "ff.wo"), None, sd[p + "ff_norm.weight"], None, w3)

    stacks = [[f"{s}.block.{i}." for i in range(c.layers)] for s in ("encoder", "decoder")]
    table = lambda s: sd[f"{s}.block.0.self_attn.relative_attention_bias.weight"]
    return EncoderDecoderWeights(
        c.heads, c.ln_eps, sd["shared.weight"], [layer(p) for p in stacks[0]], [layer(p) for p in stacks[1]],
        [CrossAttentionWeights(*attn(p + "cross_attn."), sd[p + "cross_norm.weight"], None) for p in stacks[1]],
        "t5", position_bias=(table("encoder"), table("decoder")),
        final_ln=(sd["encoder.final_layer_norm.weight"], sd["decoder.final_layer_norm.weight"]))

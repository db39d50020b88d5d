"""NumPy reference of the whole SpAtten algorithm (Wang, Zhang, Han, HPCA 2021).

Written from the paper (Sec. III) and ``docs/Algorithms.md``, independently of
the C++ compiler and simulator, which must reproduce its kept token indices,
kept head indices and refetched rows exactly.

What it implements (each function names its source):

* fixed-point quantization of Q, K and V rows (per-row scale, round half to
  even, clamp);
* cascade token pruning (cumulative importance, top-k in original order,
  ``paper`` or explicit schedules, forced ``keep_positions``);
* cascade head pruning (cumulative ``sum |head output|``, first 30% of
  layers untouched);
* local value pruning (per query row top-k, no renormalisation);
* progressive quantization (MSB plane + LSB plane, per-head LSB refetch);
* BERT-style (post-LN, erf GELU, additive padding mask, optional pooler and
  ``BertForPreTraining`` heads) and GPT-2-style (pre-LN, tanh GELU, causal,
  final LN; the whole prompt at once) forward passes.

Precision: every tensor of the forward pass is fp32 and every operation
rounds to fp32, like the hardware and onnxruntime. Only each head's
importance contribution is summed in float64, then rounded once to fp32 and
added in fp32, as the attention instruction does (``docs/Algorithms.md``),
and erf is evaluated in float64 then rounded (NumPy has no fp32 erf).

Weights are "lifted": :class:`ModelWeights` holds plain NumPy arrays, linear
weights as ``[in, out]`` (``y = x @ w + b``). Loaders build it from a model
of ``spatten.export`` (:func:`from_torch`) or from an ONNX file
(:func:`from_onnx`: the exports of ``spatten.export``, Hugging Face GPT-2
with fused Conv1D QKV such as ``GPT2Model.onnx``, Hugging Face BERT /
BertForPreTraining such as ``bert_toy_optimized.onnx``). The loader reads
initializers by known structure; it does not interpret ONNX graphs.

CLI::

    /usr/bin/python3 -m spatten.reference model.onnx --token-keep 0.5 \\
        --keep-positions 0 --shape batch=1 --shape sequence=16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

F32 = np.float32


# ============================================================================ config

@dataclasses.dataclass
class SpAttenConfig:
    """SpAtten options (``spatten-compile`` flags of the same names). ``None``
    or ``False`` means off / dense.

    token_keep, head_keep, value_keep: ratios in (0, 1].
    token_schedule: ``"paper"`` or, per layer, the fraction of the tokens it
        computes (``n`` values, non-increasing, the first 1).
    head_schedule: the same for heads.
    keep_positions: original token positions never pruned (0 = [CLS]).
    pq_msb (6 or 8), pq_lsb (4), pq_threshold, pq_values: progressive
    quantization of keys (and values).
    attn_bits: fixed-point width of Q, K, V (4..16); keys/values handled by
    progressive quantization use ``pq_msb + pq_lsb`` bits instead.
    """

    token_keep: Optional[float] = None
    token_schedule: Union[str, Sequence[float]] = "paper"
    keep_positions: Sequence[int] = ()
    head_keep: Optional[float] = None
    head_schedule: Union[str, Sequence[float]] = "paper"
    value_keep: Optional[float] = None
    pq_msb: Optional[int] = None
    pq_lsb: int = 4
    pq_threshold: float = 0.1
    pq_values: bool = False
    attn_bits: Optional[int] = None

    def validate(self) -> None:
        """Raises ValueError naming the bad field."""
        for name in ("token_keep", "head_keep", "value_keep"):
            v = getattr(self, name)
            if v is not None and not 0.0 < v <= 1.0:
                raise ValueError(f"{name}={v} is outside (0, 1]")
        if self.pq_msb is not None and self.pq_msb not in (6, 8):
            raise ValueError(f"pq_msb={self.pq_msb} must be 6 or 8")
        if self.pq_msb is not None and self.pq_lsb != 4:
            raise ValueError(f"pq_lsb={self.pq_lsb} must be 4")
        if self.pq_values and self.pq_msb is None:
            raise ValueError("pq_values needs pq_msb")
        if self.attn_bits is not None and not 4 <= self.attn_bits <= 16:
            raise ValueError(f"attn_bits={self.attn_bits} is outside 4..16")

    @property
    def prunes(self) -> bool:
        """True when an option needs batch 1 (anything but attn_bits)."""
        return any(v is not None for v in (self.token_keep, self.head_keep, self.value_keep, self.pq_msb))


# ============================================================================ top-k and schedules

def topk(scores: np.ndarray, k: int, candidates: Sequence[int]) -> np.ndarray:
    """The ``k`` candidates with the largest ``scores``, ties to the earliest
    index, returned in ascending index order (docs/Algorithms.md "Top-k";
    paper Sec. IV-B). ``k >= len(candidates)`` keeps every candidate.

    scores: [N] (any float dtype); candidates: indices into scores.
    """
    cand = np.asarray(sorted(int(c) for c in candidates), dtype=np.int64)
    if k >= len(cand):
        return cand
    if k <= 0:
        return cand[:0]
    # lexsort: last key is primary -> descending score, then ascending index.
    order = np.lexsort((cand, -np.asarray(scores)[cand].astype(np.float64)))
    return np.sort(cand[order[:k]])


def paper_schedule(n: int, r: float, dense_fraction: float) -> np.ndarray:
    """Fraction ``f_l`` of the tokens (heads) layer ``l`` computes, [n]
    float64 (docs/Algorithms.md "Schedules"): ``n0 = max(1, floor(
    dense_fraction * n))`` layers at 1 (layer 0 has no importance yet), then
    ``f_{n0+t} = 1 - a (t + 1)`` with ``a = 2 n (1 - r) / (m (m + 1))``,
    clipped at 0. ``dense_fraction`` is 0.15 for tokens, 0.3 for heads."""
    n0 = max(1, int(math.floor(dense_fraction * n)))
    m = n - n0
    f = np.ones(n, dtype=np.float64)
    if m > 0:
        a = 2.0 * n * (1.0 - r) / (m * (m + 1))
        f[n0:] = np.maximum(0.0, 1.0 - a * (np.arange(m) + 1))
    return f


def resolve_schedule(spec: Union[str, Sequence[float]], n: int, r: float,
                     dense_fraction: float) -> np.ndarray:
    """``paper`` or an explicit list of ``n`` fractions in (0, 1],
    non-increasing, starting at 1; raises ValueError otherwise."""
    if isinstance(spec, str):
        if spec != "paper":
            raise ValueError(f"unknown schedule {spec!r} (expected 'paper' or a list of fractions)")
        return paper_schedule(n, r, dense_fraction)
    f = np.asarray(list(spec), dtype=np.float64)
    if f.shape != (n,):
        raise ValueError(f"schedule has {f.size} values, the model has {n} layers")
    if np.any(f <= 0) or np.any(f > 1):
        raise ValueError(f"schedule values must be in (0, 1]: {f.tolist()}")
    if f[0] != 1:
        raise ValueError(f"schedule must start at 1 (no importance is known before layer 0): {f.tolist()}")
    if np.any(np.diff(f) > 0):
        raise ValueError(f"schedule must be non-increasing: {f.tolist()}")
    return f


def keep_count(total: int, f: float) -> int:
    """``k_l = max(1, floor(total * f_l))`` (docs/Algorithms.md)."""
    return max(1, int(math.floor(total * f)))


def select_tokens(s: np.ndarray, k: int, kept: np.ndarray, forced: Sequence[int]) -> np.ndarray:
    """Cascade token top-k: every forced (``keep_positions``) token still
    kept, plus ``topk`` of the rest up to ``k`` in total. Original order."""
    forced_kept = sorted(set(int(p) for p in forced) & set(kept.tolist()))
    rest = [int(t) for t in kept if int(t) not in forced_kept]
    chosen = topk(s, k - len(forced_kept), rest)
    return np.sort(np.concatenate([np.asarray(forced_kept, dtype=np.int64), chosen]))


def accumulate(importance: np.ndarray, contribution: np.ndarray) -> np.ndarray:
    """``fp32(importance + fp32(contribution))``: one head's contribution,
    summed in float64, is rounded once to fp32 and added in fp32, as the
    attention instruction does (docs/Algorithms.md)."""
    return (importance + contribution.astype(F32)).astype(F32)


# ============================================================================ quantization

def quantize_rows(x: np.ndarray, bits: int) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row fixed point (docs/Algorithms.md "Fixed-point").

    x: [..., D] fp32. Returns (codes int32 [..., D] in [-qmax, qmax],
    scale fp32 [..., 1]) with ``qmax = 2^(bits-1) - 1``, ``s = max|x| / qmax``,
    ``q = clamp(round_half_even(x / s))``; a zero row has s = 0, q = 0."""
    x = np.asarray(x, dtype=F32)
    qmax = F32(2 ** (bits - 1) - 1)
    s = (np.max(np.abs(x), axis=-1, keepdims=True) / qmax).astype(F32)
    safe = np.where(s == 0, F32(1), s)
    q = np.clip(np.rint(x / safe), -qmax, qmax)
    q = np.where(s == 0, F32(0), q)
    return q.astype(np.int32), s


def dequantize(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``x̂ = q * s`` in fp32."""
    return (q.astype(F32) * s).astype(F32)


def fake_quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """Quantize then dequantize rows of x [..., D]."""
    return dequantize(*quantize_rows(x, bits))


def pq_split(q: np.ndarray, lsb: int) -> Tuple[np.ndarray, np.ndarray]:
    """MSB code ``m = floor(q / 2^lsb)`` (arithmetic shift) and LSB code
    ``r = q - m 2^lsb`` in [0, 2^lsb) (docs/Algorithms.md "Progressive")."""
    m = np.right_shift(q, lsb)
    return m, q - m * (1 << lsb)


def pq_msb_value(m: np.ndarray, s: np.ndarray, lsb: int) -> np.ndarray:
    """MSB-only value ``(m 2^lsb + 2^(lsb-1)) * s``: the midpoint of the
    unknown LSBs. fp32 [..., D]."""
    return ((m * (1 << lsb) + (1 << (lsb - 1))).astype(F32) * s).astype(F32)


def row_bytes(d: int, bits: int) -> int:
    """``ceil(D * bits / 8)`` code bytes of one row (scale not included)."""
    return (d * bits + 7) // 8


# ============================================================================ fp32 kernels

def softmax(x: np.ndarray) -> np.ndarray:
    """fp32 softmax over the last axis (max subtracted)."""
    e = np.exp((x - np.max(x, axis=-1, keepdims=True)).astype(F32))
    return (e / np.sum(e, axis=-1, keepdims=True, dtype=F32)).astype(F32)


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """ONNX-decomposed LayerNorm over the last axis (biased variance), fp32."""
    mu = np.mean(x, axis=-1, keepdims=True, dtype=F32)
    d = (x - mu).astype(F32)
    var = np.mean(d * d, axis=-1, keepdims=True, dtype=F32)
    return ((d / np.sqrt(var + F32(eps))) * g + b).astype(F32)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """BERT GELU ``x/2 (1 + erf(x / sqrt 2))``; erf in float64, rounded."""
    e = _ERF((x / F32(math.sqrt(2.0))).astype(np.float64)).astype(F32)
    return ((x * F32(0.5)) * (e + F32(1))).astype(F32)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GPT-2 ``gelu_new``: ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    inner = (x + F32(0.044715) * (x * x * x)) * F32(math.sqrt(2.0 / math.pi))
    return ((x * F32(0.5)) * (np.tanh(inner.astype(F32)) + F32(1))).astype(F32)


def linear(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
    """``x @ w + b`` in fp32; x [L, in], w [in, out]."""
    y = np.matmul(x, w).astype(F32)
    return y if b is None else (y + b).astype(F32)


# ============================================================================ weights

@dataclasses.dataclass
class LayerWeights:
    """One transformer layer, linear weights [in, out]. ``ln1`` is BERT's
    post-attention LN (GPT-2's ln_1, before attention); ``ln2`` BERT's
    post-FFN LN (GPT-2's ln_2, before the FFN)."""

    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


@dataclasses.dataclass
class ModelWeights:
    """A lifted BERT- or GPT-2-style model.

    kind: "bert" (post-LN, erf GELU, padding mask) or "gpt2" (pre-LN, tanh
    GELU, causal, final LN). heads: H; ln_eps: LayerNorm epsilon.
    word_emb [V, hidden], pos_emb [P, hidden], type_emb [T, hidden] (BERT),
    emb_ln (BERT) / final_ln (GPT-2) as (gamma, beta).
    pooler: (w, b) for BERT's tanh pooler on token 0, or None.
    mlm: BertForPreTraining's prediction head as (dense w, dense b, ln gamma,
    ln beta, decoder w [hidden, V], decoder bias); nsp: (w, b) on the pooler.
    outputs: names of the outputs :func:`run` returns, in graph order.
    """

    kind: str
    heads: int
    ln_eps: float
    word_emb: np.ndarray
    pos_emb: np.ndarray
    layers: List[LayerWeights]
    type_emb: Optional[np.ndarray] = None
    emb_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
    final_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
    pooler: Optional[Tuple[np.ndarray, np.ndarray]] = None
    mlm: Optional[Tuple[np.ndarray, ...]] = None
    nsp: Optional[Tuple[np.ndarray, np.ndarray]] = None
    outputs: Tuple[str, ...] = ("last_hidden_state",)

    @property
    def hidden(self) -> int:
        return self.word_emb.shape[1]

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


# ============================================================================ attention

@dataclasses.dataclass
class AttentionResult:
    """One layer's attention over the kept tokens (L of them) and heads.

    out: [L, H * D] fp32, zero columns for pruned heads.
    token_contrib: per kept head in order, [L] float64 sums over query
    rows of P.
    head_contrib: [H] float64, sum |O| per kept head (0 for pruned heads).
    unconfident: {head: query row positions (local)}; refetched heads are
    its keys. value_rows: {head: number of V rows fetched}."""

    out: np.ndarray
    token_contrib: List[np.ndarray]
    head_contrib: np.ndarray
    unconfident: Dict[int, List[int]]
    value_rows: Dict[int, int]


def _pq_planes(x: np.ndarray, cfg: SpAttenConfig) -> Tuple[np.ndarray, np.ndarray]:
    """(MSB-only values, full values) of rows x [L, D] quantized at msb+lsb."""
    q, s = quantize_rows(x, cfg.pq_msb + cfg.pq_lsb)
    m, _ = pq_split(q, cfg.pq_lsb)
    return pq_msb_value(m, s, cfg.pq_lsb), dequantize(q, s)


def _scores(q: np.ndarray, k: np.ndarray, mask: np.ndarray, causal: bool) -> np.ndarray:
    """``q k^T / sqrt(D)`` then the mask: additive [Lk] (BERT) or, when
    ``causal``, a [Lq, Lk] bool visibility replaced by -10000 (GPT-2)."""
    s = (np.matmul(q, k.T).astype(F32) / F32(math.sqrt(q.shape[-1]))).astype(F32)
    if causal:
        return np.where(mask, s, F32(-10000.0)).astype(F32)
    return (s + mask[None, :]).astype(F32)


def _value_prune(p: np.ndarray, keep: Optional[float]) -> Tuple[np.ndarray, int]:
    """Local value pruning (Sec. III-C): per query row keep the top
    ``max(1, floor(Lk keep))`` probabilities (``topk`` over all Lk keys,
    masked ones included), zero the rest, no renormalisation.

    p [Lq, Lk] -> (pruned p [Lq, Lk], V rows fetched: the keys selected by
    at least one row when ``defer_value_fetch``, else all Lk)."""
    if keep is None:
        return p, p.shape[1]
    kv = keep_count(p.shape[1], keep)
    out = np.zeros_like(p)
    cand = np.arange(p.shape[1])
    used = np.zeros(p.shape[1], dtype=bool)
    for i in range(p.shape[0]):
        idx = topk(p[i], kv, cand)
        out[i, idx] = p[i, idx]
        used[idx] = True
    if not defer_value_fetch(kv, p.shape[1], p.shape[0]):
        return out, p.shape[1]
    return out, int(np.count_nonzero(used))


def defer_value_fetch(kv: int, keys: int, rows: int) -> bool:
    """Whether the compiler fetches V after the local-V top-k (only the rows
    some query row keeps) rather than with K: when ``rows`` query rows, each
    keeping ``kv`` of ``keys``, are expected to need at most half of them,
    ``1 - (1 - kv/keys)^rows <= 0.5`` (docs/Algorithms.md, "Local value
    pruning"; the lowering's deferValueFetch). One query tile per head."""
    if kv >= keys:
        return False
    return 1.0 - (1.0 - kv / keys) ** rows <= 0.5


def attention_head(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray, causal: bool,
                   cfg: SpAttenConfig) -> Tuple[np.ndarray, np.ndarray, List[int], int]:
    """One head: q [Lq, D], k, v [Lk, D] fp32 (Q already quantized).

    Returns (O [Lq, D], final probabilities P [Lq, Lk] before value pruning,
    unconfident query rows, V rows fetched). Progressive quantization
    (docs/Algorithms.md): MSB-only keys first; rows with max P below the
    threshold are recomputed with full keys once the head fetched its LSBs."""
    unconf: List[int] = []
    if cfg.pq_msb is not None:
        k_msb, k_full = _pq_planes(k, cfg)
        p = softmax(_scores(q, k_msb, mask, causal))
        unconf = np.nonzero(np.max(p, axis=-1) < F32(cfg.pq_threshold))[0].tolist()
        if unconf:
            p[unconf] = softmax(_scores(q, k_full, mask, causal))[unconf]
    else:
        if cfg.attn_bits is not None:
            k = fake_quantize(k, cfg.attn_bits)
        p = softmax(_scores(q, k, mask, causal))
    if cfg.pq_values:
        v_msb, v_full = _pq_planes(v, cfg)
        v = v_full if unconf else v_msb
    elif cfg.attn_bits is not None:
        v = fake_quantize(v, cfg.attn_bits)
    pv, v_rows = _value_prune(p, cfg.value_keep)
    return np.matmul(pv, v).astype(F32), p, unconf, v_rows


def attention(x_q: np.ndarray, x_k: np.ndarray, x_v: np.ndarray, heads: Sequence[int], n_heads: int,
              mask: np.ndarray, causal: bool, cfg: SpAttenConfig) -> AttentionResult:
    """Multi-head attention over kept tokens: x_q/x_k/x_v [L, H * D] are the
    projections (bias added). Pruned heads produce zero output columns."""
    L, hd = x_q.shape
    d = hd // n_heads
    out = np.zeros((L, hd), dtype=F32)
    token_c: List[np.ndarray] = []
    head_c = np.zeros(n_heads, dtype=np.float64)
    unconf: Dict[int, List[int]] = {}
    v_rows: Dict[int, int] = {}
    for h in heads:
        sl = slice(h * d, (h + 1) * d)
        q = x_q[:, sl] if cfg.attn_bits is None else fake_quantize(x_q[:, sl], cfg.attn_bits)
        o, p, u, nv = attention_head(q, x_k[:, sl], x_v[:, sl], mask, causal, cfg)
        out[:, sl] = o
        token_c.append(np.sum(p.astype(np.float64), axis=0))
        head_c[h] = np.sum(np.abs(o.astype(np.float64)))
        if u:
            unconf[h] = u
        v_rows[h] = nv
    return AttentionResult(out, token_c, head_c, unconf, v_rows)


# ============================================================================ layers

def _attend(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
            cfg: SpAttenConfig) -> AttentionResult:
    """Q/K/V projections of the kept rows x [L, hidden], then attention."""
    return attention(linear(x, lw.wq, lw.bq), linear(x, lw.wk, lw.bk), linear(x, lw.wv, lw.bv),
                     state.heads.tolist(), mw.heads, state.mask(), mw.kind == "gpt2", cfg)


def bert_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
               cfg: SpAttenConfig) -> Tuple[np.ndarray, AttentionResult]:
    """Post-LN BERT layer on the kept rows x [L, hidden]; returns the layer
    output (the post-FFN LayerNorm output) and the attention result."""
    att = _attend(lw, x, state, mw, cfg)
    x1 = layer_norm((linear(att.out, lw.wo, lw.bo) + x).astype(F32), lw.ln1_g, lw.ln1_b, mw.ln_eps)
    h = linear(gelu_erf(linear(x1, lw.w1, lw.b1)), lw.w2, lw.b2)
    return layer_norm((h + x1).astype(F32), lw.ln2_g, lw.ln2_b, mw.ln_eps), att


def gpt2_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
               cfg: SpAttenConfig) -> Tuple[np.ndarray, AttentionResult]:
    """Pre-LN GPT-2 block on the kept rows x [L, hidden]; returns the
    residual stream after the block and the attention result."""
    att = _attend(lw, layer_norm(x, lw.ln1_g, lw.ln1_b, mw.ln_eps), state, mw, cfg)
    x = (x + linear(att.out, lw.wo, lw.bo)).astype(F32)
    h = linear(gelu_tanh(linear(layer_norm(x, lw.ln2_g, lw.ln2_b, mw.ln_eps), lw.w1, lw.b1)), lw.w2, lw.b2)
    return (x + h).astype(F32), att


@dataclasses.dataclass
class _State:
    """Cascade state of one sequence: kept original token positions, kept
    heads, fp32 importance vectors, the padding mask add [L0] (BERT)."""

    tokens: np.ndarray
    heads: np.ndarray
    token_imp: np.ndarray
    head_imp: np.ndarray
    mask_add: Optional[np.ndarray]

    def mask(self) -> np.ndarray:
        """BERT: additive mask [Lk] of the kept keys. GPT-2: causal
        visibility [Lq, Lk] by original positions (key j visible to query i
        iff pos_j <= pos_i)."""
        if self.mask_add is not None:
            return self.mask_add[self.tokens]
        return self.tokens[None, :] <= self.tokens[:, None]


# ============================================================================ records

@dataclasses.dataclass
class LayerRecord:
    """What layer ``layer`` did (original token positions, head indices).

    tokens / heads: those the layer computed; kept_tokens / kept_heads: those
    kept after it (the next layer's). unconfident_rows: {head: original
    positions of unconfident query rows}; refetched_rows: {head: original
    positions of the key rows whose LSB plane was fetched}.
    counts: q_rows, k_rows, v_rows (one row = one token of one head),
    k_msb_rows, k_lsb_rows, v_msb_rows, v_lsb_rows, and the byte counts
    q_bytes, k_bytes, k_msb_bytes, k_lsb_bytes, v_bytes (codes plus the
    4-byte fp32 scale per row where quantized; fp32 rows otherwise)."""

    layer: int
    tokens: List[int]
    heads: List[int]
    kept_tokens: List[int]
    kept_heads: List[int]
    unconfident_rows: Dict[int, List[int]]
    refetched_rows: Dict[int, List[int]]
    counts: Dict[str, int]

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["unconfident_rows"] = {str(k): v for k, v in self.unconfident_rows.items()}
        d["refetched_rows"] = {str(k): v for k, v in self.refetched_rows.items()}
        return d


def _counts(att: AttentionResult, state: _State, d: int, cfg: SpAttenConfig) -> Dict[str, int]:
    """Row and byte counts of one layer's attention (docs/Algorithms.md)."""
    nh, lk = len(state.heads), len(state.tokens)
    k_rows = nh * lk
    v_rows = sum(att.value_rows.values())
    lsb_heads = len(att.unconfident)
    c = dict(q_rows=nh * lk, k_rows=k_rows, v_rows=v_rows, k_msb_rows=0, k_lsb_rows=0,
             v_msb_rows=0, v_lsb_rows=0)
    plain = lambda rows: rows * (row_bytes(d, cfg.attn_bits) + 4 if cfg.attn_bits else 4 * d)
    c["q_bytes"] = plain(c["q_rows"])
    if cfg.pq_msb is not None:
        c["k_msb_rows"], c["k_lsb_rows"] = k_rows, lsb_heads * lk
        c["k_msb_bytes"] = k_rows * (row_bytes(d, cfg.pq_msb) + 4)
        c["k_lsb_bytes"] = c["k_lsb_rows"] * row_bytes(d, cfg.pq_lsb)
        c["k_bytes"] = c["k_msb_bytes"] + c["k_lsb_bytes"]
    else:
        c["k_msb_bytes"] = c["k_lsb_bytes"] = 0
        c["k_bytes"] = plain(k_rows)
    if cfg.pq_values:
        c["v_msb_rows"] = v_rows
        c["v_lsb_rows"] = sum(att.value_rows[h] for h in att.unconfident)
        c["v_bytes"] = v_rows * (row_bytes(d, cfg.pq_msb) + 4) + c["v_lsb_rows"] * row_bytes(d, cfg.pq_lsb)
    else:
        c["v_bytes"] = plain(v_rows)
    return c


# ============================================================================ forward

@dataclasses.dataclass
class Result:
    """outputs: {name: fp32 array [B, ...]}; layers: per sequence of the
    batch, one LayerRecord per layer (batch 1 when pruning)."""

    outputs: Dict[str, np.ndarray]
    layers: List[List[LayerRecord]]


def _embed(mw: ModelWeights, ids: np.ndarray, types: Optional[np.ndarray]) -> np.ndarray:
    """Embeddings of one sequence ids [L0] -> [L0, hidden] fp32."""
    x = (mw.word_emb[ids] + mw.pos_emb[np.arange(len(ids))]).astype(F32)
    if mw.kind == "bert":
        if mw.type_emb is not None:
            t = np.zeros_like(ids) if types is None else types
            x = (x + mw.type_emb[t]).astype(F32)
        x = layer_norm(x, mw.emb_ln[0], mw.emb_ln[1], mw.ln_eps)
    return x


def _prune(state: _State, att: AttentionResult, layer: int, f_tok: Optional[np.ndarray],
           f_head: Optional[np.ndarray], L0: int, cfg: SpAttenConfig) -> None:
    """Accumulate importance, then cascade top-k for tokens and heads after
    ``layer`` (docs/Algorithms.md). Mutates ``state``."""
    for c in att.token_contrib:
        state.token_imp[state.tokens] = accumulate(state.token_imp[state.tokens], c)
    kept_heads = state.heads
    state.head_imp[kept_heads] = accumulate(state.head_imp[kept_heads], att.head_contrib[kept_heads])
    if f_tok is not None:
        state.tokens = select_tokens(state.token_imp, keep_count(L0, f_tok[layer + 1]), state.tokens,
                                     cfg.keep_positions)
    if f_head is not None:
        H = len(state.head_imp)
        state.heads = topk(state.head_imp, keep_count(H, f_head[layer + 1]), state.heads)


def run_sequence(mw: ModelWeights, ids: np.ndarray, cfg: SpAttenConfig, types: Optional[np.ndarray] = None,
                 mask: Optional[np.ndarray] = None) -> Tuple[np.ndarray, List[LayerRecord]]:
    """All layers on one sequence ids [L0]; returns the restored layer
    output [L0, hidden] (each pruned token's last layer output at its
    original position) and the per-layer records."""
    L0, n = len(ids), len(mw.layers)
    for p in cfg.keep_positions:
        if not 0 <= int(p) < L0:
            raise ValueError(f"keep position {p} is outside the sequence (length {L0})")
    f_tok = None if cfg.token_keep is None else resolve_schedule(cfg.token_schedule, n, cfg.token_keep, 0.15)
    f_head = None if cfg.head_keep is None else resolve_schedule(cfg.head_schedule, n, cfg.head_keep, 0.3)
    mask_add = None
    if mw.kind == "bert":
        m = np.ones(L0, dtype=F32) if mask is None else mask.astype(F32)
        mask_add = ((F32(1) - m) * F32(-10000.0)).astype(F32)
    state = _State(np.arange(L0), np.arange(mw.heads), np.zeros(L0, F32), np.zeros(mw.heads, F32), mask_add)
    x = _embed(mw, ids, types)
    final = x.copy()
    records = []
    layer_fn = bert_layer if mw.kind == "bert" else gpt2_layer
    for l, lw in enumerate(mw.layers):
        tokens, heads = state.tokens.copy(), state.heads.copy()
        y, att = layer_fn(lw, x, state, mw, cfg)
        final[tokens] = y
        counts = _counts(att, state, mw.head_dim, cfg)
        if l < n - 1:
            _prune(state, att, l, f_tok, f_head, L0, cfg)
        else:
            _prune(state, att, l, None, None, L0, cfg)
        records.append(LayerRecord(
            l, tokens.tolist(), heads.tolist(), state.tokens.tolist(), state.heads.tolist(),
            {h: tokens[u].tolist() for h, u in att.unconfident.items()},
            {h: tokens.tolist() for h in att.unconfident}, counts))
        x = y[np.searchsorted(tokens, state.tokens)]
    return final, records


def _heads_after(mw: ModelWeights, x: np.ndarray) -> Dict[str, np.ndarray]:
    """What follows the layers, on all L0 tokens of one sequence x [L0, hidden]."""
    if mw.kind == "gpt2":
        return {mw.outputs[0]: layer_norm(x, mw.final_ln[0], mw.final_ln[1], mw.ln_eps)}
    out = {"last_hidden_state": x}
    pooled = None
    if mw.pooler is not None:
        pooled = np.tanh(linear(x[:1], *mw.pooler)).astype(F32)[0]
        out["pooler_output"] = pooled
    if mw.mlm is not None:
        dw, db, g, b, decw, decb = mw.mlm
        t = layer_norm(gelu_erf(linear(x, dw, db)), g, b, mw.ln_eps)
        out["prediction_scores"] = linear(t, decw, decb)
    if mw.nsp is not None:
        out["seq_relationship_score"] = linear(pooled[None, :], *mw.nsp)[0]
    return {k: out[k] for k in mw.outputs}


def run(mw: ModelWeights, input_ids: np.ndarray, cfg: Optional[SpAttenConfig] = None,
        attention_mask: Optional[np.ndarray] = None, token_type_ids: Optional[np.ndarray] = None) -> Result:
    """Runs the model on int [B, L0] ids (BERT: optional 0/1 mask and token
    types [B, L0]). Pruning, value pruning and progressive quantization need
    B = 1 (ValueError otherwise); dense and ``attn_bits`` runs take any B.
    Outputs are stacked over the batch like the ONNX graph's."""
    cfg = cfg or SpAttenConfig()
    cfg.validate()
    ids = np.asarray(input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be [batch, sequence], got shape {ids.shape}")
    if cfg.prunes and ids.shape[0] != 1:
        raise ValueError(f"SpAtten pruning and progressive quantization need batch 1, got batch {ids.shape[0]}")
    outs: Dict[str, List[np.ndarray]] = {k: [] for k in mw.outputs}
    records = []
    for b in range(ids.shape[0]):
        pick = lambda a: None if a is None else np.asarray(a)[b]
        x, rec = run_sequence(mw, ids[b], cfg, pick(token_type_ids), pick(attention_mask))
        for k, v in _heads_after(mw, x).items():
            outs[k].append(v)
        records.append(rec)
    return Result({k: np.stack(v).astype(F32) for k, v in outs.items()}, records)


def run_inputs(mw: ModelWeights, inputs: Mapping[str, np.ndarray], cfg: Optional[SpAttenConfig] = None) -> Result:
    """:func:`run` with ONNX-style named inputs: ``*ids*`` without ``type``
    = token ids, ``*type*`` = token types, ``*mask*`` = padding mask."""
    ids = types = mask = None
    for name, a in inputs.items():
        low = name.lower()
        if "mask" in low:
            mask = a
        elif "type" in low:
            types = a
        elif "ids" in low:
            ids = a
        else:
            raise ValueError(f"input {name!r} is not token ids, token types or a mask")
    if ids is None:
        raise ValueError(f"no token-id input among {list(inputs)}")
    return run(mw, ids, cfg, attention_mask=mask, token_type_ids=types)


# ============================================================================ loaders

def from_torch(model) -> ModelWeights:
    """Lifts a ``spatten.export`` BertModel / GPT2Model (torch modules)."""
    sd = {k: v.detach().numpy().astype(F32) for k, v in model.state_dict().items()}
    c = model.config
    if c.kind == "bert":
        lin = lambda p: (sd[p + ".weight"].T.copy(), sd[p + ".bias"])
        layers = []
        for i in range(c.layers):
            p = f"layers.{i}."
            layers.append(LayerWeights(
                *lin(p + "attention.query"), *lin(p + "attention.key"), *lin(p + "attention.value"),
                *lin(p + "attn_out"), sd[p + "attn_ln.weight"], sd[p + "attn_ln.bias"],
                *lin(p + "intermediate"), *lin(p + "output"), sd[p + "out_ln.weight"], sd[p + "out_ln.bias"]))
        return ModelWeights("bert", c.heads, c.ln_eps, sd["word_embeddings.weight"],
                            sd["position_embeddings.weight"], layers, type_emb=sd["token_type_embeddings.weight"],
                            emb_ln=(sd["emb_ln.weight"], sd["emb_ln.bias"]),
                            pooler=lin("pooler") if c.pooler else None, outputs=tuple(c.output_names))
    layers = []
    for i in range(c.layers):
        p = f"h.{i}."
        conv = lambda q: (sd[p + q + ".weight"], sd[p + q + ".bias"])
        layers.append(_gpt2_layer(*conv("attn.c_attn"), conv("attn.c_proj"), sd[p + "ln_1.weight"],
                                  sd[p + "ln_1.bias"], conv("c_fc"), conv("c_proj"),
                                  sd[p + "ln_2.weight"], sd[p + "ln_2.bias"]))
    return ModelWeights("gpt2", c.heads, c.ln_eps, sd["wte.weight"], sd["wpe.weight"], layers,
                        final_ln=(sd["ln_f.weight"], sd["ln_f.bias"]), outputs=tuple(c.output_names))


def _gpt2_layer(w_qkv, b_qkv, proj, ln1_g, ln1_b, fc, fc_proj, ln2_g, ln2_b) -> LayerWeights:
    """Splits GPT-2's fused Conv1D QKV weight [hidden, 3 hidden] into Q, K, V."""
    hd = w_qkv.shape[0]
    ws = [w_qkv[:, i * hd:(i + 1) * hd].copy() for i in range(3)]
    bs = [b_qkv[i * hd:(i + 1) * hd].copy() for i in range(3)]
    return LayerWeights(ws[0], bs[0], ws[1], bs[1], ws[2], bs[2], *proj, ln1_g, ln1_b, *fc, *fc_proj, ln2_g, ln2_b)


class _Graph:
    """Initializers, constants and consumers of an ONNX graph, to find the
    weights of known structures (not an interpreter)."""

    def __init__(self, path):
        import onnx
        from onnx import numpy_helper
        self.model = onnx.load(str(path))
        g = self.model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.consts = dict(self.inits)
        self.producer, self.consumers = {}, {}
        for node in g.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            for o in node.output:
                self.producer[o] = node
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.path = str(path)

    def init(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise ValueError(f"{self.path}: initializer {name!r} not found")
        return self.inits[name].astype(F32)

    def linear(self, bias: str) -> Tuple[np.ndarray, np.ndarray]:
        """(w [in, out], b) of the Linear whose bias initializer is ``bias``:
        ``Add(MatMul(x, W), b)`` or ``Gemm(x, W, b)`` (transB honoured)."""
        for node in self.consumers.get(bias, []):
            if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] == bias:
                trans_b = any(a.name == "transB" and a.i for a in node.attribute)
                w = self.init(node.input[1])
                return (w.T.copy() if trans_b else w), self.init(bias)
            if node.op_type == "Add":
                other = node.input[1] if node.input[0] == bias else node.input[0]
                mm = self.producer.get(other)
                if mm is not None and mm.op_type == "MatMul" and mm.input[1] in self.inits:
                    return self.init(mm.input[1]), self.init(bias)
        raise ValueError(f"{self.path}: no MatMul+Add or Gemm uses bias {bias!r}")

    def scalar(self, name: str) -> Optional[float]:
        a = self.consts.get(name)
        return float(a.reshape(-1)[0]) if a is not None and a.size == 1 else None

    def ln_eps(self, gamma: str) -> float:
        """Epsilon of the LayerNorm with gain ``gamma``: LayerNormalization's
        attribute, or the constant of ``Sqrt(Add(var, eps))`` in the
        decomposed form ``Mul(Div(x - mean, Sqrt(...)), gamma)``."""
        for node in self.consumers.get(gamma, []):
            if node.op_type == "LayerNormalization":
                return next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            if node.op_type == "Mul":
                div = self.producer.get(node.input[1] if node.input[0] == gamma else node.input[0])
                sq = self.producer.get(div.input[1]) if div is not None and div.op_type == "Div" else None
                add = self.producer.get(sq.input[0]) if sq is not None and sq.op_type == "Sqrt" else None
                if add is not None and add.op_type == "Add":
                    eps = [self.scalar(i) for i in add.input if self.scalar(i) is not None]
                    if eps:
                        return eps[0]
        raise ValueError(f"{self.path}: cannot find the LayerNorm epsilon of {gamma!r}")

    def head_dim(self) -> int:
        """D from the score scale: ``Div(MatMul(q, k^T), sqrt D)`` (or ``Mul``
        by 1/sqrt D) a few nodes before each Softmax; all must agree."""
        found = set()
        for sm in (n for n in self.model.graph.node if n.op_type == "Softmax"):
            frontier = [sm]
            for _ in range(4):
                nxt = []
                for node in frontier:
                    for i in node.input:
                        p = self.producer.get(i)
                        if p is None:
                            continue
                        d = self._scale_dim(p)
                        if d:
                            found.add(d)
                        nxt.append(p)
                frontier = nxt
        if len(found) != 1:
            raise ValueError(f"{self.path}: cannot determine the head width from the score scale (found {found})")
        return found.pop()

    def _scale_dim(self, node) -> Optional[int]:
        if node.op_type not in ("Div", "Mul") or len(node.input) != 2:
            return None
        mm, c = self.producer.get(node.input[0]), self.scalar(node.input[1])
        if mm is None or mm.op_type != "MatMul" or not c:
            return None
        d = c * c if node.op_type == "Div" else 1.0 / (c * c)
        return int(round(d)) if abs(d - round(d)) < 1e-3 else None


def _find(names, pattern: str) -> Optional[str]:
    rx = re.compile(pattern)
    return next((n for n in names if rx.fullmatch(n)), None)


def _gpt2_from_onnx(g: _Graph) -> ModelWeights:
    """HF GPT-2 names (``h.{i}.attn.c_attn``, optional ``mlp.`` and
    ``_resize`` suffix), Conv1D weights [in, out] used by Gemm."""
    names = list(g.inits)
    sfx = "_resize" if "wte.weight_resize" in g.inits else ""
    n = 1 + max(int(m.group(1)) for m in (re.match(r"h\.(\d+)\.", x) for x in names) if m)
    layers = []
    for i in range(n):
        nm = lambda part: _find(names, rf"h\.{i}\.(mlp\.)?{re.escape(part)}{sfx}") or f"h.{i}.{part}{sfx}"
        lin = lambda part: g.linear(nm(part + ".bias"))
        layers.append(_gpt2_layer(*lin("attn.c_attn"), lin("attn.c_proj"), g.init(nm("ln_1.weight")),
                                  g.init(nm("ln_1.bias")), lin("c_fc"), lin("c_proj"),
                                  g.init(nm("ln_2.weight")), g.init(nm("ln_2.bias"))))
    hidden = layers[0].wq.shape[0]
    return ModelWeights("gpt2", hidden // g.head_dim(), g.ln_eps(f"ln_f.weight{sfx}"), g.init(f"wte.weight{sfx}"),
                        g.init(f"wpe.weight{sfx}"), layers,
                        final_ln=(g.init(f"ln_f.weight{sfx}"), g.init(f"ln_f.bias{sfx}")),
                        outputs=tuple(o.name for o in g.model.graph.output))


# BERT initializer names: spatten.export's module names, and Hugging Face's.
_BERT_NAMES = {
    "export": dict(layer="layers.{i}.", q="attention.query", k="attention.key", v="attention.value",
                   o="attn_out", ln1="attn_ln", fc1="intermediate", fc2="output", ln2="out_ln",
                   word="word_embeddings.weight", pos="position_embeddings.weight",
                   type="token_type_embeddings.weight", emb_ln="emb_ln", pooler="pooler"),
    "hf": dict(layer="bert.encoder.layer.{i}.", q="attention.self.query", k="attention.self.key",
               v="attention.self.value", o="attention.output.dense", ln1="attention.output.LayerNorm",
               fc1="intermediate.dense", fc2="output.dense", ln2="output.LayerNorm",
               word="bert.embeddings.word_embeddings.weight", pos="bert.embeddings.position_embeddings.weight",
               type="bert.embeddings.token_type_embeddings.weight", emb_ln="bert.embeddings.LayerNorm",
               pooler="bert.pooler.dense"),
}


def _bert_from_onnx(g: _Graph) -> ModelWeights:
    """BERT encoder (+ pooler, + BertForPreTraining's cls heads)."""
    nm = _BERT_NAMES["hf" if "bert.embeddings.word_embeddings.weight" in g.inits else "export"]
    n = 0
    while nm["layer"].format(i=n) + nm["ln2"] + ".weight" in g.inits:
        n += 1
    layers = []
    for i in range(n):
        p = nm["layer"].format(i=i)
        lin = lambda key: g.linear(p + nm[key] + ".bias")
        ln = lambda key: (g.init(p + nm[key] + ".weight"), g.init(p + nm[key] + ".bias"))
        layers.append(LayerWeights(*lin("q"), *lin("k"), *lin("v"), *lin("o"), *ln("ln1"),
                                   *lin("fc1"), *lin("fc2"), *ln("ln2")))
    outputs = tuple(o.name for o in g.model.graph.output)
    word = g.init(nm["word"])
    pooler = g.linear(nm["pooler"] + ".bias") if nm["pooler"] + ".bias" in g.inits else None
    mlm = nsp = None
    if "prediction_scores" in outputs:
        # The decoder is tied to the word embeddings (MatMul by Transpose(word)).
        mlm = (*g.linear("cls.predictions.transform.dense.bias"),
               g.init("cls.predictions.transform.LayerNorm.weight"),
               g.init("cls.predictions.transform.LayerNorm.bias"), word.T.copy(), g.init("cls.predictions.bias"))
    if "seq_relationship_score" in outputs:
        nsp = g.linear("cls.seq_relationship.bias")
    hidden = word.shape[1]
    return ModelWeights("bert", hidden // g.head_dim(), g.ln_eps(nm["emb_ln"] + ".weight"), word,
                        g.init(nm["pos"]), layers, type_emb=g.inits.get(nm["type"]),
                        emb_ln=(g.init(nm["emb_ln"] + ".weight"), g.init(nm["emb_ln"] + ".bias")),
                        pooler=pooler, mlm=mlm, nsp=nsp, outputs=outputs)


def from_onnx(path) -> ModelWeights:
    """Lifts the weights of a BERT- or GPT-2-style ONNX model by initializer
    names (see the module docstring). Raises ValueError for other models."""
    g = _Graph(path)
    if any(re.fullmatch(r"h\.\d+\.attn\.c_attn\.weight(_resize)?", n) for n in g.inits):
        return _gpt2_from_onnx(g)
    if any(re.match(r"(bert\.encoder\.layer|layers)\.\d+\.", n) for n in g.inits):
        return _bert_from_onnx(g)
    raise ValueError(f"{path}: not a BERT- or GPT-2-style model this reference knows "
                     "(expected Hugging Face or spatten.export initializer names)")


# ============================================================================ CLI

def _floats(text: str) -> List[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: Optional[List[str]] = None) -> int:
    from .tensors import load_tensor, random_inputs
    ap = argparse.ArgumentParser(prog="spatten.reference",
                                 description="Run the SpAtten NumPy reference; print per-layer selections as JSON.")
    ap.add_argument("model", help="BERT- or GPT-2-style .onnx")
    ap.add_argument("--token-keep", type=float)
    ap.add_argument("--token-schedule", default="paper", help="'paper' or comma-separated fractions per layer")
    ap.add_argument("--keep-positions", default="", help="comma-separated original positions, e.g. 0")
    ap.add_argument("--head-keep", type=float)
    ap.add_argument("--value-keep", type=float)
    ap.add_argument("--pq-msb", type=int)
    ap.add_argument("--pq-lsb", type=int, default=4)
    ap.add_argument("--pq-threshold", type=float, default=0.1)
    ap.add_argument("--pq-values", action="store_true")
    ap.add_argument("--attn-bits", type=int)
    ap.add_argument("--shape", action="append", default=[], metavar="DIM=N",
                    help="bind a symbolic input dim for seeded random inputs (default: every dim 1, sequence 16)")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE", help=".npy or .pb input")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        sched = args.token_schedule if args.token_schedule == "paper" else _floats(args.token_schedule)
        cfg = SpAttenConfig(args.token_keep, sched, [int(v) for v in _floats(args.keep_positions)],
                            args.head_keep, "paper", args.value_keep, args.pq_msb, args.pq_lsb,
                            args.pq_threshold, args.pq_values, args.attn_bits)
        mw = from_onnx(args.model)
        inputs = {k: load_tensor(v) for k, v in (i.split("=", 1) for i in args.input)}
        if not inputs:
            shapes = {k: int(v) for k, v in (s.split("=", 1) for s in args.shape)}
            inputs = random_inputs(args.model, _default_shapes(args.model, shapes), seed=args.seed)
        res = run_inputs(mw, inputs, cfg)
    except (ValueError, OSError) as e:
        print(f"spatten.reference: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"layers": [r.to_json() for r in res.layers[0]]}, indent=1))
    return 0


def _default_shapes(model: str, shapes: Dict[str, int]) -> Dict[str, int]:
    """Unbound symbolic dims: 16 when the name looks like a sequence, else 1."""
    from .tensors import symbolic_dims
    out = dict(shapes)
    for d in symbolic_dims(model):
        out.setdefault(d, 16 if ("seq" in d.lower() or "len" in d.lower()) else 1)
    return out


if __name__ == "__main__":
    sys.exit(main())

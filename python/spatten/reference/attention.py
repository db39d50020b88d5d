"""Attention and the cascade (paper Sec. III): one attention head with
local value pruning and progressive quantization, multi-head attention over
the kept tokens and heads, the token and head schedules, cascade token and
head pruning by accumulated importance, and the per-layer records the
simulator's report is compared with (docs/Algorithms.md).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .config import SpAttenConfig
from .kernels import (F32, dequantize, fake_quantize, pq_msb_value, pq_split, quantize_rows, row_bytes,
                      softmax, topk)


# ============================================================================ schedules

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
                     dense_fraction: float, dense_first: bool = True) -> np.ndarray:
    """``paper`` or an explicit list of ``n`` fractions in (0, 1],
    non-increasing, starting at 1 unless ``dense_first`` is False (a
    generation step: importance is known from the steps before); raises
    ValueError otherwise."""
    if isinstance(spec, str):
        if spec != "paper":
            raise ValueError(f"unknown schedule {spec!r} (expected 'paper' or a list of fractions)")
        return paper_schedule(n, r, dense_fraction)
    f = np.asarray(list(spec), dtype=np.float64)
    if f.shape != (n,):
        raise ValueError(f"schedule has {f.size} values, the model has {n} layers")
    if np.any(f <= 0) or np.any(f > 1):
        raise ValueError(f"schedule values must be in (0, 1]: {f.tolist()}")
    if dense_first and f[0] != 1:
        raise ValueError(f"schedule must start at 1 (no importance is known before layer 0): {f.tolist()}")
    if np.any(np.diff(f) > 0):
        raise ValueError(f"schedule must be non-increasing: {f.tolist()}")
    return f


def keep_count(total: int, f: float) -> int:
    """``k_l = max(1, floor(total * f_l))`` (docs/Algorithms.md)."""
    return max(1, int(math.floor(total * f)))


def schedule_from_keys(keys: Sequence[int], total: int) -> List[float]:
    """Per-layer keep fractions that keep exactly ``keys[l]`` of ``total``
    tokens (``keep_count(total, f_l) == keys[l]``): the smallest double at
    or above ``keys[l] / total`` that does. E.g. the authors' GPT-2-small
    keeps at 1024 keys (paper-figures "GPT-2 setting", [R]): 921, 716, then
    204 (layers 2-5) and 102 (layers 6-11). Raises ValueError for a count
    outside [1, total] or an increasing list."""
    if any(not 1 <= k <= total for k in keys) or any(b > a for a, b in zip(keys, keys[1:])):
        raise ValueError(f"key counts must be non-increasing and in [1, {total}]: {list(keys)}")
    fractions = []
    for k in keys:
        f = k / total
        while keep_count(total, f) < k:
            f = float(np.nextafter(f, 2.0))
        fractions.append(min(f, 1.0))
    return fractions


def select_tokens(s: np.ndarray, k: int, kept: np.ndarray, forced: Sequence[int]) -> np.ndarray:
    """Cascade token top-k: every forced (``keep_positions``) token still
    kept, plus ``topk`` of the rest up to ``k`` in total. Original order."""
    forced_kept = sorted(set(int(p) for p in forced) & set(kept.tolist()))
    rest = [int(t) for t in kept if int(t) not in forced_kept]
    chosen = topk(s, k - len(forced_kept), rest)
    return np.sort(np.concatenate([np.asarray(forced_kept, dtype=np.int64), chosen]))


def kv_budget_kept(n: int, budget: Sequence[int]) -> int:
    """Tokens a decode layer attends under the fixed KV budget ``(S, I, R)``
    at a context of ``n`` tokens (the new one included): all up to the
    budget, then ``S + I + max(R, 1)``: the new token is always attended
    (docs/Algorithms.md "Fixed KV budget")."""
    first, important, recent = budget
    return min(n, first + important + max(recent, 1))


def select_kv_budget(s: np.ndarray, n: int, candidates: np.ndarray, budget: Sequence[int]) -> np.ndarray:
    """The fixed KV budget's kept tokens at a context of ``n`` tokens: the
    first ``S`` positions, the last ``max(R, 1)`` (the new token, position
    ``n - 1``, among them) and the ``I`` candidates with the largest
    importance ``s`` among the rest (ties to the earliest position), or
    every candidate while they fit. ``candidates``: the positions the layer
    still holds (what it kept at the step before, and the new token).
    Original order."""
    first, _, recent = budget
    forced = list(range(min(first, n))) + list(range(max(n - max(recent, 1), 0), n))
    return select_tokens(s, kv_budget_kept(n, budget), candidates, forced)


def accumulate(importance: np.ndarray, contribution: np.ndarray) -> np.ndarray:
    """``fp32(importance + fp32(contribution))``: one head's contribution,
    summed in float64, is rounded once to fp32 and added in fp32, as the
    attention instruction does (docs/Algorithms.md)."""
    return (importance + contribution.astype(F32)).astype(F32)


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


def _scores(q: np.ndarray, k: np.ndarray, mask: np.ndarray, causal: bool, scaled: bool = True) -> np.ndarray:
    """``q k^T / sqrt(D)`` (``q k^T`` unless ``scaled``: T5) then the mask:
    additive [Lk] (BERT) or [Lq, Lk] (T5's score bias) or, when ``causal``,
    a [Lq, Lk] bool visibility replaced by -10000 (GPT-2)."""
    s = np.matmul(q, k.T).astype(F32)
    if scaled:
        s = (s / F32(math.sqrt(q.shape[-1]))).astype(F32)
    if causal:
        return np.where(mask, s, F32(-10000.0)).astype(F32)
    return (s + (mask if mask.ndim == 2 else mask[None, :])).astype(F32)


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
                   cfg: SpAttenConfig, scaled: bool = True) -> Tuple[np.ndarray, np.ndarray, List[int], int]:
    """One head: q [Lq, D], k, v [Lk, D] fp32 (Q already quantized);
    ``mask`` and ``scaled`` as :func:`_scores` takes them.

    Returns (O [Lq, D], final probabilities P [Lq, Lk] before value pruning,
    unconfident query rows, V rows fetched). Progressive quantization
    (docs/Algorithms.md): MSB-only keys first; rows with max P below the
    threshold are recomputed with full keys once the head fetched its LSBs."""
    unconf: List[int] = []
    if cfg.pq_msb is not None:
        k_msb, k_full = _pq_planes(k, cfg)
        p = softmax(_scores(q, k_msb, mask, causal, scaled))
        unconf = np.nonzero(np.max(p, axis=-1) < F32(cfg.pq_threshold))[0].tolist()
        if unconf:
            p[unconf] = softmax(_scores(q, k_full, mask, causal, scaled))[unconf]
    else:
        if cfg.key_bits is not None:
            k = fake_quantize(k, cfg.key_bits)
        p = softmax(_scores(q, k, mask, causal, scaled))
    if cfg.pq_values:
        v_msb, v_full = _pq_planes(v, cfg)
        v = v_full if unconf else v_msb
    elif cfg.value_bits is not None:
        v = fake_quantize(v, cfg.value_bits)
    pv, v_rows = _value_prune(p, cfg.value_keep)
    return np.matmul(pv, v).astype(F32), p, unconf, v_rows


def attention(x_q: np.ndarray, x_k: np.ndarray, x_v: np.ndarray, heads: Sequence[int], n_heads: int,
              mask: np.ndarray, causal: bool, cfg: SpAttenConfig, scaled: bool = True) -> AttentionResult:
    """Multi-head attention over kept tokens: x_q [Lq, H * D], x_k/x_v
    [Lk, H * D] are the projections (bias added; Lk differs from Lq in
    cross-attention). Pruned heads produce zero output columns. ``mask``
    as :func:`_scores` takes it, or one [Lq, Lk] score bias per head
    [H, Lq, Lk] (T5); ``scaled`` as :func:`_scores`."""
    L, hd = x_q.shape
    d = hd // n_heads
    out = np.zeros((L, hd), dtype=F32)
    token_c: List[np.ndarray] = []
    head_c = np.zeros(n_heads, dtype=np.float64)
    unconf: Dict[int, List[int]] = {}
    v_rows: Dict[int, int] = {}
    for h in heads:
        sl = slice(h * d, (h + 1) * d)
        q = x_q[:, sl] if cfg.query_bits is None else fake_quantize(x_q[:, sl], cfg.query_bits)
        m = mask[h] if mask.ndim == 3 else mask
        o, p, u, nv = attention_head(q, x_k[:, sl], x_v[:, sl], m, causal, cfg, scaled)
        out[:, sl] = o
        token_c.append(np.sum(p.astype(np.float64), axis=0))
        head_c[h] = np.sum(np.abs(o.astype(np.float64)))
        if u:
            unconf[h] = u
        v_rows[h] = nv
    return AttentionResult(out, token_c, head_c, unconf, v_rows)


# ============================================================================ cascade state

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


def kv_bits(cfg: SpAttenConfig) -> Tuple[int, int]:
    """Element widths in bits of the K and V rows attention loads, which set
    how many the K and V buffers hold (docs/HardwareConfig.md, "SRAM
    buffers"): progressive quantization's full code (msb + lsb), else the
    tensor's fixed-point width, else 32 (fp32)."""
    pq = cfg.pq_msb + cfg.pq_lsb if cfg.pq_msb is not None else None
    return pq or cfg.key_bits or 32, (pq if cfg.pq_values else None) or cfg.value_bits or 32


def keys_per_fill(hardware: Mapping, d: int, k_bits: int = 32, v_bits: int = 32) -> int:
    """Keys one K/V buffer fill holds for heads of width ``d``: at most
    ``max_keys_per_fill``, and as many rows as the K and V buffers hold at
    the rows' widths ``k_bits`` and ``v_bits`` (hardware configuration
    fields, as the binary's manifest records them; the lowering's
    planKeys)."""
    rows = lambda buf, bits: int(hardware[f"{buf}_buffer_bytes"]) * 8 // bits // d
    return min(int(hardware["max_keys_per_fill"]), rows("k", k_bits), rows("v", v_bits))


def fill_fetches(keys: int, queries: int, d: int, hardware: Optional[Mapping], k_bits: int = 32,
                 v_bits: int = 32) -> Tuple[int, int]:
    """How many times a head of ``queries`` query rows fetches each of its
    ``keys`` (K rows, V rows) of ``k_bits`` and ``v_bits``: (1, 1) when they
    fit one K/V buffer fill or ``hardware`` is None. Otherwise per query
    tile, of as many rows as the whole Q and ACC buffers hold, twice K (a
    statistics pass and an apply pass over each fill) and once V
    (docs/Algorithms.md, "Attention over several fills"; with a per-key
    mask)."""
    if hardware is None or keys <= keys_per_fill(hardware, d, k_bits, v_bits):
        return 1, 1
    rows = lambda buf: int(hardware[f"{buf}_buffer_bytes"]) // (4 * d)
    tiles = -(-queries // min(65535, rows("q"), rows("acc")))
    return 2 * tiles, tiles


def pq_query_tiles(keys: int, queries: int, d: int, hardware: Optional[Mapping], cfg: SpAttenConfig) -> int:
    """How many query tiles of statistics and apply passes progressive
    quantization runs a head of ``queries`` query rows and ``keys`` keys
    in on ``hardware``: 0 when the head is one ATTN (its keys fit one K/V
    buffer fill and its query rows the whole Q buffer, at the query's
    width, and the ACC buffer), else tiles of as many rows as the whole Q
    and ACC buffers hold in fp32 (docs/Algorithms.md, "Attention over
    several fills")."""
    if hardware is None:
        return 0
    elems = lambda buf, bits: int(hardware[f"{buf}_buffer_bytes"]) * 8 // bits
    one_attn = (queries <= 65535 and queries * d <= elems("q", cfg.query_bits or 32)
                and queries * d <= elems("acc", 32))
    if keys <= keys_per_fill(hardware, d, *kv_bits(cfg)) and one_attn:
        return 0
    return -(-queries // min(65535, elems("q", 32) // d, elems("acc", 32) // d))


def _counts(att: AttentionResult, state: _State, d: int, cfg: SpAttenConfig,
            queries: Optional[int] = None, hardware: Optional[Mapping] = None,
            fill_keys: Optional[int] = None) -> Dict[str, int]:
    """Row and byte counts of one layer's attention (docs/Algorithms.md).
    ``queries``: query rows per head, one per kept token unless given (a
    generation step has one). ``hardware``: the hardware configuration
    that sets the K/V buffer fill (K counted once without it).
    ``fill_keys``: the key count that decides one fill or several (a
    decode program's largest, fixed when it is compiled), else the keys."""
    nh, lk = len(state.heads), len(state.tokens)
    k_rows = nh * lk
    # A generation step reads the fp32 KV cache.
    widths = kv_bits(cfg) if queries is None else (32, 32)
    fill_keys = lk if fill_keys is None else fill_keys
    k_fetches, v_fetches = fill_fetches(fill_keys, lk if queries is None else queries, d, hardware, *widths)
    v_rows = sum(att.value_rows.values())
    c = dict(q_rows=nh * (lk if queries is None else queries), k_rows=k_rows, v_rows=v_rows, k_msb_rows=0,
             k_lsb_rows=0, v_msb_rows=0, v_lsb_rows=0)
    plain = lambda rows, bits: rows * (row_bytes(d, bits) + 4 if bits else 4 * d)
    if cfg.pq_msb is not None:
        # Per query tile of passes: the MSB plane twice, and for a
        # refetching head a third time and the LSB plane twice; over
        # several tiles the head first decides on every tile (Q and the MSB
        # plane once more per tile). V once per tile.
        tiles = pq_query_tiles(fill_keys, lk if queries is None else queries, d, hardware, cfg)
        refetching, probe = len(att.unconfident), tiles if tiles > 1 else 0
        c["k_msb_rows"] = k_rows * (2 * tiles + probe) + lk * tiles * refetching if tiles else k_rows
        c["k_lsb_rows"] = lk * refetching * (2 * tiles if tiles else 1)
        v_fetches = max(tiles, 1)
        c["q_rows"] *= 2 if probe else 1
        c["k_msb_bytes"] = c["k_msb_rows"] * (row_bytes(d, cfg.pq_msb) + 4)
        c["k_lsb_bytes"] = c["k_lsb_rows"] * row_bytes(d, cfg.pq_lsb)
        c["k_bytes"] = c["k_msb_bytes"] + c["k_lsb_bytes"]
    else:
        c["k_msb_bytes"] = c["k_lsb_bytes"] = 0
        c["k_bytes"] = plain(k_rows * k_fetches, cfg.key_bits)
    c["q_bytes"] = plain(c["q_rows"], cfg.query_bits)
    if cfg.pq_values:
        c["v_msb_rows"] = v_rows * v_fetches
        c["v_lsb_rows"] = sum(att.value_rows[h] for h in att.unconfident) * v_fetches
        c["v_bytes"] = v_rows * (row_bytes(d, cfg.pq_msb) + 4) + c["v_lsb_rows"] * row_bytes(d, cfg.pq_lsb)
    else:
        c["v_bytes"] = plain(v_rows * v_fetches, cfg.value_bits)
    return c

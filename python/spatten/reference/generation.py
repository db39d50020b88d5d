"""SpAtten in the generation stage (paper Sec. III; docs/Algorithms.md
"Generation"): greedy generation with a GPT-2 LM-head model, a LLaMA,
GPT-NeoX, Falcon or Phi model, every SpAtten technique applied across
steps. A rotary model's decode step rotates the query and key by the rotary tables' rows
at its position, and LLaMA's cache holds the K/V heads of grouped-query
attention, repeated over their query heads when attended.

Step 0, the prefill, runs the prompt as a whole sequence exactly as
:func:`~spatten.reference.models.run_sequence` does (the summarization
stage), with the last prompt position kept at every layer (it is the query
the first token comes from) and the token schedule's first layer dense. It
stores each layer's K and V rows in a cache. Every later step feeds the
token chosen last as one query against the cache:

* cascade token pruning: importance keeps accumulating over heads, layers
  and steps; layer ``l`` keeps ``max(1, floor(n f_l))`` of the ``n`` tokens
  of the context, top-k on importance among its candidates, the tokens
  layer ``l - 1`` kept at this step that layer ``l`` also kept at the step
  before, plus the new token (always kept at its own step: it is the
  query). A pruned token is never fetched again by that layer or a later
  one;
* the fixed KV budget ``kv_budget = (S, I, R)`` instead of the cascade:
  each layer attends the first ``S`` tokens, the last ``max(R, 1)`` and
  the ``I`` of its other candidates (what it kept at the step before) with
  the largest importance; the prefill is dense;
* cascade head pruning: the same rule for heads (a fixed count per layer);
* local value pruning: the top ``max(1, floor(Lk value_keep))``
  probabilities of the one query row; exactly those V rows are fetched;
* progressive quantization: K as MSB and LSB planes; a head fetches the
  LSBs of its keys when the query's max probability is below the threshold;
* static per-tensor widths (``q_bits``, ``k_bits``, ``v_bits``).

Each step records per layer (:class:`~spatten.reference.attention.LayerRecord`)
the keys it attended (original positions), its heads, the unconfident query
rows and refetched key rows per head, and the Q/K/V rows and bytes fetched
per class (K MSB, K LSB, K at static width or fp32, V). Rows of the new
token count as fetched: it is written to the cache first, then streamed
with the others.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .attention import (AttentionResult, LayerRecord, _counts, _prune, _State, attention, keep_count,
                        kv_budget_kept, resolve_schedule, select_kv_budget, select_tokens)
from .config import SpAttenConfig
from .kernels import F32, topk
from .models import CAUSAL_KINDS, LAYERS, ModelWeights, _attend, lm_logits, project_qkv, repeat_kv, run_layers


@dataclasses.dataclass
class Step:
    """One generation step. step: 0 for the prefill; context: tokens in the
    cache after it (prompt and fed tokens, the new one included); query:
    position of the fed token (the last prompt position for the prefill);
    token: the id chosen; layers: one record per layer."""

    step: int
    context: int
    query: int
    token: int
    layers: List[LayerRecord]

    def totals(self) -> Dict[str, int]:
        """The layers' row and byte counts summed (``k_rows``, ``v_rows``,
        ``k_msb_rows``, ``k_lsb_rows``, ``v_bytes``, ...)."""
        out: Dict[str, int] = {}
        for record in self.layers:
            for key, value in record.counts.items():
                out[key] = out.get(key, 0) + value
        return out


@dataclasses.dataclass
class Generation:
    """tokens: int64 [1, n], as :func:`spatten.generate.greedy`; logits:
    fp32 [n, V], row t the logits token t was chosen from; steps: n steps,
    the prefill first."""

    tokens: np.ndarray
    logits: np.ndarray
    steps: List[Step]


@dataclasses.dataclass
class _Cache:
    """Per layer: K and V rows [positions, kv_heads*D] fp32 (those the
    layer computed; LLaMA's K rotated at its position), the tokens and heads
    it kept at the last step. The fp32 importance vectors [positions] and
    [H] shared by the layers."""

    keys: List[np.ndarray]
    values: List[np.ndarray]
    tokens: List[np.ndarray]
    heads: List[np.ndarray]
    token_imp: np.ndarray
    head_imp: np.ndarray


def _check(mw: ModelWeights, ids: np.ndarray, n: int, cfg: SpAttenConfig) -> None:
    if mw.kind not in CAUSAL_KINDS or mw.lm_head is None:
        raise ValueError("generation needs a decoder-only language model with logits: GPT-2 with its "
                         "language-model head, LLaMA, GPT-NeoX, Falcon or Phi")
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"the prompt must be one non-empty sequence of ids, got shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= mw.word_emb.shape[0]:
        raise ValueError(f"prompt ids must be in [0, {mw.word_emb.shape[0]})")
    if n < 1:
        raise ValueError(f"n={n}: generate at least one token")
    if ids.size + n - 1 > _positions(mw):
        raise ValueError(f"prompt {ids.size} + {n} tokens exceeds the {_positions(mw)} positions")
    cfg.validate()


def _positions(mw: ModelWeights) -> int:
    """The model's positions: rows of its position embeddings, or of its
    rotary tables (LLaMA, GPT-NeoX)."""
    return (mw.pos_emb if mw.rope is None else mw.rope[0]).shape[0]


def _token_schedule(mw: ModelWeights, cfg: SpAttenConfig) -> Optional[np.ndarray]:
    """The decode steps' token schedule; its first layer may prune
    (importance is known from the steps before)."""
    if cfg.token_keep is None:
        return None
    return resolve_schedule(cfg.token_schedule, len(mw.layers), cfg.token_keep, 0.15, dense_first=False)


def _prefill(mw: ModelWeights, ids: np.ndarray, total: int, cfg: SpAttenConfig,
             f_tok: Optional[np.ndarray], hardware: Optional[Mapping]):
    """Step 0: the prompt as a whole sequence; returns (logits [V], the
    layer records, the cache sized for ``total`` positions)."""
    L0, width = len(ids), (mw.kv_heads or mw.heads) * mw.head_dim
    layers = range(len(mw.layers))
    cache = _Cache([np.zeros((total, width), F32) for _ in layers], [np.zeros((total, width), F32) for _ in layers],
                   [], [], np.zeros(total, F32), np.zeros(mw.heads, F32))
    index = {id(lw): l for l, lw in enumerate(mw.layers)}

    def attend(lw, h, state, mw_, cfg_) -> AttentionResult:
        l = index[id(lw)]
        _, cache.keys[l][state.tokens], cache.values[l][state.tokens] = project_qkv(lw, h, state.tokens, mw_)
        return _attend(lw, h, state, mw_, cfg_)

    # The KV budget prunes in the decode steps only: the prompt runs dense.
    prefill_cfg = dataclasses.replace(cfg, keep_positions=tuple(cfg.keep_positions) + (L0 - 1,), kv_budget=None)
    schedule = None
    if f_tok is not None:
        schedule = f_tok.copy()
        schedule[0] = 1.0  # no importance is known before the prompt's first layer
    final, records, state = run_layers(mw, ids, prefill_cfg, attend=attend, token_schedule=schedule,
                                       hardware=hardware)
    cache.tokens = [np.asarray(r.tokens, dtype=np.int64) for r in records]
    cache.heads = [np.asarray(r.heads, dtype=np.int64) for r in records]
    cache.token_imp[:L0] = state.token_imp
    cache.head_imp[:] = state.head_imp
    return lm_logits(mw, final[L0 - 1:])[0], records, cache


def _decode_attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, state: _State, mw: ModelWeights,
                      cfg: SpAttenConfig) -> AttentionResult:
    """One query q [1, hidden] against the kept keys and values [Lk,
    kv_heads*D] of the kept heads; every key is visible (all precede the
    query or are it, the last key). Local value pruning fetches the kept
    cached V rows, and the query's own row, which is written to the cache
    anyway."""
    lk = len(keys)
    keys, values = repeat_kv(keys, mw), repeat_kv(values, mw)
    att = attention(q, keys, values, state.heads.tolist(), mw.heads, np.ones((1, lk), dtype=bool), True, cfg)
    kv = lk if cfg.value_keep is None else keep_count(lk, cfg.value_keep)
    att.value_rows = {h: kv + (0 if _keeps_own_row(p, kv) else 1)
                      for h, p in zip(att.value_rows, att.token_contrib)}
    return att


def _keeps_own_row(p: np.ndarray, kv: int) -> bool:
    """Whether the query's own key (the last) is among the ``kv`` largest
    probabilities ``p`` [Lk] (ties to the earliest key)."""
    return len(p) - 1 in np.argsort(-p, kind="stable")[:kv]


def _select(cache: _Cache, l: int, pos: int, above: Optional[_State], n: int, cfg: SpAttenConfig,
            f_tok: Optional[np.ndarray], f_head: Optional[np.ndarray]) -> _State:
    """Layer ``l``'s tokens and heads at the step whose query is ``pos``:
    its candidates are what it kept at the step before, plus the new token,
    that the layer above kept at this step (docs/Algorithms.md)."""
    tokens = np.union1d(cache.tokens[l], [pos])
    heads = cache.heads[l]
    if above is not None:
        # The KV budget ranks each layer's own candidates (no cascade).
        if cfg.kv_budget is None:
            tokens = np.intersect1d(tokens, above.tokens)
        heads = np.intersect1d(heads, above.heads)
    if cfg.kv_budget is not None:
        tokens = select_kv_budget(cache.token_imp, n, tokens, cfg.kv_budget)
    if f_tok is not None:
        forced = sorted(set(int(p) for p in cfg.keep_positions) | {pos})
        tokens = select_tokens(cache.token_imp, keep_count(n, f_tok[l]), tokens, forced)
    if f_head is not None:
        heads = topk(cache.head_imp, keep_count(len(cache.head_imp), f_head[l]), heads)
    return _State(tokens.astype(np.int64), heads.astype(np.int64), cache.token_imp, cache.head_imp, None)


def _most_keys(context: int, l: int, cfg: SpAttenConfig, f_tok: Optional[np.ndarray]) -> int:
    """The most keys layer ``l`` of a decode step attends at a context of
    ``context`` positions: they decide whether the compiled step streams
    its keys in one K/V fill or several (docs/Generation.md)."""
    if cfg.kv_budget is not None:
        return kv_budget_kept(context, cfg.kv_budget)
    if f_tok is None:
        return context
    forced = 1 + sum(1 for p in set(int(p) for p in cfg.keep_positions) if p < context - 1)
    return min(context, max(keep_count(context, f_tok[l]), forced))


def _decode(mw: ModelWeights, cache: _Cache, token: int, pos: int, cfg: SpAttenConfig,
            f_tok: Optional[np.ndarray], f_head: Optional[np.ndarray], hardware: Optional[Mapping],
            context: int):
    """One decode step: the token at position ``pos`` through every layer
    against the cache of ``context`` positions; returns (logits [V], the
    layer records)."""
    x = mw.word_emb[[token]].astype(F32)
    if mw.rope is None:
        x = (x + mw.pos_emb[[pos]]).astype(F32)
    above: Optional[_State] = None
    records: List[LayerRecord] = []
    for l, lw in enumerate(mw.layers):
        state = _select(cache, l, pos, above, pos + 1, cfg, f_tok, f_head)

        def attend(lw_, h, state_, mw_, cfg_) -> AttentionResult:
            q, k, v = project_qkv(lw_, h, np.array([pos]), mw_)
            cache.keys[l][pos], cache.values[l][pos] = k[0], v[0]
            return _decode_attention(q, cache.keys[l][state_.tokens], cache.values[l][state_.tokens], state_,
                                     mw_, cfg_)

        x, att = LAYERS[mw.kind](lw, x, state, mw, cfg, attend)
        counts = _counts(att, state, mw.head_dim, cfg, queries=1, hardware=hardware,
                         fill_keys=_most_keys(context, l, cfg, f_tok))
        _prune(state, att, l, None, None, pos + 1, cfg)  # accumulates importance only
        tokens, heads = state.tokens.tolist(), state.heads.tolist()
        records.append(LayerRecord(l, tokens, heads, tokens, heads, {h: [pos] for h in att.unconfident},
                                   {h: tokens for h in att.unconfident}, counts))
        cache.tokens[l], cache.heads[l] = state.tokens, state.heads
        above = state
    for record, below in zip(records, records[1:]):
        record.kept_tokens, record.kept_heads = below.tokens, below.heads
    return lm_logits(mw, x)[0], records


def generate(mw: ModelWeights, prompt_ids: Union[Sequence[int], np.ndarray], n: int,
             cfg: Optional[SpAttenConfig] = None, hardware: Optional[Mapping] = None,
             context: Optional[int] = None, feed: Optional[Sequence[int]] = None) -> Generation:
    """Greedy generation of ``n`` tokens after ``prompt_ids`` ([L0] or
    [1, L0]) with SpAtten's techniques of ``cfg`` (dense when None): the
    prefill, then ``n - 1`` one-query steps, each feeding the token chosen
    before (``argmax``, ties to the lowest id). Raises ValueError for a
    model without an LM head, an empty prompt, ids outside the vocabulary,
    more positions than the model has, or a bad config. ``hardware`` (a
    binary's manifest ``hardware`` record) sets the K/V buffer fill the
    records' K and V bytes count (:func:`~spatten.reference.fill_fetches`);
    ``context`` (default: the model's positions, as ``--max-context``) the
    compiled context C, whose largest key counts decide one fill or
    several. ``feed`` (``n - 1`` ids) forces the tokens fed to the decode
    steps (teacher forcing: step t feeds ``feed[t - 1]``; ``tokens`` still
    holds each step's own choice)."""
    cfg = cfg or SpAttenConfig()
    ids = np.asarray(prompt_ids, dtype=np.int64)
    ids = ids[0] if ids.ndim == 2 and ids.shape[0] == 1 else ids
    _check(mw, ids, n, cfg)
    if feed is not None and len(feed) != n - 1:
        raise ValueError(f"feed has {len(feed)} ids; {n} tokens feed n - 1 = {n - 1}")
    L0 = len(ids)
    f_tok = _token_schedule(mw, cfg)
    f_head = None if cfg.head_keep is None else resolve_schedule(cfg.head_schedule, len(mw.layers),
                                                                 cfg.head_keep, 0.3)
    logits = np.zeros((n, mw.word_emb.shape[0]), dtype=F32)
    tokens = np.zeros((1, n), dtype=np.int64)
    logits[0], records, cache = _prefill(mw, ids, L0 + n - 1, cfg, f_tok, hardware)
    tokens[0, 0] = int(np.argmax(logits[0]))
    steps = [Step(0, L0, L0 - 1, int(tokens[0, 0]), records)]
    for t in range(1, n):
        pos = L0 + t - 1
        fed = int(tokens[0, t - 1] if feed is None else feed[t - 1])
        logits[t], records = _decode(mw, cache, fed, pos, cfg, f_tok, f_head, hardware,
                                     context or _positions(mw))
        tokens[0, t] = int(np.argmax(logits[t]))
        steps.append(Step(t, pos + 1, pos, int(tokens[0, t]), records))
    return Generation(tokens, logits, steps)

"""PyTorch greedy generation with a KV cache: the oracle of the generation
stage (GPT-2: the prompt is read once, then one query per step
against the cache) and the benchmark's PyTorch CPU baseline.

:func:`greedy` runs a ``spatten.export`` GPT-2 LM-head model
(:class:`~spatten.export.GPT2LMHeadModel`, with or without ``past``): one
call on the whole prompt fills the cache (the prefill), then each step feeds
the token just chosen, one query, and appends its K and V to the cache.
Token ``t`` is ``argmax`` of step ``t``'s logits (ties to the lowest id, as
``torch.argmax``). :func:`time_greedy` times the same work.

Example::

    from spatten import export, generate
    model = export.build_model(export.tiny_config("gpt2", lm_head=True))
    ids, logits = generate.greedy(model, [5, 7, 11], 4)   # ids [1, 4], logits [4, vocab]
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence, Tuple, Union

import numpy as np
import torch


def _prompt(model, prompt_ids: Union[Sequence[int], np.ndarray], n: int) -> torch.Tensor:
    """The prompt as int64 [1, L0]; ValueError for an empty or too long one."""
    ids = np.asarray(prompt_ids, dtype=np.int64).reshape(1, -1)
    cfg = model.config
    if ids.shape[1] == 0:
        raise ValueError("the prompt is empty")
    if n < 1:
        raise ValueError(f"n={n}: generate at least one token")
    # The last generated token is never fed back, so the cache ends at L0 + n - 1.
    if ids.shape[1] + n - 1 > cfg.max_positions:
        raise ValueError(f"prompt {ids.shape[1]} + {n} tokens exceeds max_positions {cfg.max_positions}")
    if ids.min() < 0 or ids.max() >= cfg.vocab:
        raise ValueError(f"prompt ids must be in [0, {cfg.vocab})")
    return torch.from_numpy(ids)


def greedy(model, prompt_ids: Union[Sequence[int], np.ndarray], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy generation of ``n`` tokens after ``prompt_ids`` ([L0] or [1, L0]).

    Returns (ids int64 [1, n], logits fp32 [n, vocab]): row t holds the
    logits token t was chosen from (row 0 from the prefill, row t > 0 from
    the step that fed token t - 1). Raises ValueError for an empty prompt,
    ids outside the vocabulary or more positions than ``max_positions``."""
    ids = _prompt(model, prompt_ids, n)
    out = np.zeros((1, n), dtype=np.int64)
    logits = np.zeros((n, model.config.vocab), dtype=np.float32)
    past = None
    with torch.no_grad():
        for t in range(n):
            step_logits, past = model.step(ids, past)
            row = step_logits[0, -1]
            logits[t] = row.numpy()
            out[0, t] = int(torch.argmax(row))
            ids = torch.tensor([[out[0, t]]], dtype=torch.int64)
    return out, logits


@dataclasses.dataclass
class GenerationTiming:
    """Best-of-``repeats`` wall-clock seconds: the prefill (the prompt,
    first token's logits) and the ``n - 1`` decode steps after it."""

    prefill_s: float
    decode_s: float
    tokens: int

    @property
    def total_s(self) -> float:
        return self.prefill_s + self.decode_s

    @property
    def decode_per_token_s(self) -> float:
        """Seconds per decode step (0 when n = 1)."""
        return self.decode_s / max(1, self.tokens - 1)


def time_greedy(model, prompt_ids: Union[Sequence[int], np.ndarray], n: int, repeats: int = 3,
                warmup: int = 1) -> GenerationTiming:
    """Times :func:`greedy`'s work (PyTorch CPU, the threads
    ``torch.get_num_threads()`` gives) after ``warmup`` untimed runs; each
    phase reports its fastest of ``repeats`` runs. ValueError as
    :func:`greedy`, or for ``repeats < 1``."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: time at least one run")
    ids = _prompt(model, prompt_ids, n)
    best_prefill = best_decode = float("inf")
    with torch.no_grad():
        for run in range(warmup + repeats):
            start = time.perf_counter()
            logits, past = model.step(ids, None)
            token = torch.argmax(logits[:, -1], dim=-1, keepdim=True)
            mid = time.perf_counter()
            for _ in range(n - 1):
                logits, past = model.step(token, past)
                token = torch.argmax(logits[:, -1], dim=-1, keepdim=True)
            end = time.perf_counter()
            if run >= warmup:
                best_prefill, best_decode = min(best_prefill, mid - start), min(best_decode, end - mid)
    return GenerationTiming(best_prefill, best_decode, n)

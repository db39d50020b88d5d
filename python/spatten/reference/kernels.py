"""fp32 kernels of the reference: top-k, fixed-point quantization and the
progressive-quantization planes, softmax and log-softmax, LayerNorm and
RMSNorm, GELU and SiLU, rotary position embeddings, and linear layers (docs/Algorithms.md; paper Sec. III-D and IV-B).

Every operation rounds to fp32 like the hardware and onnxruntime; erf is
evaluated in float64 then rounded (NumPy has no fp32 erf).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np

F32 = np.float32


# ============================================================================ top-k

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


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float,
               eps_outside_sqrt: bool = False) -> np.ndarray:
    """ONNX-decomposed LayerNorm over the last axis (biased variance), fp32;
    ``eps_outside_sqrt`` divides by ``sqrt(var) + eps`` (``spatten.layer_norm``'s
    attribute of that name)."""
    mu = np.mean(x, axis=-1, keepdims=True, dtype=F32)
    d = (x - mu).astype(F32)
    var = np.mean(d * d, axis=-1, keepdims=True, dtype=F32)
    return ((d / _norm_divisor(var, eps, eps_outside_sqrt)) * g + b).astype(F32)


def rms_norm(x: np.ndarray, g: np.ndarray, eps: float, eps_outside_sqrt: bool = False) -> np.ndarray:
    """RMSNorm over the last axis, ``x / sqrt(mean(x^2) + eps) * g`` (LLaMA),
    fp32 (``spatten.rms_norm``; the vector unit's ``rms_norm``)."""
    ms = np.mean(x * x, axis=-1, keepdims=True, dtype=F32)
    return ((x / _norm_divisor(ms, eps, eps_outside_sqrt)) * g).astype(F32)


def _norm_divisor(stat: np.ndarray, eps: float, outside: bool) -> np.ndarray:
    if outside:
        return (np.sqrt(stat) + F32(eps)).astype(F32)
    return np.sqrt(stat + F32(eps)).astype(F32)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """fp32 log-softmax over the last axis: ``x - max - log(sum(exp(x - max)))``."""
    s = (x - np.max(x, axis=-1, keepdims=True)).astype(F32)
    return (s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True, dtype=F32))).astype(F32)


def silu(x: np.ndarray) -> np.ndarray:
    """SiLU (swish) ``x * sigmoid(x)``, fp32."""
    return (x / (F32(1) + np.exp(-x))).astype(F32)


def rotary(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, head_dim: Optional[int] = None) -> np.ndarray:
    """Rotary embedding of every head of x [L, H*D] (RoFormer; Hugging Face
    LLaMA's half split): the first R columns of each head become
    ``x * cos + rotate_half(x) * sin`` with ``rotate_half(x) =
    concat(-x[R/2:], x[:R/2])``, the others pass through (GPT-NeoX's
    partial rotary embedding); cos/sin [L, R] are the table rows of the
    tokens' positions, ``head_dim`` D (R when None)
    (``spatten.rotary_embedding``; the vector unit's ``rotary``)."""
    L, r = cos.shape
    h = x.reshape(L, -1, head_dim or r)
    x_rot = h[..., :r]
    rotated = np.concatenate([-x_rot[..., r // 2:], x_rot[..., :r // 2]], axis=-1)
    out = (x_rot * cos[:, None, :]).astype(F32) + (rotated * sin[:, None, :]).astype(F32)
    return np.concatenate([out.astype(F32), h[..., r:]], axis=-1).reshape(x.shape)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """BERT GELU ``x/2 (1 + erf(x / sqrt 2))``; erf in float64, rounded."""
    e = _ERF((x / F32(math.sqrt(2.0))).astype(np.float64)).astype(F32)
    return ((x * F32(0.5)) * (e + F32(1))).astype(F32)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GPT-2 ``gelu_new``: ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    inner = (x + F32(0.044715) * (x * x * x)) * F32(math.sqrt(2.0 / math.pi))
    return ((x * F32(0.5)) * (np.tanh(inner.astype(F32)) + F32(1))).astype(F32)


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` (``nn.TransformerEncoderLayer``'s default activation)."""
    return np.maximum(x, F32(0)).astype(F32)


def linear(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
    """``x @ w + b`` in fp32; x [L, in], w [in, out]."""
    y = np.matmul(x, w).astype(F32)
    return y if b is None else (y + b).astype(F32)

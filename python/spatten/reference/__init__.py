"""NumPy reference of the whole SpAtten algorithm (Wang, Zhang, Han, HPCA 2021).

Written from the paper (Sec. III) and ``docs/Algorithms.md``, independently of
the C++ compiler and simulator, which must reproduce its kept token indices,
kept head indices and refetched rows exactly.

What it implements (each function names its source):

* fixed-point quantization of Q, K and V rows (per-row scale, round half to
  even, clamp; one width for all three or one per tensor);
* cascade token pruning (cumulative importance, top-k in original order,
  ``paper`` or explicit schedules, forced ``keep_positions``);
* cascade head pruning (cumulative ``sum |head output|``, first 30% of
  layers untouched);
* local value pruning (per query row top-k, no renormalisation);
* progressive quantization (MSB plane + LSB plane, per-head LSB refetch);
* BERT-style (post-LN, erf GELU, additive padding mask, optional pooler and
  ``BertForPreTraining`` heads) and GPT-2-style (pre-LN, tanh GELU, causal,
  final LN; the whole prompt at once, optional LM head) forward passes;
* greedy generation with every technique applied across steps
  (``generation``: the prefill, then one query per step against the KV
  cache).

Precision: every tensor of the forward pass is fp32 and every operation
rounds to fp32, like the hardware and onnxruntime. Only each head's
importance contribution is summed in float64, then rounded once to fp32 and
added in fp32, as the attention instruction does (``docs/Algorithms.md``),
and erf is evaluated in float64 then rounded (NumPy has no fp32 erf).

Weights are "lifted": :class:`ModelWeights` holds plain NumPy arrays, linear
weights as ``[in, out]`` (``y = x @ w + b``). Loaders build it from a model
of ``spatten.export`` (:func:`from_torch`; a ViT's patch embedding as a
:class:`PatchEmbedding`) or from an ONNX file
(:func:`from_onnx`: the exports of ``spatten.export``, Hugging Face GPT-2
with fused Conv1D QKV such as ``GPT2Model.onnx``, Hugging Face BERT /
BertForPreTraining such as ``bert_toy_optimized.onnx``). The loader reads
initializers by known structure; it does not interpret ONNX graphs.

Modules: ``config`` (:class:`SpAttenConfig` and the spatten-compile flag
table), ``kernels`` (top-k, quantization, softmax, LayerNorm, GELU),
``attention`` (attention heads, value pruning, progressive quantization,
the cascade and per-layer records), ``models`` (the forward passes),
``generation`` (greedy generation) and ``loaders`` (weights from torch or
ONNX). This package re-exports their
public names.

CLI (``__main__.py``)::

    /usr/bin/python3 -m spatten.reference model.onnx --token-keep 0.5 \\
        --keep-positions 0 --shape batch=1 --shape sequence=16
"""

from .attention import (AttentionResult, LayerRecord, accumulate, attention, attention_head, defer_value_fetch,
                        keep_count, kv_budget_kept, paper_schedule, resolve_schedule, schedule_from_keys,
                        select_kv_budget, select_tokens)
from .config import FLAGS, Flag, SpAttenConfig
from .generation import Generation, Step, generate
from .kernels import (F32, dequantize, fake_quantize, gelu_erf, gelu_tanh, layer_norm, linear, pq_msb_value,
                      pq_split, quantize_rows, relu, row_bytes, softmax, topk)
from .loaders import from_onnx, from_torch, rotary_positions
from .attention import fill_fetches, keys_per_fill, kv_bits, pq_query_tiles
from .models import (LayerWeights, ModelWeights, PatchEmbedding, Result, bert_layer, encoder_layer, gpt2_layer, gpt2_outputs,
                     roberta_positions, run, run_inputs, run_layers, run_sequence)

__all__ = ["AttentionResult", "LayerRecord", "accumulate", "attention", "attention_head", "defer_value_fetch",
           "keep_count", "kv_budget_kept", "select_kv_budget", "fill_fetches", "pq_query_tiles", "keys_per_fill", "kv_bits", "paper_schedule", "resolve_schedule", "schedule_from_keys", "select_tokens", "FLAGS",
           "Flag", "SpAttenConfig", "Generation", "Step", "generate",
           "F32", "dequantize", "fake_quantize", "gelu_erf", "gelu_tanh", "layer_norm", "linear", "pq_msb_value",
           "pq_split", "quantize_rows", "relu", "row_bytes", "softmax", "topk", "from_onnx", "from_torch", "rotary_positions",
           "LayerWeights",
           "ModelWeights", "PatchEmbedding", "Result", "bert_layer", "encoder_layer", "gpt2_layer", "gpt2_outputs", "roberta_positions", "run", "run_inputs",
           "run_layers", "run_sequence"]

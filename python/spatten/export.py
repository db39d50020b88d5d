"""Export BERT-style and GPT-2-style transformers from PyTorch to ONNX.

The modules are written in plain torch with the structure of Hugging Face's
``BertModel`` and ``GPT2Model`` (no transformers dependency), so that
``torch.onnx.export`` produces the same node patterns a user's HF export does:

* BERT: token + position + token-type embeddings, LayerNorm (eps 1e-12),
  Q/K/V ``nn.Linear`` (MatMul+Add), per-head ``view``+``permute(0,2,1,3)``,
  K permuted ``(0,2,3,1)``, ``Div`` by sqrt(d), additive padding mask
  ``(1 - mask) * -10000``, Softmax, GELU (erf), FFN, optional tanh pooler;
  the modules are in :mod:`spatten.export_bert`.
* GPT-2: token + position embeddings, pre-LayerNorm (eps 1e-5), Conv1D
  (``addmm`` -> Gemm between Reshapes) with fused QKV and ``split``, causal
  mask by ``where(tril, w, -10000)``, GELU (tanh), final LayerNorm. The whole
  prompt is processed at once (no KV cache; ``gpt2-lm --past`` has one).
* transformer-encoder: ``torch.nn.TransformerEncoder`` of
  ``nn.TransformerEncoderLayer`` (post-norm, or pre-norm with ``norm_first``
  and then a final LayerNorm; ReLU or GELU; ``batch_first`` either way)
  behind token + learned position embeddings, exported as a user gets it:
  with autograd on, since PyTorch 1.13's eval "fast path"
  (``torch._transformer_encoder_layer_fwd``, nested tensors) has no ONNX
  export. ``nn.MultiheadAttention`` then emits its fused in-projection
  (MatMul by [H, 3H], Slice), heads as [B*H, L, d] 3-D MatMuls with Q
  scaled first, and the key padding mask through Where(mask, -inf, 0).
* llama: Hugging Face's ``LlamaForCausalLM`` (RMSNorm, rotary position
  embeddings, grouped-query attention with ``kv_heads`` K/V heads, SwiGLU,
  untied LM head); the modules are in :mod:`spatten.export_llama`.
* vit: Hugging Face's ``ViTModel`` (Conv2d patch embedding with stride =
  kernel, CLS token, learned position embeddings, pre-LN encoder, final
  LayerNorm) on float ``pixel_values``; the modules are in
  :mod:`spatten.export_vit`.
* gpt-neox: Hugging Face's ``GPTNeoXForCausalLM`` (Pythia: fused
  head-interleaved QKV, partial rotary embeddings on ``rotary_pct`` of each
  head, parallel residual, erf GELU, untied LM head); the modules are in
  :mod:`spatten.export_neox`.
* falcon: Hugging Face's ``FalconForCausalLM`` in Falcon-7B's architecture
  (multi-query attention from a fused ``[H + 2]``-head projection, rotary
  embeddings, parallel attention and MLP on one LayerNorm, tied LM head);
  the modules are in :mod:`spatten.export_falcon`.
* phi: Hugging Face's ``PhiForCausalLM`` (Phi-1.5 and Phi-2: separate
  projections with biases, a partial rotary embedding on ``rotary_pct`` of
  each head, attention and tanh-GELU MLP in parallel on one LayerNorm, an
  LM head with a bias); the modules are in :mod:`spatten.export_phi`.
* opt: Hugging Face's ``OPTForCausalLM`` (positions counted from
  ``attention_mask`` with an offset of 2, pre-LN, BART's attention, ReLU
  FFN, causal mask with the padding filled in, tied LM head); the modules
  are in :mod:`spatten.export_opt`.
* bart, t5: Hugging Face's encoder-decoders ``BartForConditionalGeneration``
  and ``T5ForConditionalGeneration`` on ``input_ids`` and
  ``decoder_input_ids``, in :mod:`spatten.export_encdec`.

Weights are drawn from a seeded generator, so a (config, seed) pair always
gives the same model; LayerNorm gains/biases are randomised too, so a test
catches a swapped gamma/beta.

Graph inputs are int64 ``[batch, sequence]`` (``input_ids``, and for BERT
``attention_mask``, ``token_type_ids``); the dynamic dimensions are named
``batch`` and ``sequence`` (bind them with ``spatten-compile --shape``).
ViT's input is float32 ``pixel_values [batch, channels, image_size,
image_size]`` with only ``batch`` dynamic.
The transformer encoder's optional ``key_padding_mask`` is int64 [batch,
sequence] with 1 at padding (PyTorch's convention), passed to the encoder as
``src_key_padding_mask=key_padding_mask.bool()``.

CLI::

    /usr/bin/python3 -m spatten.export bert --tiny -o model.onnx
    /usr/bin/python3 -m spatten.export gpt2 --base --opset 17 -o gpt2.onnx
    /usr/bin/python3 -m spatten.export gpt2-lm --tiny --past -o lm.onnx
    /usr/bin/python3 -m spatten.export llama --tiny --kv-heads 2 --opset 17 -o llama.onnx
    /usr/bin/python3 -m spatten.export opt --base -o opt.onnx
    /usr/bin/python3 -m spatten.export gpt-neox --base --padding-mask -o pythia.onnx
    /usr/bin/python3 -m spatten.export falcon --tiny -o falcon.onnx
    /usr/bin/python3 -m spatten.export phi --tiny --rotary-pct 0.25 -o phi.onnx
    /usr/bin/python3 -m spatten.export vit --tiny --image-size 32 --patch-size 8 -o vit.onnx
    /usr/bin/python3 -m spatten.export bart --tiny --opset 17 -o bart.onnx
    /usr/bin/python3 -m spatten.export t5 --activation gelu -o t5.onnx
    /usr/bin/python3 -m spatten.export transformer-encoder --norm-first --activation gelu \\
        --batch-first --key-padding-mask --opset 17 -o enc.onnx

``gpt2-lm`` is GPT-2 with Hugging Face's GPT2LMHeadModel head (``logits``
[batch, sequence, vocab], tied to the token embedding); ``--past`` adds
per-layer ``past_key_values.{i}.key/value`` inputs and ``present.{i}.key/
value`` outputs ([batch, heads, past, head_dim]), as a Hugging Face export
with past does (without its attention_mask input: generation runs batch 1
unpadded). A BERT config with ``mlm_head=True`` (and no pooler) ends in
Hugging Face's masked-LM head ``cls.predictions`` (output
``prediction_scores`` [batch, sequence, vocab], decoder tied to the word
embeddings), the head ``spatten.train`` trains.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .export_encdec import BartForConditionalGeneration, T5ForConditionalGeneration, decoder_length
from .export_bert import BertModel
from .export_falcon import FalconForCausalLM
from .export_llama import LlamaForCausalLM, LlamaRMSNorm
from .export_neox import GPTNeoXForCausalLM, rotary_dims
from .export_opt import OPTForCausalLM
from .export_phi import PhiForCausalLM
from .export_vit import ViTModel

SUPPORTED_OPSETS = (13, 14, 15, 16, 17)
KINDS = ("bert", "gpt2", "transformer-encoder", "llama", "gpt-neox", "falcon", "phi", "opt", "vit", "bart", "t5")
#: Decoder-only kinds with their own modules (input_ids, optional attention_mask; logits).
CAUSAL_LMS = ("llama", "gpt-neox", "falcon", "phi", "opt")
#: Kinds whose rotary embedding rotates ``rotary_pct`` of each head.
PARTIAL_ROTARY = ("gpt-neox", "phi")
#: Kinds with an encoder and a decoder (inputs input_ids, decoder_input_ids).
ENCODER_DECODER = ("bart", "t5")
#: How ``spatten.export bert`` builds its padding mask (:mod:`spatten.export_bert`).
MASK_STYLES = ("extended", "4d", "masked-fill")
DYNAMIC_DIMS = {"batch": 0, "sequence": 1}


@dataclasses.dataclass
class ModelConfig:
    """Model sizes. ``intermediate`` is the FFN width (4 * hidden for both
    families); ``max_positions`` bounds the sequence length (past included).
    GPT-2 only: ``lm_head`` adds the tied language-model head (output
    ``logits``); ``past`` (with ``lm_head``) adds the KV-cache inputs and
    outputs. Transformer encoder only: ``activation`` (``relu`` or
    ``gelu``; also T5's, ``gelu`` its gated-GELU FFN), ``norm_first``,
    ``batch_first`` and ``key_padding_mask`` (the
    mask input), as ``nn.TransformerEncoderLayer`` names them. LLaMA only:
    ``kv_heads`` (K/V heads of grouped-query attention; 0: ``heads``) and
    ``rope_theta`` (the rotary embedding's base; also BERT's with
    ``rotary`` and GPT-NeoX's), and ``padding_mask``, an ``attention_mask``
    input combined with the causal mask as transformers >= 4.36 does (also
    GPT-NeoX's, Falcon's and Phi's). GPT-NeoX and Phi only: ``rotary_pct``,
    the share of each head's columns that the rotary embedding rotates
    (Phi's ``partial_rotary_factor``). Falcon is multi-query: ``kv_heads``
    is 1. BERT only:
    ``rotary``, rotary position embeddings on Q and K (RoFormer, Su et al.
    2021, in LLaMA's half-split form) in place of the learned position
    table; ``mask_style``, how the padding mask is built
    (``extended``, ``4d`` or ``masked-fill``: :mod:`spatten.export_bert`);
    ``padding_idx``, RoBERTa's position ids counted from ``input_ids``
    (padding tokens are this id and keep it as their position; the others
    count from it + 1, so ``max_positions`` must exceed the sequence by
    padding_idx + 1).
    ViT only: ``image_size``
    (pixels per side), ``patch_size`` (pixels per patch side, the Conv's
    kernel and stride) and ``channels``."""

    kind: str  # one of KINDS
    layers: int
    hidden: int
    heads: int
    vocab: int
    max_positions: int
    intermediate: int = 0
    type_vocab: int = 2
    pooler: bool = False
    init_std: float = 0.02
    seed: int = 0
    lm_head: bool = False
    past: bool = False
    mlm_head: bool = False
    activation: str = "relu"
    norm_first: bool = False
    batch_first: bool = False
    key_padding_mask: bool = False
    kv_heads: int = 0
    rope_theta: float = 10000.0
    rotary_pct: float = 1.0
    padding_mask: bool = False
    rotary: bool = False
    mask_style: str = "extended"
    padding_idx: Optional[int] = None
    image_size: int = 32
    patch_size: int = 8
    channels: int = 3

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r} (expected one of {KINDS})")
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"unknown activation {self.activation!r} (expected relu or gelu)")
        encoder_only = self.norm_first or self.batch_first or self.key_padding_mask
        if encoder_only and self.kind != "transformer-encoder":
            raise ValueError("norm_first, batch_first and key_padding_mask are transformer-encoder options")
        if self.activation != "relu" and self.kind not in ("transformer-encoder", "t5"):
            raise ValueError("activation is a transformer-encoder and t5 option")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}")
        if not self.intermediate:
            self.intermediate = 4 * self.hidden
        if self.kind == "falcon":
            if self.kv_heads not in (0, 1):
                raise ValueError("falcon is multi-query: one K/V head (kv_heads 1)")
            self.kv_heads = 1
        if self.kv_heads and self.kv_heads != self.heads and self.kind not in ("llama", "falcon"):
            raise ValueError("kv_heads (grouped-query attention) is a llama option")
        if not self.kv_heads:
            self.kv_heads = self.heads
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not divisible by kv_heads {self.kv_heads}")
        if self.mask_style not in MASK_STYLES:
            raise ValueError(f"unknown mask style {self.mask_style!r} (expected one of {MASK_STYLES})")
        if self.mask_style != "extended" and self.kind != "bert":
            raise ValueError("mask_style is a bert option")
        if self.padding_mask and self.kind not in ("llama", "gpt-neox", "falcon", "phi"):
            raise ValueError("padding_mask is a llama, gpt-neox, falcon and phi option (bert always has its "
                             "attention_mask)")
        if self.padding_idx is not None and (self.kind != "bert" or self.rotary):
            raise ValueError("padding_idx (RoBERTa's position ids) is a bert option without rotary")
        if self.rotary and self.kind != "bert":
            raise ValueError("rotary is a bert option (llama always has it)")
        if (self.kind in ("llama", "falcon") or self.rotary) and (self.hidden // self.heads) % 2:
            raise ValueError(f"the rotary embedding needs an even head_dim, not {self.hidden // self.heads}")
        if self.rotary_pct != 1.0 and self.kind not in PARTIAL_ROTARY:
            raise ValueError("rotary_pct is a gpt-neox and phi option")
        if self.kind in PARTIAL_ROTARY and (rotary_dims(self) < 2 or rotary_dims(self) % 2):
            raise ValueError(f"rotary_pct {self.rotary_pct} of head_dim {self.hidden // self.heads} rotates "
                             f"{rotary_dims(self)} columns; the rotary embedding needs an even number, at least 2")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not divisible by patch_size {self.patch_size}")
        if (self.lm_head or self.past) and self.kind != "gpt2":
            raise ValueError("a language-model head and a KV cache are GPT-2 options")
        if self.past and not self.lm_head:
            raise ValueError("past key values need the language-model head (gpt2-lm)")
        if self.mlm_head and (self.kind != "bert" or self.pooler):
            raise ValueError("the masked-LM head is a BERT option without the pooler")

    @property
    def ln_eps(self) -> float:
        return {"bert": 1e-12, "vit": 1e-12, "llama": 1e-6, "t5": 1e-6}.get(self.kind, 1e-5)

    @property
    def patches(self) -> int:
        """ViT: image patches (the sequence is one more, the CLS token)."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def input_names(self) -> List[str]:
        if self.kind == "bert":
            return ["input_ids", "attention_mask", "token_type_ids"]
        if self.kind == "transformer-encoder":
            return ["input_ids"] + (["key_padding_mask"] if self.key_padding_mask else [])
        if self.kind == "vit":
            return ["pixel_values"]
        if self.kind in ENCODER_DECODER:
            return ["input_ids", "decoder_input_ids"]
        if self.padding_mask or self.kind == "opt":
            return ["input_ids", "attention_mask"]
        return ["input_ids"] + self.cache_names("past_key_values")

    @property
    def output_names(self) -> List[str]:
        if self.kind == "bert":
            if self.mlm_head:
                return ["prediction_scores"]
            return ["last_hidden_state", "pooler_output"] if self.pooler else ["last_hidden_state"]
        if self.lm_head or self.kind in (*CAUSAL_LMS, *ENCODER_DECODER):
            return ["logits"] + self.cache_names("present")
        return ["last_hidden_state"]

    def cache_names(self, prefix: str) -> List[str]:
        """Hugging Face's KV-cache names, ``{prefix}.{layer}.key`` then
        ``.value`` per layer; none without ``past``."""
        if not self.past:
            return []
        return [f"{prefix}.{i}.{t}" for i in range(self.layers) for t in ("key", "value")]


def tiny_config(kind: str, seed: int = 0, **over) -> ModelConfig:
    """2 layers, hidden 32, 4 heads, vocab 99: seconds to export and compile
    (LLaMA: 2 K/V heads, SwiGLU width 64; GPT-NeoX and Phi: rotary on half
    of each head, 4 of 8 columns; ViT: hidden 64, 2 heads on a
    32x32 image of 8x8 patches, sequence 17). A larger init std than HF's 0.02
    keeps the softmax far from uniform, so a wrong scale or mask changes the
    outputs visibly."""
    base = dict(kind=kind, layers=2, hidden=32, heads=4, vocab=99, max_positions=64,
                init_std=0.1, seed=seed, pooler=(kind == "bert"))
    if kind == "llama":
        base.update(kv_heads=2, intermediate=64)
    if kind in PARTIAL_ROTARY:
        base.update(rotary_pct=0.5)
    if kind == "vit":
        base.update(hidden=64, heads=2)
    base.update(over)
    return ModelConfig(**base)


def base_config(kind: str, seed: int = 0, **over) -> ModelConfig:
    """BERT-base (12/768/12, vocab 30522, 512 positions; the transformer
    encoder too), GPT-2 small (12/768/12, vocab 50257, 1024 positions), OPT-125M
    (12/768/12, vocab 50272, 2048 positions), Pythia-160M (12/768/12, vocab
    50304, 2048 positions, rotary on a quarter of each head), or a Falcon
    (vocab 65024, 2048 positions), a Phi (Phi-1.5's vocab 51200 and rotary
    on half of each head) or a LLaMA (4 K/V heads, SwiGLU width 2048, vocab
    32000) of GPT-2 small's size."""
    if kind == "llama":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, kv_heads=4, vocab=32000,
                    max_positions=1024, intermediate=2048)
    elif kind == "opt":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=50272, max_positions=2048)
    elif kind == "phi":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=51200, max_positions=2048, rotary_pct=0.5)
    elif kind == "falcon":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=65024, max_positions=2048)
    elif kind == "gpt-neox":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=50304, max_positions=2048, rotary_pct=0.25)
    elif kind != "gpt2":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=30522, max_positions=512, pooler=True)
    else:
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=50257, max_positions=1024)
    base.update(seed=seed)
    base.update(over)
    return ModelConfig(**base)


def medium_config(kind: str, seed: int = 0, **over) -> ModelConfig:
    """BERT-large or GPT-2 medium: ``base_config`` with 24 layers, hidden
    1024 and 16 heads (heads of 64 as in base)."""
    return base_config(kind, seed=seed, **{"layers": 24, "hidden": 1024, "heads": 16, **over})


#: ``export``'s sizes.
CONFIGS = {"tiny": tiny_config, "base": base_config, "medium": medium_config}


# ----------------------------------------------------------------------------- GPT-2

class Conv1D(nn.Module):
    """HF's GPT-2 Conv1D: weight [in, out], ``addmm`` on the flattened rows, so
    the export is Reshape -> Gemm -> Reshape."""

    def __init__(self, nx: int, nf: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size_out = x.size()[:-1] + (self.weight.shape[1],)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


class GPT2Attention(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.heads, self.head_dim, self.hidden = c.heads, c.hidden // c.heads, c.hidden
        n = c.max_positions
        self.register_buffer("bias", torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n),
                             persistent=False)
        self.register_buffer("masked_bias", torch.tensor(-10000.0), persistent=False)
        self.c_attn = Conv1D(c.hidden, 3 * c.hidden)
        self.c_proj = Conv1D(c.hidden, c.hidden)

    def split_heads(self, x: torch.Tensor, perm) -> torch.Tensor:
        b, l, _ = x.shape
        return x.view(b, l, self.heads, self.head_dim).permute(*perm)

    def forward(self, x: torch.Tensor, layer_past: Optional[Tuple[torch.Tensor, torch.Tensor]] = None):
        """x [b, l, hidden] -> [b, l, hidden]; with ``layer_past`` (K, V
        [b, heads, past, head_dim]) also returns ``present``, the cache with
        this call's rows appended. Without a past, K is transposed directly
        (one permute), the pattern the importer lifts."""
        q, k, v = self.c_attn(x).split(self.hidden, dim=2)
        q = self.split_heads(q, (0, 2, 1, 3))
        if layer_past is None:
            k_t = self.split_heads(k, (0, 2, 3, 1))
            v = self.split_heads(v, (0, 2, 1, 3))
        else:
            k = torch.cat((layer_past[0], self.split_heads(k, (0, 2, 1, 3))), dim=2)
            v = torch.cat((layer_past[1], self.split_heads(v, (0, 2, 1, 3))), dim=2)
            k_t = k.transpose(-1, -2)
        w = torch.matmul(q, k_t) / math.sqrt(self.head_dim)
        nd, ns = w.size(-2), w.size(-1)
        causal = self.bias[:, :, ns - nd:ns, :ns]
        w = torch.where(causal, w, self.masked_bias)
        a = torch.matmul(torch.softmax(w, dim=-1), v)
        b, _, l, _ = a.shape
        out = self.c_proj(a.permute(0, 2, 1, 3).contiguous().view(b, l, self.hidden))
        return out if layer_past is None else (out, (k, v))


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """HF ``gelu_new`` (GPT-2): tanh approximation, written out as exported."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Block(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.attn = GPT2Attention(c)
        self.ln_2 = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.c_fc = Conv1D(c.hidden, c.intermediate)
        self.c_proj = Conv1D(c.intermediate, c.hidden)

    def forward(self, x: torch.Tensor, layer_past=None):
        """Returns the block output, and ``present`` when given ``layer_past``."""
        a = self.attn(self.ln_1(x), layer_past)
        present = None
        if layer_past is not None:
            a, present = a
        x = x + a
        x = x + self.c_proj(gelu_tanh(self.c_fc(self.ln_2(x))))
        return x if layer_past is None else (x, present)


class GPT2Model(nn.Module):
    """Input int64 input_ids [batch, sequence]; output last_hidden_state
    [batch, sequence, hidden] after the final LayerNorm."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self.wte = nn.Embedding(c.vocab, c.hidden)
        self.wpe = nn.Embedding(c.max_positions, c.hidden)
        self.register_buffer("position_ids", torch.arange(c.max_positions).unsqueeze(0), persistent=False)
        self.h = nn.ModuleList(GPT2Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, input_ids):
        x = self.wte(input_ids) + self.wpe(self.position_ids[:, :input_ids.shape[1]])
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def forward_cached(self, input_ids, past: Sequence[Tuple[torch.Tensor, torch.Tensor]]):
        """The new tokens input_ids [b, l] after ``past`` (per layer K, V
        [b, heads, past, head_dim]): positions continue from the past
        length. Returns (hidden [b, l, hidden], presents: per layer K, V
        [b, heads, past + l, head_dim])."""
        start = past[0][0].shape[2]
        x = self.wte(input_ids) + self.wpe(self.position_ids[:, start:start + input_ids.shape[1]])
        presents = []
        for block, layer_past in zip(self.h, past):
            x, present = block(x, layer_past)
            presents.append(present)
        return self.ln_f(x), presents


class GPT2LMHeadModel(nn.Module):
    """GPT-2 with its language-model head, as Hugging Face's
    GPT2LMHeadModel: ``logits = ln_f(h) @ wte^T`` (the head is tied to the
    token embedding, no bias). Output logits [batch, sequence, vocab].

    With ``config.past`` the forward also takes ``past_key_values`` (per
    layer K then V, [batch, heads, past, head_dim]) and returns each
    layer's ``present`` after the logits, the inputs and outputs of a
    Hugging Face export with past (names in :class:`ModelConfig`)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self.transformer = GPT2Model(c)
        self.lm_head = nn.Linear(c.hidden, c.vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def step(self, input_ids, past: Optional[Sequence[Tuple[torch.Tensor, torch.Tensor]]] = None):
        """input_ids [b, l] after ``past`` (None: an empty cache) -> (logits
        [b, l, vocab], presents). The one call greedy generation makes per
        step."""
        if past is None:
            c = self.config
            empty = torch.zeros(input_ids.shape[0], c.heads, 0, c.hidden // c.heads)
            past = [(empty, empty)] * c.layers
        h, presents = self.transformer.forward_cached(input_ids, past)
        return self.lm_head(h), presents

    def forward(self, input_ids, *past_key_values):
        if not self.config.past:
            return self.lm_head(self.transformer(input_ids))
        past = list(zip(past_key_values[0::2], past_key_values[1::2]))
        logits, presents = self.step(input_ids, past)
        return (logits, *[t for kv in presents for t in kv])


# ----------------------------------------------------------------------------- nn.TransformerEncoder

class TransformerEncoderModel(nn.Module):
    """Token + learned position embeddings, then ``nn.TransformerEncoder``
    (pre-norm with a final LayerNorm). Inputs int64 input_ids [batch,
    sequence] (+ key_padding_mask, 1 at padding); output last_hidden_state
    [batch, sequence, hidden]. With ``batch_first=False`` the encoder runs on
    [sequence, batch, hidden], as a sequence-first user calls it."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self.embeddings = nn.Embedding(c.vocab, c.hidden)
        self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.register_buffer("position_ids", torch.arange(c.max_positions).unsqueeze(0), persistent=False)
        layer = nn.TransformerEncoderLayer(c.hidden, c.heads, c.intermediate, activation=c.activation,
                                           layer_norm_eps=c.ln_eps, batch_first=c.batch_first,
                                           norm_first=c.norm_first)
        final = nn.LayerNorm(c.hidden, eps=c.ln_eps) if c.norm_first else None
        self.encoder = nn.TransformerEncoder(layer, c.layers, norm=final)

    def forward(self, input_ids, key_padding_mask=None):
        x = self.embeddings(input_ids) + self.position_embeddings(self.position_ids[:, :input_ids.shape[1]])
        pad = None if key_padding_mask is None else key_padding_mask.bool()
        if self.config.batch_first:
            return self.encoder(x, src_key_padding_mask=pad)
        return self.encoder(x.transpose(0, 1), src_key_padding_mask=pad).transpose(0, 1)


# ----------------------------------------------------------------------------- API

#: The top module of each family but GPT-2 (with or without its LM head).
FAMILY_MODULES = {"bert": BertModel, "transformer-encoder": TransformerEncoderModel, "llama": LlamaForCausalLM,
                  "gpt-neox": GPTNeoXForCausalLM, "falcon": FalconForCausalLM, "phi": PhiForCausalLM,
                  "opt": OPTForCausalLM, "vit": ViTModel, "bart": BartForConditionalGeneration, "t5": T5ForConditionalGeneration}


def build_model(cfg: ModelConfig) -> nn.Module:
    """Builds the model in eval mode with seeded weights (normal(0, init_std);
    LayerNorm gain 1 + N(0, 0.1), biases N(0, init_std))."""
    gen = torch.Generator().manual_seed(cfg.seed)
    family = FAMILY_MODULES.get(cfg.kind) or (GPT2LMHeadModel if cfg.lm_head else GPT2Model)
    model = family(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if isinstance(_owner(model, name), (nn.LayerNorm, LlamaRMSNorm)) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(cfg.init_std * noise)
    return model.eval()


def _owner(model: nn.Module, param_name: str) -> nn.Module:
    return model.get_submodule(param_name.rsplit(".", 1)[0]) if "." in param_name else model


def make_inputs(cfg: ModelConfig, batch: int = 1, seq_len: int = 8, seed: int = 0,
                past_len: int = 0) -> Dict[str, np.ndarray]:
    """Seeded int64 inputs. For BERT the last quarter (at least one position)
    of the last batch row is padding (mask 0) when seq_len >= 3, so the
    padding path is exercised. With ``cfg.past``, seeded normal fp32 past
    keys and values [batch, heads, past_len, head_dim]. The transformer
    encoder's key_padding_mask (if any) pads like BERT's mask (1 = padding).
    ViT: standard-normal float32 pixel_values (``seq_len`` unused)."""
    if seq_len + past_len > cfg.max_positions:
        raise ValueError(f"seq_len {seq_len} + past_len {past_len} exceeds max_positions {cfg.max_positions}")
    if cfg.padding_idx is not None and seq_len + cfg.padding_idx >= cfg.max_positions:
        raise ValueError(f"seq_len {seq_len} needs max_positions above {seq_len + cfg.padding_idx} "
                         f"with padding_idx {cfg.padding_idx}")
    rng = np.random.default_rng(seed)
    if cfg.kind == "vit":
        shape = (batch, cfg.channels, cfg.image_size, cfg.image_size)
        return {"pixel_values": rng.standard_normal(shape).astype(np.float32)}
    ids = rng.integers(0, cfg.vocab, size=(batch, seq_len), dtype=np.int64)
    if cfg.kind in CAUSAL_LMS:
        padded = cfg.padding_mask or cfg.kind == "opt"
        return {"input_ids": ids, **({"attention_mask": padding_mask(batch, seq_len)} if padded else {})}
    if cfg.kind in ENCODER_DECODER:
        target = rng.integers(0, cfg.vocab, size=(batch, decoder_length(seq_len)), dtype=np.int64)
        return {"input_ids": ids, "decoder_input_ids": target}
    if cfg.kind == "transformer-encoder":
        out = {"input_ids": ids}
        if cfg.key_padding_mask:
            pad = np.zeros((batch, seq_len), dtype=np.int64)
            if seq_len >= 3:
                pad[-1, seq_len - max(1, seq_len // 4):] = 1
            out["key_padding_mask"] = pad
        return out
    if cfg.kind == "gpt2":
        shape = (batch, cfg.heads, past_len, cfg.hidden // cfg.heads)
        past = {n: rng.standard_normal(shape).astype(np.float32) for n in cfg.cache_names("past_key_values")}
        return {"input_ids": ids, **past}
    types = np.zeros((batch, seq_len), dtype=np.int64)
    types[:, seq_len // 2:] = min(1, cfg.type_vocab - 1)
    mask = padding_mask(batch, seq_len)
    if cfg.padding_idx is not None:  # RoBERTa: padding is the padding id, and only padding is
        ids[ids == cfg.padding_idx] = (cfg.padding_idx + 1) % cfg.vocab
        ids[mask == 0] = cfg.padding_idx
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def padding_mask(batch: int, seq_len: int) -> np.ndarray:
    """int64 [batch, seq_len], 1 where a token is attended: the last
    quarter (at least one position) of the last row is padding (0) when
    seq_len >= 3."""
    mask = np.ones((batch, seq_len), dtype=np.int64)
    if seq_len >= 3:
        mask[-1, seq_len - max(1, seq_len // 4):] = 0
    return mask


def torch_outputs(model: nn.Module, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Runs the PyTorch model (fp32, eval) and names its outputs like the export."""
    cfg: ModelConfig = model.config
    args = tuple(torch.from_numpy(inputs[n]) for n in cfg.input_names)
    with torch.no_grad():
        out = model(*args)
    out = out if isinstance(out, tuple) else (out,)
    return {n: o.numpy() for n, o in zip(cfg.output_names, out)}


def export_onnx(model: nn.Module, path: str, opset: int = 14, batch: int = 1, seq_len: int = 8) -> str:
    """Writes ``path`` with ``torch.onnx.export``; batch and sequence are
    dynamic axes named ``batch`` and ``sequence`` (with a KV cache also
    ``past_sequence`` and ``total_sequence``, the past's and the present's
    length). Raises ValueError for an opset torch 1.13 cannot target."""
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"opset {opset} is not supported (choose one of {SUPPORTED_OPSETS})")
    cfg: ModelConfig = model.config
    # A past as long as the new rows would let the tracer confuse the two.
    sample = make_inputs(cfg, batch=batch, seq_len=seq_len, seed=cfg.seed, past_len=seq_len + 1 if cfg.past else 0)
    args = tuple(torch.from_numpy(sample[n]) for n in cfg.input_names)
    dyn = {n: {0: "batch", 1: "sequence"} for n in cfg.input_names if not n.startswith("past_key_values")}
    dyn.update({n: {0: "batch", 2: "past_sequence"} for n in cfg.cache_names("past_key_values")})
    dyn.update({n: {0: "batch", 2: "total_sequence"} for n in cfg.cache_names("present")})
    dyn[cfg.output_names[0]] = {0: "batch", 1: "sequence"}
    if cfg.kind == "vit":
        dyn = {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}}
    if cfg.kind in ENCODER_DECODER:
        dyn["decoder_input_ids"] = dyn["logits"] = {0: "batch", 1: "decoder_sequence"}
    if "pooler_output" in cfg.output_names:
        dyn["pooler_output"] = {0: "batch"}
    # The encoder's fast path (taken without autograd) cannot be exported.
    grad = torch.enable_grad() if cfg.kind == "transformer-encoder" else torch.no_grad()
    with grad:
        torch.onnx.export(model, args, path, input_names=cfg.input_names, output_names=cfg.output_names,
                          dynamic_axes=dyn, opset_version=opset, do_constant_folding=True)
    return path


def roberta_options(bert: ModelConfig, over: Dict) -> Dict:
    """``over`` with RoBERTa's differences from ``bert``: position ids
    counted from input_ids with padding_idx 1, so two more positions, and
    one token type."""
    return {"padding_idx": 1, "type_vocab": 1, "max_positions": bert.max_positions + 2, **over}


def export(kind: str, path: str, size: str = "tiny", opset: int = 14, seed: int = 0,
           batch: int = 1, seq_len: int = 8, **over) -> nn.Module:
    """One-call export; returns the PyTorch model (for ``torch_outputs``).
    ``kind``: ``bert``, ``roberta`` (BERT with RoBERTa's position ids and
    one token type: :func:`roberta_options`), ``gpt2``, ``gpt2-lm`` (GPT-2 with the LM head;
    ``past=True`` adds the KV cache), ``transformer-encoder``, ``llama``, ``gpt-neox``, ``falcon``, ``phi``,
    ``opt``, ``vit``, ``bart`` or ``t5``;
    ``size``: a key of ``CONFIGS``.
    Raises ValueError for an unknown size or a bad configuration."""
    if kind == "gpt2-lm":
        kind, over = "gpt2", {**over, "lm_head": True}
    if size not in CONFIGS:
        raise ValueError(f"unknown size {size!r} (expected one of {tuple(CONFIGS)})")
    if kind == "roberta":
        kind, over = "bert", roberta_options(CONFIGS[size]("bert"), over)
    cfg = CONFIGS[size](kind, seed=seed, **over)
    model = build_model(cfg)
    export_onnx(model, path, opset=opset, batch=batch, seq_len=seq_len)
    return model


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.export",
                                 description="Export a BERT-, RoBERTa-, GPT-2-, LLaMA-, GPT-NeoX-, Falcon-, Phi-, OPT-, "
                                             "ViT-, BART-, T5- or nn.TransformerEncoder model to ONNX.")
    ap.add_argument("kind", choices=["bert", "roberta", "gpt2", "gpt2-lm", "transformer-encoder", "llama", "gpt-neox",
                                     "falcon", "phi", "opt", "vit", "bart", "t5"])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--tiny", dest="size", action="store_const", const="tiny", help="2 layers, hidden 32 (default)")
    size.add_argument("--base", dest="size", action="store_const", const="base", help="BERT-base / GPT-2 small")
    size.add_argument("--medium", dest="size", action="store_const", const="medium",
                      help="BERT-large / GPT-2 medium (24 layers, hidden 1024, 16 heads)")
    ap.set_defaults(size="tiny")
    ap.add_argument("-o", "--output", required=True, help="output .onnx path")
    ap.add_argument("--opset", type=int, default=14, choices=SUPPORTED_OPSETS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", type=int, dest="kv_heads", help="llama: K/V heads (grouped-query attention)")
    ap.add_argument("--padding-mask", action="store_true", dest="padding_mask",
                    help="llama, gpt-neox, falcon, phi: an attention_mask input, combined with the causal mask as "
                         "transformers >= 4.36 does")
    ap.add_argument("--rotary-pct", type=float, dest="rotary_pct",
                    help="gpt-neox, phi: the share of each head's columns the rotary embedding rotates")
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--max-positions", type=int, dest="max_positions")
    ap.add_argument("--seq-len", type=int, default=8, help="sequence length of the tracing sample")
    ap.add_argument("--no-pooler", action="store_true", help="BERT: leave out the tanh pooler")
    ap.add_argument("--mask-style", choices=MASK_STYLES, dest="mask_style",
                    help="BERT: the padding mask as Hugging Face exports it: extended (1 - mask) * -10000 "
                         "(default), 4d (transformers >= 4.36) or masked-fill (DistilBERT)")
    ap.add_argument("--past", action="store_true",
                    help="gpt2-lm: past_key_values inputs and present outputs (dynamic past length)")
    ap.add_argument("--image-size", type=int, dest="image_size", help="vit: pixels per image side")
    ap.add_argument("--patch-size", type=int, dest="patch_size", help="vit: pixels per patch side")
    enc = ap.add_argument_group("transformer-encoder")
    enc.add_argument("--activation", choices=["relu", "gelu"], help="the FFN activation (t5: gelu is the gated-GELU FFN)")
    enc.add_argument("--norm-first", action="store_true", help="pre-norm layers and a final LayerNorm")
    enc.add_argument("--batch-first", action="store_true", help="the encoder runs on [batch, sequence, hidden]")
    enc.add_argument("--key-padding-mask", action="store_true",
                     help="a key_padding_mask input (int64, 1 at padding)")
    args = ap.parse_args(argv)
    over = {k: getattr(args, k) for k in ("layers", "hidden", "heads", "kv_heads", "vocab", "max_positions",
                                           "image_size", "patch_size", "mask_style", "rotary_pct")
            if getattr(args, k) is not None}
    if args.no_pooler:
        over["pooler"] = False
    if args.past:
        over["past"] = True
    for flag in ("norm_first", "batch_first", "key_padding_mask", "padding_mask"):
        if getattr(args, flag):
            over[flag] = True
    if args.activation:
        over["activation"] = args.activation
    try:
        export(args.kind, args.output, size=args.size, opset=args.opset, seed=args.seed,
               seq_len=args.seq_len, **over)
    except ValueError as e:
        print(f"spatten.export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

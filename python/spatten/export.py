"""Export BERT-style and GPT-2-style transformers from PyTorch to ONNX.

The modules are written in plain torch with the structure of Hugging Face's
``BertModel`` and ``GPT2Model`` (no transformers dependency), so that
``torch.onnx.export`` produces the same node patterns a user's HF export does:

* BERT: token + position + token-type embeddings, LayerNorm (eps 1e-12),
  Q/K/V ``nn.Linear`` (MatMul+Add), per-head ``view``+``permute(0,2,1,3)``,
  K permuted ``(0,2,3,1)``, ``Div`` by sqrt(d), additive padding mask
  ``(1 - mask) * -10000``, Softmax, GELU (erf), FFN, optional tanh pooler.
* GPT-2: token + position embeddings, pre-LayerNorm (eps 1e-5), Conv1D
  (``addmm`` -> Gemm between Reshapes) with fused QKV and ``split``, causal
  mask by ``where(tril, w, -10000)``, GELU (tanh), final LayerNorm. The whole
  prompt is processed at once (no KV cache).

Weights are drawn from a seeded generator, so a (config, seed) pair always
gives the same model; LayerNorm gains/biases are randomised too, so a test
catches a swapped gamma/beta.

Graph inputs are int64 ``[batch, sequence]`` (``input_ids``, and for BERT
``attention_mask``, ``token_type_ids``); the dynamic dimensions are named
``batch`` and ``sequence`` (bind them with ``spatten-compile --shape``).

CLI::

    /usr/bin/python3 -m spatten.export bert --tiny -o model.onnx
    /usr/bin/python3 -m spatten.export gpt2 --base --opset 17 -o gpt2.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

SUPPORTED_OPSETS = (13, 14, 15, 16, 17)
DYNAMIC_DIMS = {"batch": 0, "sequence": 1}


@dataclasses.dataclass
class ModelConfig:
    """Model sizes. ``intermediate`` is the FFN width (4 * hidden for both
    families); ``max_positions`` bounds the sequence length."""

    kind: str  # "bert" or "gpt2"
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

    def __post_init__(self):
        if self.kind not in ("bert", "gpt2"):
            raise ValueError(f"unknown model kind {self.kind!r} (expected bert or gpt2)")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}")
        if not self.intermediate:
            self.intermediate = 4 * self.hidden

    @property
    def ln_eps(self) -> float:
        return 1e-12 if self.kind == "bert" else 1e-5

    @property
    def input_names(self) -> List[str]:
        return ["input_ids", "attention_mask", "token_type_ids"] if self.kind == "bert" else ["input_ids"]

    @property
    def output_names(self) -> List[str]:
        if self.kind == "bert":
            return ["last_hidden_state", "pooler_output"] if self.pooler else ["last_hidden_state"]
        return ["last_hidden_state"]


def tiny_config(kind: str, seed: int = 0, **over) -> ModelConfig:
    """2 layers, hidden 32, 4 heads, vocab 99: seconds to export and compile.
    A larger init std than HF's 0.02 keeps the softmax far from uniform, so a
    wrong scale or mask changes the outputs visibly."""
    base = dict(kind=kind, layers=2, hidden=32, heads=4, vocab=99, max_positions=64,
                init_std=0.1, seed=seed, pooler=(kind == "bert"))
    base.update(over)
    return ModelConfig(**base)


def base_config(kind: str, seed: int = 0, **over) -> ModelConfig:
    """BERT-base (12/768/12, vocab 30522, 512 positions) or GPT-2 small
    (12/768/12, vocab 50257, 1024 positions)."""
    if kind == "bert":
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=30522, max_positions=512, pooler=True)
    else:
        base = dict(kind=kind, layers=12, hidden=768, heads=12, vocab=50257, max_positions=1024)
    base.update(seed=seed)
    base.update(over)
    return ModelConfig(**base)


# ----------------------------------------------------------------------------- BERT

class BertSelfAttention(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)

    def split_heads(self, x: torch.Tensor, perm) -> torch.Tensor:
        b, l, _ = x.shape
        return x.view(b, l, self.heads, self.head_dim).permute(*perm)

    def forward(self, x: torch.Tensor, mask_add: torch.Tensor) -> torch.Tensor:
        q = self.split_heads(self.query(x), (0, 2, 1, 3))
        k_t = self.split_heads(self.key(x), (0, 2, 3, 1))  # [b, h, d, l]
        v = self.split_heads(self.value(x), (0, 2, 1, 3))
        scores = torch.matmul(q, k_t) / math.sqrt(self.head_dim) + mask_add
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, _, l, _ = ctx.shape
        return ctx.permute(0, 2, 1, 3).contiguous().view(b, l, self.heads * self.head_dim)


class BertLayer(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.attention = BertSelfAttention(c)
        self.attn_out = nn.Linear(c.hidden, c.hidden)
        self.attn_ln = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.intermediate = nn.Linear(c.hidden, c.intermediate)
        self.output = nn.Linear(c.intermediate, c.hidden)
        self.out_ln = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, x: torch.Tensor, mask_add: torch.Tensor) -> torch.Tensor:
        x = self.attn_ln(x + self.attn_out(self.attention(x, mask_add)))
        h = nn.functional.gelu(self.intermediate(x))  # erf form, as HF "gelu"
        return self.out_ln(x + self.output(h))


class BertModel(nn.Module):
    """Inputs int64 [batch, sequence]; outputs last_hidden_state
    [batch, sequence, hidden] (+ pooler_output [batch, hidden])."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self.word_embeddings = nn.Embedding(c.vocab, c.hidden)
        self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.type_vocab, c.hidden)
        self.emb_ln = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.register_buffer("position_ids", torch.arange(c.max_positions).unsqueeze(0), persistent=False)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.layers))
        self.pooler = nn.Linear(c.hidden, c.hidden) if c.pooler else None

    def forward(self, input_ids, attention_mask, token_type_ids):
        seq = input_ids.shape[1]
        x = (self.word_embeddings(input_ids) + self.position_embeddings(self.position_ids[:, :seq])
             + self.token_type_embeddings(token_type_ids))
        x = self.emb_ln(x)
        mask_add = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_add)
        if self.pooler is None:
            return x
        return x, torch.tanh(self.pooler(x[:, 0]))


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.c_attn(x).split(self.hidden, dim=2)
        q = self.split_heads(q, (0, 2, 1, 3))
        k_t = self.split_heads(k, (0, 2, 3, 1))
        v = self.split_heads(v, (0, 2, 1, 3))
        w = torch.matmul(q, k_t) / math.sqrt(self.head_dim)
        nd, ns = w.size(-2), w.size(-1)
        causal = self.bias[:, :, ns - nd:ns, :ns]
        w = torch.where(causal, w, self.masked_bias)
        a = torch.matmul(torch.softmax(w, dim=-1), v)
        b, _, l, _ = a.shape
        return self.c_proj(a.permute(0, 2, 1, 3).contiguous().view(b, l, self.hidden))


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(gelu_tanh(self.c_fc(self.ln_2(x))))


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


# ----------------------------------------------------------------------------- API

def build_model(cfg: ModelConfig) -> nn.Module:
    """Builds the model in eval mode with seeded weights (normal(0, init_std);
    LayerNorm gain 1 + N(0, 0.1), biases N(0, init_std))."""
    gen = torch.Generator().manual_seed(cfg.seed)
    model = BertModel(cfg) if cfg.kind == "bert" else GPT2Model(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if isinstance(_owner(model, name), nn.LayerNorm) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(cfg.init_std * noise)
    return model.eval()


def _owner(model: nn.Module, param_name: str) -> nn.Module:
    return model.get_submodule(param_name.rsplit(".", 1)[0]) if "." in param_name else model


def make_inputs(cfg: ModelConfig, batch: int = 1, seq_len: int = 8, seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded int64 inputs. For BERT the last quarter (at least one position)
    of the last batch row is padding (mask 0) when seq_len >= 3, so the
    padding path is exercised."""
    if seq_len > cfg.max_positions:
        raise ValueError(f"seq_len {seq_len} exceeds max_positions {cfg.max_positions}")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, cfg.vocab, size=(batch, seq_len), dtype=np.int64)
    if cfg.kind == "gpt2":
        return {"input_ids": ids}
    mask = np.ones((batch, seq_len), dtype=np.int64)
    if seq_len >= 3:
        mask[-1, seq_len - max(1, seq_len // 4):] = 0
    types = np.zeros((batch, seq_len), dtype=np.int64)
    types[:, seq_len // 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


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
    dynamic axes named ``batch`` and ``sequence``. Raises ValueError for an
    opset torch 1.13 cannot target."""
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"opset {opset} is not supported (choose one of {SUPPORTED_OPSETS})")
    cfg: ModelConfig = model.config
    sample = make_inputs(cfg, batch=batch, seq_len=seq_len, seed=cfg.seed)
    args = tuple(torch.from_numpy(sample[n]) for n in cfg.input_names)
    dyn = {n: {0: "batch", 1: "sequence"} for n in cfg.input_names}
    dyn["last_hidden_state"] = {0: "batch", 1: "sequence"}
    if "pooler_output" in cfg.output_names:
        dyn["pooler_output"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(model, args, path, input_names=cfg.input_names, output_names=cfg.output_names,
                          dynamic_axes=dyn, opset_version=opset, do_constant_folding=True)
    return path


def export(kind: str, path: str, size: str = "tiny", opset: int = 14, seed: int = 0,
           batch: int = 1, seq_len: int = 8, **over) -> nn.Module:
    """One-call export; returns the PyTorch model (for ``torch_outputs``)."""
    cfg = (tiny_config if size == "tiny" else base_config)(kind, seed=seed, **over)
    model = build_model(cfg)
    export_onnx(model, path, opset=opset, batch=batch, seq_len=seq_len)
    return model


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.export", description="Export a BERT- or GPT-2-style model to ONNX.")
    ap.add_argument("kind", choices=["bert", "gpt2"])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--tiny", dest="size", action="store_const", const="tiny", help="2 layers, hidden 32 (default)")
    size.add_argument("--base", dest="size", action="store_const", const="base", help="BERT-base / GPT-2 small")
    ap.set_defaults(size="tiny")
    ap.add_argument("-o", "--output", required=True, help="output .onnx path")
    ap.add_argument("--opset", type=int, default=14, choices=SUPPORTED_OPSETS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--max-positions", type=int, dest="max_positions")
    ap.add_argument("--seq-len", type=int, default=8, help="sequence length of the tracing sample")
    ap.add_argument("--no-pooler", action="store_true", help="BERT: leave out the tanh pooler")
    args = ap.parse_args(argv)
    over = {k: getattr(args, k) for k in ("layers", "hidden", "heads", "vocab", "max_positions")
            if getattr(args, k) is not None}
    if args.no_pooler:
        over["pooler"] = False
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

"""Train small GPT-2 (causal LM, tied LM head) and BERT (masked LM) models
on the English corpus of :mod:`spatten.corpus` (docs/Accuracy.md).

The models are :mod:`spatten.export`'s modules (``GPT2LMHeadModel``;
``BertModel`` with its ``cls.predictions`` head), so the trained ONNX
exports go through the importer paths of Hugging Face exports.

CLI::

    /usr/bin/python3 -m spatten.train gpt2 --size tiny
    /usr/bin/python3 -m spatten.train bert --size small --steps 50

Training runs on the CPU with 2 threads, is deterministic given the seed,
and prints a progress line with the loss on stderr. The checkpoint, the
ONNX export and a copy of the tokenizer are cached in
``out/train/<kind>-<size>-<hash of the settings>/``: running again with
the same settings loads them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, TextIO

import numpy as np
import torch
from torch import nn

from . import corpus
from .export import ModelConfig, build_model, export_onnx

KINDS = ("gpt2", "bert")
#: Model and training sizes. ``tiny`` trains in well under a minute (tests);
#: ``small`` is the size of the accuracy results (about 30 minutes).
SIZES: Dict[str, Dict[str, object]] = {
    "tiny": dict(layers=2, hidden=64, heads=2, context=128, vocab=1024, batch=16, steps=150, lr=3e-3),
    "small": dict(layers=4, hidden=256, heads=4, context=512, vocab=8192, batch=8, steps=800, lr=1e-3),
}
#: Per-kind changes to :data:`SIZES`. The BERTs take rotary position
#: embeddings: with a learned position table no attention head learned to
#: read the positions beside a masked one within this compute
#: (docs/Accuracy.md). A masked LM learns from the masked positions only:
#: the small BERT uses BERT's own schedule (Devlin et al. 2019, A.2: 90% of
#: the steps on 128-token windows, the rest at full length), a 30% masking
#: rate (Wettig et al. 2023) and a lower peak rate.
KIND_SIZES: Dict[tuple, Dict[str, object]] = {
    ("bert", "tiny"): dict(positions="rotary", steps=600),
    ("bert", "small"): dict(positions="rotary", steps=1000, lr=5e-4, mask_rate=0.3, short_context=128),
}
POSITIONS = ("learned", "rotary")
MASK_RATE = 0.15  # BERT's share of masked-LM positions (80% <mask>, 10% random, 10% kept)
SHORT_SHARE = 0.9  # share of the steps on short windows when short_context is set
EVAL_WINDOWS = 32  # validation windows scored after training (GPT-2: every token is a target)
EVAL_MASKED_TARGETS = 4000  # BERT scores as many windows as give about this many masked tokens
INIT_STD = 0.02


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything a trained model depends on (its cache key).

    kind: ``gpt2`` or ``bert``; layers, hidden, heads: the model; context:
    the training window in tokens (also the position table); vocab: the
    tokenizer's pieces; batch: windows per step; steps: optimizer steps; lr:
    peak AdamW learning rate (linear warm-up over 5% of the steps, cosine
    decay to 10%); seed: weights, windows and masks; mask_rate: BERT's
    training share of masked positions (validation always masks
    :data:`MASK_RATE`); short_context: when set, the first
    :data:`SHORT_SHARE` of the steps use windows of this many tokens, as
    many more per step as keep the tokens per step; positions: ``learned``
    (a position table) or ``rotary`` (BERT: rotary embeddings on Q and K,
    ``ModelConfig.rotary``)."""

    kind: str
    size: str
    layers: int
    hidden: int
    heads: int
    context: int
    vocab: int
    batch: int
    steps: int
    lr: float
    seed: int = 0
    mask_rate: float = MASK_RATE
    short_context: int = 0
    positions: str = "learned"

    def __post_init__(self):
        for name in ("layers", "hidden", "heads", "context", "vocab", "batch", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, got {self.lr}")
        if not 0 < self.mask_rate < 1:
            raise ValueError(f"the masking rate must be in (0, 1), got {self.mask_rate}")
        if self.positions not in POSITIONS:
            raise ValueError(f"unknown positions {self.positions!r} (expected one of {POSITIONS})")
        if self.positions == "rotary" and self.kind != "bert":
            raise ValueError("rotary positions are a bert option (GPT-2 has its position table)")
        if not 0 <= self.short_context <= self.context:
            raise ValueError(f"short_context must be in [0, context = {self.context}], got {self.short_context}")

    @classmethod
    def of(cls, kind: str, size: str, seed: int = 0, **over) -> "TrainSettings":
        """The settings of ``size`` with ``over`` replacing fields. Raises
        ValueError for an unknown kind or size."""
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r} (expected one of {KINDS})")
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r} (expected one of {tuple(SIZES)})")
        values = {**SIZES[size], **KIND_SIZES.get((kind, size), {}),
                  **{k: v for k, v in over.items() if v is not None}}
        return cls(kind=kind, size=size, seed=seed, **values)

    @property
    def key(self) -> str:
        """``<kind>-<size>-<10 hex digits>``: the cache directory name."""
        # Fields at their defaults stay out, so that adding one keeps the caches.
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in OPTIONAL_FIELDS}
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in defaults or v != defaults[k]}
        record = json.dumps({**fields, "corpus": corpus.PACKAGE}, sort_keys=True)
        return f"{self.kind}-{self.size}-{hashlib.sha1(record.encode()).hexdigest()[:10]}"

    def model_config(self) -> ModelConfig:
        extra = (dict(lm_head=True) if self.kind == "gpt2"
                 else dict(mlm_head=True, pooler=False, rotary=self.positions == "rotary"))
        return ModelConfig(kind=self.kind, layers=self.layers, hidden=self.hidden, heads=self.heads,
                           vocab=self.vocab, max_positions=self.context, init_std=INIT_STD, seed=self.seed,
                           **extra)


OPTIONAL_FIELDS = ("mask_rate", "short_context", "positions")


@dataclasses.dataclass
class Trained:
    """A trained model and its files.

    model: the torch module (eval mode); directory: its cache directory;
    onnx: the ONNX export (dynamic batch and sequence, up to ``context``
    tokens); tokenizer: the sentencepiece model; metrics: ``losses`` (per
    step), ``validation_loss`` (mean cross-entropy in nats on
    the validation windows of :func:`evaluate_windows`, masked positions
    only for BERT),
    ``unigram_loss`` (the same for the train split's unigram
    distribution), ``validation_perplexity`` (GPT-2) or
    ``validation_accuracy`` and ``unigram_accuracy`` (BERT, masked-token
    top-1; see :func:`evaluate_windows`), ``seconds_per_step``."""

    settings: TrainSettings
    model: nn.Module
    directory: Path
    onnx: Path
    tokenizer: Path
    metrics: Dict[str, object]


# ----------------------------------------------------------------------------- data

def token_ids(settings: TrainSettings, split: str) -> np.ndarray:
    """The split's token ids, np.int64 [N], cached beside the tokenizer."""
    model = corpus.tokenizer_file(settings.vocab)
    path = model.with_name(f"{model.stem}.{split}.npy")
    if not path.is_file():
        ids = corpus.encode_file(corpus.load_tokenizer(model), corpus.corpus_files()[split])
        np.save(path.with_suffix(".tmp.npy"), ids)
        path.with_suffix(".tmp.npy").replace(path)
    return np.load(path)


def mask_tokens(ids: torch.Tensor, vocab: int, mask_id: int, gen: torch.Generator, rate: float = MASK_RATE):
    """BERT's masking of ids [B, L]: returns (inputs, targets) where targets
    is -100 except at the chosen positions (a share ``rate``, at least one
    per row)."""
    chosen = torch.rand(ids.shape, generator=gen) < rate
    chosen[torch.arange(ids.shape[0]), torch.randint(ids.shape[1], (ids.shape[0],), generator=gen)] = True
    action = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    random = chosen & (action >= 0.8) & (action < 0.9)
    inputs[random] = torch.randint(vocab, ids.shape, generator=gen)[random]
    return inputs, torch.where(chosen, ids, torch.full_like(ids, -100))


def masked_predictions(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
    """BERT's logits [N, vocab] and targets [N] at the N masked positions
    (the LM head runs there only)."""
    hidden = model.encode(inputs, torch.ones_like(inputs), torch.zeros_like(inputs))
    chosen = targets >= 0
    return model.predict(hidden[chosen]), targets[chosen]


def batch_loss(model: nn.Module, settings: TrainSettings, windows: torch.Tensor, gen: torch.Generator,
               mask_id: int, rate: float = MASK_RATE) -> torch.Tensor:
    """Mean cross-entropy (nats) of a batch of windows [B, L]: next-token
    prediction for GPT-2, masked positions (a share ``rate``) for BERT."""
    if settings.kind == "gpt2":
        logits = model(windows)
        return nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                           windows[:, 1:].reshape(-1))
    return nn.functional.cross_entropy(*masked_predictions(model, *mask_tokens(windows, settings.vocab, mask_id,
                                                                                 gen, rate)))


def window_shape(settings: TrainSettings, step: int) -> tuple:
    """(windows, tokens per window) of a training step."""
    if settings.short_context and step < SHORT_SHARE * settings.steps:
        return settings.batch * settings.context // settings.short_context, settings.short_context
    return settings.batch, settings.context


def learning_rate(settings: TrainSettings, step: int) -> float:
    warmup = max(1, settings.steps // 20)
    if step < warmup:
        return settings.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, settings.steps - warmup)
    return settings.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


# ----------------------------------------------------------------------------- training

def _initialise(settings: TrainSettings) -> nn.Module:
    """:func:`build_model`'s seeded normal weights, with LayerNorms 1/0 and
    biases 0 (the usual start for training)."""
    model = build_model(settings.model_config())
    with torch.no_grad():
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if name == "bias":
                    p.zero_()
                elif isinstance(module, nn.LayerNorm):
                    p.fill_(1.0)
    return model


class Progress:
    """One status line on ``stream``, rewritten in place on a terminal;
    otherwise a line every 10% of the steps or every 30 s."""

    def __init__(self, label: str, total: int, stream: Optional[TextIO]):
        self.label, self.total, self.stream = label, total, stream
        self.t0 = self.last = time.perf_counter()

    def update(self, step: int, loss: float) -> None:
        if self.stream is None:
            return
        tty, now = self.stream.isatty(), time.perf_counter()
        if not tty and step % max(1, self.total // 10) and step != self.total and now - self.last < 30:
            return
        self.last = now
        per_step = (now - self.t0) / step
        line = f"{self.label}: step {step}/{self.total} loss {loss:.3f} ({per_step:.2f} s/step)"
        self.stream.write(("\r" + line) if tty else line + "\n")
        if tty and step == self.total:
            self.stream.write("\n")
        self.stream.flush()


def _fit(settings: TrainSettings, model: nn.Module, ids: np.ndarray, mask_id: int,
         stream: Optional[TextIO]) -> List[float]:
    gen = torch.Generator().manual_seed(settings.seed + 1)
    data = torch.from_numpy(ids)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    progress = Progress(f"train {settings.key}", settings.steps, stream)
    losses = []
    model.train()
    for step in range(settings.steps):
        count, length = window_shape(settings, step)
        starts = torch.randint(len(data) - length, (count,), generator=gen)
        windows = torch.stack([data[s:s + length] for s in starts.tolist()])
        for group in opt.param_groups:
            group["lr"] = learning_rate(settings, step)
        loss = batch_loss(model, settings, windows, gen, mask_id, settings.mask_rate)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        progress.update(step + 1, losses[-1])
    return losses


def evaluate_windows(model: nn.Module, settings: TrainSettings, train_ids: np.ndarray, ids: np.ndarray,
                     mask_id: int) -> Dict[str, float]:
    """Scores on the first non-overlapping windows of ``ids`` (
    :data:`EVAL_WINDOWS` for GPT-2; for BERT enough for about
    :data:`EVAL_MASKED_TARGETS` masked tokens, fixed masks):
    ``validation_loss`` (mean nats), and
    ``validation_perplexity`` (GPT-2) or ``validation_accuracy`` (BERT,
    masked-token top-1); beside them the baselines of a model that knows
    only the train split's token frequencies, on the same predicted tokens:
    ``unigram_loss`` and, for BERT, ``unigram_accuracy`` (always the most
    frequent piece). BERT's chosen positions are all replaced by ``<mask>``,
    as ``spatten.accuracy`` scores them: a kept or random piece would let
    the model copy its input and pass for one that reads its context."""
    wanted = EVAL_WINDOWS if settings.kind == "gpt2" else math.ceil(EVAL_MASKED_TARGETS / (MASK_RATE * settings.context))
    n = min(wanted, len(ids) // settings.context)
    windows = torch.from_numpy(ids[:n * settings.context].reshape(n, settings.context))
    gen = torch.Generator().manual_seed(settings.seed + 2)
    model.eval()
    with torch.no_grad():
        if settings.kind == "gpt2":
            loss = batch_loss(model, settings, windows, gen, mask_id).item()
            return dict(validation_loss=loss, validation_perplexity=math.exp(loss),
                        unigram_loss=unigram_loss(train_ids, windows[:, 1:].numpy().ravel(), settings.vocab))
        inputs, targets = mask_tokens(windows, settings.vocab, mask_id, gen)
        inputs[targets >= 0] = mask_id
        logits, targets = masked_predictions(model, inputs, targets)
    most_frequent = np.bincount(train_ids, minlength=settings.vocab).argmax()
    return dict(validation_loss=nn.functional.cross_entropy(logits, targets).item(),
                validation_accuracy=(logits.argmax(-1) == targets).double().mean().item(),
                unigram_loss=unigram_loss(train_ids, targets.numpy(), settings.vocab),
                unigram_accuracy=(targets == int(most_frequent)).double().mean().item())


def unigram_loss(train_ids: np.ndarray, ids: np.ndarray, vocab: int) -> float:
    """Cross-entropy (nats) of ``ids`` under the train split's token
    frequencies (add-one smoothed): the loss a model must beat."""
    counts = np.bincount(train_ids, minlength=vocab).astype(np.float64) + 1.0
    return float(-np.log(counts / counts.sum())[ids].mean())


def cache_files(settings: TrainSettings) -> Dict[str, Path]:
    """The files of the model of ``settings`` in its cache directory
    ``out/train/<key>/``: ``checkpoint``, ``onnx``, ``tokenizer`` and
    ``metrics`` (written last)."""
    directory = corpus.out_dir() / "train" / settings.key
    return dict(checkpoint=directory / "model.pt", onnx=directory / "model.onnx",
                tokenizer=directory / "tokenizer.model", metrics=directory / "metrics.json")


def is_trained(settings: TrainSettings) -> bool:
    """Whether the cache holds the model of ``settings``, every file written."""
    return all(f.is_file() for f in cache_files(settings).values())


def train(settings: TrainSettings, stream: Optional[TextIO] = sys.stderr, force: bool = False) -> Trained:
    """Trains (or loads from the cache) the model of ``settings``, exports
    it to ONNX and copies the tokenizer beside it. ``stream`` receives the
    progress line (None: silent). Raises corpus.CorpusError when the
    corpus package is missing."""
    torch.set_num_threads(2)
    files = cache_files(settings)
    directory = files["onnx"].parent
    model = _initialise(settings)
    if not force and is_trained(settings):
        model.load_state_dict(torch.load(files["checkpoint"]))
        metrics = {k: v for k, v in json.loads(files["metrics"].read_text()).items() if k != "settings"}
        return Trained(settings, model.eval(), directory, files["onnx"], files["tokenizer"], metrics)
    tokenizer = corpus.tokenizer_file(settings.vocab)
    mask_id = corpus.load_tokenizer(tokenizer).piece_to_id(corpus.MASK_PIECE)
    train_ids, val_ids = token_ids(settings, "train"), token_ids(settings, "validation")
    torch.manual_seed(settings.seed)
    t0 = time.perf_counter()
    losses = _fit(settings, model, train_ids, mask_id, stream)
    metrics: Dict[str, object] = dict(seconds_per_step=(time.perf_counter() - t0) / settings.steps,
                                      **evaluate_windows(model, settings, train_ids, val_ids, mask_id))
    metrics["losses"] = losses
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), files["checkpoint"])
    export_onnx(model.eval(), str(files["onnx"]), seq_len=8)
    shutil.copyfile(tokenizer, files["tokenizer"])
    files["metrics"].write_text(json.dumps({"settings": dataclasses.asdict(settings), **metrics}, indent=1))
    return Trained(settings, model, directory, files["onnx"], files["tokenizer"], metrics)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.train", description="Train a small GPT-2 or BERT on English text.")
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("--size", choices=tuple(SIZES), default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="optimizer steps (default: the size's)")
    ap.add_argument("--batch", type=int, help="windows per step (default: the size's)")
    ap.add_argument("--lr", type=float, help="peak learning rate (default: the size's)")
    ap.add_argument("--positions", choices=POSITIONS, help="BERT: a learned position table or rotary embeddings "
                    "(default: the size's, rotary)")
    ap.add_argument("--force", action="store_true", help="train again even when cached")
    args = ap.parse_args(argv)
    try:
        settings = TrainSettings.of(args.kind, args.size, seed=args.seed, steps=args.steps, batch=args.batch,
                                    lr=args.lr, positions=args.positions)
        t = train(settings, force=args.force)
    except (ValueError, corpus.CorpusError) as e:
        print(f"spatten.train: error: {e}", file=sys.stderr)
        return 2
    m = t.metrics
    score = (f"perplexity {m['validation_perplexity']:.2f}" if "validation_perplexity" in m
             else f"masked-token accuracy {m['validation_accuracy']:.3f}")
    print(f"{settings.key}: validation loss {m['validation_loss']:.3f} (unigram {m['unigram_loss']:.3f}), "
          f"{score}, {m['seconds_per_step']:.2f} s/step")
    print(f"  model {t.onnx}\n  tokenizer {t.tokenizer}\n  test text {corpus.corpus_files()['test']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

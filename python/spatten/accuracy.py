"""Language-model accuracy of an ONNX model, dense or with SpAtten's
pruning: perplexity for a causal LM, masked-token accuracy for a masked LM
(docs/Accuracy.md).

The text is tokenized with a sentencepiece model and cut into
non-overlapping windows of ``window`` tokens, each one run of the model
(batch 1):

* causal LM (a ``logits`` output, no ``token_type_ids`` input): every
  position but the last predicts the next token; perplexity is
  ``exp(mean negative log-likelihood)`` over all predictions;
* masked LM (a ``prediction_scores`` output, or a ``token_type_ids``
  input): a seeded 15% of the positions (at least one) are replaced by
  ``<mask>``; the score is the share whose arg-max logit is the original
  token (the loss, the mean negative log-likelihood, is reported too).

Engines: ``sim`` compiles the model with ``spatten-compile`` and the
SpAtten flags, then runs each window on ``spatten-sim``; ``reference`` runs
the NumPy reference (``spatten.reference``) with the same settings, which
the agreement tests prove selects the same tokens, heads and rows.

Generation stage (causal LM, ``prompt`` P): the first P tokens of a window
are the prompt (the prefill), then teacher forcing through the decode
steps: each step feeds the window's next true token against the KV cache
and predicts the one after, so pruning across steps is what is measured.
It runs on the reference's generation (``spatten.reference.generate`` with
``feed``; ``test_agreement_generation.py`` proves it equal to the
simulator's decode steps); ``spatten-sim --generate`` feeds back its own
choices instead.

CLI::

    /usr/bin/python3 -m spatten.accuracy out/train/gpt2-tiny-*/model.onnx \\
        --text out/corpus/python3.11-doc/test.txt --flags "--token-keep=0.5" --max-windows 8
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import onnx

from . import corpus, tensors, tools
from . import reference as R

LOGITS_OUTPUTS = ("logits", "prediction_scores")
TASKS = ("causal", "masked")
ENGINES = ("sim", "reference")
MASK_RATE = 0.15
DEFAULT_WINDOW = 128  # when the model has no recognisable position table

#: ``logits_fn(inputs)``: graph inputs of one window -> its logits [1, L, V].
LogitsFn = Callable[[Dict[str, np.ndarray]], np.ndarray]


@dataclasses.dataclass
class Accuracy:
    """One evaluation.

    task: ``causal`` (value = perplexity) or ``masked`` (value =
    masked-token top-1 accuracy in [0, 1]); loss: mean negative
    log-likelihood of the predicted tokens, nats; predictions: how many
    tokens were predicted; windows x window: the tokens run; engine and
    flags: how the logits were computed; prompt: the generation stage's
    prompt length (None: whole windows at once)."""

    task: str
    value: float
    loss: float
    predictions: int
    windows: int
    window: int
    engine: str
    flags: List[str]
    prompt: Optional[int] = None

    @property
    def metric(self) -> str:
        return "perplexity" if self.task == "causal" else "masked-token accuracy"

    def summary(self) -> str:
        """One line: the metric, the loss and what was run."""
        value = f"{self.value:.4f}" if self.task == "causal" else f"{100 * self.value:.2f}%"
        stage = "" if self.prompt is None else f", generation stage after a {self.prompt}-token prompt"
        return (f"{self.metric} {value} (loss {self.loss:.4f} nats, {self.predictions} predictions in "
                f"{self.windows} window{'s' * (self.windows != 1)} of {self.window} tokens{stage}; engine {self.engine}; flags "
                f"{' '.join(self.flags) or 'none (dense)'})")


@dataclasses.dataclass
class Windows:
    """The model's runs on a text.

    model: the ONNX file; logits: its logits output; task: ``causal`` or
    ``masked``; window: tokens per run; inputs: per window the graph inputs
    (int64 [1, window]); rows, tokens: per window the rows of the logits
    that are scored and the token each must predict; prompt: the
    generation stage's prompt length (rows index the generation's logits,
    one per generated token) or None."""

    model: Path
    logits: str
    task: str
    window: int
    inputs: List[Dict[str, np.ndarray]]
    rows: List[np.ndarray]
    tokens: List[np.ndarray]
    prompt: Optional[int] = None


# ----------------------------------------------------------------------------- preparation

def logits_output(model: onnx.ModelProto, path: Path) -> str:
    """The model's logits output (``logits`` or ``prediction_scores``).
    Raises ValueError naming the file and its outputs when there is none."""
    names = [o.name for o in model.graph.output]
    found = [n for n in LOGITS_OUTPUTS if n in names]
    if not found:
        raise ValueError(f"{path}: no logits output (outputs: {', '.join(names)}); accuracy needs a "
                         f"language-model head's {' or '.join(repr(n) for n in LOGITS_OUTPUTS)}")
    return found[0]


def detect_task(model: onnx.ModelProto, logits: str) -> str:
    """``masked`` for ``prediction_scores`` or a model with token types
    (BERT-style), else ``causal``."""
    inputs = [i.name.lower() for i in model.graph.input]
    return "masked" if logits == "prediction_scores" or any("type" in n for n in inputs) else "causal"


def position_rows(model: onnx.ModelProto) -> Optional[int]:
    """The rows of the position-embedding table (GPT-2 ``wpe``, BERT
    ``position_embeddings``) or of the rotary tables: the longest window;
    None when not found."""
    for t in model.graph.initializer:
        if ("wpe" in t.name or "position_embeddings" in t.name) and len(t.dims) == 2:
            return int(t.dims[0])
    return R.rotary_positions(model)


def graph_inputs(specs: Sequence[tensors.InputSpec], ids: np.ndarray) -> Dict[str, np.ndarray]:
    """Inputs for one window ids [L]: ``*ids*`` the tokens, ``*mask*``
    ones, ``*type*`` zeros, ``*position*`` 0..L-1. Raises ValueError for
    another input."""
    out = {}
    for s in specs:
        low = s.name.lower()
        if "mask" in low:
            a = np.ones_like(ids)
        elif "type" in low:
            a = np.zeros_like(ids)
        elif "position" in low:
            a = np.arange(len(ids))
        elif "ids" in low:
            a = ids
        else:
            raise ValueError(f"input {s.name!r} is not token ids, a mask, token types or positions")
        out[s.name] = a[None, :].astype(s.dtype)
    return out


def _masked_rows(length: int, rng: np.random.Generator) -> np.ndarray:
    chosen = rng.random(length) < MASK_RATE
    chosen[rng.integers(length)] = True
    return np.flatnonzero(chosen)


def prepare(model: Union[str, Path], text: Union[str, Path], tokenizer: Optional[Union[str, Path]] = None, *,
            window: Optional[int] = None, max_windows: Optional[int] = None, task: Optional[str] = None,
            seed: int = 0, prompt: Optional[int] = None) -> Windows:
    """Tokenizes ``text`` (a UTF-8 file) and builds the runs of ``model``.

    tokenizer: a sentencepiece model (default: ``tokenizer.model`` beside
    the model, as ``spatten.train`` writes it); window: tokens per run
    (default: the model's positions, :func:`position_rows`, else
    :data:`DEFAULT_WINDOW`); max_windows: use only the first ones; task:
    ``causal`` or ``masked`` (default :func:`detect_task`); seed: the
    masked positions; prompt: score the generation stage after this many
    prompt tokens (causal only, 1 to window - 1). Raises ValueError naming
    the file for a missing model, text or tokenizer, a model without
    logits, a tokenizer larger than the model's vocabulary, a window
    longer than the model's positions or a text shorter than one window."""
    model = Path(model)
    if not model.is_file():
        raise ValueError(f"{model}: model not found")
    graph = onnx.load(str(model), load_external_data=False)
    logits = logits_output(graph, model)
    task = task or detect_task(graph, logits)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (expected one of {TASKS})")
    sp, mask_id = _tokenizer(Path(tokenizer) if tokenizer else model.with_name("tokenizer.model"), graph, logits,
                             task)
    ids = corpus.encode_file(sp, Path(text))
    window = _window(graph, model, window)
    count = len(ids) // window
    if count == 0:
        raise ValueError(f"{text}: {len(ids)} tokens, fewer than one window of {window}")
    if prompt is not None and (task != "causal" or not 1 <= prompt < window):
        raise ValueError(f"a generation-stage prompt of {prompt} tokens needs a causal LM and 1 to "
                         f"{window - 1} tokens (window {window})")
    specs = tensors.input_specs(graph)
    w = Windows(model, logits, task, window, [], [], [], prompt)
    rng = np.random.default_rng(seed)
    for k in range(min(count, max_windows) if max_windows else count):
        run_ids, rows, tokens = _run(ids[k * window:(k + 1) * window], task, prompt, mask_id, rng)
        w.inputs.append(graph_inputs(specs, run_ids))
        w.rows.append(rows)
        w.tokens.append(tokens)
    return w


def _run(chunk: np.ndarray, task: str, prompt: Optional[int], mask_id: int, rng: np.random.Generator):
    """One window's (ids to run, scored logit rows, their target tokens)."""
    if prompt is not None:
        return chunk, np.arange(len(chunk) - prompt), chunk[prompt:]
    if task == "causal":
        return chunk, np.arange(len(chunk) - 1), chunk[1:]
    rows = _masked_rows(len(chunk), rng)
    masked = chunk.copy()
    masked[rows] = mask_id
    return masked, rows, chunk[rows]


def _tokenizer(path: Path, graph: onnx.ModelProto, logits: str, task: str):
    """(processor, ``<mask>`` id); ValueError when it does not suit the model."""
    sp = corpus.load_tokenizer(path)
    out = next(o for o in graph.graph.output if o.name == logits)
    dims = out.type.tensor_type.shape.dim
    vocab = dims[-1].dim_value if dims and dims[-1].HasField("dim_value") else None
    if vocab is not None and sp.get_piece_size() > vocab:
        raise ValueError(f"{path}: {sp.get_piece_size()} pieces, more than the model's vocabulary of {vocab}")
    mask_id = sp.piece_to_id(corpus.MASK_PIECE)
    if task == "masked" and mask_id == sp.unk_id():
        raise ValueError(f"{path}: has no {corpus.MASK_PIECE} piece for masked-LM evaluation")
    return sp, mask_id


def _window(graph: onnx.ModelProto, model: Path, window: Optional[int]) -> int:
    positions = position_rows(graph)
    window = window or positions or DEFAULT_WINDOW
    if window < 2 or (positions and window > positions):
        raise ValueError(f"{model}: a window of {window} tokens does not fit the model "
                         f"(2 to {positions or 'any number of'} positions)")
    return window


# ----------------------------------------------------------------------------- engines

def reference_logits(w: Windows, settings: R.SpAttenConfig) -> LogitsFn:
    """The NumPy reference with ``settings``. Raises ValueError for a model
    the reference does not know."""
    weights = R.from_onnx(w.model)
    return lambda inputs: R.run_inputs(weights, inputs, settings).outputs[w.logits]


def generation_logits(w: Windows, settings: R.SpAttenConfig) -> LogitsFn:
    """The reference's generation with ``settings``, teacher-forced: the
    window's first ``prompt`` tokens are the prefill, then each decode step
    feeds the next true token. Returns [1, window - prompt, V], row t
    predicting token ``prompt + t``. Raises ValueError for a model
    without a GPT-2 LM head."""
    weights = R.from_onnx(w.model)

    def run(inputs: Dict[str, np.ndarray]) -> np.ndarray:
        ids = next(a for n, a in inputs.items() if "ids" in n.lower())[0]
        n = w.window - w.prompt
        return R.generate(weights, ids[:w.prompt], n, settings, feed=ids[w.prompt:w.window - 1]).logits[None]

    return run


def sim_logits(w: Windows, settings: R.SpAttenConfig, workdir: Path,
               bin_dir: Optional[Path] = None) -> LogitsFn:
    """Compiles the model once for batch 1 and ``window`` tokens (every
    other dynamic dimension bound to the window too) with ``settings``;
    each call simulates one window. Raises tools.ToolError with the
    compiler's or simulator's diagnostics."""
    shapes = {d: 1 if "batch" in d.lower() else w.window for d in tensors.symbolic_dims(w.model)}
    binary = tools.compile(w.model, workdir / "model.spbin", settings=settings, shapes=shapes,
                           directory=bin_dir)

    def run(inputs: Dict[str, np.ndarray]) -> np.ndarray:
        return tools.simulate(binary, inputs, workdir / "run", report=False, directory=bin_dir).outputs[w.logits]

    return run


def measure(w: Windows, logits_fn: LogitsFn, engine: str = "custom", flags: Sequence[str] = ()) -> Accuracy:
    """Scores ``logits_fn`` (one window's inputs -> logits [1, L, V]) on the
    windows; log-softmax in float64."""
    nll: List[np.ndarray] = []
    hits = 0
    for inputs, rows, tokens in zip(w.inputs, w.rows, w.tokens):
        logits = np.asarray(logits_fn(inputs), dtype=np.float64)[0, rows]
        top = logits.max(axis=-1, keepdims=True)
        logp = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        nll.append(-logp[np.arange(len(rows)), tokens])
        hits += int((logits.argmax(axis=-1) == tokens).sum())
    losses = np.concatenate(nll)
    loss = float(losses.mean())
    value = float(np.exp(loss)) if w.task == "causal" else hits / len(losses)
    return Accuracy(w.task, value, loss, len(losses), len(w.inputs), w.window, engine, list(flags), w.prompt)


def evaluate(model: Union[str, Path], text: Union[str, Path], tokenizer: Optional[Union[str, Path]] = None, *,
             flags: Union[str, Sequence[str]] = (), engine: Optional[str] = None, window: Optional[int] = None,
             max_windows: Optional[int] = None, task: Optional[str] = None, seed: int = 0,
             prompt: Optional[int] = None,
             workdir: Optional[Union[str, Path]] = None, bin_dir: Optional[Union[str, Path]] = None) -> Accuracy:
    """:func:`prepare`, then :func:`measure` with ``engine`` (``sim`` or
    ``reference``; default ``sim``, and ``reference`` for the generation
    stage, ``prompt``, which only it runs) and the SpAtten ``flags`` (spatten-compile's, a string or
    a list; empty: dense). workdir keeps the binary and the last run's
    outputs (default: a temporary directory). Raises ValueError (bad
    input, flags or engine) or tools.ToolError (compile or simulation)."""
    engine = engine or ("sim" if prompt is None else "reference")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (expected one of {ENGINES})")
    if prompt is not None and engine != "reference":
        raise ValueError("the generation stage runs on the reference engine: the simulator's generation "
                         "feeds back its own choices, not the text")
    settings = R.SpAttenConfig.from_flags(flags)
    flag_list = settings.to_flags()
    w = prepare(model, text, tokenizer, window=window, max_windows=max_windows, task=task, seed=seed,
                prompt=prompt)
    if prompt is not None:
        return measure(w, generation_logits(w, settings), engine, flag_list)
    if engine == "reference":
        return measure(w, reference_logits(w, settings), engine, flag_list)
    with tempfile.TemporaryDirectory(prefix="spatten-accuracy-") as tmp:
        directory = Path(workdir) if workdir else Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        return measure(w, sim_logits(w, settings, directory, bin_dir), engine, flag_list)


def _attach_flags(argv: List[str]) -> List[str]:
    """``--flags VALUE`` -> ``--flags=VALUE``: the value starts with ``--``,
    which argparse would take for an option."""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a == "--flags":
            out[i:i + 2] = [f"--flags={out[i + 1]}"]
            break
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="spatten.accuracy",
                                 description="Perplexity or masked-token accuracy of an ONNX language model.")
    ap.add_argument("model", help="ONNX model with a 'logits' or 'prediction_scores' output")
    ap.add_argument("--text", required=True, help="UTF-8 text file")
    ap.add_argument("--tokenizer", help="sentencepiece model (default: tokenizer.model beside the model)")
    ap.add_argument("--flags", default="", help='SpAtten flags of spatten-compile, e.g. "--token-keep=0.5"')
    ap.add_argument("--engine", choices=ENGINES, help="default: sim (reference with --prompt)")
    ap.add_argument("--window", type=int, help="tokens per run (default: the model's positions)")
    ap.add_argument("--max-windows", type=int, help="evaluate only the first N windows")
    ap.add_argument("--task", choices=TASKS, help="default: masked for BERT-style models, else causal")
    ap.add_argument("--seed", type=int, default=0, help="masked positions")
    ap.add_argument("--prompt", type=int,
                    help="causal LM: perplexity of the generation stage after a prompt of N tokens "
                         "(teacher forcing through the decode steps, reference engine)")
    args = ap.parse_args(_attach_flags(sys.argv[1:] if argv is None else argv))
    try:
        result = evaluate(args.model, args.text, args.tokenizer, flags=shlex.split(args.flags),
                          engine=args.engine, window=args.window, max_windows=args.max_windows, task=args.task,
                          seed=args.seed, prompt=args.prompt)
    except (ValueError, tools.ToolError) as e:
        lines = [l for l in str(e).splitlines() if l.strip()]
        print(f"spatten.accuracy: error: {': '.join(lines[:2])}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

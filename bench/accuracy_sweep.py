"""The sweep engine of bench/accuracy.py: SpAtten's knobs, each alone and
combined, evaluated on a trained language model, and the no-loss search.

A GPT-2 (causal LM) is scored by perplexity, in the generation stage (the
paper's GPT-2 setting: a prompt, then teacher forcing through the decode
steps) and over whole windows; a BERT (masked LM) by masked-token accuracy
over whole windows, as it runs (the summarization stage). The curves run on
the NumPy reference, whose selections the agreement tests prove equal to
the simulator's; over whole windows one point per curve is also run on the
simulator to show both engines agree on the model. Every point records its
attention DRAM bytes (Q, K, V, MSB and LSB planes, from the reference's
layer records) and its progressive-quantization refetch rate.

The no-loss operating point (docs/Accuracy.md) is the setting with the
largest attention-DRAM reduction whose quality stays within the model's
bound (:class:`Metric`), searched over the curves' points and the
combinations of each knob's most aggressive point within the bound.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from spatten import accuracy as acc  # noqa: E402
from spatten import corpus, tools, train  # noqa: E402
from spatten import reference as R  # noqa: E402
from spatten.report import ATTENTION_CLASSES  # noqa: E402

#: The paper's GPT-2 token pruning ratio (paper-figures §1).
PAPER_TOKEN_RATIO = 3.8


@dataclasses.dataclass(frozen=True)
class Metric:
    """How a model's quality is scored and what "no loss" allows.

    key: the field of a point's result (``perplexity`` or ``accuracy``, a
    share in [0, 1]); label: its name in tables; higher_is_better: accuracy
    rises, perplexity falls; bound: the largest loss of the no-loss
    operating point, relative to dense (``relative``: 0.01 is 1%) or in
    absolute units (0.005 of accuracy is 0.5 points); loss_column: the
    curve tables also show the loss (nats), which moves where a top-1
    accuracy does not."""

    key: str
    label: str
    higher_is_better: bool
    bound: float
    relative: bool
    loss_column: bool = False

    def limit(self, dense: Dict) -> float:
        """The worst value within the bound of ``dense``."""
        d = dense[self.key]
        step = d * self.bound if self.relative else self.bound
        return d - step if self.higher_is_better else d + step

    def within(self, p: Dict, dense: Dict) -> bool:
        """Whether ``p`` loses at most :attr:`bound` against ``dense``
        (1e-12 keeps exact ties of accuracy shares within)."""
        if self.higher_is_better:
            return p[self.key] >= self.limit(dense) - 1e-12
        return p[self.key] <= self.limit(dense) + 1e-12

    def change(self, p: Dict, dense: Dict) -> float:
        """The metric's change against dense: % of dense when relative,
        else points (hundredths of the share)."""
        if self.relative:
            return 100 * (p[self.key] / dense[self.key] - 1)
        return 100 * (p[self.key] - dense[self.key])

    def quality_change(self, p: Dict, dense: Dict) -> float:
        """:meth:`change` signed so that a loss is negative, like the
        paper's accuracy change (Fig. 21)."""
        return self.change(p, dense) if self.higher_is_better else -self.change(p, dense)

    def badness(self, p: Dict) -> float:
        """Lower is better: the no-loss search's tie-break."""
        return -p[self.key] if self.higher_is_better else p[self.key]

    def value(self, v: float) -> str:
        return f"{100 * v:.2f}%" if self.higher_is_better else f"{v:.3f}"

    def change_text(self, p: Dict, dense: Dict) -> str:
        return f"{self.change(p, dense):+.2f}{'%' if self.relative else ' points'}"

    @property
    def bound_text(self) -> str:
        """The bound in words: "perplexity rises at most 1%"."""
        amount = f"{100 * self.bound:g}{'%' if self.relative else ' points'}"
        return f"{self.label} {'falls' if self.higher_is_better else 'rises'} at most {amount}"


PERPLEXITY = Metric("perplexity", "perplexity", higher_is_better=False, bound=0.01, relative=True)
ACCURACY = Metric("accuracy", "masked-token accuracy", higher_is_better=True, bound=0.005, relative=False,
                  loss_column=True)
#: ``spatten.accuracy``'s task -> its metric.
METRICS = {"causal": PERPLEXITY, "masked": ACCURACY}


@dataclasses.dataclass(frozen=True)
class Curve:
    """One knob swept alone: name, axis label, the settings of its points
    (x value -> settings) and the point also run on the simulator."""

    name: str
    label: str
    points: Tuple[Tuple[float, R.SpAttenConfig], ...]
    sim_x: float


def _curve(name: str, label: str, make: Callable[[float], R.SpAttenConfig], xs: Sequence[float],
           sim_x: float) -> Curve:
    return Curve(name, label, tuple((x, make(x)) for x in xs), sim_x)


#: The knobs, each alone. ``token`` includes 1 / 3.8, the paper's GPT-2
#: token pruning; MSB bits are progressive (6 or 8 + 4 LSB bits,
#: threshold 0.1) and static (K and V at that width, no refetch).
CURVES: Tuple[Curve, ...] = (
    _curve("token", "token keep", lambda x: R.SpAttenConfig(token_keep=x),
           (1.0, 0.8, 0.6, 0.5, 0.4, 1 / PAPER_TOKEN_RATIO, 0.15, 0.05), 0.5),
    _curve("head", "head keep", lambda x: R.SpAttenConfig(head_keep=x), (1.0, 0.75, 0.5, 0.25), 0.5),
    _curve("value", "value keep", lambda x: R.SpAttenConfig(value_keep=x), (1.0, 0.5, 0.3, 0.2, 0.1), 0.3),
    _curve("pq", "progressive MSB bits (+4 LSB)", lambda x: R.SpAttenConfig(pq_msb=int(x)), (8, 6), 6),
    _curve("static", "static K/V bits", lambda x: R.SpAttenConfig(k_bits=int(x), v_bits=int(x)),
           (12, 8, 6, 4), 8),
    _curve("threshold", "refetch threshold (6+4 bits)",
           lambda x: R.SpAttenConfig(pq_msb=6, pq_threshold=x), (0.0, 0.02, 0.05, 0.1, 0.2, 0.3), 0.1),
)
#: The refetch threshold again on the tokens the paper's GPT-2 pruning keeps:
#: the paper decides on the kept keys' probabilities ([R] keeps 102-921 of
#: 1024 keys a layer), and fewer, more important keys make the largest
#: probability larger.
PRUNED_REFETCH = _curve("threshold_pruned", f"refetch threshold (6+4 bits), token keep 1/{PAPER_TOKEN_RATIO:g}",
                        lambda x: R.SpAttenConfig(token_keep=1 / PAPER_TOKEN_RATIO, pq_msb=6, pq_threshold=x),
                        (0.05, 0.1), 0.1)
#: The knobs the no-loss search combines (a group's curves are alternatives:
#: K and V are quantized statically or progressively), and how many of each
#: group's most aggressive points within the bound it tries together.
COMBINED = (("token",), ("head",), ("value",), ("static", "threshold"))
COMBINE_TOP = 1
#: The hardware configuration spatten-compile uses by default: it sets the
#: K/V buffer fills the reference's byte counts follow.
HARDWARE = ROOT / "configs" / "spatten.json"
#: A window's generated tokens are 1 / GENERATED_EIGHTHS of it.
GENERATED_EIGHTHS = 8


@dataclasses.dataclass(frozen=True)
class Setting:
    """What is evaluated: the trained model (``kind`` of ``size``), the
    windows and how many of them the simulator points run (the simulator
    is much slower than the reference; its reference twin runs the same
    ones)."""

    size: str
    windows: int
    sim_windows: int
    kind: str = "gpt2"

    def prompt(self, window: int) -> int:
        """The generation stage's prompt: the first 7/8 of a window (448 +
        64 tokens of 512, near the paper's 992 + 32), the rest generated."""
        return window - window // GENERATED_EIGHTHS


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained model family the benchmark measures: its title, whether
    it has a generation stage (causal LMs), the full and quick settings,
    and the file its results are saved to under the work directory."""

    kind: str
    title: str
    generation: bool
    full: Setting
    quick: Setting
    saved: str

    def saved_file(self, quick: bool) -> str:
        return self.saved.replace(".json", "-quick.json") if quick else self.saved


#: BERT runs twice GPT-2's windows: a masked LM scores 15% of the tokens,
#: and its bound is an absolute 0.5 points.
MODELS: Dict[str, Model] = {
    "gpt2": Model("gpt2", "GPT-2", True, Setting("small", 32, 4), Setting("tiny", 4, 1), "accuracy.json"),
    "bert": Model("bert", "BERT", False, Setting("small", 64, 4, "bert"), Setting("tiny", 4, 1, "bert"),
                  "accuracy-bert.json"),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- one point

def attention_bytes(records: Sequence[Sequence[R.LayerRecord]]) -> int:
    """Q, K and V bytes (MSB and LSB planes included) of a run's layer records."""
    return sum(r.counts["q_bytes"] + r.counts["k_bytes"] + r.counts["v_bytes"] for rec in records for r in rec)


def record_stats(records: Sequence[Sequence[R.LayerRecord]]) -> Dict[str, float]:
    """Attention bytes, rows and refetch rates of the windows' records.

    row_refetch_rate: unconfident query rows over the query rows of the
    computed heads (``q_rows``; one row is one query of one head: the
    paper's "input", and a decode step's decision); head_refetch_rate: heads whose LSB
    planes were fetched over the heads computed (the simulator report's
    ``refetch_rate`` over a whole window, where one unconfident row
    refetches the head)."""
    layers = [r for rec in records for r in rec]
    rows = sum(r.counts["q_rows"] for r in layers)
    return {
        "attention_bytes": attention_bytes(records),
        "k_rows": sum(r.counts["k_rows"] for r in layers),
        "v_rows": sum(r.counts["v_rows"] for r in layers),
        "token_rows": sum(len(r.tokens) for r in layers),
        "head_layers": sum(len(r.heads) for r in layers),
        "row_refetch_rate": sum(len(v) for r in layers for v in r.unconfident_rows.values()) / max(rows, 1),
        "head_refetch_rate": sum(len(r.refetched_rows) for r in layers) / max(sum(len(r.heads) for r in layers), 1),
    }


def scores(a: acc.Accuracy) -> Dict[str, object]:
    """A point's quality: its metric (``perplexity`` or ``accuracy``), the
    loss and what was scored."""
    return {METRICS[a.task].key: a.value, "loss": a.loss, "predictions": a.predictions, "windows": a.windows}


def evaluate_reference(w: acc.Windows, weights: R.ModelWeights, cfg: R.SpAttenConfig,
                       hardware: Dict) -> Dict[str, object]:
    """Quality and record statistics of ``cfg`` on the reference
    (``hardware``: a hardware configuration record, for the K/V fills)."""
    records = []

    def logits(inputs):
        run = R.run_inputs(weights, inputs, cfg, hardware)
        records.extend(run.layers)
        return run.outputs[w.logits]

    start = time.time()
    a = acc.measure(w, logits, "reference", cfg.to_flags())
    return {**scores(a), **record_stats(records), "seconds": time.time() - start}


def evaluate_generation(w: acc.Windows, weights: R.ModelWeights, cfg: R.SpAttenConfig,
                        hardware: Dict) -> Dict[str, object]:
    """:func:`evaluate_reference` for the generation stage: the prefill
    of each window's prompt, then teacher forcing through the decode steps
    (``spatten.reference.generate`` with ``feed``); the records, bytes and
    refetch rates are the decode steps' (one query per head and step)."""
    records = []

    def logits(inputs):
        ids = next(a for n, a in inputs.items() if "ids" in n.lower())[0]
        run = R.generate(weights, ids[:w.prompt], w.window - w.prompt, cfg, hardware,
                         feed=ids[w.prompt:w.window - 1])
        records.extend(step.layers for step in run.steps[1:])
        return run.logits[None]

    start = time.time()
    a = acc.measure(w, logits, "reference", cfg.to_flags())
    return {**scores(a), **record_stats(records), "seconds": time.time() - start}


def evaluate_sim(w: acc.Windows, cfg: R.SpAttenConfig, work: Path, bin_dir: Optional[Path]) -> Dict[str, object]:
    """Quality of ``cfg`` on the simulator, with the reports' attention
    bytes read (the Q, K and V classes, as the reference's records count
    them), cycles and refetch rate (heads that fetched LSB planes)."""
    shapes = {d: 1 if "batch" in d.lower() else w.window for d in acc.tensors.symbolic_dims(w.model)}
    work.mkdir(parents=True, exist_ok=True)
    binary = tools.compile(w.model, work / "model.spbin", settings=cfg, shapes=shapes, directory=bin_dir)
    reports = []

    def logits(inputs):
        run = tools.simulate(binary, inputs, work / "run", directory=bin_dir)
        reports.append(run.report)
        return run.outputs[w.logits]

    start = time.time()
    a = acc.measure(w, logits, "sim", cfg.to_flags())
    binary.path.unlink()
    decisions = [d for rep in reports for layer in rep.layers for d in layer.refetch_decisions]
    return {**scores(a),
            "attention_bytes": sum(rep.dram.read(ATTENTION_CLASSES) for rep in reports),
            "cycles": sum(rep.cycles for rep in reports),
            "head_refetch_rate": sum(decisions) / len(decisions) if decisions else 0.0,
            "seconds": time.time() - start}


class Sweep:
    """Evaluates settings on one model, each once: a point's result is
    cached as JSON in ``cache`` under its engine, stage, windows (count and
    length) and flags,
    so a new run (after an interruption) reads it instead of running again.
    generation: score the generation stage (:meth:`Setting.prompt`; the
    reference only, causal LMs only) instead of whole windows."""

    def __init__(self, model: Path, text: Path, cache: Path, setting: Setting, bin_dir: Optional[Path] = None,
                 generation: bool = False):
        self.cache, self.setting, self.bin_dir = cache, setting, bin_dir
        window = acc.prepare(model, text, max_windows=1).window
        self.prompt = setting.prompt(window) if generation else None
        self.windows = acc.prepare(model, text, max_windows=setting.windows, prompt=self.prompt)
        self.metric = METRICS[self.windows.task]
        self.weights = R.from_onnx(model)
        self.hardware = json.loads(HARDWARE.read_text())
        self.runs = 0  # points computed (not read from the cache) by this object
        cache.mkdir(parents=True, exist_ok=True)

    def _subset(self, count: int) -> acc.Windows:
        w = self.windows
        return dataclasses.replace(w, inputs=w.inputs[:count], rows=w.rows[:count], tokens=w.tokens[:count])

    def point(self, cfg: R.SpAttenConfig, engine: str = "reference", windows: Optional[int] = None) -> Dict:
        """The result of ``cfg`` on ``engine`` over the first ``windows``
        windows (default all): the metric, loss, attention bytes, refetch
        rates, seconds (see :func:`evaluate_reference`, :func:`evaluate_sim`)."""
        count = windows or len(self.windows.inputs)
        flags = " ".join(cfg.to_flags())
        key = hashlib.sha1(f"{engine} {count}x{self.windows.window} {self.prompt} {flags}".encode()).hexdigest()[:16]
        path = self.cache / f"{key}.json"
        if path.is_file():
            return json.loads(path.read_text())
        stage = f", generation stage after {self.prompt} tokens" if self.prompt else ""
        log(f"{engine} {flags or '(dense)'} on {count} windows{stage}")
        w = self._subset(count)
        if engine == "sim":
            res = evaluate_sim(w, cfg, self.cache / "sim", self.bin_dir)
        elif self.prompt:
            res = evaluate_generation(w, self.weights, cfg, self.hardware)
        else:
            res = evaluate_reference(w, self.weights, cfg, self.hardware)
        res = {"engine": engine, "flags": flags, **res}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        os.replace(tmp, path)
        self.runs += 1
        return res


# ----------------------------------------------------------------------------- the sweep

def no_loss(points: Sequence[Dict], dense: Dict, metric: Metric) -> Optional[Dict]:
    """The point with the largest attention-DRAM reduction (fewest
    attention bytes) within ``metric``'s bound; None when none is."""
    fit = [p for p in points if metric.within(p, dense)]
    return min(fit, key=lambda p: (p["attention_bytes"], metric.badness(p))) if fit else None


def combinations(curves: Dict[str, List[Dict]], dense: Dict, metric: Metric) -> List[R.SpAttenConfig]:
    """Each group of :data:`COMBINED`: its :data:`COMBINE_TOP` most
    aggressive points within the bound that save bytes, or none; every
    combination of two groups or more."""
    by_name = {c.name: c for c in CURVES}
    options = []
    for group in COMBINED:
        pairs = [(p, cfg) for name in group for (_, cfg), p in zip(by_name[name].points, curves[name])]
        fit = sorted(((p, cfg) for p, cfg in pairs
                      if metric.within(p, dense) and p["attention_bytes"] < dense["attention_bytes"]),
                     key=lambda pc: pc[0]["attention_bytes"])
        options.append([None] + [cfg for _, cfg in fit[:COMBINE_TOP]])
    out = []
    for combo in itertools.product(*options):
        chosen = [c for c in combo if c is not None]
        if len(chosen) < 2:
            continue
        merged = {}
        for c in chosen:
            merged.update({f.name: getattr(c, f.name) for f in dataclasses.fields(c)
                           if getattr(c, f.name) != getattr(R.SpAttenConfig(), f.name)})
        out.append(R.SpAttenConfig(**merged))
    return out


def run_sweep(sweep: Sweep) -> Dict[str, object]:
    """Every curve on the reference, then the no-loss search; over whole
    windows also one simulator point per curve beside its reference twin on
    the same windows, and the no-loss point on both (the simulator's
    generation feeds back its own tokens, so the generation stage runs on
    the reference alone)."""
    dense = sweep.point(R.SpAttenConfig())
    total = sum(len(c.points) for c in CURVES)
    curves: Dict[str, List[Dict]] = {}
    done = 0
    for c in CURVES:
        curves[c.name] = []
        for x, cfg in c.points:
            done += 1
            log(f"point {done}/{total}: {c.name} = {x:g}")
            curves[c.name].append({"x": x, **sweep.point(cfg)})
    sim = []
    for c in CURVES if sweep.prompt is None else ():
        cfg = dict(c.points)[c.sim_x]
        n = sweep.setting.sim_windows
        sim.append({"curve": c.name, "x": c.sim_x, "sim": sweep.point(cfg, "sim", n),
                    "reference": sweep.point(cfg, "reference", n)})
    pruned = [{"x": x, **sweep.point(cfg)} for x, cfg in PRUNED_REFETCH.points]
    combos = combinations(curves, dense, sweep.metric)
    log(f"no-loss search: {len(combos)} combinations")
    combined = [sweep.point(cfg) for cfg in combos]
    best = no_loss([p for ps in curves.values() for p in ps] + combined, dense, sweep.metric)
    res: Dict[str, object] = {"dense": dense, "curves": curves, "sim": sim, "combined": combined, "no_loss": best,
                              "pruned_refetch": pruned}
    if best is not None and sweep.prompt is None:
        cfg = R.SpAttenConfig.from_flags(best["flags"])
        n = sweep.setting.sim_windows
        res["no_loss_sim"] = {"sim": sweep.point(cfg, "sim", n), "reference": sweep.point(cfg, "reference", n),
                              "dense_sim": sweep.point(R.SpAttenConfig(), "sim", n)}
    return res


# ----------------------------------------------------------------------------- model

def trained_model(kind: str, size: str, allow_training: bool) -> Tuple[Path, Dict]:
    """The trained ``kind`` of ``size`` (ONNX file, metrics) from the cache
    of ``spatten.train``; trains it only when ``allow_training``. Raises
    SystemExit naming the training command when it is absent."""
    settings = train.TrainSettings.of(kind, size)
    files = train.cache_files(settings)
    if not train.is_trained(settings):
        if not allow_training:
            raise SystemExit(f"{files['onnx'].parent} holds no trained model: run "
                             f"`/usr/bin/python3 -m spatten.train {kind} --size {size}` first")
        train.train(settings)
    metrics = json.loads(files["metrics"].read_text())
    metrics.pop("losses", None)
    return files["onnx"], metrics


def measure(model: Model, setting: Setting, work_dir: Path, bin_dir: Optional[Path],
            allow_training: bool) -> Dict[str, object]:
    """``model``'s sweeps with ``setting``: whole windows, and the
    generation stage for a causal LM. Points are cached under
    ``work_dir/accuracy/<trained model>/``."""
    onnx_file, metrics = trained_model(model.kind, setting.size, allow_training)
    text = corpus.corpus_files()["test"]
    sweep = Sweep(onnx_file, text, work_dir / "accuracy" / onnx_file.parent.name, setting, bin_dir)
    res = {"setting": dataclasses.asdict(setting), "metrics": metrics, "window": sweep.windows.window,
           "whole": run_sweep(sweep)}
    if model.generation:
        log("the generation stage")
        gen = Sweep(onnx_file, text, sweep.cache, setting, bin_dir, generation=True)
        res.update(prompt=gen.prompt, generation=run_sweep(gen))
    return res

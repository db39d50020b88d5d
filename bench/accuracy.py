#!/usr/bin/python3
"""The accuracy benchmark: the section "Accuracy of SpAtten's pruning" of docs/results.md.

    /usr/bin/python3 bench/accuracy.py                 # the trained small GPT-2 (it must be trained first)
    /usr/bin/python3 bench/accuracy.py --quick         # the tiny GPT-2 (trained if absent), under --work-dir
    /usr/bin/python3 bench/accuracy.py --render-only   # rewrite the section from the last run's JSON

Perplexity of a trained GPT-2 (``spatten.train``) on windows of the test
split (``spatten.accuracy``), swept along each SpAtten knob alone: token
keep, head keep, value keep, K/V bits (static and progressive MSB) and the
progressive-quantization refetch threshold; in the generation stage (the
paper's GPT-2 setting: a prompt, then teacher forcing through the decode
steps) and over whole windows. The curves run on the NumPy reference,
whose selections the agreement tests prove equal to the simulator's; over
whole windows one point per curve is also run on the simulator to show
both engines agree on this model. Every point records its attention DRAM bytes
(Q, K, V, MSB and LSB planes, from the reference's layer records) and its
progressive-quantization refetch rate.

The no-loss operating point is found automatically for each stage
(docs/Accuracy.md): the setting with the largest attention-DRAM reduction
whose perplexity is at most 1% above dense, searched over the curves'
points and the combinations of each knob's most aggressive point within
the bound.

Each point is cached in ``<work-dir>/accuracy/<model>/`` under its flags,
so an interrupted sweep resumes where it stopped; progress goes to stderr.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

import generation  # noqa: E402  (bench/generation.py: the results-page splicing)
from spatten import accuracy as acc  # noqa: E402
from spatten import corpus, tools, train  # noqa: E402
from spatten import reference as R  # noqa: E402
from spatten.report import ATTENTION_CLASSES  # noqa: E402

BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"
PLOT_CURVES, PLOT_REFETCH = "accuracy_curves.png", "accuracy_refetch.png"

#: The largest perplexity rise of the no-loss operating point (relative).
NO_LOSS_PPL_RISE = 0.01
#: The paper's figures (paper-figures §1, §3, §5).
PAPER_DRAM_REDUCTION = 10.0
PAPER_REFETCH_RATE = 0.059
PAPER_TOKEN_RATIO = 3.8
#: Fig. 21: GPT-2-small on PTB, token pruning ratio -> accuracy change (%);
#: BERT-base on CoLA, head pruning ratio -> accuracy change (%).
PAPER_TOKEN_POINTS = [(2.59, 0.56), (3.36, -0.31), (4.01, -1.2), (4.44, -1.3), (5.19, -5.6), (6.56, -20.8),
                      (7.33, -32.1), (8.32, -40.3)]
PAPER_HEAD_POINTS = [(1.05, 3.1), (1.12, 1.0), (1.2, 0.5), (1.3, -0.2), (1.5, -8.4), (1.6, -10.9), (1.8, -14.0),
                     (2.0, -16.4)]


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
#: The knobs the no-loss search combines (a group's curves are alternatives:
#: K and V are quantized statically or progressively), and how many of each
#: group's most aggressive points within the bound it tries together.
COMBINED = (("token",), ("head",), ("value",), ("static", "threshold"))
COMBINE_TOP = 1
#: The hardware configuration spatten-compile uses by default: it sets the
#: K/V buffer fills the reference's byte counts follow.
HARDWARE = ROOT / "configs" / "spatten.json"


@dataclasses.dataclass(frozen=True)
class Setting:
    """What is evaluated: the model (``gpt2`` of ``size``), the windows
    and how many of them the simulator points run (the simulator is much
    slower than the reference; its reference twin runs the same ones)."""

    size: str
    windows: int
    sim_windows: int

    def prompt(self, window: int) -> int:
        """The generation stage's prompt: the first 7/8 of a window (448 +
        64 tokens of 512, near the paper's 992 + 32), the rest generated."""
        return window - window // GENERATED_EIGHTHS


#: A window's generated tokens are 1 / GENERATED_EIGHTHS of it.
GENERATED_EIGHTHS = 8
FULL = Setting("small", 32, 4)
QUICK = Setting("tiny", 4, 1)


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


def evaluate_reference(w: acc.Windows, weights: R.ModelWeights, cfg: R.SpAttenConfig,
                       hardware: Dict) -> Dict[str, object]:
    """Perplexity and record statistics of ``cfg`` on the reference
    (``hardware``: a hardware configuration record, for the K/V fills)."""
    records = []

    def logits(inputs):
        run = R.run_inputs(weights, inputs, cfg, hardware)
        records.extend(run.layers)
        return run.outputs[w.logits]

    start = time.time()
    a = acc.measure(w, logits, "reference", cfg.to_flags())
    return {"perplexity": a.value, "loss": a.loss, "predictions": a.predictions, "windows": a.windows,
            **record_stats(records), "seconds": time.time() - start}


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
    return {"perplexity": a.value, "loss": a.loss, "predictions": a.predictions, "windows": a.windows,
            **record_stats(records), "seconds": time.time() - start}


def evaluate_sim(w: acc.Windows, cfg: R.SpAttenConfig, work: Path, bin_dir: Optional[Path]) -> Dict[str, object]:
    """Perplexity of ``cfg`` on the simulator, with the reports' attention
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
    return {"perplexity": a.value, "loss": a.loss, "predictions": a.predictions, "windows": a.windows,
            "attention_bytes": sum(rep.dram.read(ATTENTION_CLASSES) for rep in reports),
            "cycles": sum(rep.cycles for rep in reports),
            "head_refetch_rate": sum(decisions) / len(decisions) if decisions else 0.0,
            "seconds": time.time() - start}


class Sweep:
    """Evaluates settings on one model, each once: a point's result is
    cached as JSON in ``cache`` under its engine, stage, windows and flags,
    so a new run (after an interruption) reads it instead of running again.
    generation: score the generation stage (:meth:`Setting.prompt`; the
    reference only) instead of whole windows."""

    def __init__(self, model: Path, text: Path, cache: Path, setting: Setting, bin_dir: Optional[Path] = None,
                 generation: bool = False):
        self.cache, self.setting, self.bin_dir = cache, setting, bin_dir
        window = acc.prepare(model, text, max_windows=1).window
        self.prompt = setting.prompt(window) if generation else None
        self.windows = acc.prepare(model, text, max_windows=setting.windows, prompt=self.prompt)
        self.weights = R.from_onnx(model)
        self.hardware = json.loads(HARDWARE.read_text())
        self.runs = 0  # points computed (not read from the cache) by this object
        cache.mkdir(parents=True, exist_ok=True)

    def _subset(self, count: int) -> acc.Windows:
        w = self.windows
        return dataclasses.replace(w, inputs=w.inputs[:count], rows=w.rows[:count], tokens=w.tokens[:count])

    def point(self, cfg: R.SpAttenConfig, engine: str = "reference", windows: Optional[int] = None) -> Dict:
        """The result of ``cfg`` on ``engine`` over the first ``windows``
        windows (default all): perplexity, loss, attention bytes, refetch
        rates, seconds (see :func:`evaluate_reference`, :func:`evaluate_sim`)."""
        count = windows or len(self.windows.inputs)
        flags = " ".join(cfg.to_flags())
        key = hashlib.sha1(f"{engine} {count} {self.prompt} {flags}".encode()).hexdigest()[:16]
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

def within_bound(point: Dict, dense: Dict) -> bool:
    """Perplexity at most :data:`NO_LOSS_PPL_RISE` above dense."""
    return point["perplexity"] <= dense["perplexity"] * (1 + NO_LOSS_PPL_RISE)


def no_loss(points: Sequence[Dict], dense: Dict) -> Optional[Dict]:
    """The point with the largest attention-DRAM reduction (fewest
    attention bytes) within the bound; None when none is."""
    fit = [p for p in points if within_bound(p, dense)]
    return min(fit, key=lambda p: (p["attention_bytes"], p["perplexity"])) if fit else None


def combinations(curves: Dict[str, List[Dict]], dense: Dict) -> List[R.SpAttenConfig]:
    """Each group of :data:`COMBINED`: its :data:`COMBINE_TOP` most
    aggressive points within the bound that save bytes, or none; every
    combination of two groups or more."""
    by_name = {c.name: c for c in CURVES}
    options = []
    for group in COMBINED:
        pairs = [(p, cfg) for name in group for (_, cfg), p in zip(by_name[name].points, curves[name])]
        fit = sorted(((p, cfg) for p, cfg in pairs
                      if within_bound(p, dense) and p["attention_bytes"] < dense["attention_bytes"]),
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
    combos = combinations(curves, dense)
    log(f"no-loss search: {len(combos)} combinations")
    combined = [sweep.point(cfg) for cfg in combos]
    best = no_loss([p for ps in curves.values() for p in ps] + combined, dense)
    res: Dict[str, object] = {"dense": dense, "curves": curves, "sim": sim, "combined": combined, "no_loss": best}
    if best is not None and sweep.prompt is None:
        cfg = R.SpAttenConfig.from_flags(best["flags"])
        n = sweep.setting.sim_windows
        res["no_loss_sim"] = {"sim": sweep.point(cfg, "sim", n), "reference": sweep.point(cfg, "reference", n),
                              "dense_sim": sweep.point(R.SpAttenConfig(), "sim", n)}
    return res


# ----------------------------------------------------------------------------- model

def trained_model(size: str, allow_training: bool) -> Tuple[Path, Dict]:
    """The trained GPT-2 of ``size`` (ONNX file, metrics) from the cache of
    ``spatten.train``; trains it only when ``allow_training``. Raises
    SystemExit naming the training command when it is absent."""
    settings = train.TrainSettings.of("gpt2", size)
    directory = corpus.out_dir() / "train" / settings.key
    if not (directory / "model.onnx").is_file() or not (directory / "metrics.json").is_file():
        if not allow_training:
            raise SystemExit(f"{directory} holds no trained model: run "
                             f"`/usr/bin/python3 -m spatten.train gpt2 --size {size}` first")
        train.train(settings)
    metrics = json.loads((directory / "metrics.json").read_text())
    metrics.pop("losses", None)
    return directory / "model.onnx", metrics


# ----------------------------------------------------------------------------- figures

def change(p: Dict, dense: Dict) -> float:
    """Perplexity change against dense, %."""
    return 100 * (p["perplexity"] / dense["perplexity"] - 1)


def reduction(p: Dict, dense: Dict) -> float:
    """Attention-DRAM reduction against dense (dense bytes / bytes)."""
    return dense["attention_bytes"] / p["attention_bytes"]


#: The pruning ratio of the token, head and value curves: rows of dense
#: over the point's (K rows fetched, heads computed, V rows fetched; over
#: the layers, and the decode steps in the generation stage).
RATIO_OF = {"token": "k_rows", "head": "head_layers", "value": "v_rows"}


#: The curves plotted against their pruning ratio (Fig. 21's axis); value
#: keep is plotted against the keep, since over a whole window the union of
#: the queries' kept V rows is fetched.
PLOTTED_RATIOS = ("token", "head")


def pruning_ratio(curve: str, p: Dict, dense: Dict) -> Optional[float]:
    field = RATIO_OF.get(curve)
    return dense[field] / p[field] if field else None


def perplexity_at_token_ratio(res: Dict, ratio: float) -> Optional[float]:
    """The token curve's perplexity at ``ratio``, interpolated linearly
    between its points; None outside them."""
    pts = sorted((pruning_ratio("token", p, res["dense"]), p["perplexity"]) for p in res["curves"]["token"])
    xs, ys = zip(*pts)
    return float(np.interp(ratio, xs, ys)) if xs[0] <= ratio <= xs[-1] else None


def refetch_at(res: Dict, threshold: float) -> Optional[Dict]:
    return next((p for p in res["curves"]["threshold"] if abs(p["x"] - threshold) < 1e-9), None)


def curve_rows(res: Dict) -> List[str]:
    dense = res["dense"]
    rows = ["| knob | value | perplexity | change | pruning ratio | attention bytes | reduction | refetch rate |",
            "|---|---|---|---|---|---|---|---|"]
    for c in CURVES:
        for p in res["curves"][c.name]:
            ratio = pruning_ratio(c.name, p, dense)
            refetch = f"{p['row_refetch_rate']:.1%}" if "pq-msb" in p["flags"] else ""
            rows.append(f"| {c.label} | {p['x']:.3g} | {p['perplexity']:.3f} | {change(p, dense):+.2f}% | "
                        f"{f'{ratio:.2f}x' if ratio else ''} | {p['attention_bytes']:,} | "
                        f"{reduction(p, dense):.2f}x | {refetch} |")
    return rows


def sim_rows(res: Dict) -> List[str]:
    rows = ["| knob | flags | windows | reference perplexity | simulator perplexity | relative difference | "
            "reference attention bytes | simulator attention bytes |", "|---|---|---|---|---|---|---|---|"]
    for s in res["sim"]:
        ref, sim = s["reference"], s["sim"]
        rel = abs(sim["perplexity"] / ref["perplexity"] - 1)
        rows.append(f"| {s['curve']} = {s['x']:.3g} | `{sim['flags']}` | {sim['windows']} | {ref['perplexity']:.4f} | "
                    f"{sim['perplexity']:.4f} | {rel:.1e} | {ref['attention_bytes']:,} | {sim['attention_bytes']:,} |")
    return rows


def refetch_rows(res: Dict) -> List[str]:
    dense = res["dense"]
    rows = ["| threshold | query rows refetching | heads refetching | perplexity change | paper |",
            "|---|---|---|---|---|"]
    paper = {0.1: "5.9% of inputs on average (§3)", 0.05: "7.0% of head-queries, GPT-2 [R] (§2)"}
    for p in res["curves"]["threshold"]:
        rows.append(f"| {p['x']:g} | {p['row_refetch_rate']:.1%} | {p['head_refetch_rate']:.1%} | "
                    f"{change(p, dense):+.2f}% | {paper.get(p['x'], '')} |")
    return rows


def no_loss_lines(res: Dict) -> List[str]:
    dense, best = res["dense"], res["no_loss"]
    if best is None:
        return [f"No setting keeps the perplexity within {NO_LOSS_PPL_RISE:.0%} of dense."]
    lines = [f"**No-loss operating point** (the largest attention-DRAM reduction whose perplexity rises at most "
             f"{NO_LOSS_PPL_RISE:.0%}; {len(res['combined'])} combination{'s' * (len(res['combined']) != 1)} searched "
             "beside the curves): "
             f"`{best['flags']}`, perplexity {best['perplexity']:.3f} ({change(best, dense):+.2f}%), attention "
             f"DRAM reduction **{reduction(best, dense):.2f}x** against the paper's {PAPER_DRAM_REDUCTION}x "
             "(paper-figures §1: 30 benchmarks, mostly from GPT-2's generation stage with 1000-token contexts)."]
    s = res.get("no_loss_sim")
    if s:
        sim, ref, d = s["sim"], s["reference"], s["dense_sim"]
        lines[-1] += (f" On the simulator ({sim['windows']} window{'s' * (sim['windows'] != 1)}): perplexity "
                      f"{sim['perplexity']:.3f} (reference {ref['perplexity']:.3f}), attention bytes "
                      f"{d['attention_bytes'] / sim['attention_bytes']:.2f}x fewer than dense (reference "
                      f"{d['attention_bytes'] / ref['attention_bytes']:.2f}x), {d['cycles'] / sim['cycles']:.2f}x "
                      "fewer cycles for the whole model (GEMMs included: the speedup).")
        if sim["attention_bytes"] != ref["attention_bytes"]:
            lines[-1] += (f" The engines count this setting's attention bytes differently (simulator "
                          f"{sim['attention_bytes']:,}, reference {ref['attention_bytes']:,}): the simulator's "
                          "figure is the accelerator's, and the reference's reductions of settings like it "
                          "(above and in the generation stage) overstate the accelerator's.")
    return lines


def stage_lines(stage: Dict, what: str) -> List[str]:
    """A stage's curves, refetch rates and no-loss point."""
    return [*curve_rows(stage), "", f"Refetch rate {what}:", "", *refetch_rows(stage), "", *no_loss_lines(stage)]


def summary(res: Dict) -> str:
    """The closing note: refetch rates, no-loss reductions, the
    perplexity at the paper's token pruning."""
    gen, whole, st = res["generation"], res["whole"], res["metrics"]["settings"]
    p01, p005 = refetch_at(gen, 0.1), refetch_at(gen, 0.05)

    def best(stage):
        b = stage["no_loss"]
        return f"{reduction(b, stage['dense']):.2f}x" if b else "none within the bound"

    def at_paper(stage):
        v = perplexity_at_token_ratio(stage, PAPER_TOKEN_RATIO)
        if v:
            return f"{v:.2f} ({change({'perplexity': v}, stage['dense']):+.1f}%)"
        dense = stage["dense"]
        top = max(stage["curves"]["token"], key=lambda p: pruning_ratio("token", p, dense))
        return (f"beyond the curve (the paper's schedule prunes at most {pruning_ratio('token', top, dense):.2f}x "
                f"on {st['layers']} layers, its first dense: perplexity {top['perplexity']:.2f}, "
                f"{change(top, dense):+.1f}%)")

    return ("**In short:** in the generation stage the refetch rate is "
            f"{p01['row_refetch_rate']:.1%} at threshold 0.1 and {p005['row_refetch_rate']:.1%} at 0.05 (paper: "
            f"{PAPER_REFETCH_RATE:.1%} on average, §3); the no-loss attention-DRAM reduction is {best(gen)} in the "
            f"generation stage and {best(whole)} over whole windows (paper: {PAPER_DRAM_REDUCTION}x, §1); at the "
            f"paper's {PAPER_TOKEN_RATIO}x token pruning the perplexity is {at_paper(gen)} in the generation stage "
            f"and {at_paper(whole)} over whole windows (interpolated on the token curves; the paper's GPT-2 loses "
            "about 1% accuracy near 4x, Fig. 21).")


def byte_caveat(res: Dict) -> List[str]:
    """A note under the generation stage when the whole-window no-loss
    point's attention bytes differ between the engines."""
    s = res["whole"].get("no_loss_sim")
    if not s or s["sim"]["attention_bytes"] == s["reference"]["attention_bytes"]:
        return []
    return [f"Attention bytes here are the reference's counts. For `{s['sim']['flags']}` over whole windows the "
            f"simulator reads {s['sim']['attention_bytes'] / s['reference']['attention_bytes']:.2f}x the bytes the "
            "reference counts (below), so reductions that combine those knobs overstate the accelerator's.", ""]


def render(res: Dict) -> List[str]:
    s = Setting(**res["setting"])
    m, whole, gen = res["metrics"], res["whole"], res["generation"]
    st = m["settings"]
    tiny = "" if s.size == "small" else (" The `small` model was not trained when this section was produced, so "
                                         "it shows the `tiny` one.")
    return [
        BEGIN,
        "## Accuracy of SpAtten's pruning",
        "",
        f"GPT-2 `{s.size}` trained by `spatten.train` (docs/Accuracy.md): {st['layers']} layers, hidden "
        f"{st['hidden']}, {st['heads']} heads, context {st['context']}, {st['vocab']} sentencepiece pieces, "
        f"{st['steps']} steps of {st['batch']} windows on the train split of `{corpus.PACKAGE}`; validation "
        f"perplexity {m['validation_perplexity']:.2f} (loss {m['validation_loss']:.3f} nats, unigram baseline "
        f"{m['unigram_loss']:.3f}). Produced by `bench/accuracy.py`.{tiny}",
        "",
        f"Perplexity on the first {whole['dense']['windows']} windows of {res['window']} tokens of the test split, "
        "each knob alone, on the NumPy reference. Attention bytes are the Q, K and V bytes (MSB and LSB planes "
        "included) the attention reads, from the reference's layer records; the pruning ratio is the computed "
        "token rows, heads or fetched V rows of dense over the point's. The no-loss operating point is the "
        f"setting with the largest attention-DRAM reduction whose perplexity rises at most {NO_LOSS_PPL_RISE:.0%}, "
        "searched over the curves and their combinations.",
        "",
        f"![Perplexity against each knob, in the style of the paper's Fig. 21](results/{PLOT_CURVES})",
        "",
        "### Generation stage",
        "",
        f"The paper's GPT-2 setting: each window's first {res['prompt']} tokens are the prompt (the prefill), "
        f"then teacher forcing through {res['window'] - res['prompt']} decode steps, each feeding the next true "
        "token as one query against the KV cache, so pruning decided across steps is what is measured "
        f"({gen['dense']['predictions']:,} predictions; dense perplexity **{gen['dense']['perplexity']:.3f}**). "
        "Bytes and refetch rates are the decode steps'. `test_agreement_generation.py` proves the reference's "
        "decode steps equal the simulator's.",
        "",
        *stage_lines(gen, "in the decode steps (a decision is one query of one head, the paper's unit)"),
        "",
        *byte_caveat(res),
        "### Whole windows",
        "",
        f"Every position of a window at once ({whole['dense']['predictions']:,} predictions; dense perplexity "
        f"**{whole['dense']['perplexity']:.3f}**). With token pruning a pruned token's prediction comes from its "
        "last computed layer, as on the accelerator, which costs more than pruning keys in the generation stage; "
        "local value pruning fetches the union of the queries' kept V rows, so it saves no bytes here.",
        "",
        *stage_lines(whole, "over whole windows (one unconfident query row refetches its head)"),
        "",
        "Both engines on the same windows, one point per curve (the agreement tests prove equal selections; "
        "here the perplexities and bytes on the trained model):",
        "",
        *sim_rows(whole),
        "",
        f"![Refetch rate against the threshold](results/{PLOT_REFETCH})",
        "",
        summary(res),
        END,
    ]


def plot(res: Dict, out_dir: Path) -> None:
    """Fig. 21 style: the quality change (here minus the perplexity change,
    so a loss is negative like the paper's accuracy change) against each
    knob, both stages, the paper's points overlaid; and the refetch rate
    against the threshold beside the paper's 5.9%."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = (("generation stage", res["generation"], "o"), ("whole windows", res["whole"], "^"))
    paper = {"token": ("paper: GPT-2 small, PTB", PAPER_TOKEN_POINTS),
             "head": ("paper: BERT-base, CoLA", PAPER_HEAD_POINTS)}
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, c in zip(axes.flat, CURVES):
        ratio = c.name in PLOTTED_RATIOS
        for label, stage, marker in stages:
            pts, dense = stage["curves"][c.name], stage["dense"]
            xs = [pruning_ratio(c.name, p, dense) if ratio else p["x"] for p in pts]
            ax.plot(xs, [-change(p, dense) for p in pts], marker=marker, label=f"{label} (-Δ perplexity)")
        if c.name in paper:
            label, points = paper[c.name]
            ax.plot(*zip(*points), marker="s", linestyle="--", color="tab:red", label=label + " (Δ accuracy)")
        ax.axhline(-100 * NO_LOSS_PPL_RISE, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(f"{c.name} pruning ratio" if ratio else c.label)
        ax.set_ylabel("quality change (%)")
        ax.set_title(c.label)
        ax.legend(fontsize=7)
    fig.suptitle(f"GPT-2 {res['setting']['size']}: perplexity against SpAtten's knobs (dotted: the 1% bound)")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / PLOT_CURVES, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, stage, marker in stages:
        pts = stage["curves"]["threshold"]
        ax.plot([p["x"] for p in pts], [100 * p["row_refetch_rate"] for p in pts], marker=marker,
                label=f"{label}: query rows")
    pts = res["whole"]["curves"]["threshold"]
    ax.plot([p["x"] for p in pts], [100 * p["head_refetch_rate"] for p in pts], marker="v", linestyle=":",
            label="whole windows: heads")
    ax.axhline(100 * PAPER_REFETCH_RATE, color="tab:red", linestyle="--", label="paper: 5.9% (threshold 0.1)")
    ax.set_xlabel("refetch threshold (largest attention probability)")
    ax.set_ylabel("refetch rate (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_REFETCH, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- main

def measure(args, setting: Setting) -> Dict[str, object]:
    model, metrics = trained_model(setting.size, allow_training=args.quick)
    text = corpus.corpus_files()["test"]
    sweep = Sweep(model, text, args.work_dir / "accuracy" / model.parent.name, setting, args.bin_dir)
    whole = run_sweep(sweep)
    log("the generation stage")
    gen = Sweep(model, text, sweep.cache, setting, args.bin_dir, generation=True)
    return {"setting": dataclasses.asdict(setting), "metrics": metrics, "window": sweep.windows.window,
            "prompt": gen.prompt, "whole": whole, "generation": run_sweep(gen)}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny GPT-2, 4 windows; output under --work-dir")
    ap.add_argument("--size", choices=train.SIZES, help="the trained GPT-2 (default small, quick tiny)")
    ap.add_argument("--windows", type=int, help=f"test windows (default {FULL.windows}, quick {QUICK.windows})")
    ap.add_argument("--sim-windows", type=int,
                    help=f"windows of the simulator points (default {FULL.sim_windows}, quick {QUICK.sim_windows})")
    ap.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--bin-dir", type=Path, default=None, help="spatten tools (default: $SPATTEN_BIN or build/bin)")
    ap.add_argument("--output", type=Path, help="results Markdown (default docs/results.md; with --quick "
                                                "<work-dir>/quick/results.md)")
    ap.add_argument("--render-only", action="store_true", help="rewrite the section from the last run's accuracy.json")
    args = ap.parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    base = QUICK if args.quick else FULL
    setting = dataclasses.replace(base, size=args.size or base.size, windows=args.windows or base.windows,
                                  sim_windows=args.sim_windows or base.sim_windows)
    output = args.output or (args.work_dir / "quick" / "results.md" if args.quick else ROOT / "docs" / "results.md")
    saved = args.work_dir / ("accuracy-quick.json" if args.quick else "accuracy.json")
    if args.render_only:
        res = json.loads(saved.read_text())
    else:
        res = measure(args, setting)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(res, indent=1))
    generation.write_section(output, render(res), BEGIN, END)
    plot(res, output.parent / "results")
    log(f"wrote the accuracy section of {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The renderer of bench/accuracy.py: the section "Accuracy of SpAtten's
pruning" of docs/results.md and its plots, from the sweeps' results
(:func:`accuracy_sweep.measure`), one subsection per trained model, beside
the paper's figures (paper-figures §1, §3, §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from accuracy_sweep import CURVES, METRICS, MODELS, PAPER_TOKEN_RATIO, Metric, Setting
from spatten import corpus, train

BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"
#: Each model's plots in docs/results/: the curves (Fig. 21 style) and the refetch rate.
PLOTS = {"gpt2": ("accuracy_curves.png", "accuracy_refetch.png"),
         "bert": ("accuracy_curves_bert.png", "accuracy_refetch_bert.png")}

#: The paper's figures (paper-figures §1, §3).
PAPER_DRAM_REDUCTION = 10.0
PAPER_REFETCH_RATE = 0.059
#: Fig. 21: GPT-2-small on PTB, token pruning ratio -> accuracy change (%);
#: BERT-base on CoLA, head pruning ratio -> accuracy change (%).
PAPER_TOKEN_POINTS = [(2.59, 0.56), (3.36, -0.31), (4.01, -1.2), (4.44, -1.3), (5.19, -5.6), (6.56, -20.8),
                      (7.33, -32.1), (8.32, -40.3)]
PAPER_HEAD_POINTS = [(1.05, 3.1), (1.12, 1.0), (1.2, 0.5), (1.3, -0.2), (1.5, -8.4), (1.6, -10.9), (1.8, -14.0),
                     (2.0, -16.4)]
#: The paper's head pruning ratio whose accuracy change is nearest zero (-0.2%).
PAPER_HEAD_RATIO = 1.3
#: The paper's curves overlaid on each model's plot (knob -> legend, points).
PAPER_OVERLAYS = {
    "gpt2": {"token": ("paper: GPT-2 small, PTB", PAPER_TOKEN_POINTS),
             "head": ("paper: BERT-base, CoLA", PAPER_HEAD_POINTS)},
    "bert": {"head": ("paper: BERT-base, CoLA", PAPER_HEAD_POINTS)},
}
#: Per metric: the plotted quality's legend, the y axis, the bound's name.
PLOT_TEXT = {"perplexity": ("-Δ perplexity", "quality change (%)", "the 1% bound"),
             "accuracy": ("Δ accuracy", "accuracy change (points)", "the 0.5-point bound")}


def metric_of(res: Dict) -> Metric:
    return METRICS["causal" if Setting(**res["setting"]).kind == "gpt2" else "masked"]


# ----------------------------------------------------------------------------- figures

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


def value_at_ratio(stage: Dict, curve: str, ratio: float, key: str) -> Optional[float]:
    """``curve``'s ``key`` at pruning ``ratio``, interpolated linearly
    between its points; None outside them."""
    pts = sorted((pruning_ratio(curve, p, stage["dense"]), p[key]) for p in stage["curves"][curve])
    xs, ys = zip(*pts)
    return float(np.interp(ratio, xs, ys)) if xs[0] <= ratio <= xs[-1] else None


def refetch_at(stage: Dict, threshold: float) -> Optional[Dict]:
    return next((p for p in stage["curves"]["threshold"] if abs(p["x"] - threshold) < 1e-9), None)


# ----------------------------------------------------------------------------- tables

def curve_rows(stage: Dict, metric: Metric) -> List[str]:
    dense = stage["dense"]
    loss = " loss (nats) |" if metric.loss_column else ""
    rows = [f"| knob | value | {metric.label} | change |{loss} pruning ratio | attention bytes | reduction | "
            "refetch rate |", "|---|---|---|---|---|---|---|---|" + "---|" * metric.loss_column]
    for c in CURVES:
        for p in stage["curves"][c.name]:
            ratio = pruning_ratio(c.name, p, dense)
            refetch = f"{p['row_refetch_rate']:.1%}" if "pq-msb" in p["flags"] else ""
            loss = f" {p['loss']:.4f} |" if metric.loss_column else ""
            rows.append(f"| {c.label} | {p['x']:.3g} | {metric.value(p[metric.key])} | "
                        f"{metric.change_text(p, dense)} |{loss} {f'{ratio:.2f}x' if ratio else ''} | "
                        f"{p['attention_bytes']:,} | {reduction(p, dense):.2f}x | {refetch} |")
    return rows


def sim_rows(stage: Dict, metric: Metric) -> List[str]:
    """Each simulator point beside its reference twin: the metric (to four
    decimals) and its difference (relative, or in correct predictions for
    a share)."""
    what = "relative difference" if metric.relative else "difference (correct predictions)"
    rows = [f"| knob | flags | windows | reference {metric.label} | simulator {metric.label} | {what} | "
            "reference attention bytes | simulator attention bytes |", "|---|---|---|---|---|---|---|---|"]
    for s in stage["sim"]:
        ref, sim = s["reference"], s["sim"]
        if metric.relative:
            diff = f"{abs(sim[metric.key] / ref[metric.key] - 1):.1e}"
            values = f"{ref[metric.key]:.4f} | {sim[metric.key]:.4f}"
        else:
            diff = f"{round(abs(sim[metric.key] - ref[metric.key]) * ref['predictions'])}"
            values = f"{100 * ref[metric.key]:.4f}% | {100 * sim[metric.key]:.4f}%"
        rows.append(f"| {s['curve']} = {s['x']:.3g} | `{sim['flags']}` | {sim['windows']} | {values} | {diff} | "
                    f"{ref['attention_bytes']:,} | {sim['attention_bytes']:,} |")
    return rows


def refetch_rows(stage: Dict, metric: Metric) -> List[str]:
    """The refetch rate against the threshold, and on the tokens the
    paper's token pruning keeps (:data:`PRUNED_REFETCH`) where measured."""
    dense = stage["dense"]
    rows = [f"| threshold | query rows refetching | heads refetching | {metric.label} change | query rows "
            f"refetching, token keep 1/{PAPER_TOKEN_RATIO:g} | paper |", "|---|---|---|---|---|---|"]
    paper = {0.1: "5.9% of inputs on average (§3)", 0.05: "7.0% of head-queries, GPT-2 [R] (§2)"}
    for p in stage["curves"]["threshold"]:
        pruned = pruned_refetch_at(stage, p["x"])
        rows.append(f"| {p['x']:g} | {p['row_refetch_rate']:.1%} | {p['head_refetch_rate']:.1%} | "
                    f"{metric.change_text(p, dense)} | {f'{pruned:.1%}' if pruned is not None else ''} | "
                    f"{paper.get(p['x'], '')} |")
    return rows


def pruned_refetch_at(stage: Dict, threshold: float) -> Optional[float]:
    """The query rows' refetch rate at ``threshold`` with the paper's token
    pruning, or None where it was not measured."""
    return next((p["row_refetch_rate"] for p in stage.get("pruned_refetch", ()) if abs(p["x"] - threshold) < 1e-9),
                None)


def no_loss_lines(stage: Dict, metric: Metric) -> List[str]:
    dense, best = stage["dense"], stage["no_loss"]
    if best is None:
        return [f"No setting keeps the {metric.label} within the bound ({metric.bound_text})."]
    k = metric.key
    lines = [f"**No-loss operating point** (the largest attention-DRAM reduction whose {metric.bound_text}; "
             f"{len(stage['combined'])} combination{'s' * (len(stage['combined']) != 1)} searched beside the curves): "
             f"`{best['flags']}`, {metric.label} {metric.value(best[k])} ({metric.change_text(best, dense)}"
             + (f"; loss {best['loss']:.3f} nats, dense {dense['loss']:.3f}" if metric.loss_column else "") + "), "
             f"attention DRAM reduction **{reduction(best, dense):.2f}x** against the paper's {PAPER_DRAM_REDUCTION}x "
             "(paper-figures §1: 30 benchmarks, mostly from GPT-2's generation stage with 1000-token contexts)."]
    s = stage.get("no_loss_sim")
    if s:
        sim, ref, d = s["sim"], s["reference"], s["dense_sim"]
        lines[-1] += (f" On the simulator ({sim['windows']} window{'s' * (sim['windows'] != 1)}): {metric.label} "
                      f"{metric.value(sim[k])} (reference {metric.value(ref[k])}), attention bytes "
                      f"{d['attention_bytes'] / sim['attention_bytes']:.2f}x fewer than dense (reference "
                      f"{d['attention_bytes'] / ref['attention_bytes']:.2f}x), {d['cycles'] / sim['cycles']:.2f}x "
                      "fewer cycles for the whole model (GEMMs included: the speedup).")
        if sim["attention_bytes"] != ref["attention_bytes"]:
            lines[-1] += (f" The engines count this setting's attention bytes differently (simulator "
                          f"{sim['attention_bytes']:,}, reference {ref['attention_bytes']:,}): the simulator's "
                          "figure is the accelerator's, and the reference's reductions of settings like it "
                          "(above and in the generation stage) overstate the accelerator's.")
    return lines


def stage_lines(stage: Dict, metric: Metric, what: str) -> List[str]:
    """A stage's curves, refetch rates and no-loss point."""
    return [*curve_rows(stage, metric), "", f"Refetch rate {what}:", "", *refetch_rows(stage, metric), "",
            *no_loss_lines(stage, metric)]


def best_reduction(stage: Dict) -> str:
    b = stage["no_loss"]
    return f"{reduction(b, stage['dense']):.2f}x" if b else "none within the bound"


#: Below this gain over the unigram baseline (nats) a model is flagged as
#: reading little of its context (the trained small GPT-2 gains 1.9).
LITTLE_CONTEXT_NATS = 0.25


def model_lines(res: Dict) -> List[str]:
    """The trained model: size, training and validation score."""
    s, m = Setting(**res["setting"]), res["metrics"]
    st, title = m["settings"], MODELS[s.kind].title
    score = (f"perplexity {m['validation_perplexity']:.2f}" if "validation_perplexity" in m
             else f"masked-token accuracy {100 * m['validation_accuracy']:.2f}%")
    notes = "" if s.size == "small" else (" The `small` model was not trained when this section was produced, so "
                                          "it shows the `tiny` one.")
    gain = m["unigram_loss"] - m["validation_loss"]
    if gain < LITTLE_CONTEXT_NATS or m.get("validation_accuracy", 1) <= m.get("unigram_accuracy", 0):
        notes += (f" It predicts the masked tokens {gain:.3f} nats better than a model that knows only the token "
                  "frequencies" + (f" (masked-token accuracy {100 * m['unigram_accuracy']:.2f}% by always "
                                   "predicting the most frequent piece)" if "unigram_accuracy" in m else "")
                  + ": it reads little of its context, so pruning its attention costs it little, and says little "
                  "about a model that uses its context.")
    return [f"{title} `{s.size}` trained by `spatten.train` (docs/Accuracy.md): {st['layers']} layers, hidden "
            f"{st['hidden']}, {st['heads']} heads, context {st['context']}, {st['vocab']} sentencepiece pieces, "
            f"{training_text(st)} on the train split of `{corpus.PACKAGE}`; validation "
            f"{score} (loss {m['validation_loss']:.3f} nats, unigram baseline {m['unigram_loss']:.3f}).{notes}", ""]


def training_text(st: Dict) -> str:
    """"800 steps of 8 windows", with the short-window phase and the
    training masking rate where they are set."""
    text = f"{st['steps']} steps of {st['batch']} windows"
    short = st.get("short_context", 0)
    if short:
        count, length = train.window_shape(train.TrainSettings(**st), 0)
        text += f" ({count} of {length} tokens for the first {round(train.SHORT_SHARE * st['steps'])})"
    if st["kind"] == "bert" and st.get("mask_rate", train.MASK_RATE) != train.MASK_RATE:
        text += f", {100 * st['mask_rate']:g}% of the positions masked"
    return text + f", peak learning rate {st['lr']:g}"


# ----------------------------------------------------------------------------- the section

def gpt2_summary(res: Dict) -> str:
    """The closing note: refetch rates, no-loss reductions, the
    perplexity at the paper's token pruning."""
    gen, whole, st = res["generation"], res["whole"], res["metrics"]["settings"]
    p01, p005 = refetch_at(gen, 0.1), refetch_at(gen, 0.05)
    change = METRICS["causal"].change

    def at_paper(stage):
        v = value_at_ratio(stage, "token", PAPER_TOKEN_RATIO, "perplexity")
        dense = stage["dense"]
        if v:
            return f"{v:.2f} ({change({'perplexity': v}, dense):+.1f}%)"
        top = max(stage["curves"]["token"], key=lambda p: pruning_ratio("token", p, dense))
        return (f"beyond the curve (the paper's schedule prunes at most {pruning_ratio('token', top, dense):.2f}x "
                f"on {st['layers']} layers, its first dense: perplexity {top['perplexity']:.2f}, "
                f"{change(top, dense):+.1f}%)")

    pruned = ""
    if pruned_refetch_at(gen, 0.1) is not None:
        pruned = (f", and {pruned_refetch_at(gen, 0.1):.1%} and {pruned_refetch_at(gen, 0.05):.1%} on the tokens "
                  f"kept by {PAPER_TOKEN_RATIO:g}x token pruning, as in the paper's setting, which prunes tokens first")
    return ("**In short:** in the generation stage the refetch rate is "
            f"{p01['row_refetch_rate']:.1%} at threshold 0.1 and {p005['row_refetch_rate']:.1%} at 0.05{pruned} "
            f"(paper: {PAPER_REFETCH_RATE:.1%} on average, §3); the no-loss attention-DRAM reduction is {best_reduction(gen)} "
            f"in the generation stage and {best_reduction(whole)} over whole windows (paper: {PAPER_DRAM_REDUCTION}x, "
            f"§1); at the paper's {PAPER_TOKEN_RATIO}x token pruning the perplexity is {at_paper(gen)} in the "
            f"generation stage and {at_paper(whole)} over whole windows (interpolated on the token curves; the "
            "paper's GPT-2 loses about 1% accuracy near 4x, Fig. 21).")


def byte_caveat(res: Dict) -> List[str]:
    """A note under the generation stage when the whole-window no-loss
    point's attention bytes differ between the engines."""
    s = res["whole"].get("no_loss_sim")
    if not s or s["sim"]["attention_bytes"] == s["reference"]["attention_bytes"]:
        return []
    return [f"Attention bytes here are the reference's counts. For `{s['sim']['flags']}` over whole windows the "
            f"simulator reads {s['sim']['attention_bytes'] / s['reference']['attention_bytes']:.2f}x the bytes the "
            "reference counts (below), so reductions that combine those knobs overstate the accelerator's.", ""]


def both_engines_lines(res: Dict, metric: Metric) -> List[str]:
    """The whole-window simulator points beside their reference twins, and the refetch plot."""
    return ["Both engines on the same windows, one point per curve (the agreement tests prove equal selections; "
            f"here the {metric.label} and bytes on the trained model):", "", *sim_rows(res["whole"], metric), "",
            f"![Refetch rate against the threshold](results/{PLOTS[Setting(**res['setting']).kind][1]})", ""]


def gpt2_lines(res: Dict) -> List[str]:
    whole, gen, metric = res["whole"], res["generation"], METRICS["causal"]
    return [
        "### GPT-2",
        "",
        *model_lines(res),
        f"Perplexity on the first {whole['dense']['windows']} windows of {res['window']} tokens of the test split.",
        "",
        f"![Perplexity against each knob, in the style of the paper's Fig. 21](results/{PLOTS['gpt2'][0]})",
        "",
        "#### Generation stage",
        "",
        f"The paper's GPT-2 setting: each window's first {res['prompt']} tokens are the prompt (the prefill), "
        f"then teacher forcing through {res['window'] - res['prompt']} decode steps, each feeding the next true "
        "token as one query against the KV cache, so pruning decided across steps is what is measured "
        f"({gen['dense']['predictions']:,} predictions; dense perplexity **{gen['dense']['perplexity']:.3f}**). "
        "Bytes and refetch rates are the decode steps'. `test_agreement_generation.py` proves the reference's "
        "decode steps equal the simulator's.",
        "",
        *stage_lines(gen, metric, "in the decode steps (a decision is one query of one head, the paper's unit)"),
        "",
        *byte_caveat(res),
        "#### Whole windows",
        "",
        f"Every position of a window at once ({whole['dense']['predictions']:,} predictions; dense perplexity "
        f"**{whole['dense']['perplexity']:.3f}**). With token pruning a pruned token's prediction comes from its "
        "last computed layer, as on the accelerator, which costs more than pruning keys in the generation stage; "
        "local value pruning fetches the union of the queries' kept V rows, so it saves no bytes here.",
        "",
        *stage_lines(whole, metric, "over whole windows (one unconfident query row refetches its head)"),
        "",
        *both_engines_lines(res, metric),
        gpt2_summary(res),
    ]


def bert_summary(res: Dict) -> str:
    """The closing note: refetch rate, no-loss reduction and speedup, the
    accuracy at the paper's no-loss head pruning."""
    whole, metric = res["whole"], METRICS["masked"]
    p01, s = refetch_at(whole, 0.1), whole.get("no_loss_sim")
    speedup = (f", {s['dense_sim']['cycles'] / s['sim']['cycles']:.2f}x fewer cycles on the simulator" if s else "")
    head = value_at_ratio(whole, "head", PAPER_HEAD_RATIO, metric.key)
    at_head = ("beyond the head curve" if head is None else
               f"{metric.change_text({metric.key: head}, whole['dense'])} (interpolated on the head curve)")
    return ("**In short:** over whole windows the refetch rate is "
            f"{p01['row_refetch_rate']:.1%} of query rows at threshold 0.1 (paper: {PAPER_REFETCH_RATE:.1%} on "
            "average, §3; its BERT benchmarks quantize statically, §1); the no-loss attention-DRAM reduction is "
            f"{best_reduction(whole)}{speedup} (paper: {PAPER_DRAM_REDUCTION}x over 30 benchmarks, 22 of them "
            "BERT, which reduce much less than GPT-2, §1); at the paper's "
            f"{PAPER_HEAD_RATIO}x head pruning (BERT-base on CoLA: -0.2%, Fig. 21) the masked-token accuracy "
            f"changes by {at_head}.")


def bert_lines(res: Dict) -> List[str]:
    whole, metric = res["whole"], METRICS["masked"]
    dense = whole["dense"]
    return [
        "### BERT (masked LM)",
        "",
        *model_lines(res),
        f"Masked-token accuracy on the first {dense['windows']} windows of {res['window']} tokens of the test "
        "split, each run whole as the masked LM runs (the paper's summarization stage): a seeded 15% of each "
        f"window's positions are replaced by `<mask>` and predicted ({dense['predictions']:,} predictions; dense "
        f"accuracy **{metric.value(dense[metric.key])}**). Every masked position is an output, so a pruned "
        "token's prediction comes from its last computed layer, as on the accelerator: token pruning costs more "
        "here than on the paper's BERT tasks, which read one classification token or an answer span. Local "
        "value pruning fetches the union of the queries' kept V rows, so it saves no bytes here.",
        "",
        f"![Masked-token accuracy against each knob, in the style of the paper's Fig. 21](results/{PLOTS['bert'][0]})",
        "",
        *stage_lines(whole, metric, "over whole windows (one unconfident query row refetches its head)"),
        "",
        *both_engines_lines(res, metric),
        bert_summary(res),
    ]


def render(results: Dict[str, Dict]) -> List[str]:
    """The section: one subsection per model of ``results`` (kind -> the
    result of :func:`accuracy_sweep.measure`), GPT-2 first."""
    bounds = "; ".join(f"{MODELS[k].title}: {metric_of(r).bound_text}" for k, r in results.items())
    body = {"gpt2": gpt2_lines, "bert": bert_lines}
    return [
        BEGIN,
        "## Accuracy of SpAtten's pruning",
        "",
        "SpAtten's knobs on language models trained by `spatten.train`, each knob alone, on the NumPy reference "
        "and windows of the test split: a GPT-2 scored by perplexity, a BERT by masked-token accuracy. Attention "
        "bytes are the Q, K and V bytes (MSB and LSB planes included) the attention reads, from the reference's "
        "layer records; the pruning ratio is the computed token rows, heads or fetched V rows of dense over the "
        "point's. The no-loss operating point is the setting with the largest attention-DRAM reduction within a "
        f"quality bound ({bounds}), searched over the curves and their combinations. Produced by "
        "`bench/accuracy.py`.",
        "",
        *[line for kind in MODELS if kind in results for line in body[kind](results[kind]) + [""]][:-1],
        END,
    ]


# ----------------------------------------------------------------------------- plots

def plot(res: Dict, out_dir: Path) -> None:
    """Fig. 21 style: the quality change (a loss is negative like the
    paper's accuracy change) against each knob, each stage, the paper's
    points overlaid; and the refetch rate against the threshold beside the
    paper's 5.9%. Written to ``out_dir`` under the model's :data:`PLOTS`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, metric = Setting(**res["setting"]), metric_of(res)
    legend, ylabel, bound = PLOT_TEXT[metric.key]
    stages = [(label, res[key], marker) for label, key, marker in
              (("generation stage", "generation", "o"), ("whole windows", "whole", "^")) if key in res]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, c in zip(axes.flat, CURVES):
        ratio = c.name in PLOTTED_RATIOS
        for label, stage, marker in stages:
            pts, dense = stage["curves"][c.name], stage["dense"]
            xs = [pruning_ratio(c.name, p, dense) if ratio else p["x"] for p in pts]
            ax.plot(xs, [metric.quality_change(p, dense) for p in pts], marker=marker, label=f"{label} ({legend})")
        if c.name in PAPER_OVERLAYS[s.kind]:
            label, points = PAPER_OVERLAYS[s.kind][c.name]
            ax.plot(*zip(*points), marker="s", linestyle="--", color="tab:red", label=label + " (Δ accuracy)")
        ax.axhline(-100 * metric.bound, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(f"{c.name} pruning ratio" if ratio else c.label)
        ax.set_ylabel(ylabel)
        ax.set_title(c.label)
        ax.legend(fontsize=7)
    fig.suptitle(f"{MODELS[s.kind].title} {s.size}: {metric.label} against SpAtten's knobs (dotted: {bound})")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    curves_png, refetch_png = PLOTS[s.kind]
    fig.savefig(out_dir / curves_png, dpi=100)
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
    fig.savefig(out_dir / refetch_png, dpi=100)
    plt.close(fig)

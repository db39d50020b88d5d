#!/usr/bin/python3
"""Regenerates docs/results.md and its plots (docs/results/*.png).

    /usr/bin/python3 bench/run.py            # full run: BERT-base 128, 384 and 512, GPT-2 small 384
    /usr/bin/python3 bench/run.py --quick    # BERT-base 128, dense + all; writes under --work-dir

The generation stage and the accuracy of pruning have their own scripts,
bench/generation.py and bench/accuracy.py, which write their sections of
the same page (kept when this one rewrites it).

For each model (exported from PyTorch at full size, seeded random weights)
and each pruning configuration it compiles with spatten-compile, simulates
with spatten-sim (full and --timing-only; both through spatten.tools) and tabulates
cycles, DRAM bytes by class and energy against the dense run and the paper
(python/spatten/analysis.py). It also measures the tools' own speed side by
side in the same run: compile against the protobuf parse of the same ONNX
file, and simulation against PyTorch and onnxruntime CPU inference; and
bench/dse.py's section: sweep throughput on 1 and 2 workers, the HBM2
model's transactions per second, Fig. 19 and a Pareto front.

Nothing here is a test: the goals are checked and reported, met or not.
Tools run one at a time (the machine is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402

import accuracy as accuracy_bench  # noqa: E402  (bench/accuracy.py)
import dse  # noqa: E402  (bench/dse.py)
import generation  # noqa: E402  (bench/generation.py)
import timing_only  # noqa: E402  (bench/timing_only.py)
import zoo  # noqa: E402  (bench/zoo.py)
from spatten import analysis as an  # noqa: E402
from spatten import export as spexport  # noqa: E402
from spatten import ort as sport  # noqa: E402
from spatten import tools  # noqa: E402
from spatten.reference import SpAttenConfig  # noqa: E402
from spatten.report import ALL_CLASSES, ATTENTION_CLASSES, Report  # noqa: E402
from spatten.tensors import save_npy  # noqa: E402

#: The markers of the sections other scripts write (bench/generation.py,
#: bench/accuracy.py, bench/zoo.py, bench/timing_only.py, bench/generation.py
#: --model llama, bench/dse.py), in page order.
OWNED_SECTIONS = ((generation.BEGIN, generation.END), (accuracy_bench.BEGIN, accuracy_bench.END),
                  (zoo.BEGIN, zoo.END), (timing_only.BEGIN, timing_only.END),
                  (generation.LLAMA_BEGIN, generation.LLAMA_END), (dse.BEGIN, dse.END))

#: SpAtten settings of each configuration: each technique alone, then all.
CONFIGS: Dict[str, SpAttenConfig] = {
    "dense": SpAttenConfig(),
    "token": SpAttenConfig(token_keep=0.5),
    "head": SpAttenConfig(head_keep=0.75),
    "value": SpAttenConfig(value_keep=0.3),
    "pq": SpAttenConfig(pq_msb=6),
    "all": SpAttenConfig(token_keep=0.5, head_keep=0.75, value_keep=0.3, pq_msb=6),
}


@dataclasses.dataclass(frozen=True)
class Workload:
    """A model at one sequence length (batch 1)."""

    name: str
    kind: str  # "bert" or "gpt2"
    seq: int
    #: The configurations it runs (empty: every one). Over several K/V
    #: fills, value pruning and progressive quantization are refused
    #: (docs/Algorithms.md, "Attention over several fills").
    configs: Tuple[str, ...] = ()

    def runs(self, config: str) -> bool:
        return not self.configs or config in self.configs


FULL_WORKLOADS = [Workload("BERT-base seq 128", "bert", 128), Workload("BERT-base seq 384", "bert", 384),
                  Workload("BERT-base seq 512", "bert", 512),
                  Workload("GPT-2 small seq 384 (summarization)", "gpt2", 384),
                  Workload("GPT-2 small seq 1024 (summarization, two K/V fills)", "gpt2", 1024,
                           ("dense", "token", "head"))]
QUICK_WORKLOADS = [FULL_WORKLOADS[0]]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- tools

def wait_for_tools(bin_dir: Path, wait_s: float = 300.0) -> None:
    """Waits while a tool is missing (build/bin may be being rebuilt), then
    fails naming it."""
    deadline = time.monotonic() + wait_s
    for name in ("spatten-compile", "spatten-sim", "spatten-objdump"):
        while True:
            try:
                tools.tool_path(name, bin_dir)
                break
            except tools.ToolError as e:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: {e}")
                log(f"{name} is missing, waiting")
                time.sleep(15)


def compile_model(args, onnx: Path, out: Path, w: Workload, cfg: SpAttenConfig) -> tools.Binary:
    """Compiles ``w`` at batch 1; SystemExit with the compiler's message
    when it fails."""
    try:
        return tools.compile(onnx, out, settings=cfg, shapes={"batch": 1, "sequence": w.seq}, directory=args.bin_dir)
    except tools.ToolError as e:
        raise SystemExit(f"bench: compile {w.name} failed:\n{e}")


def simulate(args, binary: tools.Binary, inputs: Dict[str, Path], out_dir: Path, report: Path,
             timing_only: bool) -> tools.SimRun:
    """Runs ``binary``; SystemExit with the simulator's message when it fails."""
    try:
        return tools.simulate(binary, inputs, out_dir, report=report, timing_only=timing_only,
                              directory=args.bin_dir)
    except tools.ToolError as e:
        raise SystemExit(f"bench: simulate {binary.path} failed:\n{e}")


# ----------------------------------------------------------------------------- models

def ensure_model(work: Path, kind: str) -> Path:
    """Exports BERT-base / GPT-2 small (seed 0) once; reuses the file when a
    previous run left it with the same export settings."""
    path = work / ("bert-base.onnx" if kind == "bert" else "gpt2-small.onnx")
    stamp = path.with_suffix(".json")
    settings = {"kind": kind, "size": "base", "seed": 0, "opset": 14, "torch": spexport.torch.__version__}
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == settings:
        return path
    log(f"exporting {kind} (full size) to {path}")
    spexport.export(kind, str(path), size="base", opset=14, seed=0, seq_len=128)
    stamp.write_text(json.dumps(settings))
    return path


def write_inputs(work: Path, w: Workload) -> Dict[str, Path]:
    cfg = spexport.base_config(w.kind)
    arrays = spexport.make_inputs(cfg, batch=1, seq_len=w.seq, seed=0)
    return {n: save_npy(work / f"{w.kind}{w.seq}_{n}.npy", a) for n, a in arrays.items()}


# ----------------------------------------------------------------------------- matrix

@dataclasses.dataclass
class Run:
    """One workload and configuration: the full run's and the
    --timing-only run's reports, and the tools' wall-clock seconds."""

    workload: Workload
    config: str
    report: Report
    timing_report: Report
    compile_s: float
    sim_s: float
    timing_s: float


def run_matrix(args, workloads: Sequence[Workload], configs: Sequence[str]) -> List[Run]:
    runs = []
    for w in workloads:
        onnx = ensure_model(args.work_dir, w.kind)
        inputs = write_inputs(args.work_dir, w)
        for c in filter(w.runs, configs):
            d = args.work_dir / w.kind / str(w.seq) / c
            d.mkdir(parents=True, exist_ok=True)
            log(f"{w.name} / {c}: compile")
            binary = compile_model(args, onnx, d / "model.spbin", w, CONFIGS[c])
            log(f"{w.name} / {c}: simulate")
            full = simulate(args, binary, inputs, d / "out", d / "report.json", False)
            fast = simulate(args, binary, inputs, d / "out-timing", d / "report-timing.json", True)
            runs.append(Run(w, c, full.report, fast.report, binary.seconds, full.seconds, fast.seconds))
            log(f"  cycles {full.report.cycles:,}  compile {binary.seconds:.1f}s  sim {full.seconds:.1f}s  "
                f"timing-only {fast.seconds:.1f}s")
            if not args.keep_binaries:
                binary.path.unlink()
    return runs


# ----------------------------------------------------------------------------- tool speed

def clock(fn) -> float:
    """Wall-clock seconds of ``fn()`` (time.perf_counter)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_speed(args) -> dict:
    """Side-by-side wall-clock seconds on BERT-base seq 128 (dense): the
    compile against onnx.load, the simulation against PyTorch and
    onnxruntime. ``args.repeat`` rounds; each round takes one sample of
    everything in turn, so load from other users of the machine falls on
    all measurements alike."""
    import copy

    import onnx
    import torch
    from torch.utils import mkldnn as torch_mkldnn

    w = FULL_WORKLOADS[0]
    model_path = ensure_model(args.work_dir, "bert")
    inputs = write_inputs(args.work_dir, w)
    d = args.work_dir / "speed"
    d.mkdir(parents=True, exist_ok=True)
    keys = ("parse_s", "compile_s", "read_spbin_s", "sim_full_s", "sim_timing_s", "torch_s",
            "torch_onednn_s", "ort_run_s", "ort_create_s", "ort_warm_s")
    res: Dict[str, object] = {"model": w.name, "onnx_bytes": model_path.stat().st_size,
                              "samples": args.repeat, "loadavg_before": os.getloadavg()[0]}
    res.update({k: [] for k in keys})

    log("speed: PyTorch models (Debian torch links the generic BLAS, so oneDNN Linear as well)")
    torch.set_num_threads(2)
    cfg = spexport.base_config("bert")
    arrays = spexport.make_inputs(cfg, batch=1, seq_len=w.seq, seed=0)
    model = spexport.build_model(cfg)
    # to_mkldnn swaps the Linear modules in place, hence the copy.
    onednn = torch_mkldnn.to_mkldnn(copy.deepcopy(model))
    ref = spexport.torch_outputs(model, arrays)  # warm-up
    out = spexport.torch_outputs(onednn, arrays)  # warm-up
    res["onednn_vs_torch_max_abs"] = float(np.max(np.abs(out["last_hidden_state"] - ref["last_hidden_state"])))
    res["torch_threads"] = torch.get_num_threads()

    for i in range(args.repeat):
        log(f"speed: round {i + 1}/{args.repeat}")
        res["parse_s"].append(clock(lambda: onnx.load(str(model_path))))
        binary = compile_model(args, model_path, d / "model.spbin", w, CONFIGS["dense"])
        res["compile_s"].append(binary.seconds)
        res["read_spbin_s"].append(clock(binary.path.read_bytes))
        res["sim_full_s"].append(simulate(args, binary, inputs, d / "out", d / "r.json", False).seconds)
        res["sim_timing_s"].append(simulate(args, binary, inputs, d / "out-t", d / "rt.json", True).seconds)
        res["torch_s"].append(clock(lambda: spexport.torch_outputs(model, arrays)))
        res["torch_onednn_s"].append(clock(lambda: spexport.torch_outputs(onednn, arrays)))
        res["ort_run_s"].append(clock(lambda: sport.run(model_path, arrays)))
        timing = sport.time_runs(model_path, arrays, repeat=1, threads=2)
        res["ort_create_s"].append(timing.create_s)
        res["ort_warm_s"].append(timing.runs_s[0])
    res["spbin_bytes"] = binary.path.stat().st_size
    res["loadavg_after"] = os.getloadavg()[0]
    sim_out = np.load(d / "out" / "last_hidden_state.npy")
    res["sim_vs_torch_max_abs"] = float(np.max(np.abs(sim_out - ref["last_hidden_state"])))
    if not args.keep_binaries:
        binary.path.unlink()
    return res


# ----------------------------------------------------------------------------- plots

def make_plots(out_dir: Path, by_model: Dict[str, List[an.Comparison]], kept: Dict[str, list]) -> List[str]:
    """Writes the PNGs; returns their file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    models = list(by_model)
    configs = [c.config for c in by_model[models[0]]]
    width = 0.8 / len(models)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, m in enumerate(models):
        xs = [j + i * width for j in range(len(configs))]
        comps = {c.config: c for c in by_model[m]}
        axes[0].bar(xs, [comps[c].summary.cycles / 1e6 if c in comps else 0 for c in configs], width, label=m)
        axes[1].bar(xs, [(comps[c].speedup or 0) if c in comps else 0 for c in configs], width, label=m)
    for ax, title in zip(axes, ["cycles (millions, 1 GHz: ms)", "speedup over dense"]):
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(configs))])
        ax.set_xticklabels(configs)
        ax.set_title(title)
    axes[1].axhline(1.0, color="k", lw=0.8, ls="--")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "cycles_speedup.png", dpi=110)
    plt.close(fig)
    names.append("cycles_speedup.png")

    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 8), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for i, m in enumerate(models):
        comps = by_model[m]
        for row, classes, title in ((0, ALL_CLASSES, "all classes"), (1, ATTENTION_CLASSES, "attention classes")):
            ax = axes[row][i]
            bottom = np.zeros(len(comps))
            for k, cls in enumerate(classes):
                vals = np.array([c.summary.by_class.get(cls, 0) / 1e6 for c in comps])
                ax.bar([c.config for c in comps], vals, bottom=bottom, label=cls,
                       color=colors[ALL_CLASSES.index(cls) % len(colors)])
                bottom += vals
            ax.set_title(f"{m}\nDRAM MB ({title})", fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
        axes[1][i].legend(fontsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "dram_by_class.png", dpi=110)
    plt.close(fig)
    names.append("dram_by_class.png")

    if kept:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for m, layers in kept.items():
            ls = [e.layer for e in layers]
            axes[0].plot(ls, [e.kept_tokens for e in layers], marker="o", label=m)
            axes[1].plot(ls, [e.kept_heads for e in layers], marker="o", label=m)
        axes[0].set_title("kept tokens per layer ('all')")
        axes[1].set_title("kept heads per layer ('all')")
        for ax in axes:
            ax.set_xlabel("layer")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "kept_per_layer.png", dpi=110)
        plt.close(fig)
        names.append("kept_per_layer.png")
    return names


# ----------------------------------------------------------------------------- report

def torch_blas() -> str:
    """The torch build's BLAS_INFO (``generic``: the system's libblas.so.3
    interface) and the library that provides it at run time."""
    import re

    import torch
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return f"BLAS_INFO={m.group(1) if m else 'unknown'}, loaded: {generation.blas_in_use()}"


def machine_info() -> Dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    ort_pkg = ROOT / "node_modules" / "onnxruntime-node" / "package.json"
    ort_ver = json.loads(ort_pkg.read_text())["version"] if ort_pkg.is_file() else "absent"
    import torch
    return {"nproc": nproc, "cpu": cpu, "python": platform.python_version(), "torch": f"{torch.__version__} ({torch_blas()})",
            "onnxruntime-node": ort_ver, "node": subprocess.run([sport.node_executable(), "--version"],
                                                               capture_output=True, text=True).stdout.strip(),
            "git HEAD": head, "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}


def describe_losses(by_model: Dict[str, List[an.Comparison]]) -> List[str]:
    """One sentence per configuration that ran slower or moved more bytes
    than dense on some model, from the measured numbers."""
    lines = []
    for m, comps in by_model.items():
        for c in comps:
            if c.config == "dense":
                continue
            bad = []
            if c.speedup is not None and c.speedup < 1:
                bad.append(f"{(1 / c.speedup - 1) * 100:.1f}% more cycles")
            if c.dram_reduction is not None and c.dram_reduction < 1:
                bad.append(f"{(1 / c.dram_reduction - 1) * 100:.1f}% more DRAM bytes")
            if bad:
                lines.append(f"- {m}, `{c.config}`: {' and '.join(bad)} than dense.")
    return lines


def timing_only_table(runs: Sequence[Run]) -> str:
    rows = []
    for r in runs:
        full, t = r.report.cycles, r.timing_report.cycles
        rows.append((r.workload.name, r.config, f"{full:,}", f"{t:,}",
                     "equal" if full == t else f"{(t - full) / full * 100:+.2f}%",
                     f"{r.compile_s:.1f}", f"{r.sim_s:.1f}", f"{r.timing_s:.1f}"))
    return an.markdown_table(["model", "config", "cycles (full)", "cycles (--timing-only)", "difference",
                              "compile s", "sim s", "--timing-only s"], rows)


def speed_section(sp: dict) -> List[str]:
    med = {k: an.median(sp[k]) for k in ("parse_s", "compile_s", "sim_full_s", "sim_timing_s", "torch_s",
                                         "torch_onednn_s", "ort_run_s", "read_spbin_s", "ort_create_s",
                                         "ort_warm_s")}
    best_torch = min(med["torch_s"], med["torch_onednn_s"])
    ort_run_med = med["ort_warm_s"]
    goals = an.speed_goals(med["compile_s"], med["parse_s"], med["sim_full_s"], med["sim_timing_s"],
                           best_torch)

    def fmt(xs):
        return ", ".join(f"{x:.2f}" for x in xs)

    rows = [
        ("onnx.load (protobuf C++ parse, the parse floor)", f"{med['parse_s']:.2f}", fmt(sp["parse_s"])),
        ("spatten-compile (process, dense)", f"{med['compile_s']:.2f}", fmt(sp["compile_s"])),
        ("spatten-sim, full (process: load binary, run, write outputs + report)",
         f"{med['sim_full_s']:.2f}", fmt(sp["sim_full_s"])),
        ("spatten-sim --timing-only (process)", f"{med['sim_timing_s']:.2f}", fmt(sp["sim_timing_s"])),
        (f"read the .spbin file ({sp['spbin_bytes'] / 1e6:.0f} MB, page cache; the simulator maps it instead)",
         f"{med['read_spbin_s']:.2f}", fmt(sp["read_spbin_s"])),
        (f"PyTorch forward ({sp['torch_threads']} threads, model in memory, Debian build: "
         f"{torch_blas()})", f"{med['torch_s']:.3f}", fmt(sp["torch_s"])),
        ("PyTorch forward, Linear layers on oneDNN (`torch.utils.mkldnn.to_mkldnn`)",
         f"{med['torch_onednn_s']:.3f}", fmt(sp["torch_onednn_s"])),
        ("onnxruntime via spatten.ort.run (node start-up + session creation + 1 run, 1 thread, "
         "graph optimisations off)", f"{med['ort_run_s']:.2f}", fmt(sp["ort_run_s"])),
        ("onnxruntime-node session creation (Node.js, 2 threads, graph optimisations all)",
         f"{med['ort_create_s']:.2f}", fmt(sp["ort_create_s"])),
        ("onnxruntime-node run after a warm-up run (same session)", f"{ort_run_med:.3f}", fmt(sp["ort_warm_s"])),
    ]
    out = [f"Model: {sp['model']} dense, ONNX file {sp['onnx_bytes'] / 1e6:.0f} MB; wall-clock "
           f"(`time.perf_counter`), median of {sp['samples']} rounds; each round measures every row once, "
           "in the order of the table, so the rows share the machine's load (1-minute load average "
           f"{sp['loadavg_before']:.2f} before, {sp['loadavg_after']:.2f} after; 2 cores shared with builds).",
           "",
           an.markdown_table(["what", "median s", "samples s"], rows), "",
           an.markdown_table(["goal", "measured", "limit", "met"],
                             [(g.name, an.fmt_ratio(g.value), ("<= " if g.at_most else ">= ") + f"{g.limit:g}x",
                               {True: "yes", False: "**no**", None: "not measured"}[g.met]) for g in goals]),
           "",
           "The PyTorch goal is checked against the faster of the two PyTorch figures "
           f"({best_torch:.3f} s); against the plain forward pass the ratio is "
           f"{an.fmt_ratio(an.ratio(med['sim_full_s'], med['torch_s']))}. The oneDNN and plain outputs differ "
           f"by at most {sp['onednn_vs_torch_max_abs']:.1e}.",
           "",
           "Other ratios: full simulation / onnxruntime warm run "
           f"{an.fmt_ratio(an.ratio(med['sim_full_s'], ort_run_med))}; full simulation / "
           f"`spatten.ort.run` end to end {an.fmt_ratio(an.ratio(med['sim_full_s'], med['ort_run_s']))}.",
           "",
           f"The simulator's output agrees with PyTorch: max |sim - torch| of `last_hidden_state` = "
           f"{sp['sim_vs_torch_max_abs']:.2e} (fp32; tolerances in docs/Numerics.md)."]
    return out


def refetch_line(runs: Sequence[Run], w: Workload) -> str:
    rates = [(r.config, r.report.refetch_rate) for r in runs if r.workload == w]
    rates = [f"`{c}` {x * 100:.0f}%" for c, x in rates if x is not None]
    return ("LSB refetch rate (share of kept heads, over all layers, whose keys' LSB planes were fetched "
            "because a query row's maximum probability was below the 0.1 threshold): "
            + (", ".join(rates) if rates else "no progressive quantization run") + ".")


def speed_discussion(sp: dict) -> List[str]:
    med = {k: an.median(sp[k]) for k in ("parse_s", "compile_s", "sim_full_s", "sim_timing_s", "torch_s",
                                         "torch_onednn_s", "read_spbin_s")}
    goals = an.speed_goals(med["compile_s"], med["parse_s"], med["sim_full_s"], med["sim_timing_s"],
                           min(med["torch_s"], med["torch_onednn_s"]))
    met = [g.name for g in goals if g.met]
    missed = [f"{g.name} ({an.fmt_ratio(g.value)}, goal {'<=' if g.at_most else '>='} {g.limit:g}x)"
              for g in goals if g.met is False]
    return [f"- Tool-speed goals met: {', '.join(met) or 'none'}; missed: {', '.join(missed) or 'none'}.",
            f"- `--timing-only` takes {med['sim_timing_s']:.2f} s against the full run's "
            f"{med['sim_full_s']:.2f} s. A full run executes the arithmetic on one thread while "
            "the timing model retires each instruction on another (docs/Simulator.md, \"Two threads\"), so it "
            "takes about the longer of the two, and the timing model is what `--timing-only` keeps: every "
            "instruction's timing and every DMA's DRAM requests through the HBM2 model, which schedules a burst of "
            "column commands at a time (docs/Memory.md, \"How the model runs fast\"). The binary is mapped, not "
            "read (reading the file would take "
            f"{med['read_spbin_s']:.2f} s), and `--timing-only` pages in only its index lists.",
            f"- PyTorch here is Debian's build ({torch_blas()}): its plain forward pass takes "
            f"{an.fmt_ratio(an.ratio(med['torch_s'], med['torch_onednn_s']))} the time of the same model with "
            "oneDNN Linear layers, and the goal uses the faster of the two; onnxruntime is the fastest CPU "
            "reference measured."]


def render(args, machine, runs: Sequence[Run], by_model, checks, plots, speed, kept) -> str:
    cmd = "/usr/bin/python3 bench/run.py" + (" --quick" if args.quick else "")
    L = ["# Benchmark results", "",
         f"Generated by `{cmd}` (from the project root, after building `build/bin`). "
         "Do not edit by hand: rerun the command. Takes about 10 minutes on the machine below "
         "(`--quick`: BERT-base seq 128, dense and all, about 3 minutes).", "",
         "## Machine", "",
         an.markdown_table(["field", "value"], list(machine.items())), "",
         "## Workloads", "",
         "- Models exported from PyTorch at full size by `spatten.export` (seeded random weights, seed 0): "
         "BERT-base (12 layers, hidden 768, 12 heads, ~440 MB) and GPT-2 small (same sizes, whole prompt at "
         "once: summarization mode). Batch 1. At 1024 tokens a GPT-2 head's fp32 keys exceed one K/V buffer "
         "fill, so attention runs in two passes over two fills (K fetched twice; docs/Algorithms.md, "
         "\"Attention over several fills\"), and only the configurations that allow it run there.",
         "- Inputs: `spatten.export.make_inputs(cfg, 1, seq, seed=0)`; for BERT the last quarter of the "
         "sequence is padding (`attention_mask` 0).",
         "- Hardware: the `spatten` preset (docs/HardwareConfig.md): 1 GHz, so 1 million cycles = 1 ms.",
         "- Configurations (spatten-compile flags): "
         + "; ".join(f"`{c.config}`: {' '.join(CONFIGS[c.config].to_flags()) or '(none)'}"
                     for c in next(iter(by_model.values()))) + ".",
         "- DRAM bytes are read + written; \"attn\" columns count only the attention classes "
         f"({', '.join(ATTENTION_CLASSES)}), which is what the paper's figures measure (it accelerates "
         "attention only; this project also runs the rest of the model, so weights and activations dominate "
         "the totals). Reductions and speedups are dense / configuration: above 1 is better.", ""]
    for m, comps in by_model.items():
        w = next(x for x in (QUICK_WORKLOADS if args.quick else FULL_WORKLOADS) if x.name == m)
        L += [f"## {m}", "", an.comparison_table(comps), "", "DRAM bytes per attention class (MB):", "",
              an.class_table(comps), "", refetch_line(runs, w), ""]
    L += ["## Beside the paper", "",
          "Paper: Wang, Zhang, Han, \"SpAtten: Efficient Sparse Attention Architecture with Cascade Token and "
          "Head Pruning\", HPCA 2021, arXiv 2012.09852, as summarized with section references in the "
          "paper-figures.md that sits beside the project. The paper's per-technique factors are averages over "
          "its benchmarks, and GPT-2's come mostly from the generation stage (one query per step against the "
          "KV cache), which these whole-sequence runs do not model; its keep ratios were tuned per task for no "
          "accuracy loss, while "
          "the configurations here use fixed ratios on random weights, so the comparison is of magnitude only.", "",
          an.markdown_table(["model", "config", "metric", "measured", "paper", "source"],
                            [(c.model, c.config, c.metric, an.fmt_ratio(c.measured),
                              "not found" if c.paper is None else f"{c.paper:g}x", c.source) for c in checks]), ""]
    L += ["## Plots", ""] + [f"![{p}](results/{p})" for p in plots] + [""]
    L += ["## Full run against --timing-only", "",
          "Cycles of both runs and the wall-clock seconds of each tool call (one sample each). "
          "docs/Simulator.md: the two agree when control does not depend on computed values (dense); with "
          "pruning the top-k selections, gathers and refetch decisions see uniform probabilities under "
          "--timing-only, so cycles may differ.", "", timing_only_table(runs), ""]
    if speed:
        L += ["## Tool speed", ""] + speed_section(speed) + [""]
    L += ["## Discussion", "",
          "Configurations that cost more than dense in this run (computed from the tables above):", ""]
    losses = describe_losses(by_model)
    L += (losses or ["- none"]) + [""]
    alls = [c for c in checks if c.config == "all" and c.measured is not None]
    if alls:
        lo, hi = min(c.measured for c in alls), max(c.measured for c in alls)
        rates = [r.report.refetch_rate for r in runs if r.config == "all"]
        refetch_all = sum(x for x in rates if x is not None) / max(1, sum(x is not None for x in rates))
        L += [f"Attention DRAM reduction of `all`: {lo:.2f}x to {hi:.2f}x across the models, against the "
              "paper's 10.0x average. Visible in the class tables: Q stays fp32 and shrinks only with the kept "
              "tokens; V is fetched at full precision (progressive quantization of values, `--pq-values`, is "
              f"off); with random weights the softmax is flat, and {refetch_all * 100:.0f}% of the `all` runs' "
              "decisions refetch the LSB planes; local value pruning keeps 30% of the keys per query row, but "
              "every query row of a head shares one tile and together they need nearly every V row, so V is "
              "fetched with K and its bytes do not fall (docs/Algorithms.md, \"Local value pruning\"; only "
              "small query tiles fetch the kept rows alone); and the keep ratios are fixed rather than tuned "
              "per task as in the paper.",
              ""]
    if speed:
        L += speed_discussion(speed) + [""]
    L += ["docs/Simulator.md (\"Known limits\") names the causes: progressive quantization trades "
          "compute for memory (the decide pass plus the recompute of unconfident rows, most rows with "
          "random weights), and local value pruning's smaller prob·V is hidden behind Q·K (the "
          "multipliers are split 512/512) while its top-k latency adds to each run of heads. Token "
          "pruning and head pruning carry into the whole model: the QKV projections and FFN rows shrink "
          "with the kept tokens, and the later layers' projections compute only the kept heads.", "",
          "Dense totals are dominated by the GEMM layers' fp32 weights and activations, which SpAtten "
          "does not address (the GEMM lowering picks tile widths that minimise the re-reads of "
          "weight and activation tiles, but buffers of this size still re-read some); compare the "
          "attention columns with the paper.", ""]
    return "\n".join(L)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="BERT-base seq 128, dense + all; output under --work-dir")
    ap.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench",
                    help="models, binaries, reports (default out/bench, git-ignored)")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin")
    ap.add_argument("--output", type=Path, help="results Markdown (default docs/results.md; "
                                                "with --quick <work-dir>/quick/results.md)")
    ap.add_argument("--repeat", type=int, help="timing samples per tool-speed measurement (default 3, quick 1)")
    ap.add_argument("--no-speed", action="store_true", help="skip the tool-speed measurements")
    ap.add_argument("--keep-binaries", action="store_true", help="keep the .spbin files (~440 MB each)")
    args = ap.parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.repeat = args.repeat or (1 if args.quick else 3)
    wait_for_tools(args.bin_dir)
    output = args.output or (args.work_dir / "quick" / "results.md" if args.quick else ROOT / "docs" / "results.md")
    plot_dir = output.parent / "results"

    workloads = QUICK_WORKLOADS if args.quick else FULL_WORKLOADS
    configs = ["dense", "all"] if args.quick else list(CONFIGS)
    machine = machine_info()
    speed = None if args.no_speed else measure_speed(args)
    runs = run_matrix(args, workloads, configs)

    by_model: Dict[str, List[an.Comparison]] = {}
    kept = {}
    for w in workloads:
        mine = [r for r in runs if r.workload == w]
        by_model[w.name] = an.compare_to_dense({r.config: an.summarize(r.report) for r in mine})
        kept.update({w.name: r.report.layers for r in mine if r.config == "all"})
    checks = an.paper_comparison(by_model)
    plots = make_plots(plot_dir, by_model, kept)
    text = render(args, machine, runs, by_model, checks, plots, speed, kept)
    # The scripts of OWNED_SECTIONS own their sections; keep them.
    old = output.read_text() if output.is_file() else ""
    kept_sections = [generation.section_of(old, *markers) for markers in OWNED_SECTIONS]
    write_atomic(output, text + "".join("\n" + k for k in kept_sections if k))
    (args.work_dir / ("speed-quick.json" if args.quick else "speed.json")).write_text(json.dumps(speed, indent=1))
    log(f"wrote {output} and {len(plots)} plots in {plot_dir}")
    if not args.no_speed:
        # Sweep throughput, the HBM2 model's speed, Fig. 19 and a Pareto front.
        dse.main(["--work-dir", str(args.work_dir), "--bin-dir", str(args.bin_dir), "--output", str(output)]
                 + (["--quick"] if args.quick else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())

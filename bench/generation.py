#!/usr/bin/python3
"""The generation-stage benchmark: the section "Generation stage" of docs/results.md.

    /usr/bin/python3 bench/generation.py            # GPT-2 small, 992-token prompt, 32 tokens
    /usr/bin/python3 bench/generation.py --quick    # tiny GPT-2, 24 + 8 tokens, under --work-dir
    /usr/bin/python3 bench/generation.py --medium   # adds GPT-2 medium to the last run's results
    /usr/bin/python3 bench/generation.py --trained small  # adds the trained GPT-2 likewise
    /usr/bin/python3 bench/generation.py --model llama    # a small LLaMA, its own section

The paper's GPT-2 setting (paper-figures §2): a 992-token prompt, then 32
generated tokens, each step one query against the KV cache. GPT-2 small with
its LM head is exported from PyTorch (seeded random weights), compiled as a
generation binary (``--max-context=1024``) and run with ``spatten-sim
--generate 32`` (full and ``--timing-only``); the prompt alone gives the
prefill's operation count. PyTorch CPU greedy generation of the same tokens
with its KV cache (``spatten.generate``) is timed side by side, one sample
of each per round.

Figures, for the generation stage (the decode steps) unless said otherwise:
cycles per generated token, the prefill/generation share of time, DRAM
bytes by class, ops per byte and achieved TFLOPS (an operation is a
multiply or an add: 2 per MAC), next to the paper's 97% generation share,
2.1 ops/byte and 0.43 TFLOPS. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402

from spatten import export as spexport  # noqa: E402
from spatten import generate, tools  # noqa: E402
from spatten.reference import SpAttenConfig, schedule_from_keys  # noqa: E402
from spatten.report import ATTENTION_CLASSES  # noqa: E402

BEGIN, END = "<!-- generation-stage:begin -->", "<!-- generation-stage:end -->"
LLAMA_BEGIN, LLAMA_END = "<!-- generation-llama:begin -->", "<!-- generation-llama:end -->"

#: The authors' GPT-2-small keeps at the last step, of 1024 keys ([R],
#: paper-figures §2): 921, 716, then 204 (layers 2-5) and 102 (6-11).
AUTHOR_KEYS = [921, 716] + [204] * 4 + [102] * 6

#: Each technique alone, all of them, and the authors' setting (K 6+4 bits
#: progressive, V 6 bits, Q 16 bits, threshold 0.05, their keeps and about
#: 20% of V rows). At 1024 fp32 keys of 64 a head takes two K/V fills, where
#: local value pruning and progressive quantization are refused, so they are
#: also measured over fixed-point K/V (one fill): "static+value" over 12-bit
#: K/V, "pq" with 12-bit V and the authors' 16-bit Q (the prefill's 992 query
#: rows fit one ATTN at 16 bits, not in fp32), and "authors-quant", the
#: authors' widths alone. "kv-budget" is the authors' LLM policy with their
#: SpAttenKVCache defaults (first 4, 128 important, 128 recent;
#: spatten_llm/kv_cache_token_pruning.py): 260 of 1024 tokens, about the
#: mean of their GPT-2 keeps (255), so it sits beside the cascade's.
CONFIGS: Dict[str, SpAttenConfig] = {
    "dense": SpAttenConfig(),
    "token": SpAttenConfig(token_keep=0.5),
    "head": SpAttenConfig(head_keep=0.75),
    "value": SpAttenConfig(value_keep=0.3),
    "static": SpAttenConfig(k_bits=12, v_bits=12),
    "static+value": SpAttenConfig(k_bits=12, v_bits=12, value_keep=0.3),
    "pq": SpAttenConfig(pq_msb=6, v_bits=12, q_bits=16),
    "token+value": SpAttenConfig(token_keep=0.5, value_keep=0.3),
    "token+value+head": SpAttenConfig(token_keep=0.5, value_keep=0.3, head_keep=0.75),
    "all": SpAttenConfig(token_keep=0.5, head_keep=0.75, value_keep=0.3, pq_msb=6),
    "authors": SpAttenConfig(token_schedule=tuple(schedule_from_keys(AUTHOR_KEYS, 1024)), value_keep=0.2,
                             pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05),
    "authors-quant": SpAttenConfig(pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05),
    "kv-budget": SpAttenConfig(kv_budget=(4, 128, 128)),
}


#: paper-figures §2.
PAPER = {"generation_share": 0.97, "ops_per_byte": 2.1, "tflops": 0.43}

#: The paper's GPT-2 breakdown (paper-figures §1): each technique on top of
#: the ones before, its DRAM factor, and the configuration that adds it.
CHAIN = [("cascade token pruning with local value pruning", "token+value", 3.8),
         ("+ cascade head pruning", "token+value+head", 1.1),
         ("+ progressive quantization", "all", 5.1)]


@dataclasses.dataclass(frozen=True)
class Setting:
    size: str        # spatten.export size: "base" (GPT-2 small) or "tiny"
    prompt: int      # L0
    tokens: int      # generated tokens (prefill + tokens - 1 decode steps)
    context: int     # --max-context

    @property
    def name(self) -> str:
        model = {"base": "GPT-2 small", "medium": "GPT-2 medium", "llama": "LLaMA"}.get(self.size, "tiny GPT-2")
        return f"{model}, {self.prompt}-token prompt + {self.tokens} generated"


FULL = Setting("base", 992, 32, 1024)
#: The paper's setting on GPT-2 medium (24 layers, hidden 1024, 16 heads).
MEDIUM = Setting("medium", 992, 32, 1024)
QUICK = Setting("tiny", 24, 8, 64)
#: A small LLaMA (LLAMA_MODEL) at half GPT-2's context: rotary embeddings
#: at each step's position and a cache of the K/V heads (docs/Generation.md).
LLAMA = Setting("llama", 480, 32, 512)
LLAMA_MODEL = dict(layers=4, hidden=256, heads=4, kv_heads=2, intermediate=704, vocab=8000, max_positions=512)
#: The models spatten.train trains on English text (docs/Accuracy.md): the
#: prompt is the start of the corpus's test split.
TRAINED = {"tiny": Setting("trained-tiny", 96, 16, 128), "small": Setting("trained-small", 480, 32, 512)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def export_lm(work: Path, s: Setting):
    path = work / f"gpt2-lm-{s.size}.onnx"
    log(f"exporting GPT-2 ({s.size}) with its LM head to {path}")
    model = spexport.export("gpt2-lm", str(path), size=s.size, opset=14, seed=0, seq_len=16)
    return model, path


def prompt_ids(model, s: Setting) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, model.config.vocab, size=(1, s.prompt), dtype=np.int64)


def ops(report) -> int:
    """Operations (2 per MAC) of the GEMM and attention units."""
    o = report.data["energy"]["operations"]
    return 2 * (int(o["gemm_macs"]) + int(o["attention_macs"]))


def attention_ops(report) -> int:
    return 2 * int(report.data["energy"]["operations"]["attention_macs"])


def run_config(args, work: Path, onnx: Path, s: Setting, name: str, prompt: np.ndarray) -> Dict[str, object]:
    """Compiles and generates with configuration ``name``: the stage
    figures, or the compiler's refusal."""
    cfg = CONFIGS[name]
    try:
        binary = tools.compile(onnx, work / f"{name}.spbin", settings=cfg, shapes={"batch": 1, "sequence": s.prompt},
                               extra=[f"--max-context={s.context}"], directory=args.bin_dir)
    except tools.ToolError as e:
        # The diagnostic without its file name or tool name.
        message = str(e).strip().splitlines()[-1]
        for prefix in ("error: ", "spatten-compile: "):
            if prefix in message:
                message = message.split(prefix, 1)[1]
        return {"config": name, "refused": message}
    inputs = {"input_ids": prompt}
    log(f"{name}: prefill alone (its operation count), then --generate {s.tokens}")
    prefill = tools.simulate(binary, inputs, work / f"{name}-prefill", directory=args.bin_dir)
    run = tools.simulate(binary, inputs, work / f"{name}-out", generate=s.tokens, directory=args.bin_dir)
    total, stages = run.report, run.report.stages
    decisions = [(l.refetches, l.kept_heads) for st in stages.steps for l in st.layers if l.refetches is not None]
    res = {
        "config": name,
        "flags": " ".join(cfg.to_flags()),
        "refetch_rate": (sum(r for r, _ in decisions) / sum(k for _, k in decisions)) if decisions else None,
        "ids": run.generated_ids.tolist(),
        "prefill_cycles": stages.prefill.cycles,
        "generation_cycles": stages.generation.cycles,
        "steps": len(stages.steps),
        "generation_bytes": stages.generation.dram.by_class(),
        "generation_ops": ops(total) - ops(prefill.report),
        "generation_attention_ops": attention_ops(total) - attention_ops(prefill.report),
        "prefill_gemm_macs": int(prefill.report.data["energy"]["operations"]["gemm_macs"]),
        "gemm_multipliers": int(binary.manifest["hardware"]["gemm_multipliers"]),
        "clock_hz": float(binary.manifest["hardware"]["clock_ghz"]) * 1e9,
        "sim_s": run.seconds,
    }
    if name == "dense":
        res["binary"] = str(binary.path)
    elif not args.keep_binaries:
        binary.path.unlink()
    return res


def measure_speed(args, s: Setting, binary: Path, model, prompt: np.ndarray) -> Dict[str, List[float]]:
    """Full and timing-only simulation of the dense generation beside
    PyTorch CPU greedy generation with its KV cache, one sample of each per
    round."""
    import torch

    torch.set_num_threads(2)
    work = binary.parent
    res: Dict[str, List[float]] = {"sim_s": [], "sim_timing_s": [], "torch_s": []}
    for i in range(args.repeat):
        log(f"speed round {i + 1}/{args.repeat}")
        res["sim_s"].append(tools.simulate(binary, {"input_ids": prompt}, work / "speed", generate=s.tokens,
                                           directory=args.bin_dir).seconds)
        res["sim_timing_s"].append(tools.simulate(binary, {"input_ids": prompt}, work / "speed-t",
                                                  generate=s.tokens, timing_only=True,
                                                  directory=args.bin_dir).seconds)
        t = generate.time_greedy(model, prompt, s.tokens, repeats=1, warmup=0)
        res["torch_s"].append(t.prefill_s + t.decode_s)
    return res


def measure(args, s: Setting, configs: List[str]) -> Dict[str, object]:
    work = args.work_dir / "generation"
    work.mkdir(parents=True, exist_ok=True)
    model, onnx = export_lm(work, s)
    prompt = prompt_ids(model, s)
    runs = [run_config(args, work, onnx, s, name, prompt) for name in configs]
    dense = runs[0]
    ids_torch, _ = generate.greedy(model, prompt, s.tokens)
    res: Dict[str, object] = {"setting": dataclasses.asdict(s), "runs": runs,
                              "tokens_equal_pytorch": dense.get("ids") == ids_torch.tolist(),
                              "loadavg": os.getloadavg()[0]}
    res["speed"] = measure_speed(args, s, Path(dense["binary"]), model, prompt)
    res["blas"] = blas_in_use()
    if not args.keep_binaries:
        Path(dense["binary"]).unlink()
    return res


def measure_trained(args, size: str) -> Dict[str, object]:
    """Every configuration but the authors' keeps (a 12-layer schedule) on the
    trained GPT-2 of ``size``, prompted with the start of the test split.
    The model must be trained already (``python -m spatten.train gpt2
    --size SIZE``)."""
    from spatten import train

    s = TRAINED[size]
    settings = train.TrainSettings.of("gpt2", size)
    directory = train.corpus.out_dir() / "train" / settings.key
    if not (directory / "metrics.json").is_file():
        raise SystemExit(f"no trained {size} GPT-2: run python -m spatten.train gpt2 --size {size} first")
    trained = train.train(settings, stream=None)
    prompt = train.token_ids(settings, "test")[None, :s.prompt].astype(np.int64)
    model = dict(layers=settings.layers, hidden=settings.hidden, heads=settings.heads, context=settings.context,
                 validation_perplexity=trained.metrics.get("validation_perplexity"))
    return {"setting": dataclasses.asdict(s), "model": model,
            "runs": run_workload(args, s, trained.onnx, prompt)}


def measure_medium(args) -> Dict[str, object]:
    """Every configuration but the authors' keeps (a 12-layer schedule) on
    GPT-2 medium with seeded random weights, prompted as GPT-2 small is."""
    s = MEDIUM
    work = args.work_dir / "generation" / s.size
    work.mkdir(parents=True, exist_ok=True)
    model, onnx = export_lm(work, s)
    runs = run_workload(args, s, onnx, prompt_ids(model, s))
    if not args.keep_binaries:
        onnx.unlink()
    return {"setting": dataclasses.asdict(s), "runs": runs}


def measure_llama(args) -> Dict[str, object]:
    """Every configuration but the authors' keeps (a 12-layer schedule) on
    LLAMA_MODEL with seeded random weights; the dense tokens against
    PyTorch's greedy generation with its KV cache."""
    s = LLAMA
    work = args.work_dir / "generation" / s.size
    work.mkdir(parents=True, exist_ok=True)
    onnx = work / "llama.onnx"
    log(f"exporting LLaMA {LLAMA_MODEL} to {onnx}")
    model = spexport.export("llama", str(onnx), opset=17, seed=0, seq_len=16, **LLAMA_MODEL)
    prompt = prompt_ids(model, s)
    runs = run_workload(args, s, onnx, prompt)
    ids_torch, _ = generate.greedy(model, prompt, s.tokens)
    return {"setting": dataclasses.asdict(s), "model": LLAMA_MODEL, "runs": runs,
            "tokens_equal_pytorch": runs[0].get("ids") == ids_torch.tolist()}


def run_workload(args, s: Setting, onnx: Path, prompt: np.ndarray) -> List[Dict[str, object]]:
    """``run_config`` for every configuration but the authors'; keeps no
    binary unless asked to."""
    work = args.work_dir / "generation" / s.size
    work.mkdir(parents=True, exist_ok=True)
    runs = [run_config(args, work, onnx, s, name, prompt) for name in CONFIGS if name != "authors"]
    if not args.keep_binaries and "binary" in runs[0]:
        Path(runs[0]["binary"]).unlink()
    return runs


def trained_rows(t: Dict[str, object]) -> List[str]:
    """The trained model's subsection: each technique and the breakdown."""
    s, m, runs = Setting(**t["setting"]), t["model"], t["runs"]
    dense = runs[0]
    rows = [
        "### On a trained GPT-2 (real attention)",
        "",
        f"The GPT-2 `spatten.train` trains on the Python documentation ({m['layers']} layers, hidden "
        f"{m['hidden']}, {m['heads']} heads, context {m['context']}; validation perplexity "
        f"{m['validation_perplexity']:.1f}; docs/Accuracy.md), prompted with the first {s.prompt} tokens of "
        f"the corpus's test split, {s.tokens} generated tokens, context {s.context}. Its attention is "
        "real, so progressive quantization refetches only where the query is unsure (the refetch "
        "rate: refetching head-decisions of the decode steps over all).",
        "",
        "| config | generation cycles | vs dense | attention bytes | reduction | refetch rate |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "refused" in r:
            rows.append(f"| {r['config']} | refused: {r['refused']} | | | | |")
            continue
        rate = "" if r.get("refetch_rate") is None else f"{r['refetch_rate']:.1%}"
        rows.append(f"| {r['config']} | {r['generation_cycles']:,} | "
                    f"{dense['generation_cycles'] / r['generation_cycles']:.2f}x | {attention_bytes(r):,} | "
                    f"{attention_bytes(dense) / attention_bytes(r):.2f}x | {rate} |")
    return rows + ["", *chain_rows(runs), ""]


def medium_rows(m: Dict[str, object]) -> List[str]:
    """The GPT-2 medium subsection: its stages and each technique."""
    s, runs = Setting(**m["setting"]), m["runs"]
    return [
        "### GPT-2 medium",
        "",
        f"{s.name} (24 layers, hidden 1024, 16 heads of 64), context {s.context}, seeded random "
        "weights; every configuration above but the authors' keeps, which are GPT-2 small's.",
        "",
        *stage_rows(runs[0]),
        "",
        *technique_rows(runs),
        "",
        *chain_rows(runs),
        "",
    ]


def llama_rows(m: Dict[str, object]) -> List[str]:
    """The LLaMA section: its stages and each technique."""
    s, runs, c = Setting(**m["setting"]), m["runs"], m["model"]
    same = "equal" if m["tokens_equal_pytorch"] else "DIFFER from"
    return [
        LLAMA_BEGIN,
        "## Generation stage, LLaMA",
        "",
        f"{s.name}: a LLaMA of {c['layers']} layers, hidden {c['hidden']}, {c['heads']} query heads over "
        f"{c['kv_heads']} K/V heads (grouped-query attention), SwiGLU width {c['intermediate']}, vocabulary "
        f"{c['vocab']:,}; context {s.context}, seeded random weights, produced by `bench/generation.py --model "
        "llama`. Each decode step rotates its query and key with the rotary tables' rows at its position, "
        f"and the KV cache holds the {c['kv_heads']} K/V heads per layer (docs/Generation.md, \"The LLaMA "
        f"family\"). The simulator's dense greedy tokens {same} PyTorch's greedy generation with its KV cache.",
        "",
        *stage_rows(runs[0]),
        "",
        "Each technique against dense; configurations as in the GPT-2 section but the authors' keeps "
        "(a 12-layer schedule). Attention bytes count every query head's reads of its group's cached rows; "
        "cascade head pruning keeps one K/V head per query head in the cache (docs/Generation.md).",
        "",
        *technique_rows(runs),
        "",
        *chain_rows(runs),
        LLAMA_END,
    ]


def stage_rows(d: Dict[str, object]) -> List[str]:
    """The dense run's stage table beside the paper."""
    pre, gen, steps = d["prefill_cycles"], d["generation_cycles"], d["steps"]
    by_class: Dict[str, int] = d["generation_bytes"]
    total_bytes = sum(by_class.values())
    attn_bytes = sum(v for k, v in by_class.items() if k in ATTENTION_CLASSES)
    seconds = gen / d["clock_hz"]
    return [
        "| figure | SpAtten, dense fp32 (this run) | paper (paper-figures §2) |",
        "|---|---|---|",
        f"| prefill | {pre:,} cycles | |",
        f"| generation | {gen:,} cycles ({steps} steps) | |",
        f"| generation share of time | {gen / (pre + gen):.1%} | {PAPER['generation_share']:.0%} |",
        f"| cycles per generated token | {gen / max(steps, 1):,.0f} | |",
        f"| generation DRAM bytes | {total_bytes:,} (attention Q/K/V: {attn_bytes:,}) | |",
        f"| ops per DRAM byte, whole model | {d['generation_ops'] / total_bytes:.2f} | |",
        f"| ops per Q/K/V byte, attention | {d['generation_attention_ops'] / max(attn_bytes, 1):.2f} | "
        f"about 0.5 for one query's Q·K before SpAtten; {PAPER['ops_per_byte']} on SpAtten |",
        f"| achieved TFLOPS, whole model | {d['generation_ops'] / seconds / 1e12:.3f} | "
        f"{PAPER['tflops']} |",
        "",
        "Bytes by class in the generation stage: "
        + ", ".join(f"{k} {v:,}" for k, v in by_class.items() if v) + ".",
    ]


def attention_bytes(r: Dict[str, object]) -> int:
    return sum(v for k, v in r["generation_bytes"].items() if k in ATTENTION_CLASSES)


def technique_rows(runs: List[Dict[str, object]]) -> List[str]:
    """Each configuration's generation stage against dense."""
    dense = runs[0]
    attn = attention_bytes
    rows = ["| config | flags | generation cycles | vs dense | attention bytes | reduction | all DRAM bytes |",
            "|---|---|---|---|---|---|---|"]
    for r in runs:
        if "refused" in r:
            rows.append(f"| {r['config']} | `{' '.join(CONFIGS[r['config']].to_flags())}` | "
                        f"refused: {r['refused']} | | | | |")
            continue
        rows.append(f"| {r['config']} | `{r['flags'] or '(none)'}` | {r['generation_cycles']:,} | "
                    f"{dense['generation_cycles'] / r['generation_cycles']:.2f}x | {attn(r):,} | "
                    f"{attn(dense) / attn(r):.2f}x | {sum(r['generation_bytes'].values()):,} |")
    return rows


def chain_rows(runs: List[Dict[str, object]]) -> List[str]:
    """The paper's cumulative breakdown: each step's attention-byte factor
    over the step before, beside the paper's."""
    by_name = {r["config"]: r for r in runs}
    rows = ["| technique, on top of the ones before | config | attention bytes | factor | paper |",
            "|---|---|---|---|---|"]
    before, total = by_name["dense"], 1.0
    for label, name, paper in CHAIN:
        r = by_name.get(name)
        if r is None or "refused" in r or before is None:
            why = r["refused"] if r and "refused" in r else "not run"
            rows.append(f"| {label} | {name} | {why} | | {paper}x |")
            before = None
            continue
        factor = attention_bytes(before) / attention_bytes(r)
        total *= factor
        rows.append(f"| {label} | {name} | {attention_bytes(r):,} | {factor:.2f}x | {paper}x |")
        before = r
    done = before is not None
    rows.append(f"| all of them | | | {f'{total:.1f}x' if done else ''} | about 21x |")
    return rows


def render(res: Dict[str, object]) -> List[str]:
    s = Setting(**res["setting"])
    runs = res["runs"]
    dense = runs[0]
    sp = res["speed"]
    sim, sim_t, torch_s = (min(sp[k]) for k in ("sim_s", "sim_timing_s", "torch_s"))
    same = "equal" if res["tokens_equal_pytorch"] else "DIFFER from"
    return [
        BEGIN,
        "## Generation stage",
        "",
        f"{s.name}; context {s.context} (`spatten-compile --max-context={s.context}`, "
        f"`spatten-sim --generate {s.tokens}`: the prefill, then {dense['steps']} decode steps), "
        "seeded random weights, produced by `bench/generation.py` (docs/Generation.md). "
        f"The simulator's dense greedy tokens {same} PyTorch's greedy generation with its KV cache.",
        "",
        *stage_rows(dense),
        "",
        "Each decode step streams every weight once (one query row: a GEMM of one row per matrix) "
        "and the K and V rows of every earlier token, so the stage is memory-bound, as the paper "
        "says. The whole-model figures count the GEMMs and their weights, which the paper's "
        "attention-only roofline leaves out. So does the time share: the paper's 97% is the "
        "attention's latency on SpAtten, while this binary runs the whole model, and its prefill's "
        f"GEMMs ({dense['prefill_gemm_macs'] / 1e9:.0f} GMAC on {dense['gemm_multipliers']:,} "
        "multipliers) are compute-bound.",
        "",
        "### SpAtten's techniques in the generation stage",
        "",
        "Each technique alone, all together and the authors' setting, against dense (attention bytes: "
        "the Q, K and V classes, MSB/LSB planes included). The paper's GPT-2 factors, each on top of "
        "the one before (paper-figures §1): cascade token pruning with local value pruning 3.8x, head "
        "pruning 1.1x, progressive quantization 5.1x, about 21x in all. A refused configuration is "
        "one the compiler does not implement in generation yet (docs/Generation.md); its message is "
        "quoted. kv-budget is the authors' LLM policy in place of the cascade's schedule, with their "
        "default budget (the first 4 tokens, the 128 most important, the 128 most recent; "
        "docs/Algorithms.md \"Fixed KV budget\"): each decode layer reads at most 260 K and V rows "
        "per head.",
        "",
        *technique_rows(runs),
        "",
        "The paper's breakdown, each technique on top of the ones before (attention bytes of the "
        "generation stage):",
        "",
        *chain_rows(runs),
        "",
        f"![Attention bytes of the generation stage per configuration](results/{PLOT})",
        "",
        *(medium_rows(res["medium"]) if res.get("medium") else []),
        *(trained_rows(res["trained"]) if res.get("trained") else []),
        "At 1024 fp32 keys of 64 a head takes two K/V fills and its two-pass softmax reads K twice; "
        "fixed-point keys fit one fill (the K/V SRAMs hold them at their width) and are read once, "
        "which is part of every fixed-point factor above. With random weights attention is flat: "
        "progressive quantization refetches nearly every row, and local value pruning's kept rows "
        "are spread evenly; trained weights will replace them.",
        "",
        f"Speed, side by side (best of {len(sp['sim_s'])}): full simulation {sim:.1f} s, "
        f"`--timing-only` {sim_t:.1f} s, PyTorch CPU greedy generation with the KV cache "
        f"{torch_s:.2f} s (2 threads, BLAS: {res.get('blas', 'not recorded')}): full / PyTorch "
        f"{sim / torch_s:.1f}x (goal: at most 3x), timing-only / PyTorch {sim_t / torch_s:.1f}x. "
        "The HBM model schedules a burst of column commands at a time, with the per-transaction "
        "model's cycles (docs/Memory.md, \"How the model runs fast\"); a full run executes the "
        "arithmetic on one thread beside the timing model on another (docs/Simulator.md), so it "
        "takes about as long as the slower of the two.",
        END,
    ]


#: The plot of the generation section, beside docs/results.md.
PLOT = "generation_attention_bytes.png"


def plot(res: Dict[str, object], out_dir: Path) -> None:
    """Attention bytes of the generation stage per configuration, dense
    first, on a log scale, with the paper's total reduction marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in res["runs"] if "refused" not in r]
    dense = attention_bytes(runs[0])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar([r["config"] for r in runs], [attention_bytes(r) / 1e6 for r in runs], color="tab:blue")
    ax.axhline(dense / 21 / 1e6, color="tab:red", linestyle="--", label="dense / 21 (paper's GPT-2 total)")
    ax.set_yscale("log")
    ax.set_ylabel("attention MB (Q, K, V)")
    ax.set_title("Generation stage, GPT-2 small, 992 + 32 tokens")
    ax.tick_params(axis="x", rotation=40)
    ax.legend()
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / PLOT, dpi=110)
    plt.close(fig)


def blas_in_use() -> str:
    """The BLAS library this process (PyTorch, NumPy) has loaded."""
    import torch

    torch.ones(2, 2) @ torch.ones(2, 2)
    libs = {Path(line.split()[-1]).name for line in Path("/proc/self/maps").read_text().splitlines()
            if "blas" in line.split()[-1]}
    return ", ".join(sorted(libs)) or "unknown"


def section_of(text: str, begin: str = BEGIN, end: str = END) -> Optional[str]:
    """The section between ``begin`` and ``end`` of a results page (by
    default the generation section), markers included."""
    if begin not in text or end not in text:
        return None
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


def splice(results: Path, section: List[str], begin: str = BEGIN, end: str = END) -> str:
    """``results`` with its section between ``begin`` and ``end`` replaced
    by ``section`` (appended when absent)."""
    text = results.read_text() if results.is_file() else ""
    block = "\n".join(section) + "\n"
    if section_of(text, begin, end):
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    return text.rstrip("\n") + "\n\n" + block


def write_section(output: Path, section: List[str], begin: str = BEGIN, end: str = END) -> None:
    """Replaces (or appends) the section of the results page ``output``
    atomically, creating its folder."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    tmp.write_text(splice(output, section, begin, end))
    os.replace(tmp, output)


def add_page_args(ap: argparse.ArgumentParser, quick: str, bin_dir: Optional[Path] = ROOT / "build" / "bin") -> None:
    """The options of every script that writes a section of the results
    page: --quick (``quick`` says what it runs then), --work-dir, --bin-dir
    (default ``bin_dir``; None: $SPATTEN_BIN or build/bin) and --output."""
    ap.add_argument("--quick", action="store_true", help=f"{quick}; output under --work-dir")
    ap.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--bin-dir", type=Path, default=bin_dir,
                    help="spatten tools" + ("" if bin_dir else " (default: $SPATTEN_BIN or build/bin)"))
    ap.add_argument("--output", type=Path, help="results Markdown (default docs/results.md; with --quick "
                                                "<work-dir>/quick/results.md)")


def page_of(args: argparse.Namespace) -> Path:
    """Resolves ``args.work_dir`` and returns the results page: --output,
    or docs/results.md (with --quick, <work-dir>/quick/results.md)."""
    args.work_dir = args.work_dir.resolve()
    return args.output or (args.work_dir / "quick" / "results.md" if args.quick else ROOT / "docs" / "results.md")


def merged(old: Dict[str, object], new: Dict[str, object]) -> Dict[str, object]:
    """``new`` with the configurations only ``old`` measured, in CONFIGS
    order (the same setting; dense and the speed rounds are the new run's)."""
    if old["setting"] != new["setting"]:
        raise SystemExit("--update: the last run measured another setting")
    runs = {r["config"]: r for r in old["runs"]}
    runs.update({r["config"]: r for r in new["runs"]})
    out = dict(new, runs=[runs[c] for c in CONFIGS if c in runs])
    for kept in ("trained", "medium"):
        if kept in old:
            out.setdefault(kept, old[kept])
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_page_args(ap, "tiny GPT-2, 24 + 8 tokens")
    ap.add_argument("--repeat", type=int, help="timing rounds (default 3, quick 1)")
    ap.add_argument("--keep-binaries", action="store_true")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the section from the last run's generation.json")
    ap.add_argument("--configs", help="comma-separated subset of " + ",".join(CONFIGS) + " (dense always runs)")
    ap.add_argument("--trained", choices=sorted(TRAINED),
                    help="measure the trained GPT-2 of this size into the last run's results")
    ap.add_argument("--medium", action="store_true",
                    help="measure GPT-2 medium (992 + 32) into the last run's results, which keeps the rest")
    ap.add_argument("--model", choices=["gpt2", "llama"], default="gpt2",
                    help="llama: measure LLAMA_MODEL into its own section of the results")
    ap.add_argument("--update", action="store_true",
                    help="with --configs: replace those configurations in the last run's results, keep the rest")
    args = ap.parse_args(argv)
    output = page_of(args)
    args.repeat = args.repeat or (1 if args.quick else 3)
    configs = list(CONFIGS)
    if args.configs:
        configs = ["dense"] + [c for c in args.configs.split(",") if c != "dense"]
    if args.model == "llama":
        return main_llama(args, output)
    saved = args.work_dir / ("generation-quick.json" if args.quick else "generation.json")
    if args.render_only:
        res = json.loads(saved.read_text())
    elif args.trained or args.medium:
        res = json.loads(saved.read_text())
        if args.trained:
            res["trained"] = measure_trained(args, args.trained)
        if args.medium:
            res["medium"] = measure_medium(args)
        saved.write_text(json.dumps(res, indent=1))
    else:
        res = measure(args, QUICK if args.quick else FULL, configs)
        if args.update and saved.is_file():
            res = merged(json.loads(saved.read_text()), res)
        saved.write_text(json.dumps(res, indent=1))
    write_section(output, render(res))
    plot(res, output.parent / "results")
    log(f"wrote the generation section of {output}")
    return 0


def main_llama(args, output: Path) -> int:
    """``--model llama``: measures (or with --render-only re-renders) the
    LLaMA section, separate from GPT-2's."""
    saved = args.work_dir / "generation-llama.json"
    if args.render_only:
        res = json.loads(saved.read_text())
    else:
        res = measure_llama(args)
        saved.write_text(json.dumps(res, indent=1))
    write_section(output, llama_rows(res), LLAMA_BEGIN, LLAMA_END)
    log(f"wrote the LLaMA generation section of {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

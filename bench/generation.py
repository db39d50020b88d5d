#!/usr/bin/python3
"""The generation-stage benchmark: the section "Generation stage" of docs/results.md.

    /usr/bin/python3 bench/generation.py            # GPT-2 small, 992-token prompt, 32 tokens
    /usr/bin/python3 bench/generation.py --quick    # tiny GPT-2, 24 + 8 tokens, under --work-dir

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
from spatten.report import ATTENTION_CLASSES  # noqa: E402

BEGIN, END = "<!-- generation-stage:begin -->", "<!-- generation-stage:end -->"
#: paper-figures §2.
PAPER = {"generation_share": 0.97, "ops_per_byte": 2.1, "tflops": 0.43}


@dataclasses.dataclass(frozen=True)
class Setting:
    size: str        # spatten.export size: "base" (GPT-2 small) or "tiny"
    prompt: int      # L0
    tokens: int      # generated tokens (prefill + tokens - 1 decode steps)
    context: int     # --max-context

    @property
    def name(self) -> str:
        model = "GPT-2 small" if self.size == "base" else "tiny GPT-2"
        return f"{model}, {self.prompt}-token prompt + {self.tokens} generated"


FULL = Setting("base", 992, 32, 1024)
QUICK = Setting("tiny", 24, 8, 64)


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


def measure(args, s: Setting) -> Dict[str, object]:
    work = args.work_dir / "generation"
    work.mkdir(parents=True, exist_ok=True)
    model, onnx = export_lm(work, s)
    prompt = prompt_ids(model, s)
    log("compiling the generation binary")
    binary = tools.compile(onnx, work / "lm.spbin", shapes={"batch": 1, "sequence": s.prompt},
                           extra=[f"--max-context={s.context}"], directory=args.bin_dir)
    inputs = {"input_ids": prompt}
    res: Dict[str, object] = {"setting": dataclasses.asdict(s), "compile_s": binary.seconds,
                              "sim_s": [], "sim_timing_s": [], "torch_s": []}
    log("prefill alone (its operation count)")
    prefill = tools.simulate(binary, inputs, work / "prefill", directory=args.bin_dir)
    import torch
    torch.set_num_threads(2)
    ids_torch, _ = generate.greedy(model, prompt, s.tokens)
    for i in range(args.repeat):
        log(f"round {i + 1}/{args.repeat}: spatten-sim --generate {s.tokens} (full, timing-only), PyTorch greedy")
        run = tools.simulate(binary, inputs, work / "out", generate=s.tokens, directory=args.bin_dir)
        res["sim_s"].append(run.seconds)
        res["sim_timing_s"].append(tools.simulate(binary, inputs, work / "out-t", generate=s.tokens,
                                                  timing_only=True, directory=args.bin_dir).seconds)
        t = generate.time_greedy(model, prompt, s.tokens, repeats=1, warmup=0)
        res["torch_s"].append(t.prefill_s + t.decode_s)
    total = run.report
    stages = total.stages
    gen_ops = ops(total) - ops(prefill.report)
    gen_attn_ops = attention_ops(total) - attention_ops(prefill.report)
    gen_bytes = stages.generation.dram_bytes
    clock_hz = float(total.data["hardware"]["clock_ghz"]) * 1e9
    res.update({
        "tokens_equal_pytorch": bool(np.array_equal(run.generated_ids, ids_torch)),
        "prefill_cycles": stages.prefill.cycles,
        "generation_cycles": stages.generation.cycles,
        "steps": len(stages.generation.steps),
        "generation_bytes": gen_bytes,
        "generation_ops": gen_ops,
        "generation_attention_ops": gen_attn_ops,
        "clock_hz": clock_hz,
        "binary_bytes": binary.path.stat().st_size,
        "loadavg": os.getloadavg()[0],
    })
    if not args.keep_binaries:
        binary.path.unlink()
    return res


def render(r: Dict[str, object]) -> List[str]:
    s = Setting(**r["setting"])
    pre, gen, steps = r["prefill_cycles"], r["generation_cycles"], r["steps"]
    by_class: Dict[str, int] = r["generation_bytes"]
    total_bytes = sum(by_class.values())
    attn_bytes = sum(v for k, v in by_class.items() if k in ATTENTION_CLASSES)
    seconds = gen / r["clock_hz"]
    share = gen / (pre + gen)
    opb = r["generation_ops"] / total_bytes
    attn_opb = r["generation_attention_ops"] / attn_bytes if attn_bytes else float("nan")
    tflops = r["generation_ops"] / seconds / 1e12
    sim, sim_t, torch_s = (min(r[k]) for k in ("sim_s", "sim_timing_s", "torch_s"))
    lines = [
        BEGIN,
        "## Generation stage",
        "",
        f"{s.name}; context {s.context} (`spatten-compile --max-context={s.context}`, "
        f"`spatten-sim --generate {s.tokens}`: the prefill, then {steps} decode steps), dense fp32, "
        "seeded random weights, produced by `bench/generation.py` (docs/Generation.md). "
        f"The simulator's greedy tokens {'equal' if r['tokens_equal_pytorch'] else 'DIFFER from'} "
        "PyTorch's greedy generation with its KV cache.",
        "",
        "| figure | SpAtten (this run) | paper (paper-figures §2) |",
        "|---|---|---|",
        f"| prefill | {pre:,} cycles | |",
        f"| generation | {gen:,} cycles ({steps} steps) | |",
        f"| generation share of time | {share:.1%} | 97% |",
        f"| cycles per generated token | {gen / max(steps, 1):,.0f} | |",
        f"| generation DRAM bytes | {total_bytes:,} (attention Q/K/V: {attn_bytes:,}) | |",
        f"| ops per DRAM byte, whole model | {opb:.2f} | 2.1 (attention) |",
        f"| ops per Q/K/V byte, attention | {attn_opb:.2f} | 2.1 |",
        f"| achieved TFLOPS, whole model | {tflops:.3f} | 0.43 |",
        "",
        "Bytes by class in the generation stage: "
        + ", ".join(f"{k} {v:,}" for k, v in by_class.items() if v) + ".",
        "",
        "Each decode step streams every weight once (one query row: a GEMM of one row per matrix) "
        "and the K and V rows of every earlier token, so the stage is memory-bound, as the paper "
        "says; the whole-model figure counts the GEMMs and their weights, which the paper's "
        "attention-only roofline leaves out.",
        "",
        "SpAtten's techniques in the generation stage (cascade token and head pruning across steps, "
        "local value pruning of the one query row, progressive and static quantization of the cache) "
        "are not implemented yet (docs/Generation.md), so the paper's per-technique DRAM reductions "
        "(3.8x, 1.1x, 5.1x, about 21x in all) have no counterpart here yet. With random weights "
        "attention is flat, so nearly every row would refetch under progressive quantization; trained "
        "weights will replace them.",
        "",
        f"Speed, side by side (best of {len(r['sim_s'])}): full simulation {sim:.1f} s, "
        f"`--timing-only` {sim_t:.1f} s, PyTorch CPU greedy generation with the KV cache "
        f"{torch_s:.2f} s: full / PyTorch {sim / torch_s:.1f}x (goal: at most 3x), "
        f"timing-only / PyTorch {sim_t / torch_s:.1f}x. Compile {r['compile_s']:.1f} s.",
        END,
    ]
    return lines


def section_of(text: str) -> Optional[str]:
    """The generation section of a results page, markers included."""
    if BEGIN not in text or END not in text:
        return None
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"


def splice(results: Path, section: List[str]) -> str:
    """``results`` with its generation section replaced (appended when absent)."""
    text = results.read_text() if results.is_file() else ""
    block = "\n".join(section) + "\n"
    if section_of(text):
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1].lstrip("\n")
    return text.rstrip("\n") + "\n\n" + block


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny GPT-2, 24 + 8 tokens; output under --work-dir")
    ap.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin")
    ap.add_argument("--output", type=Path, help="results Markdown (default docs/results.md; with --quick "
                                                "<work-dir>/quick/results.md)")
    ap.add_argument("--repeat", type=int, help="timing rounds (default 3, quick 1)")
    ap.add_argument("--keep-binaries", action="store_true")
    args = ap.parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    args.repeat = args.repeat or (1 if args.quick else 3)
    output = args.output or (args.work_dir / "quick" / "results.md" if args.quick else ROOT / "docs" / "results.md")
    res = measure(args, QUICK if args.quick else FULL)
    (args.work_dir / "generation.json").write_text(json.dumps(res, indent=1))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    tmp.write_text(splice(output, render(res)))
    os.replace(tmp, output)
    log(f"wrote the generation section of {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

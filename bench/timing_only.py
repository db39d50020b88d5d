#!/usr/bin/python3
"""The simulator's speed, full against ``--timing-only``: the section "Simulator
speed: full run against --timing-only" of docs/results.md.

    /usr/bin/python3 bench/timing_only.py            # BERT-base 128 and GPT-2 small 992 + 32
    /usr/bin/python3 bench/timing_only.py --quick    # tiny models; output under --work-dir

Two workloads, dense (seeded random weights, exported from PyTorch): BERT-base
at 128 tokens, and GPT-2 small generating 32 tokens after a 992-token prompt
(bench/generation.py's workload). Each round simulates each workload once in
full and once with ``--timing-only`` (generation: fed the full run's tokens
with ``--feed-ids``), one after the other, so load from other
users of the machine falls on both alike; the table gives the best of the
rounds and their ratio, beside PyTorch's CPU inference of the same model
(BERT: one forward pass; GPT-2: greedy generation with its KV cache).

It also compares the two runs' reports (cycles, DRAM bytes, every counter;
the report holds no wall time): the table says whether they are identical
and names the fields that differ. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import generation  # noqa: E402  (bench/generation.py)
from spatten import export as spexport  # noqa: E402
from spatten import generate, tools  # noqa: E402
from spatten.tensors import save_npy  # noqa: E402

BEGIN, END = "<!-- timing-only:begin -->", "<!-- timing-only:end -->"

#: Per round: wall-clock and CPU seconds of the full run, --timing-only and
#: PyTorch.
KEYS = ("full_s", "timing_s", "torch_s", "full_cpu_s", "timing_cpu_s", "torch_cpu_s")


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    kind: str          # "bert" or "gpt2-lm"
    size: str          # spatten.export size
    seq: int           # BERT's tokens, or GPT-2's prompt
    tokens: int = 0    # generated tokens (GPT-2)
    context: int = 0   # --max-context (GPT-2)


FULL = [Workload("BERT-base, 128 tokens", "bert", "base", 128),
        Workload("GPT-2 small, 992 + 32 generated", "gpt2-lm", "base", 992, 32, 1024)]
QUICK = [Workload("tiny BERT, 32 tokens", "bert", "tiny", 32),
         Workload("tiny GPT-2, 24 + 8 generated", "gpt2-lm", "tiny", 24, 8, 64)]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prepare(args, w: Workload):
    """Exports and compiles ``w``: the binary, its inputs and the PyTorch
    model with a function timing its inference once."""
    work = args.work_dir / "timing-only"
    work.mkdir(parents=True, exist_ok=True)
    stem = f"{w.kind}-{w.size}-{w.seq}"
    onnx = work / f"{stem}.onnx"
    log(f"exporting {w.name} to {onnx}")
    seq_len = w.seq if w.kind == "bert" else 16
    model = spexport.export(w.kind, str(onnx), size=w.size, opset=14, seed=0, seq_len=seq_len)
    if w.kind == "bert":
        arrays = spexport.make_inputs(model.config, batch=1, seq_len=w.seq, seed=0)
        inputs = {n: save_npy(work / f"{stem}_{n}.npy", a) for n, a in arrays.items()}
        binary = tools.compile(onnx, work / f"{stem}.spbin", shapes={"batch": 1, "sequence": w.seq},
                               directory=args.bin_dir)
        torch_run = bert_forward(model, arrays)
    else:
        s = generation.Setting(w.size, w.seq, w.tokens, w.context)
        prompt = generation.prompt_ids(model, s)
        inputs = {"input_ids": save_npy(work / f"{stem}_prompt.npy", prompt)}
        binary = tools.compile(onnx, work / f"{stem}.spbin", shapes={"batch": 1, "sequence": w.seq},
                               extra=[f"--max-context={w.context}"], directory=args.bin_dir)

        def torch_run() -> float:
            t = generate.time_greedy(model, prompt, w.tokens, repeats=1, warmup=0)
            return t.prefill_s + t.decode_s
    onnx.unlink()
    return binary, inputs, torch_run


def bert_forward(model, arrays):
    """Times one forward pass of the PyTorch model (no autograd)."""
    import torch

    feed = [torch.from_numpy(arrays[n]) for n in model.config.input_names]

    def run() -> float:
        with torch.no_grad():
            start = time.perf_counter()
            model(*feed)
            return time.perf_counter() - start
    run()  # warm-up: allocations and kernel selection
    return run


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished children."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(run: Callable[[], object], cpu: Callable[[], float]):
    """``run()``'s result and the CPU seconds ``cpu`` counted meanwhile."""
    before = cpu()
    result = run()
    return result, cpu() - before


def measure(args, w: Workload) -> Dict[str, object]:
    import torch

    torch.set_num_threads(2)
    binary, inputs, torch_run = prepare(args, w)
    work = binary.path.parent
    gen = w.tokens or None
    res: Dict[str, object] = {"workload": w.name, **{k: [] for k in KEYS}}
    for i in range(args.repeat):
        log(f"{w.name}: round {i + 1}/{args.repeat}")
        full, full_cpu = timed(lambda: tools.simulate(binary, inputs, work / "full", generate=gen,
                                                      directory=args.bin_dir), children_cpu_s)
        # Generation feeds the full run's tokens: its logits are meaningless.
        fed = work / "full" / "generated_ids.npy" if gen else None
        fast, fast_cpu = timed(lambda: tools.simulate(binary, inputs, work / "timing", generate=gen,
                                                      timing_only=True, feed_ids=fed, directory=args.bin_dir),
                               children_cpu_s)
        torch_s, torch_cpu = timed(torch_run, time.process_time)
        for key, value in zip(KEYS, (full.seconds, fast.seconds, torch_s, full_cpu, fast_cpu, torch_cpu)):
            res[key].append(value)
    a = json.loads((work / "full" / "report.json").read_text())
    b = json.loads((work / "timing" / "report.json").read_text())
    res["cycles_full"] = a["cycles"]["total"]
    res["cycles_timing"] = b["cycles"]["total"]
    res["reports_identical"] = a == b
    res["differing_keys"] = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not args.keep_binaries:
        binary.path.unlink()
    return res


def render(results: List[Dict[str, object]], goal: float, loadavg: float) -> List[str]:
    rows = []
    for r in results:
        best = {k: min(r[k]) for k in KEYS}
        ratio = best["full_s"] / best["timing_s"]
        same = "yes" if r["reports_identical"] else "no: " + ", ".join(r["differing_keys"])
        rows.append(f"| {r['workload']} | wall | {best['full_s']:.2f} | {best['timing_s']:.2f} | **{ratio:.1f}x** | "
                    f"{'met' if ratio >= goal else 'missed'} | {best['torch_s']:.2f} | "
                    f"{best['full_s'] / best['torch_s']:.1f}x | {r['cycles_full']:,} | {same} |")
        rows.append(f"| | CPU | {best['full_cpu_s']:.2f} | {best['timing_cpu_s']:.2f} | "
                    f"{best['full_cpu_s'] / best['timing_cpu_s']:.1f}x | | {best['torch_cpu_s']:.2f} | "
                    f"{best['full_cpu_s'] / best['torch_cpu_s']:.1f}x | | |")
    samples = len(results[0]["full_s"]) if results else 0
    return [BEGIN, "## Simulator speed: full run against --timing-only", "",
            f"Written by `bench/timing_only.py` (best of {samples} rounds; each round runs full, "
            "`--timing-only` and PyTorch one after another; load average "
            f"{loadavg:.1f} on {os.cpu_count()} cores when it started). `wall`: wall-clock seconds of the "
            "whole tool call, what one sweep point waits; `CPU`: user and system seconds of every thread, "
            "what a sweep running many points at once pays per point, and less disturbed by other users "
            "of the machine. PyTorch: CPU inference of the same model, 2 threads (BERT: one forward "
            "pass; GPT-2: greedy generation with its KV cache). Goals: full / `--timing-only` at least "
            f"{goal:g}x (wall); full / PyTorch at most 1.5x.", "",
            "| workload | seconds | full | --timing-only | full / timing-only | goal | PyTorch | "
            "full / PyTorch | cycles | reports identical |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows, "",
            "docs/Simulator.md (\"Where the time goes\") says what each run spends its time on and what "
            "`--timing-only` still computes.", END]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    generation.add_page_args(ap, "tiny models")
    ap.add_argument("--repeat", type=int, default=3, help="timing rounds (default 3)")
    ap.add_argument("--keep-binaries", action="store_true")
    args = ap.parse_args(argv)
    output = generation.page_of(args)
    loadavg = os.getloadavg()[0]
    results = [measure(args, w) for w in (QUICK if args.quick else FULL)]
    (args.work_dir / "timing-only.json").write_text(json.dumps(results, indent=1))
    generation.write_section(output, render(results, goal=20, loadavg=loadavg), BEGIN, END)
    log(f"wrote the timing-only section of {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

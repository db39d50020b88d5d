#!/usr/bin/python3
"""The accuracy benchmark: the section "Accuracy of SpAtten's pruning" of docs/results.md.

    /usr/bin/python3 bench/accuracy.py                 # the trained small GPT-2 and BERT (trained first)
    /usr/bin/python3 bench/accuracy.py --model bert    # BERT only; GPT-2's subsection from its last results
    /usr/bin/python3 bench/accuracy.py --quick         # the tiny models (trained if absent), under --work-dir
    /usr/bin/python3 bench/accuracy.py --render-only   # rewrite the section from the last runs' JSON

SpAtten's knobs swept, each alone and combined, on language models trained
by ``spatten.train``: a GPT-2 scored by perplexity (in the generation
stage and over whole windows) and a BERT by masked-token accuracy (whole
windows), on windows of the test split, beside the paper's figures. The
sweep engine is ``accuracy_sweep`` (the knobs, the no-loss search, the
resumable cache; progress on stderr), the renderer ``accuracy_report``.
Each model's results are saved as JSON under the work directory; the
section shows every model with saved results, so measuring one model
re-renders the others unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))

import accuracy_report as report  # noqa: E402
import accuracy_sweep as sweep  # noqa: E402
import generation  # noqa: E402  (bench/generation.py: the results-page splicing)
from spatten import train  # noqa: E402

BEGIN, END = report.BEGIN, report.END


def setting_of(args, model: sweep.Model) -> sweep.Setting:
    """``model``'s full or quick setting with the command line's overrides."""
    base = model.quick if args.quick else model.full
    return dataclasses.replace(base, size=args.size or base.size, windows=args.windows or base.windows,
                               sim_windows=args.sim_windows or base.sim_windows)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=(*sweep.MODELS, "both"), default="both",
                    help="the models to measure (default both); the others are rendered from their saved JSON")
    generation.add_page_args(ap, "tiny models, 4 windows", bin_dir=None)
    ap.add_argument("--size", choices=train.SIZES, help="the trained models' size (default small, quick tiny)")
    ap.add_argument("--windows", type=int, help="test windows (default: GPT-2 "
                    f"{sweep.MODELS['gpt2'].full.windows}, BERT {sweep.MODELS['bert'].full.windows}; quick 4)")
    ap.add_argument("--sim-windows", type=int, help="windows of the simulator points (default 4, quick 1)")
    ap.add_argument("--render-only", action="store_true", help="rewrite the section from the last runs' JSON")
    args = ap.parse_args(argv)
    output = generation.page_of(args)
    measured = [] if args.render_only else [k for k in sweep.MODELS if args.model in (k, "both")]
    results: Dict[str, Dict] = {}
    for kind, model in sweep.MODELS.items():
        saved = args.work_dir / model.saved_file(args.quick)
        if kind in measured:
            sweep.log(f"{model.title}: the sweeps")
            res = sweep.measure(model, setting_of(args, model), args.work_dir, args.bin_dir, args.quick)
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(res, indent=1))
        if saved.is_file():
            results[kind] = json.loads(saved.read_text())
    if not results:
        raise SystemExit(f"no saved results under {args.work_dir}: run without --render-only first")
    generation.write_section(output, report.render(results), BEGIN, END)
    for res in results.values():
        report.plot(res, output.parent / "results")
    sweep.log(f"wrote the accuracy section of {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

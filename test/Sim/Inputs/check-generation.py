# Prints what generate.test checks of a --generate run in the directory
# argv[1]: ids, files, logits shapes, step positions, the report's totals
# against its stages, and the trace's stage spans.
import json
import os
import sys

import numpy as np

d = sys.argv[1]
ids = np.load(f"{d}/out/generated_ids.npy")
print("ids", ids.tolist(), ids.dtype)
print("files", " ".join(sorted(os.listdir(f"{d}/out"))))
print("prefill logits", np.load(f"{d}/out/logits_prefill.npy").shape,
      "step logits", np.load(f"{d}/out/logits_step_5.npy").shape)
report = json.load(open(f"{d}/report.json"))
stages = report["stages"]
steps = stages["generation"]["steps"]
print("positions", [s["position"] for s in steps])
runs = [stages["prefill"]] + steps
assert report["cycles"]["total"] == sum(r["cycles"] for r in runs)
assert stages["generation"]["cycles"] == sum(s["cycles"] for s in steps)
for key in ("total_read", "total_written"):
    assert report["dram_bytes"][key] == sum(r["dram_bytes"][key] for r in runs)
assert report["instructions"]["total"] == 9 + 10 * len(steps)  # prefill, decode
print("totals ok")
events = json.load(open(f"{d}/trace.json"))["traceEvents"]
spans = [e for e in events if e["ph"] == "X" and e["tid"] == 7]
ends = [s["args"]["start_cycle"] + s["args"]["cycles"] for s in spans]
assert [s["args"]["start_cycle"] for s in spans[1:]] == ends[:-1]
assert max(e["args"]["start_cycle"] + e["args"]["cycles"] for e in events if e["ph"] == "X") == ends[-1]
print("trace", " ".join(s["name"] for s in spans), "contiguous ok")

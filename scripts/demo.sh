#!/usr/bin/env bash
# Quick-start demo: set up and build, then export a small BERT with PyTorch
# (or take the .onnx given as argument), compile it, run it on the simulator,
# check every output against onnxruntime and print a summary.
#   scripts/demo.sh [model.onnx] [--shape NAME=VALUE]... [--workdir DIR] [--seed N]
# The logic is in python/spatten/demo.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -m spatten.demo "$@"

#!/usr/bin/env bash
# Quick-start demo: set up and build, then export a small BERT with PyTorch
# (6 layers, or take the .onnx given as argument), compile it, run it on the
# simulator and check every output against onnxruntime; then compile and run
# it again with SpAtten's pruning (token, head and value pruning, progressive
# quantization), check that run against the NumPy reference, measure what
# those settings cost in perplexity on a trained GPT-2, and print both side
# by side: tokens and heads per layer, K+V bytes, refetch rate, DRAM bytes
# and cycles.
#   scripts/demo.sh [model.onnx] [--shape NAME=VALUE]... [--workdir DIR] [--seed N]
#                   [--spatten-flags "FLAGS"] [--dense-only]
# The logic is in python/spatten/demo.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -m spatten.demo "$@"

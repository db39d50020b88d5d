#!/usr/bin/env bash
# Regenerates the ODS-derived documents (docs/Dialects/*.md,
# docs/*Passes.md) with mlir-tblgen through the build's mlir-doc
# target. Run after changing an op, attribute or pass definition.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmake --build "$root/build" --target mlir-doc
cp "$root"/build/docs/Dialects/*.md "$root/docs/Dialects/"
cp "$root/build/docs/ConversionPasses.md" "$root/build/docs/SpAttenPasses.md" \
  "$root/build/docs/ISAPasses.md" "$root/docs/"

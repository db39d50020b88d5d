#!/usr/bin/env bash
# scripts/test.sh --sanitize: every tool and the unit tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/
# (scripts/sanitizer-build.sh), then lit, ctest and the end-to-end pytest
# files run against them. Reports go to files, since a test that expects a
# tool to fail (`not`) would pass on a sanitizer's exit status too; any
# report fails the run. LLVM, MLIR and libonnx are Debian's uninstrumented
# libraries: the checks cover this project's code (docs/Reliability.md).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. scripts/sanitizer-build.sh
sanitized_build address || exit 1
cmake --build $san_dir || exit 1

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$reports/report
export UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$reports/report
status=0
echo "== lit (sanitized)"
/usr/lib/llvm-22/bin/lit -s $san_dir/test || status=1
echo "== ctest (sanitized)"
ctest --test-dir $san_dir --output-on-failure -L unit || status=1
echo "== pytest end to end (sanitized)"
SPATTEN_BIN="$root/$san_dir/bin" PYTHONPATH="$root/python" /usr/bin/python3 -m pytest -q \
  python/spatten/tests/test_e2e.py python/spatten/tests/test_generation_sim.py \
  python/spatten/tests/test_agreement.py python/spatten/tests/test_agreement_generation.py \
  python/spatten/tests/test_transformer_encoder.py python/spatten/tests/test_norm_act.py \
  python/spatten/tests/test_onnx_node.py || status=1
for r in "$reports"/report.*; do
  [ -e "$r" ] || continue
  echo "sanitizer report:" >&2
  head -c 3000 "$r" >&2
  status=1
done
exit $status

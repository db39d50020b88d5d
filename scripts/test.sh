#!/usr/bin/env bash
# Runs the set-up, then every test suite: lit (FileCheck), GoogleTest through
# ctest, and pytest, and checks that no tracked file names a machine path or
# the issue tracker. Exits non-zero when any of them fails.
#
# --sanitize: instead, builds the tools and tests with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-asan/ and runs lit, ctest and the
# end-to-end pytest files against them; any sanitizer report fails the run
# (docs/Reliability.md, "Sanitized test run").
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh || exit 1

if [ "${1:-}" = "--sanitize" ]; then
  exec scripts/test-sanitized.sh
fi

status=0
echo "== text"
scripts/check-text.sh || status=1
echo "== lit"
/usr/lib/llvm-22/bin/lit -sv build/test || status=1
echo "== ctest"
ctest --test-dir build --output-on-failure -L unit || status=1
echo "== pytest"
PYTHONPATH="$root/python" /usr/bin/python3 -m pytest -q python/spatten/tests || status=1
exit $status

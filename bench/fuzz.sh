#!/usr/bin/env bash
# Runs every fuzz target (test/Fuzz) for SECONDS each (default 60), or
# until RUNS executions when RUNS is set, one after another on one core,
# and prints per target the executions, executions per second and findings
# (docs/Reliability.md, "Fuzzing").
#
#   bench/fuzz.sh [SECONDS] [TARGET...]    # TARGET: onnx-import, spbin, ...
#   RUNS=10000000 bench/fuzz.sh 7200 tensor-files
#
# It runs in a session of its own at autogroup niceness FUZZ_NICE (default
# 19), so that a long run on a shared machine takes only the CPU time nobody
# else wants (`nice` alone does not lower it against other sessions);
# FUZZ_NICE=0 gives it a fair share. Time limits are wall clock, so the
# table also gives each target's CPU seconds (user + system): on a busy
# machine an input waits for the CPU, and only an input slower than the
# 60-second timeout is reported as slow.
#
# Builds build-fuzz/ (clang-22, libFuzzer, ASan + UBSan) when needed, and
# the seed corpora in build-fuzz/corpus/<target>/ from ../shared/models and
# binaries compiled with build/ (test/Fuzz/make-corpus.sh). New coverage is
# added to the corpus; a finding is saved as build-fuzz/findings/<target>/
# crash-*, leak-*, timeout-* or oom-*; the fuzzer's log is
# build-fuzz/logs/<target>.log. Replay a finding with
# `build-fuzz/bin/spatten-fuzz-<target> FILE`, or `build/bin/...` (no
# sanitizers) to read its error.
set -uo pipefail
if [ -z "${FUZZ_SESSION:-}" ]; then
  FUZZ_SESSION=1 exec setsid -w "$0" "$@"
fi
echo "${FUZZ_NICE:-19}" > /proc/self/autogroup 2>/dev/null || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx-import spbin tensor-files hw-config isa-decode)
dir=build-fuzz

export CCACHE_BASEDIR=$root
if [ ! -f $dir/build.ninja ]; then
  # -O1: the instrumented build compiles twice as fast, and runs fast
  # enough to fuzz.
  cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DSPATTEN_BUILD_FUZZERS=ON >/dev/null || exit 1
fi
nice -n 10 cmake --build $dir --target "${targets[@]/#/spatten-fuzz-}" || exit 1
if [ ! -d $dir/corpus ]; then
  nice -n 10 cmake --build build --target spatten-compile || exit 1
  test/Fuzz/make-corpus.sh "$root/build/bin" $dir/corpus || exit 1
fi

# LLVM and MLIR are Debian's uninstrumented libraries: as in
# scripts/sanitizer-build.sh, user poisoning is off.
export ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p $dir/logs
printf '%-14s %12s %9s %9s %9s  %s\n' target executions exec/s seconds cpu-s findings
TIMEFORMAT=%U+%S
for t in "${targets[@]}"; do
  mkdir -p $dir/findings/$t $dir/corpus/$t
  # New inputs go to the first directory; the regressions are read only.
  seeds=($dir/corpus/$t)
  [ -d test/Fuzz/regressions/$t ] && seeds+=(test/Fuzz/regressions/$t)
  start=$SECONDS
  cpu=$( { time nice -n 10 $dir/bin/spatten-fuzz-$t -max_total_time="$seconds" \
    ${RUNS:+-runs=$RUNS} -rss_limit_mb=4096 -timeout=60 -report_slow_units=60 \
    -print_final_stats=1 \
    -artifact_prefix=$dir/findings/$t/ "${seeds[@]}" > $dir/logs/$t.log 2>&1 ; } 2>&1 )
  cpu=$(echo "$cpu" | awk -F+ '{ printf "%d", $1 + $2 }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' $dir/logs/$t.log)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' $dir/logs/$t.log)
  time=$((SECONDS - start))
  found=$(ls $dir/findings/$t | tr '\n' ' ')
  printf '%-14s %12s %9s %9s %9s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${time:-?}" "${cpu:-?}" "${found:-none}"
done

#!/usr/bin/env bash
# Runs the simulator and its tools under a sanitizer and checks that they
# still produce exactly what the Release build produces (docs/Simulator.md,
# "Sanitizer runs"). Not part of scripts/test.sh: the sanitized builds take
# long. Uses only the Debian packages of scripts/setup.sh.
#
#   scripts/sanitize.sh [address|thread] [--compiler]
#
# address: AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/;
# thread: ThreadSanitizer (the two-thread run loop) in build-tsan/.
# --compiler also builds spatten-compile sanitized and compiles every model
# with it (slow: the MLIR libraries are rebuilt).
#
# Steps: build the sanitized tools; run the GoogleTest unit tests; (address)
# run the lit tests of test/Sim with the sanitized tools; export the tiny
# BERT, GPT-2, GPT-NeoX (a partial rotary embedding, rotated in place) and
# Falcon (multi-query) models (and use the shared onnxruntime models when
# ../shared/models holds them), compile each under every SpAtten setting
# group with the Release build (build/, made by scripts/setup.sh), then
# simulate every program, full and --timing-only, with --report and
# --trace, and disassemble it, with both builds, and compare every file.
# Any sanitizer report stops the sanitized tool with a non-zero status.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

kind=address
compiler=0
for a in "$@"; do
  case $a in
    address|thread) kind=$a ;;
    --compiler) compiler=1 ;;
    *) echo "usage: $0 [address|thread] [--compiler]" >&2; exit 2 ;;
  esac
done
ref=build/bin
if [ ! -x $ref/spatten-compile ]; then
  echo "sanitize: no Release build in build/ (run scripts/setup.sh)" >&2
  exit 1
fi

. scripts/sanitizer-build.sh
sanitized_build $kind || exit 1
dir=$san_dir
targets=(SpAttenUnitTests spatten-sim)
[ $kind = address ] && targets+=(spatten-objdump spatten-asm)
[ $compiler = 1 ] && targets+=(spatten-compile)
ninja -C $dir "${targets[@]}" || exit 1
san=$dir/bin

status=0
fail() { echo "sanitize: FAIL $*" >&2; status=1; }

echo "== unit tests ($kind)"
# SimFuzz's random ATTNs build score matrices of several GB (lq x lk fp32);
# ThreadSanitizer commits shadow memory for all of them, and it runs no
# thread: leave it to the address run.
filter=
[ $kind = thread ] && filter=--gtest_filter=-SimFuzz.*
$san/SpAttenUnitTests --gtest_brief=1 $filter || fail "unit tests"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ $kind = address ]; then
  echo "== lit test/Sim ($kind)"
  # Reports go to files: a test that expects a tool to fail (`not`) would
  # pass on a sanitizer's exit status too.
  # Tools the sanitized tree does not build (spatten-compile without
  # --compiler) come from the Release build.
  ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$work/report \
    UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$work/report \
    SPATTEN_LIT_FALLBACK_TOOLS=$root/$ref \
    /usr/lib/llvm-22/bin/lit -s $dir/test/Sim || fail "lit test/Sim"
  for r in "$work"/report.*; do
    [ -e "$r" ] && fail "lit test/Sim: sanitizer report: $(head -c 2000 "$r")"
  done
fi

echo "== programs ($kind)"
py() { PYTHONPATH=$root/python /usr/bin/python3 "$@"; }
py -m spatten.export bert -o $work/bert.onnx --seq-len 32 >/dev/null || exit 1
py -m spatten.export gpt2 -o $work/gpt2.onnx --seq-len 32 >/dev/null || exit 1
py -m spatten.export gpt-neox -o $work/neox.onnx --seq-len 32 >/dev/null || exit 1
py -m spatten.export falcon -o $work/falcon.onnx --seq-len 32 >/dev/null || exit 1
py - "$work" <<'EOF' || exit 1
import sys, numpy as np
w = sys.argv[1]
ids = np.random.default_rng(0).integers(1, 100, (1, 32), dtype=np.int64)
np.save(f"{w}/input_ids.npy", ids)
np.save(f"{w}/attention_mask.npy", np.ones((1, 32), np.int64))
np.save(f"{w}/token_type_ids.npy", np.zeros((1, 32), np.int64))
np.save(f"{w}/input_mask.npy", np.ones((1, 16), np.int64))
np.save(f"{w}/toy_ids.npy", ids[:, :16] % 50)
np.save(f"{w}/toy_types.npy", np.zeros((1, 16), np.int64))
EOF

shared=$root/../shared/models/onnxruntime-testdata
gpt2s=$shared/gpt2_pytorch1.4_opset11_no_past
models=(bert gpt2 neox falcon)
[ -f $shared/bert_toy_optimized.onnx ] && models+=(toy)
[ -f $gpt2s/GPT2Model.onnx ] && models+=(gpt2s)
model_args() {
  case $1 in
    bert|gpt2|neox|falcon) echo "$work/$1.onnx --shape batch=1 --shape sequence=32" ;;
    toy) echo "$shared/bert_toy_optimized.onnx --shape batch=1 --shape max_seq_len_in_batch=16" ;;
    gpt2s) echo "$gpt2s/GPT2Model.onnx --shape batch_size=1 --shape seq_len=2" ;;
  esac
}
inputs() {
  case $1 in
    bert) echo "--input input_ids=$work/input_ids.npy --input attention_mask=$work/attention_mask.npy --input token_type_ids=$work/token_type_ids.npy" ;;
    gpt2|neox|falcon) echo "--input input_ids=$work/input_ids.npy" ;;
    toy) echo "--input input_ids=$work/toy_ids.npy --input input_mask=$work/input_mask.npy --input token_type_ids=$work/toy_types.npy" ;;
    gpt2s) echo "--input input_ids=$gpt2s/test_data_set_0/input_0.pb" ;;
  esac
}
settings=(
  ""
  "--token-keep=0.5 --keep-positions=0"
  "--head-keep=0.5"
  "--value-keep=0.3"
  "--pq-msb=6"
  "--pq-msb=8 --pq-values --value-keep=0.5 --pq-threshold=0.3"
  "--attn-bits=12"
  "--token-schedule=1,1,0.8,0.5,0.5,0.25 --head-keep=0.75"
  "--token-keep=0.5 --head-keep=0.5 --value-keep=0.3 --pq-msb=6"
  "--token-keep=0.5 --head-keep=0.5 --value-keep=0.3 --pq-msb=6 --hw spatten-1/8"
)

# run TAG TOOL ARGS...: runs TOOL from both builds into $work/{ref,san}/TAG.
run() {
  local tag=$1 tool=$2
  shift 2
  for b in ref san; do
    local bin=$ref d=$work/$b/$tag
    [ $b = san ] && bin=$san
    mkdir -p $d
    (cd $d && "$root/$bin/$tool" "$@" >stdout 2>stderr) ||
      { [ $b = san ] && fail "$tag: $tool exited non-zero: $(head -c 2000 $d/stderr)"; }
  done
  diff -r $work/ref/$tag $work/san/$tag >/dev/null || fail "$tag: $tool output differs"
}

n=0 i=0
for m in "${models[@]}"; do
  for s in "${settings[@]}"; do
    i=$((i + 1))
    p=$work/$m-$i.spbin
    # Some settings do not apply to every model (a schedule per layer).
    # shellcheck disable=SC2046
    $ref/spatten-compile $(model_args $m) $s -o $p 2>/dev/null || continue
    n=$((n + 1))
    if [ $compiler = 1 ]; then
      $san/spatten-compile $(model_args $m) $s -o $p.san ||
        fail "$m $s: sanitized compile"
      cmp -s $p $p.san || fail "$m $s: sanitized compile differs"
    fi
    # shellcheck disable=SC2046
    run $m-$i-full spatten-sim $p $(inputs $m) --output-dir out \
      --report report.json --trace trace.json
    # shellcheck disable=SC2046
    run $m-$i-timing spatten-sim $p $(inputs $m) --output-dir out \
      --report report.json --trace trace.json --timing-only
    [ $kind = address ] || continue
    run $m-$i-disasm spatten-objdump -d $p
    run $m-$i-manifest spatten-objdump --manifest $p
  done
done
# A reference compiler that compiles nothing (say, one being relinked) would
# otherwise leave no program to check and still read as clean.
[ $n -gt 0 ] || fail "no program compiled with $ref/spatten-compile"
echo "sanitize: $n programs, $kind: $([ $status = 0 ] && echo clean || echo FAILED)"
exit $status

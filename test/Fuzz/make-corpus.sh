#!/usr/bin/env bash
# Builds the fuzz targets' seed corpora in OUT/<target>/ from the real models
# in ../shared/models, the project's own test inputs and presets, and
# binaries compiled from them with the tools in TOOLS (a normal build's bin/).
# The models are read in place and never copied into the repository.
#
#   test/Fuzz/make-corpus.sh TOOLS OUT
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=$1
out=$2
models=$root/../shared/models/onnxruntime-testdata
mkdir -p "$out"/{onnx-import,spbin,tensor-files,hw-config,isa-decode}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A model with its --shape flags, as the ONNX target reads it: flag lines
# first, then the model.
seed_model() { # NAME MODEL FLAG... (comment lines of ONNX text dropped)
  local name=$1 model=$2
  shift 2
  [ -f "$model" ] || return 0
  local text=(cat)
  [[ $model == *.onnxtext ]] && text=(sed "/^#/d")
  { for flag in "$@"; do printf '%s\n' "$flag"; done; "${text[@]}" "$model"; } \
    > "$out/onnx-import/$name"
}
# Compiles a seed model into spbin/ and cuts its .text into isa-decode/
# pieces of 16 instructions.
seed_binary() { # NAME MODEL COMPILE-FLAG...
  local name=$1 model=$2
  shift 2
  [ -f "$model" ] || return 0
  "$tools/spatten-compile" "$model" "$@" -o "$out/spbin/$name.spbin" \
    2>/dev/null || { rm -f "$out/spbin/$name.spbin"; return 0; }
  llvm-objcopy-22 -O binary --only-section=.text "$out/spbin/$name.spbin" \
    "$tmp/$name.text" 2>/dev/null || return 0
  split -b 1024 -a 3 -d "$tmp/$name.text" "$out/isa-decode/$name-"
}

if [ -d "$models" ]; then
  seed_model gpt2 "$models/gpt2_pytorch1.4_opset11_no_past/GPT2Model.onnx" \
    "--shape batch_size=1" "--shape seq_len=2"
  seed_model bert-toy "$models/bert_toy_optimized.onnx" \
    "--shape batch=1" "--shape max_seq_len_in_batch=4"
  seed_model gpt2-megatron "$models/gpt2_megatron.onnx" \
    "--shape batch_size=1" "--shape seq_len=2" "--shape past_seq_len=3"
  seed_model attention-past-state "$models/attention_past_state.onnx" \
    "--shape batch=1" "--shape seq_len=2" "--shape past_sequence_length=3"
  seed_model bert-squad "$models/bert_squad_pytorch1.4_opset11/BertForQuestionAnswering_0.onnx"
  # Zero-sized dimensions: an empty past, an empty batch.
  seed_model gpt2-megatron-empty-past "$models/gpt2_megatron.onnx" \
    "--shape batch_size=1" "--shape seq_len=2" "--shape past_seq_len=0"
  seed_model bert-toy-empty-batch "$models/bert_toy_optimized.onnx" \
    "--shape batch=0" "--shape max_seq_len_in_batch=4"
  seed_binary gpt2 "$models/gpt2_pytorch1.4_opset11_no_past/GPT2Model.onnx" \
    --shape batch_size=1 --shape seq_len=2
  seed_binary gpt2-pruned "$models/gpt2_pytorch1.4_opset11_no_past/GPT2Model.onnx" \
    --shape batch_size=1 --shape seq_len=4 --token-keep=0.5 --head-keep=0.5 \
    --value-keep=0.5 --pq-msb=6
  seed_binary bert-toy "$models/bert_toy_optimized.onnx" \
    --shape batch=1 --shape max_seq_len_in_batch=4
  for pb in "$models"/*/test_data_set_0/*.pb; do
    cp "$pb" "$out/tensor-files/$(basename "$(dirname "$(dirname "$pb")")")-$(basename "$pb")"
  done
fi

# The project's own ONNX text models (their dynamic dims unbound) and
# generation binary.
for m in "$root"/test/Target/ONNX/*.onnxtext "$root"/test/Tools/Inputs/*.onnxtext; do
  sed "/^#/d" "$m" > "$out/onnx-import/$(basename "$m")"
done
seed_model layer "$root/test/Tools/Inputs/layer.onnxtext" \
  "--shape batch=1" "--shape seq=3"
seed_binary layer "$root/test/Tools/Inputs/layer.onnxtext" \
  --shape batch=1 --shape seq=3
seed_binary generation "$root/test/Target/ONNX/generation-context.onnxtext" \
  --shape batch=1 --shape seq=3 --max-context

# One-layer exports of the decoder families whose graphs the lift reads
# most (position ids computed from the inputs, fused per-head QKV, partial
# rotary embeddings, multi-query attention), bound as the tests bind them.
for kind in roberta opt llama gpt-neox falcon phi; do
  (cd "$root/python" && /usr/bin/python3 -m spatten.export "$kind" --layers 1 \
    -o "$tmp/$kind.onnx" >/dev/null 2>&1) &&
    seed_model "$kind" "$tmp/$kind.onnx" "--shape batch=1" "--shape sequence=4"
done

# Hardware configurations: the presets and the tests' files.
cp "$root"/configs/*.json "$root"/test/Tools/Inputs/*.json "$out/hw-config/"

# .npy files of every dtype and header version the reader takes.
/usr/bin/python3 - "$out/tensor-files" <<'PY'
import sys, numpy as np
d = sys.argv[1]
np.save(f"{d}/f32.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
np.save(f"{d}/i64.npy", np.array([[5, 17, 42]], dtype=np.int64))
np.save(f"{d}/i32-scalar.npy", np.array(7, dtype=np.int32))
np.save(f"{d}/empty.npy", np.zeros((0, 4), dtype=np.float32))
with open(f"{d}/v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.ones((2, 2), np.float32), version=(2, 0))
PY
for t in onnx-import spbin tensor-files hw-config isa-decode; do
  echo "corpus $t: $(ls "$out/$t" | wc -l) inputs"
done

#!/usr/bin/env bash
# Installs every missing Debian package, the pinned onnxruntime-node reference
# executor (npm), then configures and builds into build/ (Ninja, Release).
# Idempotent: with everything present it only runs an incremental build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(
  cmake ninja-build g++ ccache pkg-config
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  libonnx-dev libprotobuf-dev protobuf-compiler
  libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libzstd-dev
  python3-onnx python3-numpy python3-torch python3-pytest python3-matplotlib
  python3-sentencepiece
  # Design-space sweeps (python -m spatten.sweep, docs/Sweeps.md): Dask's
  # distributed scheduler and the results table.
  python3-distributed python3-pandas
  # ONNX's own node tests (python/spatten/tests/test_onnx_node.py).
  libonnx-testdata
  # The English corpus of the trained models (docs/Accuracy.md).
  python3.11-doc
  # PyTorch and NumPy call the system BLAS; without OpenBLAS that is the slow
  # reference implementation (5x slower training steps).
  libopenblas0-pthread
  # The fuzz targets' libFuzzer build (bench/fuzz.sh, docs/Reliability.md).
  clang-22 libfuzzer-22-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js with npm runs the onnxruntime reference; some Node.js packages
# already bundle npm, and Debian's npm conflicts with them.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# onnxruntime-node ships the Linux x64 CPU library; its post-install script
# only downloads GPU add-ons, which cannot work offline.
if [ ! -f node_modules/onnxruntime-node/package.json ] || \
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# Relative paths in the cache keys: every clone of the project shares hits.
export CCACHE_BASEDIR="$root"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir "${launcher[@]}"
fi
cmake --build build

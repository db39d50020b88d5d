# Sourced by scripts/sanitize.sh and scripts/test-sanitized.sh: one
# configuration of the sanitized builds and of the sanitizers' run-time
# options (docs/Reliability.md, "Sanitized test run").
#
#   sanitized_build KIND   # address | thread
#
# sets $san_dir (build-asan or build-tsan) and $san_flags, exports the
# *SAN_OPTIONS, and configures $san_dir when it has no build yet.
sanitized_build() {
  if [ "$1" = address ]; then
    san_dir=build-asan
    san_flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  else
    san_dir=build-tsan
    san_flags="-fsanitize=thread -fno-omit-frame-pointer"
  fi
  # Instrumented inline LLVM allocator code poisons slabs that Debian's
  # uninstrumented MLIR libraries then write: user poisoning is off, every
  # other check stays.
  export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1:allow_user_poisoning=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  export CCACHE_BASEDIR=$PWD
  [ -f $san_dir/build.ninja ] && return 0
  cmake -S . -B $san_dir -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DCMAKE_C_FLAGS="$san_flags" -DCMAKE_CXX_FLAGS="$san_flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$san_flags" -DCMAKE_SHARED_LINKER_FLAGS="$san_flags" \
    >/dev/null
}

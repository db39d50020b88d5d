//===- ReplayMain.cpp - Run a fuzz target on files, without libFuzzer -----===//
//
//   spatten-fuzz-<target> FILE|DIR...
//
// Runs LLVMFuzzerTestOneInput on every file given and on every file in each
// directory given (sorted by name), as libFuzzer runs a crash file. A
// finding aborts with the input's name printed first. The normal build
// links this main so that lit replays test/Fuzz/regressions.
//
//===----------------------------------------------------------------------===//

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/// `path` itself, or the regular files directly inside it, sorted.
static std::vector<std::string> inputsOf(const std::string &path) {
  if (!llvm::sys::fs::is_directory(path))
    return {path};
  std::vector<std::string> files;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(path, ec), end; it != end && !ec;
       it.increment(ec))
    if (llvm::sys::fs::is_regular_file(it->path()))
      files.push_back(it->path());
  llvm::sort(files);
  return files;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  unsigned replayed = 0;
  for (int i = 1; i < argc; ++i) {
    for (const std::string &file : inputsOf(argv[i])) {
      auto buffer = llvm::MemoryBuffer::getFile(file, /*IsText=*/false,
                                                /*RequiresNullTerminator=*/false);
      if (!buffer) {
        llvm::errs() << "cannot read '" << file
                     << "': " << buffer.getError().message() << "\n";
        return 1;
      }
      llvm::errs() << "input " << file << "\n";
      llvm::StringRef bytes = (*buffer)->getBuffer();
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size());
      ++replayed;
    }
  }
  llvm::outs() << "replayed " << replayed << " inputs\n";
  return 0;
}

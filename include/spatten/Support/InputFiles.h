//===- InputFiles.h - Reading the tools' input files safely -----*- C++ -*-===//
//
// Every file a tool reads (model, external data, binary, tensors, hardware
// configuration) goes through readRegularFile, and every JSON document
// through parseJson, so that a device, a FIFO or a hostile document is
// refused with a message instead of hanging, exhausting memory or
// overflowing the stack (docs/Reliability.md).
//
// Depends only on LLVM Support.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SUPPORT_INPUTFILES_H
#define SPATTEN_SUPPORT_INPUTFILES_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>

namespace spatten {

/// The largest input file a tool reads: 256 GiB, beyond any model the
/// simulated DRAM holds.
constexpr uint64_t kMaxInputFileBytes = uint64_t(256) << 30;
/// The deepest nesting of JSON arrays and objects parseJson accepts. The
/// configuration and manifest nest at most 4 levels.
constexpr unsigned kMaxJsonDepth = 64;

/// Reads `path` (mapped when large) if it is a regular file of at most
/// `maxBytes` bytes. "-" reads standard input when `allowStdin`. Errors:
/// "cannot read 'P': No such file or directory", "'P' is not a regular
/// file", "'P' holds N bytes, more than the limit of M".
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readRegularFile(llvm::StringRef path, bool isText = false,
                uint64_t maxBytes = kMaxInputFileBytes,
                bool allowStdin = false);

/// The checks of readRegularFile without reading: for files read in
/// slices (ONNX external data).
llvm::Error checkRegularFile(llvm::StringRef path,
                             uint64_t maxBytes = kMaxInputFileBytes);

/// llvm::json::parse after checking what it lets through: arrays and
/// objects nest at most kMaxJsonDepth levels (the parser recurses once per
/// level), numbers have no leading '+' or zeros, and no object repeats a
/// key (the parser would keep the last). Errors: "JSON nests deeper than
/// 64 levels (at byte N)", "JSON numbers may not start with '+' (at byte
/// N)", "JSON numbers may not have leading zeros (at byte N)", "JSON object
/// has key 'K' twice (at byte N)", or the parser's.
llvm::Expected<llvm::json::Value> parseJson(llvm::StringRef text);

} // namespace spatten

#endif // SPATTEN_SUPPORT_INPUTFILES_H

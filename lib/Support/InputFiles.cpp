//===- InputFiles.cpp - Reading the tools' input files safely -------------===//

#include "spatten/Support/InputFiles.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"

using namespace spatten;

static llvm::Error inputError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

llvm::Error spatten::checkRegularFile(llvm::StringRef path,
                                      uint64_t maxBytes) {
  // Stat before opening: opening a FIFO blocks, and reading a device never
  // ends.
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status))
    return inputError("cannot read '" + path + "': " + ec.message());
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return inputError("'" + path + "' is not a regular file");
  if (status.getSize() > maxBytes)
    return inputError("'" + path + "' holds " + llvm::Twine(status.getSize()) +
                      " bytes, more than the limit of " +
                      llvm::Twine(maxBytes));
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
spatten::readRegularFile(llvm::StringRef path, bool isText, uint64_t maxBytes,
                         bool allowStdin) {
  if (allowStdin && path == "-") {
    auto buf = llvm::MemoryBuffer::getSTDIN();
    if (!buf)
      return inputError("cannot read standard input: " +
                        buf.getError().message());
    return std::move(*buf);
  }
  if (llvm::Error e = checkRegularFile(path, maxBytes))
    return std::move(e);
  auto buf = llvm::MemoryBuffer::getFile(path, isText,
                                         /*RequiresNullTerminator=*/false);
  if (!buf)
    return inputError("cannot read '" + path + "': " +
                      buf.getError().message());
  return std::move(*buf);
}

/// The byte at which arrays and objects first nest deeper than `limit`, or
/// npos. Brackets inside strings do not count.
static size_t tooDeepAt(llvm::StringRef text, unsigned limit) {
  unsigned depth = 0;
  bool inString = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"')
      inString = true;
    else if ((c == '[' || c == '{') && ++depth > limit)
      return i;
    else if ((c == ']' || c == '}') && depth)
      --depth;
  }
  return llvm::StringRef::npos;
}

llvm::Expected<llvm::json::Value> spatten::parseJson(llvm::StringRef text) {
  size_t at = tooDeepAt(text, kMaxJsonDepth);
  if (at != llvm::StringRef::npos)
    return inputError("JSON nests deeper than " + llvm::Twine(kMaxJsonDepth) +
                      " levels (at byte " + llvm::Twine(at) + ")");
  return llvm::json::parse(text);
}

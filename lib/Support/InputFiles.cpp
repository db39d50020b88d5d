//===- InputFiles.cpp - Reading the tools' input files safely -------------===//

#include "spatten/Support/InputFiles.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
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

namespace {
/// One pass over a JSON text for what llvm::json::parse lets through: deep
/// nesting (the parser recurses once per level), a number with a leading
/// '+' or leading zeros (RFC 8259, section 6), and a key repeated in one
/// object (the parser keeps the last one). The parser checks the rest.
class StrictJsonScan {
public:
  explicit StrictJsonScan(llvm::StringRef text) : text(text) {}

  /// The first violation as a message with its byte offset, or "".
  std::string run() {
    for (i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"') {
        if (std::string e = string(); !e.empty())
          return e;
      } else if (c == '[' || c == '{') {
        if (containers.size() == kMaxJsonDepth)
          return at("JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels");
        containers.push_back({c == '{', {}});
      } else if ((c == ']' || c == '}') && !containers.empty()) {
        containers.pop_back();
      } else if (c == '+' && !exponent(i)) {
        return at("JSON numbers may not start with '+'");
      } else if (c == '0' && startsInteger(i) && i + 1 < text.size() &&
                 llvm::isDigit(text[i + 1])) {
        return at("JSON numbers may not have leading zeros");
      }
    }
    return "";
  }

private:
  struct Container {
    bool object;
    llvm::StringSet<> keys;
  };

  std::string at(const std::string &msg) const {
    return msg + " (at byte " + std::to_string(i) + ")";
  }
  bool exponent(size_t pos) const {
    return pos && (text[pos - 1] == 'e' || text[pos - 1] == 'E');
  }
  /// Whether the digit at `pos` begins a number's integer part.
  bool startsInteger(size_t pos) const {
    if (!pos)
      return true;
    char prev = text[pos - 1];
    return !llvm::isDigit(prev) && prev != '.' && prev != 'e' &&
           prev != 'E' && prev != '+';
  }

  /// Skips the string opening at `i`; a key already seen in its object is
  /// an error.
  std::string string() {
    size_t start = i + 1;
    for (++i; i < text.size() && text[i] != '"'; ++i)
      if (text[i] == '\\')
        ++i;
    llvm::StringRef content = text.slice(start, std::min(i, text.size()));
    size_t next = text.find_first_not_of(" \t\r\n", i + 1);
    bool key = next != llvm::StringRef::npos && text[next] == ':' &&
               !containers.empty() && containers.back().object;
    if (key && !containers.back().keys.insert(content).second)
      return "JSON object has key '" + content.str() + "' twice (at byte " +
             std::to_string(start - 1) + ")";
    return "";
  }

  llvm::StringRef text;
  size_t i = 0;
  llvm::SmallVector<Container> containers;
};
} // namespace

llvm::Expected<llvm::json::Value> spatten::parseJson(llvm::StringRef text) {
  std::string error = StrictJsonScan(text).run();
  if (!error.empty())
    return inputError(error);
  return llvm::json::parse(text);
}

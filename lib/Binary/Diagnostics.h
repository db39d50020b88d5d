//===- Diagnostics.h - Errors of the .spbin reader and writer ---*- C++ -*-===//
//
// Private to lib/Binary: every manifest error names its JSON field the same
// way (docs/BinaryFormat.md, "Validation").
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_BINARY_DIAGNOSTICS_H
#define SPATTEN_LIB_BINARY_DIAGNOSTICS_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

namespace spatten::binary {

inline llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
/// "manifest field 'PATH': MSG".
inline llvm::Error fieldError(const llvm::Twine &path, const llvm::Twine &msg) {
  return makeError("manifest field '" + path + "': " + msg);
}

/// Largest DRAM address plus one that a 48-bit dram_addr field can name.
constexpr uint64_t kMaxDram = uint64_t(1) << 48;

} // namespace spatten::binary

#endif // SPATTEN_LIB_BINARY_DIAGNOSTICS_H

//===- JsonFields.h - Typed fields of the manifest JSON ---------*- C++ -*-===//
//
// Private to lib/Binary: reading a manifest field checks its JSON type and
// range, and an error names the field by its path (docs/BinaryFormat.md,
// "Validation").
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_BINARY_JSONFIELDS_H
#define SPATTEN_LIB_BINARY_JSONFIELDS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace spatten::binary {

/// Bytes per element of a manifest dtype (float32, int32: 4; int64: 8),
/// 0 for any other string.
unsigned dtypeSize(llvm::StringRef dtype);
/// The non-negative integer field `key` of `obj` (`path` names it); `dflt`
/// when it is absent and not `required`.
llvm::Expected<uint64_t> getUInt(const llvm::json::Object &obj,
                                 llvm::StringRef key, const llvm::Twine &path,
                                 bool required = true, uint64_t dflt = 0);
/// An error naming the first key of `obj` not in `known` (`prefix` + key).
llvm::Error rejectUnknownKeys(const llvm::json::Object &obj,
                              llvm::ArrayRef<llvm::StringRef> known,
                              llvm::StringRef prefix);
/// The object at `path`, with no keys but `known`.
llvm::Expected<const llvm::json::Object *>
objectWithKeys(const llvm::json::Value *v, const std::string &path,
               llvm::ArrayRef<llvm::StringRef> known);
/// The `dtype` string at `path`: one of the element types DRAM holds.
llvm::Expected<std::string> dtypeFromJSON(const llvm::json::Object &o,
                                          const std::string &path);
/// The `shape` array at `path`, of a tensor of `elemBytes`-byte elements
/// that fits in the DRAM address space.
llvm::Expected<std::vector<int64_t>>
shapeFromJSON(const llvm::json::Object &o, const std::string &path,
              uint64_t elemBytes);
llvm::json::Array shapeToJSON(const std::vector<int64_t> &shape);

} // namespace spatten::binary

#endif // SPATTEN_LIB_BINARY_JSONFIELDS_H

//===- JsonFields.cpp - Typed fields of the manifest JSON -----------------===//
//
// The field readers every part of the manifest uses: each checks its JSON
// type and range and names the field in its error (Diagnostics.h).
//
//===----------------------------------------------------------------------===//

#include "JsonFields.h"
#include "Diagnostics.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

using llvm::Error;
using llvm::Expected;
namespace json = llvm::json;

namespace spatten::binary {

unsigned dtypeSize(llvm::StringRef dtype) {
  if (dtype == "float32" || dtype == "int32")
    return 4;
  if (dtype == "int64")
    return 8;
  return 0;
}

/// Reads a non-negative integer field `key` of `obj` (path names it).
Expected<uint64_t> getUInt(const json::Object &obj, llvm::StringRef key,
                           const llvm::Twine &path, bool required,
                           uint64_t dflt) {
  const json::Value *v = obj.get(key);
  std::string p = path.str();
  if (!v) {
    if (required)
      return fieldError(p, "missing");
    return dflt;
  }
  std::optional<int64_t> i = v->getAsInteger();
  if (!i)
    return fieldError(p, "expected an integer");
  if (*i < 0)
    return fieldError(p, llvm::formatv("must be non-negative, got {0}", *i));
  return uint64_t(*i);
}

Error rejectUnknownKeys(const json::Object &obj,
                        llvm::ArrayRef<llvm::StringRef> known,
                        llvm::StringRef prefix) {
  for (const auto &kv : obj)
    if (!llvm::is_contained(known, llvm::StringRef(kv.first)))
      return fieldError(prefix + kv.first.str(), "unknown field");
  return Error::success();
}

/// The object at `path`, with no keys but `known`.
Expected<const json::Object *> objectWithKeys(const json::Value *v,
                                              const std::string &path,
                                              llvm::ArrayRef<llvm::StringRef>
                                                  known) {
  const json::Object *o = v ? v->getAsObject() : nullptr;
  if (!o)
    return fieldError(path, "expected an object");
  if (Error e = rejectUnknownKeys(*o, known, path + "."))
    return std::move(e);
  return o;
}

/// The `dtype` string at `path`: one of the element types DRAM holds.
Expected<std::string> dtypeFromJSON(const json::Object &o,
                                    const std::string &path) {
  std::optional<llvm::StringRef> dtype = o.getString("dtype");
  if (!dtype)
    return fieldError(path + ".dtype", "expected a string");
  if (!dtypeSize(*dtype))
    return fieldError(path + ".dtype",
                      "unsupported dtype '" + *dtype +
                          "' (expected float32, int64 or int32)");
  return dtype->str();
}

/// The `shape` array at `path`, of a tensor of `elemBytes`-byte elements
/// that fits in the DRAM address space.
Expected<std::vector<int64_t>> shapeFromJSON(const json::Object &o,
                                             const std::string &path,
                                             uint64_t elemBytes) {
  const json::Array *shape = o.getArray("shape");
  if (!shape)
    return fieldError(path + ".shape", "expected an array");
  std::vector<int64_t> dims;
  uint64_t bytes = elemBytes;
  for (size_t i = 0; i < shape->size(); ++i) {
    std::optional<int64_t> d = (*shape)[i].getAsInteger();
    std::string dp = llvm::formatv("{0}.shape[{1}]", path, i).str();
    if (!d)
      return fieldError(dp, "expected an integer");
    if (*d < 0)
      return fieldError(dp, llvm::formatv("negative dimension {0}", *d));
    if (*d && bytes > kMaxDram / uint64_t(*d))
      return fieldError(path + ".shape", "tensor larger than the DRAM address "
                                         "space");
    bytes *= uint64_t(*d);
    dims.push_back(*d);
  }
  return dims;
}

json::Array shapeToJSON(const std::vector<int64_t> &shape) {
  json::Array a;
  for (int64_t d : shape)
    a.push_back(d);
  return a;
}

} // namespace spatten::binary

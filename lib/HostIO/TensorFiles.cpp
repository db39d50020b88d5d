//===- TensorFiles.cpp - .npy and ONNX TensorProto files ------------------===//
//
// .npy follows numpy/lib/format.py: magic "\x93NUMPY", major/minor version,
// a little-endian header length (2 bytes in v1, 4 in v2/v3), then a Python
// dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), }
// padded with spaces to a multiple of 64 bytes and ended by '\n'.
//
//===----------------------------------------------------------------------===//

#include "spatten/HostIO/TensorFiles.h"
#include "spatten/Support/InputFiles.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <optional>

using namespace spatten;
using namespace spatten::hostio;
using sim::ElemType;
using sim::HostTensor;
using llvm::Error;
using llvm::Expected;

static Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Elements of `shape`, or nullopt when the product exceeds 2^48 (no file
/// we read can hold that much, and the product must not wrap).
static std::optional<uint64_t> checkedElements(llvm::ArrayRef<int64_t> shape) {
  uint64_t n = 1;
  const uint64_t limit = uint64_t(1) << 48;
  for (int64_t d : shape) {
    if (d < 0 || (d && n > limit / uint64_t(d)))
      return std::nullopt;
    n *= uint64_t(d);
  }
  return n;
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicLen = 6;

/// The keys numpy writes in a .npy header, each exactly once.
constexpr llvm::StringLiteral kNpyKeys[] = {"descr", "fortran_order", "shape"};

/// The header dict literal's entries (key -> value text), read whole: the
/// dict holds exactly kNpyKeys, each once, and only padding follows it, so
/// a header with junk or a repeated key is refused rather than half read.
Expected<llvm::StringMap<llvm::StringRef>> headerEntries(llvm::StringRef header,
                                                         llvm::StringRef name) {
  llvm::StringRef rest = header.rtrim(" \n");
  if (!rest.consume_front("{") || !rest.consume_back("}"))
    return makeError(name + ": .npy header is not a dict literal");
  llvm::StringMap<llvm::StringRef> entries;
  for (rest = rest.trim(); !rest.empty(); rest = rest.ltrim()) {
    char quote = rest.front();
    llvm::StringRef key = rest.drop_front().take_until(
        [quote](char c) { return c == quote; });
    if ((quote != '\'' && quote != '"') || key.size() + 2 > rest.size())
      return makeError(name + ": .npy header has junk where a key belongs: '" +
                       rest.take_front(16) + "'");
    rest = rest.drop_front(key.size() + 2).ltrim();
    if (!rest.consume_front(":"))
      return makeError(name + ": .npy header key '" + key + "' has no value");
    rest = rest.ltrim();
    bool tuple = rest.starts_with("(");
    size_t end = std::min(rest.find(tuple ? ')' : ','), rest.size());
    if (tuple && end < rest.size())
      ++end;
    llvm::StringRef value = rest.take_front(end).rtrim();
    rest = rest.drop_front(end).ltrim();
    if (!rest.empty() && !rest.consume_front(","))
      return makeError(name + ": .npy header has junk after key '" + key +
                       "'");
    if (!llvm::is_contained(kNpyKeys, key))
      return makeError(name + ": .npy header has unknown key '" + key + "'");
    if (!entries.try_emplace(key, value).second)
      return makeError(name + ": .npy header has key '" + key + "' twice");
  }
  return entries;
}

Expected<ElemType> parseDescr(llvm::StringRef v, llvm::StringRef name) {
  char quote = v.empty() ? 0 : v.front();
  if ((quote != '\'' && quote != '"') || v.size() < 2 || v.back() != quote)
    return makeError(name + ": .npy header has no 'descr' string");
  llvm::StringRef descr = v.drop_front().drop_back();
  if (descr == "<f4")
    return ElemType::F32;
  if (descr == "<i8")
    return ElemType::I64;
  if (descr == "<i4")
    return ElemType::I32;
  return makeError(name + ": unsupported .npy dtype '" + descr +
                   "' (supported: '<f4' float32, '<i8' int64, '<i4' int32)");
}

Expected<std::vector<int64_t>> parseShape(llvm::StringRef v,
                                          llvm::StringRef name) {
  if (!v.consume_front("("))
    return makeError(name + ": .npy header has no 'shape' tuple");
  if (!v.consume_back(")"))
    return makeError(name + ": .npy 'shape' tuple is not closed");
  llvm::SmallVector<llvm::StringRef> parts;
  v.split(parts, ',');
  std::vector<int64_t> shape;
  for (auto [i, p] : llvm::enumerate(parts)) {
    p = p.trim();
    if (p.empty() && i + 1 == parts.size() && i)
      continue; // trailing comma of a 1-tuple
    if (p.empty() && parts.size() == 1)
      continue; // () is a scalar
    int64_t d;
    if (p.getAsInteger(10, d) || d < 0)
      return makeError(name + ": bad .npy dimension '" + p + "'");
    shape.push_back(d);
  }
  return shape;
}

Error parseFortranOrder(llvm::StringRef v, llvm::StringRef name) {
  if (v == "False")
    return Error::success();
  if (v == "True")
    return makeError(name + ": Fortran-order .npy arrays are not supported; "
                            "save with numpy.ascontiguousarray");
  return makeError(name + ": .npy header has no 'fortran_order' flag");
}

} // namespace

Expected<HostTensor> hostio::parseNpy(llvm::StringRef bytes,
                                            llvm::StringRef name) {
  if (bytes.size() < kNpyMagicLen + 4 ||
      std::memcmp(bytes.data(), kNpyMagic, kNpyMagicLen) != 0)
    return makeError(name + ": not a .npy file (bad magic)");
  uint8_t major = uint8_t(bytes[6]);
  size_t lenBytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
  if (!lenBytes)
    return makeError(llvm::formatv("{0}: unsupported .npy format version {1}",
                                   name, unsigned(major)));
  size_t prefix = 8 + lenBytes;
  if (bytes.size() < prefix)
    return makeError(name + ": truncated .npy header");
  uint64_t headerLen =
      lenBytes == 2
          ? llvm::support::endian::read16le(bytes.data() + 8)
          : llvm::support::endian::read32le(bytes.data() + 8);
  if (bytes.size() < prefix + headerLen)
    return makeError(name + ": truncated .npy header");
  llvm::StringRef header = bytes.substr(prefix, headerLen);
  auto entries = headerEntries(header, name);
  if (!entries)
    return entries.takeError();
  HostTensor t;
  auto type = parseDescr(entries->lookup("descr"), name);
  if (!type)
    return type.takeError();
  if (Error e = parseFortranOrder(entries->lookup("fortran_order"), name))
    return std::move(e);
  auto shape = parseShape(entries->lookup("shape"), name);
  if (!shape)
    return shape.takeError();
  t.type = *type;
  t.shape = std::move(*shape);
  llvm::StringRef payload = bytes.drop_front(prefix + headerLen);
  std::optional<uint64_t> elems = checkedElements(t.shape);
  if (!elems)
    return makeError(name + ": .npy shape " + t.shapeString() + " is too large");
  uint64_t want = *elems * elemTypeBytes(t.type);
  if (payload.size() != want)
    return makeError(llvm::formatv("{0}: .npy data is {1} bytes, but shape {2} "
                                   "of {3} needs {4}",
                                   name, payload.size(), t.shapeString(),
                                   elemTypeName(t.type), want));
  t.data.assign(payload.bytes_begin(), payload.bytes_end());
  return t;
}

Expected<HostTensor> hostio::readNpy(llvm::StringRef path) {
  auto buf = readRegularFile(path);
  if (!buf)
    return buf.takeError();
  return parseNpy((*buf)->getBuffer(), path);
}

std::string hostio::serializeNpy(const HostTensor &t) {
  std::string dict = "{'descr': '";
  dict += t.type == ElemType::F32 ? "<f4" : t.type == ElemType::I64 ? "<i8"
                                                                    : "<i4";
  dict += "', 'fortran_order': False, 'shape': (";
  for (int64_t d : t.shape)
    dict += std::to_string(d) + (t.shape.size() == 1 ? "," : ", ");
  if (t.shape.size() > 1)
    dict.resize(dict.size() - 2);
  dict += "), }";
  // Pad so that the data starts at a multiple of 64 bytes.
  bool v2 = dict.size() + 1 + 10 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string out(kNpyMagic, kNpyMagicLen);
  out.push_back(char(v2 ? 2 : 1));
  out.push_back(0);
  char len[4];
  if (v2) {
    llvm::support::endian::write32le(len, uint32_t(dict.size()));
    out.append(len, 4);
  } else {
    llvm::support::endian::write16le(len, uint16_t(dict.size()));
    out.append(len, 2);
  }
  out += dict;
  out.append(reinterpret_cast<const char *>(t.data.data()), t.data.size());
  return out;
}

Error hostio::writeNpy(const HostTensor &t, llvm::StringRef path) {
  std::string bytes = serializeNpy(t);
  return llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
    os << bytes;
    return Error::success();
  });
}

//===----------------------------------------------------------------------===//
// ONNX TensorProto
//===----------------------------------------------------------------------===//

namespace {

template <typename Dst, typename Field>
void copyTyped(HostTensor &t, const Field &field) {
  Dst *out = t.as<Dst>();
  for (int i = 0; i < field.size(); ++i)
    out[i] = Dst(field.Get(i));
}

Expected<HostTensor> fromProto(const onnx::TensorProto &p,
                               llvm::StringRef name) {
  HostTensor t;
  switch (p.data_type()) {
  case onnx::TensorProto::FLOAT: t.type = ElemType::F32; break;
  case onnx::TensorProto::INT64: t.type = ElemType::I64; break;
  case onnx::TensorProto::INT32: t.type = ElemType::I32; break;
  default:
    return makeError(llvm::formatv("{0}: TensorProto data_type {1} is not "
                                   "supported (float, int64, int32)",
                                   name, int(p.data_type())));
  }
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    return makeError(name + ": TensorProto with external data is not supported");
  for (int64_t d : p.dims()) {
    if (d < 0)
      return makeError(llvm::formatv("{0}: negative dimension {1}", name, d));
    t.shape.push_back(d);
  }
  std::optional<uint64_t> elems = checkedElements(t.shape);
  if (!elems)
    return makeError(name + ": shape " + t.shapeString() + " is too large");
  uint64_t n = *elems, bytes = n * elemTypeBytes(t.type);
  if (p.has_raw_data()) {
    if (p.raw_data().size() != bytes)
      return makeError(llvm::formatv("{0}: raw_data is {1} bytes, shape {2} "
                                     "needs {3}",
                                     name, p.raw_data().size(),
                                     t.shapeString(), bytes));
    t.data.assign(p.raw_data().begin(), p.raw_data().end());
    return t;
  }
  int have = t.type == ElemType::F32   ? p.float_data_size()
             : t.type == ElemType::I64 ? p.int64_data_size()
                                       : p.int32_data_size();
  if (uint64_t(have) != n)
    return makeError(llvm::formatv("{0}: TensorProto holds {1} values, shape "
                                   "{2} needs {3}",
                                   name, have, t.shapeString(), n));
  t.data.assign(bytes, 0);
  if (t.type == ElemType::F32)
    copyTyped<float>(t, p.float_data());
  else if (t.type == ElemType::I64)
    copyTyped<int64_t>(t, p.int64_data());
  else
    copyTyped<int32_t>(t, p.int32_data());
  return t;
}

} // namespace

Expected<HostTensor> hostio::parseTensorProto(llvm::StringRef bytes,
                                               llvm::StringRef name) {
  onnx::TensorProto proto;
  if (bytes.size() > size_t(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), int(bytes.size())))
    return makeError(name + ": not a valid ONNX TensorProto");
  return fromProto(proto, name);
}

Expected<HostTensor> hostio::readTensorProto(llvm::StringRef path) {
  auto buf = readRegularFile(path);
  if (!buf)
    return buf.takeError();
  return parseTensorProto((*buf)->getBuffer(), path);
}

Expected<HostTensor> hostio::readTensorFile(llvm::StringRef path) {
  llvm::StringRef ext = llvm::sys::path::extension(path);
  if (ext.equals_insensitive(".npy"))
    return readNpy(path);
  if (ext.equals_insensitive(".pb"))
    return readTensorProto(path);
  return makeError("'" + path +
                   "': unknown tensor file type (expected .npy or .pb)");
}

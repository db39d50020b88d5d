//===- ConstTensor.cpp - element access to onnx constants -----------------===//

#include "ConstTensor.h"

#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/Endian.h"

#include <cstring>

using namespace mlir;

namespace spatten::onnx {

int64_t elementBytes(Type type) {
  if (type.isInteger(1))
    return 1;
  if (type.isIntOrFloat())
    return type.getIntOrFloatBitWidth() / 8;
  return 0;
}

ConstTensor &ConstTensor::operator=(const ConstTensor &other) {
  type = other.type;
  elemBytes = other.elemBytes;
  splat = other.splat;
  owned = other.owned;
  data = owned.empty() ? other.data : ArrayRef<char>(owned);
  return *this;
}

std::optional<ConstTensor> ConstTensor::get(Attribute attr) {
  auto elements = dyn_cast_or_null<ElementsAttr>(attr);
  if (!elements)
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(elements.getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  ConstTensor t;
  t.type = type;
  t.elemBytes = elementBytes(type.getElementType());
  if (t.elemBytes == 0)
    return std::nullopt;
  if (auto dense = dyn_cast<DenseIntOrFPElementsAttr>(attr)) {
    t.splat = dense.isSplat();
    if (type.getElementType().isInteger(1)) {
      // i1 dense storage is bit-packed; widen to one byte per element.
      for (bool b : dense.getValues<bool>()) {
        t.owned.push_back(b ? 1 : 0);
        if (t.splat)
          break;
      }
      t.data = t.owned;
    } else {
      t.data = dense.getRawData();
    }
    return t;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    t.data = blob->getData();
    if ((int64_t)t.data.size() != t.size() * t.elemBytes)
      return std::nullopt;
    return t;
  }
  return std::nullopt;
}

int64_t ConstTensor::getInt(int64_t i) const {
  Type et = type.getElementType();
  if (isFloat())
    return (int64_t)getDouble(i);
  const char *p = at(i);
  bool isUnsigned = et.isUnsignedInteger();
  switch (elemBytes) {
  case 1:
    if (et.isInteger(1))
      return *p ? 1 : 0;
    return isUnsigned ? (int64_t)(uint8_t)*p : (int64_t)(int8_t)*p;
  case 2: {
    uint16_t v = llvm::support::endian::read16le(p);
    return isUnsigned ? (int64_t)v : (int64_t)(int16_t)v;
  }
  case 4: {
    uint32_t v = llvm::support::endian::read32le(p);
    return isUnsigned ? (int64_t)v : (int64_t)(int32_t)v;
  }
  default:
    return (int64_t)llvm::support::endian::read64le(p);
  }
}

double ConstTensor::getDouble(int64_t i) const {
  Type et = type.getElementType();
  auto ft = dyn_cast<FloatType>(et);
  if (!ft)
    return et.isUnsignedInteger() ? (double)(uint64_t)getInt(i)
                                  : (double)getInt(i);
  const char *p = at(i);
  if (ft.isF32()) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (ft.isF64()) {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  uint64_t raw = 0;
  std::memcpy(&raw, p, elemBytes);
  APInt bits(ft.getWidth(), raw);
  return APFloat(ft.getFloatSemantics(), bits).convertToDouble();
}

void storeInt(Type et, char *bytes, int64_t i, int64_t v) {
  if (isa<FloatType>(et))
    return storeDouble(et, bytes, i, (double)v);
  int64_t n = elementBytes(et);
  if (et.isInteger(1))
    v = v != 0;
  std::memcpy(bytes + i * n, &v, n); // little-endian host
}

void storeDouble(Type et, char *bytes, int64_t i, double v) {
  auto ft = dyn_cast<FloatType>(et);
  if (!ft) {
    if (et.isInteger(1))
      return storeInt(et, bytes, i, v != 0.0);
    return storeInt(et, bytes, i, (int64_t)v);
  }
  int64_t n = elementBytes(et);
  if (ft.isF32()) {
    float f = (float)v;
    std::memcpy(bytes + i * n, &f, 4);
    return;
  }
  if (ft.isF64()) {
    std::memcpy(bytes + i * n, &v, 8);
    return;
  }
  APFloat f(v);
  bool lost;
  f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
  APInt bits = f.bitcastToAPInt();
  std::memcpy(bytes + i * n, bits.getRawData(), n);
}

ElementsAttr makeElements(RankedTensorType type, ArrayRef<char> bytes) {
  Type et = type.getElementType();
  if (et.isInteger(1)) {
    SmallVector<bool> bits(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i)
      bits[i] = bytes[i] != 0;
    return DenseElementsAttr::get(type, bits);
  }
  if ((int64_t)bytes.size() <= kDenseLimitBytes)
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      bytes, alignof(uint64_t));
  return DenseResourceElementsAttr::get(type, "onnx_folded", std::move(blob));
}

std::optional<ConstTensor> getConstTensor(Value value) {
  Attribute attr;
  if (!value || !matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  return ConstTensor::get(attr);
}

std::optional<SmallVector<int64_t>> getConstInts(Value value) {
  auto t = getConstTensor(value);
  if (!t || t->isFloat())
    return std::nullopt;
  SmallVector<int64_t> out;
  for (int64_t i = 0, e = t->size(); i < e; ++i)
    out.push_back(t->getInt(i));
  return out;
}

} // namespace spatten::onnx

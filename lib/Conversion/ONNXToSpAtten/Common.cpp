//===- Common.cpp - Matchers shared by the ONNX lifting patterns ----------===//

#include "Common.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <cstring>

namespace spatten::lift {

bool isOnnx(Operation *op, StringRef type) {
  if (!op)
    return false;
  StringRef name = op->getName().getStringRef();
  return name.consume_front("onnx.") && name == type;
}

bool isOnnxDialect(Operation *op) {
  return op->getName().getStringRef().starts_with("onnx.");
}

std::string nodeName(Operation *op) {
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location l : fused.getLocations())
      if (isa<NameLoc>(l)) {
        loc = l;
        break;
      }
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  return "<unnamed>";
}

static bool isNoOp(Operation *op) {
  if (isOnnx(op, "Identity") || (isOnnx(op, "Dropout") && op->getNumResults() >= 1 &&
                                 op->getNumOperands() >= 1))
    return true;
  return isOnnx(op, "Cast") &&
         op->getOperand(0).getType() == op->getResult(0).getType();
}

Value skipNoOps(Value v) {
  while (Operation *op = v.getDefiningOp()) {
    if (!isNoOp(op) || v != op->getResult(0))
      break;
    v = op->getOperand(0);
  }
  return v;
}

Operation *defOnnx(Value v, StringRef type) {
  Operation *op = skipNoOps(v).getDefiningOp();
  return isOnnx(op, type) ? op : nullptr;
}

Value getOnnxInput(Operation *op, unsigned index) {
  auto sizes = dyn_cast_or_null<DenseI32ArrayAttr>(
      op->getAttr("operandSegmentSizes"));
  if (!sizes)
    return index < op->getNumOperands() ? op->getOperand(index) : Value();
  if (index >= sizes.size() || sizes[index] == 0)
    return {};
  unsigned start = 0;
  for (unsigned i = 0; i < index; ++i)
    start += sizes[i];
  return op->getOperand(start);
}

std::optional<int64_t> getIntAttr(Operation *op, StringRef name) {
  if (auto a = dyn_cast_or_null<IntegerAttr>(op->getAttr(name)))
    return a.getValue().getSExtValue();
  return std::nullopt;
}

std::optional<SmallVector<int64_t>> getIntsAttr(Operation *op,
                                                StringRef name) {
  Attribute a = op->getAttr(name);
  if (auto d = dyn_cast_or_null<DenseI64ArrayAttr>(a))
    return SmallVector<int64_t>(d.asArrayRef());
  if (auto arr = dyn_cast_or_null<ArrayAttr>(a)) {
    SmallVector<int64_t> out;
    for (Attribute e : arr) {
      auto i = dyn_cast<IntegerAttr>(e);
      if (!i)
        return std::nullopt;
      out.push_back(i.getValue().getSExtValue());
    }
    return out;
  }
  if (auto e = dyn_cast_or_null<DenseIntElementsAttr>(a)) {
    SmallVector<int64_t> out;
    for (const APInt &i : e.getValues<APInt>())
      out.push_back(i.getSExtValue());
    return out;
  }
  return std::nullopt;
}

std::optional<double> getFloatAttr(Operation *op, StringRef name) {
  if (auto a = dyn_cast_or_null<FloatAttr>(op->getAttr(name)))
    return a.getValueAsDouble();
  return std::nullopt;
}

ElementsAttr getConstAttr(Value v) {
  v = skipNoOps(v);
  ElementsAttr attr;
  if (matchPattern(v, m_Constant(&attr)))
    return attr;
  Operation *op = v.getDefiningOp();
  if (isOnnx(op, "Constant"))
    return dyn_cast_or_null<ElementsAttr>(op->getAttr("value"));
  return {};
}

/// Decodes one little-endian element of a resource blob.
static std::optional<double> decodeRaw(Type t, const char *p) {
  auto load = [&](auto tag) {
    decltype(tag) x;
    std::memcpy(&x, p, sizeof(x));
    return x;
  };
  if (t.isF32())
    return load(float());
  if (t.isF64())
    return load(double());
  if (t.isInteger(1) || t.isInteger(8))
    return t.isUnsignedInteger() || t.isInteger(1) ? double(load(uint8_t()))
                                                   : double(load(int8_t()));
  if (t.isInteger(32))
    return double(load(int32_t()));
  if (t.isInteger(64))
    return double(load(int64_t()));
  return std::nullopt;
}

static unsigned rawBytes(Type t) {
  if (t.isInteger(1))
    return 1;
  return (t.getIntOrFloatBitWidth() + 7) / 8;
}

std::optional<SmallVector<double>> readValues(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  Type et = type.getElementType();
  int64_t n = type.getNumElements();
  SmallVector<double> out;
  out.reserve(n);
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (isa<FloatType>(et)) {
      for (APFloat f : dense.getValues<APFloat>()) {
        bool lost;
        f.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
        out.push_back(f.convertToDouble());
      }
      return out;
    }
    if (auto it = dyn_cast<IntegerType>(et)) {
      for (const APInt &i : dense.getValues<APInt>())
        out.push_back(it.isUnsigned() || it.getWidth() == 1
                          ? double(i.getZExtValue())
                          : double(i.getSExtValue()));
      return out;
    }
    return std::nullopt;
  }
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob || !et.isIntOrFloat())
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    unsigned bytes = rawBytes(et);
    if (int64_t(data.size()) != n * int64_t(bytes))
      return std::nullopt;
    for (int64_t i = 0; i < n; ++i) {
      std::optional<double> x = decodeRaw(et, data.data() + i * bytes);
      if (!x)
        return std::nullopt;
      out.push_back(*x);
    }
    return out;
  }
  return std::nullopt;
}

std::optional<SmallVector<int64_t>> getConstInts(Value v) {
  ElementsAttr attr = getConstAttr(v);
  if (!attr || !isa<IntegerType>(attr.getElementType()))
    return std::nullopt;
  std::optional<SmallVector<double>> vals = readValues(attr);
  if (!vals)
    return std::nullopt;
  // Saturating: exporters write INT64_MAX as "to the end" of a Slice, which
  // a double rounds up past the int64 range.
  return SmallVector<int64_t>(llvm::map_range(*vals, [](double d) {
    constexpr double kLimit = 9223372036854775807.0; // rounds to 2^63
    return d >= kLimit    ? std::numeric_limits<int64_t>::max()
           : d <= -kLimit ? std::numeric_limits<int64_t>::min()
                          : static_cast<int64_t>(d);
  }));
}

std::optional<double> getScalarConst(Value v) {
  ElementsAttr attr = getConstAttr(v);
  if (!attr)
    return std::nullopt;
  // Splats are read without expanding them.
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    if (isa<FloatType>(dense.getElementType())) {
      APFloat x = dense.getSplatValue<APFloat>();
      bool lost;
      x.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      return x.convertToDouble();
    }
  if (cast<ShapedType>(attr.getType()).getNumElements() > 64)
    return std::nullopt;
  std::optional<SmallVector<double>> vals = readValues(attr);
  if (!vals || vals->empty() ||
      llvm::any_of(*vals, [&](double x) { return x != vals->front(); }))
    return std::nullopt;
  return vals->front();
}

bool approxEq(double a, double b, double rel) {
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

RankedTensorType tensorTypeOf(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

bool isF32Tensor(Value v) {
  auto t = tensorTypeOf(v);
  return t && t.getElementType().isF32();
}

Operation *soleUser(Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

bool isWeight(Value v) {
  v = skipNoOps(v);
  return isa<BlockArgument>(v) || getConstAttr(v);
}

Value reshapeTo(OpBuilder &rw, Location loc, Value v,
                ArrayRef<int64_t> shape) {
  auto type = tensorTypeOf(v);
  if (type.getShape() == shape)
    return v;
  return ReshapeOp::create(rw, loc, type.clone(shape), v);
}

Value permute(OpBuilder &rw, Location loc, Value v, ArrayRef<int64_t> perm) {
  if (llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
    return v;
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(shapeOf(v)[p]);
  return TransposeOp::create(rw, loc, tensorTypeOf(v).clone(shape), v,
                             rw.getDenseI64ArrayAttr(perm));
}

std::string argName(BlockArgument arg) {
  auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
  auto name =
      func ? func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name")
           : StringAttr();
  return name ? name.str() : "#" + std::to_string(arg.getArgNumber());
}

FailureOr<Value> broadcastBinary(OpBuilder &rw, Location loc, BinaryFn fn,
                                 Value lhs, Value rhs) {
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(shapeOf(lhs), shapeOf(rhs), shape))
    return failure();
  return Value(
      BinaryOp::create(rw, loc, tensorTypeOf(lhs).clone(shape), lhs, rhs, fn));
}

Value scalarConst(OpBuilder &rw, Location loc, double v) {
  auto type = RankedTensorType::get({}, rw.getF32Type());
  return arith::ConstantOp::create(
      rw, loc, DenseElementsAttr::get(type, rw.getF32FloatAttr(v)));
}

std::optional<int64_t> vectorLength(Value v) {
  auto t = tensorTypeOf(v);
  if (!t || t.getRank() == 0)
    return std::nullopt;
  if (llvm::any_of(t.getShape().drop_back(), [](int64_t d) { return d != 1; }))
    return std::nullopt;
  return t.getShape().back();
}

} // namespace spatten::lift

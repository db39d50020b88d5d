//===- ONNXOps.cpp - ONNX op verifiers -------------------------------------===//
//
// Verifiers check what the ONNX spec requires of ranks, axes and attribute
// values, using static dims only (dynamic dims are unknown, not wrong).
//
//===----------------------------------------------------------------------===//

#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "ONNXUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace spatten::onnx;

namespace spatten::onnx {

RankedTensorType rankedType(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

std::optional<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a,
                                                    ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (ShapedType::isDynamic(da))
      out[i] = db;
    else if (ShapedType::isDynamic(db) || da == db)
      out[i] = da;
    else
      return std::nullopt;
  }
  return out;
}

} // namespace spatten::onnx

static LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank,
                                StringRef what = "axis") {
  if (!normalizeAxis(axis, rank))
    return op->emitOpError() << what << " " << axis
                             << " is out of range for rank " << rank;
  return success();
}

/// Numpy broadcasting of all operands to the result (ONNX Broadcasting.md).
static LogicalResult verifyBroadcast(Operation *op) {
  SmallVector<int64_t> shape;
  auto result = rankedType(op->getResult(0));
  for (Value v : op->getOperands()) {
    if (!rankedType(v))
      return success(); // rank not known yet
    auto next = broadcastShapes(shape, rankedType(v).getShape());
    if (!next)
      return op->emitOpError() << "operand shapes are not broadcastable: "
                               << op->getOperandTypes();
    shape = *next;
  }
  if (!result)
    return success();
  if (result.getRank() != (int64_t)shape.size() ||
      failed(verifyCompatibleShape(result.getShape(), shape)))
    return op->emitOpError() << "result type " << result
                             << " does not match the broadcast shape";
  return success();
}

static LogicalResult verifySameShape(Operation *op) {
  if (failed(verifyCompatibleShape(op->getOperand(0).getType(),
                                   op->getResult(0).getType())))
    return op->emitOpError("result shape must match the input shape");
  return success();
}

#define SAME_SHAPE_VERIFIER(OP)                                                \
  LogicalResult OP::verify() { return verifySameShape(*this); }
SAME_SHAPE_VERIFIER(SqrtOp)
SAME_SHAPE_VERIFIER(ReciprocalOp)
SAME_SHAPE_VERIFIER(ReluOp)
SAME_SHAPE_VERIFIER(SigmoidOp)
SAME_SHAPE_VERIFIER(NegOp)
SAME_SHAPE_VERIFIER(NotOp)
SAME_SHAPE_VERIFIER(AbsOp)
SAME_SHAPE_VERIFIER(FloorOp)
SAME_SHAPE_VERIFIER(CeilOp)
SAME_SHAPE_VERIFIER(ErfOp)
SAME_SHAPE_VERIFIER(TanhOp)
SAME_SHAPE_VERIFIER(ExpOp)
SAME_SHAPE_VERIFIER(LogOp)
SAME_SHAPE_VERIFIER(CosOp)
SAME_SHAPE_VERIFIER(SinOp)
SAME_SHAPE_VERIFIER(IsNaNOp)
SAME_SHAPE_VERIFIER(IsInfOp)
SAME_SHAPE_VERIFIER(IdentityOp)
#undef SAME_SHAPE_VERIFIER

#define BROADCAST_VERIFIER(OP)                                                 \
  LogicalResult OP::verify() { return verifyBroadcast(*this); }
BROADCAST_VERIFIER(AddOp)
BROADCAST_VERIFIER(SubOp)
BROADCAST_VERIFIER(MulOp)
BROADCAST_VERIFIER(DivOp)
BROADCAST_VERIFIER(PowOp)
BROADCAST_VERIFIER(EqualOp)
BROADCAST_VERIFIER(LessOp)
BROADCAST_VERIFIER(LessOrEqualOp)
BROADCAST_VERIFIER(GreaterOp)
BROADCAST_VERIFIER(GreaterOrEqualOp)
BROADCAST_VERIFIER(AndOp)
BROADCAST_VERIFIER(OrOp)
BROADCAST_VERIFIER(WhereOp)
BROADCAST_VERIFIER(ModOp)
#undef BROADCAST_VERIFIER

#define VARIADIC_VERIFIER(OP)                                                  \
  LogicalResult OP::verify() {                                                 \
    if (getNumOperands() == 0)                                                 \
      return emitOpError("needs at least one input");                         \
    return verifyBroadcast(*this);                                             \
  }
VARIADIC_VERIFIER(MaxOp)
VARIADIC_VERIFIER(MinOp)
VARIADIC_VERIFIER(SumOp)
#undef VARIADIC_VERIFIER

LogicalResult MatMulOp::verify() {
  auto a = rankedType(getA()), b = rankedType(getB());
  if (!a || !b)
    return success();
  if (a.getRank() < 1 || b.getRank() < 1)
    return emitOpError("operands must have rank >= 1");
  int64_t k1 = a.getShape().back();
  int64_t k2 = b.getRank() == 1 ? b.getDimSize(0) : b.getDimSize(b.getRank() - 2);
  if (!ShapedType::isDynamic(k1) && !ShapedType::isDynamic(k2) && k1 != k2)
    return emitOpError() << "contraction dims differ: " << k1 << " vs " << k2;
  return success();
}

LogicalResult GemmOp::verify() {
  auto a = rankedType(getA()), b = rankedType(getB());
  if (!a || !b)
    return success();
  if (a.getRank() != 2 || b.getRank() != 2)
    return emitOpError("A and B must have rank 2");
  int64_t k1 = a.getDimSize(getTransA() ? 0 : 1);
  int64_t k2 = b.getDimSize(getTransB() ? 1 : 0);
  if (!ShapedType::isDynamic(k1) && !ShapedType::isDynamic(k2) && k1 != k2)
    return emitOpError() << "contraction dims differ: " << k1 << " vs " << k2;
  return success();
}

/// Axis checks need the rank; with an unranked operand they wait.
static LogicalResult verifyAxisOf(Operation *op, int64_t axis, Value v) {
  auto t = rankedType(v);
  return t ? verifyAxis(op, axis, t.getRank()) : success();
}
LogicalResult SoftmaxOp::verify() {
  return verifyAxisOf(*this, getAxis(), getInput());
}
LogicalResult LogSoftmaxOp::verify() {
  return verifyAxisOf(*this, getAxis(), getInput());
}
LogicalResult LayerNormalizationOp::verify() {
  return verifyAxisOf(*this, getAxis(), getX());
}

static LogicalResult verifyReduceAxes(Operation *op,
                                      std::optional<ArrayRef<int64_t>> axes,
                                      Value data) {
  if (!axes || !rankedType(data))
    return success();
  int64_t rank = rankedType(data).getRank();
  llvm::SmallDenseSet<int64_t> seen;
  for (int64_t axis : *axes) {
    if (failed(verifyAxis(op, axis, rank, "reduction axis")))
      return failure();
    if (!seen.insert(*normalizeAxis(axis, rank)).second)
      return op->emitOpError() << "reduction axis " << axis << " is repeated";
  }
  return success();
}
#define REDUCE_VERIFIER(OP)                                                    \
  LogicalResult OP::verify() {                                                 \
    return verifyReduceAxes(*this, getAxes(), getData());                      \
  }
REDUCE_VERIFIER(ReduceMeanOp)
REDUCE_VERIFIER(ReduceMaxOp)
REDUCE_VERIFIER(ReduceMinOp)
REDUCE_VERIFIER(ReduceProdOp)
#undef REDUCE_VERIFIER

LogicalResult ConstantOp::verify() {
  if (getValue().getType() != getType())
    return emitOpError() << "value type " << getValue().getType()
                         << " differs from result type " << getType();
  return success();
}

/// Shape-like inputs (shapes, axes, starts, ...) are 1-D int64 (or 0-D where
/// the spec allows a scalar).
static LogicalResult verifyIndexVector(Operation *op, Value v, StringRef name,
                                       bool allowScalar = false) {
  auto t = dyn_cast<TensorType>(v.getType());
  if (!t.getElementType().isInteger(64) && !t.getElementType().isInteger(32))
    return op->emitOpError() << "'" << name << "' must be an int64 tensor";
  if (t.hasRank() && t.getRank() != 1 && !(allowScalar && t.getRank() == 0))
    return op->emitOpError() << "'" << name << "' must be 1-D, got rank "
                             << t.getRank();
  return success();
}

/// Dims given by a constant operand (ConstantOfShape, Expand, Tile) must be
/// >= `lowest`: a negative size would reach type construction and memory
/// allocation otherwise.
static LogicalResult verifyConstDims(Operation *op, Value v, StringRef name,
                                     int64_t lowest = 0) {
  auto dims = getConstInts(v);
  if (!dims)
    return success();
  for (int64_t d : *dims)
    if (d < lowest)
      return op->emitOpError() << "'" << name << "' has " << d
                               << ", below the smallest allowed " << lowest;
  return success();
}

LogicalResult ConstantOfShapeOp::verify() {
  if (failed(verifyIndexVector(*this, getInput(), "input")) ||
      failed(verifyConstDims(*this, getInput(), "input")))
    return failure();
  if (auto value = getValueAttr())
    if (cast<ShapedType>(value.getType()).getNumElements() != 1)
      return emitOpError("'value' must have exactly one element");
  return success();
}

LogicalResult ShapeOp::verify() {
  auto t = rankedType(getShape());
  if ((t && t.getRank() != 1) ||
      !getElementTypeOrSelf(getShape().getType()).isInteger(64))
    return emitOpError("result must be a 1-D int64 tensor");
  return success();
}

LogicalResult RangeOp::verify() {
  for (Value v : getOperands())
    if (rankedType(v) && rankedType(v).getRank() != 0)
      return emitOpError("start, limit and delta must be scalars");
  if (rankedType(getResult()) && rankedType(getResult()).getRank() != 1)
    return emitOpError("result must be 1-D");
  return success();
}

LogicalResult ReshapeOp::verify() {
  if (failed(verifyIndexVector(*this, getShape(), "shape")))
    return failure();
  auto in = rankedType(getData()), out = rankedType(getReshaped());
  if (in && out && in.hasStaticShape() && out.hasStaticShape() &&
      in.getNumElements() != out.getNumElements())
    return emitOpError() << "cannot reshape " << in << " into " << out;
  auto target = getConstInts(getShape());
  if (target && llvm::count(*target, -1) > 1)
    return emitOpError("'shape' has more than one -1");
  return verifyConstDims(*this, getShape(), "shape", -1);
}

LogicalResult ExpandOp::verify() {
  if (failed(verifyIndexVector(*this, getShape(), "shape")))
    return failure();
  return verifyConstDims(*this, getShape(), "shape");
}

LogicalResult TileOp::verify() {
  if (failed(verifyIndexVector(*this, getRepeats(), "repeats")) ||
      failed(verifyConstDims(*this, getRepeats(), "repeats")))
    return failure();
  auto repeats = getConstInts(getRepeats());
  auto in = rankedType(getInput());
  if (repeats && in && (int64_t)repeats->size() != in.getRank())
    return emitOpError() << "'repeats' has " << repeats->size()
                         << " entries for rank " << in.getRank();
  return success();
}

/// A scalar (or one-element 1-D) integer operand: Trilu's k, CumSum's axis.
static LogicalResult verifyIntScalar(Operation *op, Value v, StringRef name) {
  auto t = cast<TensorType>(v.getType());
  if (!t.getElementType().isInteger(64) && !t.getElementType().isInteger(32))
    return op->emitOpError() << "'" << name << "' must be an integer tensor";
  if (t.hasRank() && !(t.getRank() == 0 ||
                       (t.getRank() == 1 && t.getDimSize(0) == 1)))
    return op->emitOpError() << "'" << name << "' must be a scalar";
  return success();
}

LogicalResult TriluOp::verify() {
  auto in = rankedType(getInput());
  if (in && in.getRank() < 2)
    return emitOpError() << "input must have rank >= 2, got " << in.getRank();
  if (getK() && failed(verifyIntScalar(*this, getK(), "k")))
    return failure();
  return verifySameShape(*this);
}

LogicalResult CumSumOp::verify() {
  if (failed(verifyIntScalar(*this, getAxis(), "axis")))
    return failure();
  if (auto axis = getConstInts(getAxis()); axis && axis->size() == 1)
    if (failed(verifyAxisOf(*this, axis->front(), getX())))
      return failure();
  return verifySameShape(*this);
}

LogicalResult UnsqueezeOp::verify() {
  if (failed(verifyIndexVector(*this, getAxes(), "axes", true)))
    return failure();
  auto axes = getConstInts(getAxes());
  if (!rankedType(getExpanded()) || !rankedType(getData()))
    return success();
  int64_t outRank = rankedType(getExpanded()).getRank();
  if (axes && (int64_t)axes->size() + rankedType(getData()).getRank() != outRank)
    return emitOpError() << "result rank " << outRank
                         << " is not input rank + number of axes";
  if (axes)
    for (int64_t a : *axes)
      if (failed(verifyAxis(*this, a, outRank)))
        return failure();
  return success();
}

LogicalResult SqueezeOp::verify() {
  if (!getAxes())
    return success();
  if (failed(verifyIndexVector(*this, getAxes(), "axes", true)))
    return failure();
  auto axes = getConstInts(getAxes());
  auto in = rankedType(getData());
  if (!axes || !in)
    return success();
  for (int64_t a : *axes) {
    if (failed(verifyAxis(*this, a, in.getRank())))
      return failure();
    int64_t d = in.getDimSize(*normalizeAxis(a, in.getRank()));
    if (!ShapedType::isDynamic(d) && d != 1)
      return emitOpError() << "cannot squeeze axis " << a << " of size " << d;
  }
  return success();
}

LogicalResult TransposeOp::verify() {
  auto perm = getPerm();
  if (!perm || !rankedType(getData()))
    return success();
  int64_t rank = rankedType(getData()).getRank();
  if ((int64_t)perm->size() != rank)
    return emitOpError() << "perm has " << perm->size()
                         << " entries for rank " << rank;
  SmallVector<bool> seen(rank, false);
  for (int64_t p : *perm) {
    if (p < 0 || p >= rank || seen[p])
      return emitOpError("perm is not a permutation");
    seen[p] = true;
  }
  return success();
}

LogicalResult GatherOp::verify() {
  Type indexType = getElementTypeOrSelf(getIndices().getType());
  if (!indexType.isInteger(64) && !indexType.isInteger(32))
    return emitOpError("indices must be int32 or int64");
  return verifyAxisOf(*this, getAxis(), getData());
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  if (llvm::any_of(getInputs(), [](Value v) { return !rankedType(v); }))
    return success();
  int64_t rank = rankedType(getInputs()[0]).getRank();
  if (failed(verifyAxis(*this, getAxis(), rank)))
    return failure();
  int64_t axis = *normalizeAxis(getAxis(), rank);
  for (Value v : getInputs()) {
    auto t = rankedType(v);
    if (t.getRank() != rank)
      return emitOpError() << "all inputs must have rank " << rank
                           << ", got " << t;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t a = t.getDimSize(d), b = rankedType(getInputs()[0]).getDimSize(d);
      if (d != axis && !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) &&
          a != b)
        return emitOpError() << "inputs differ in dim " << d
                             << " outside the concat axis";
    }
  }
  return success();
}

/// ONNX Split: the lengths are non-negative and, on a static axis, sum to
/// its length; otherwise shape refinement would give a result more elements
/// than the input has.
LogicalResult SplitOp::verify() {
  if (failed(verifyAxisOf(*this, getAxis(), getInput())))
    return failure();
  if (getSplit())
    if (failed(verifyIndexVector(*this, getSplit(), "split")) ||
        failed(verifyConstDims(*this, getSplit(), "split")))
      return failure();
  auto split = getConstInts(getSplit());
  if (!split)
    return success();
  if (split->size() != getNumResults())
    return emitOpError() << "'split' has " << split->size() << " entries for "
                         << getNumResults() << " results";
  auto in = rankedType(getInput());
  if (!in)
    return success();
  int64_t axis = getAxis() < 0 ? getAxis() + in.getRank() : getAxis();
  int64_t length = in.getDimSize(axis), sum = 0;
  for (int64_t n : *split)
    if (llvm::AddOverflow(sum, n, sum))
      return emitOpError("'split' sums past the int64 range");
  if (!ShapedType::isDynamic(length) && sum != length)
    return emitOpError() << "'split' sums to " << sum << ", not the length "
                         << length << " of axis " << axis;
  return success();
}

LogicalResult SliceOp::verify() {
  auto in = rankedType(getData());
  if (failed(verifyIndexVector(*this, getStarts(), "starts")) ||
      failed(verifyIndexVector(*this, getEnds(), "ends")))
    return failure();
  if (in && rankedType(getOutput()) &&
      rankedType(getOutput()).getRank() != in.getRank())
    return emitOpError("result rank must equal the input rank");
  return success();
}

LogicalResult CastOp::verify() {
  if (failed(verifySameShape(*this)))
    return failure();
  Type to = getElementTypeForONNX(getTo(), getContext());
  if (!to)
    return emitOpError() << "'to' = " << getTo()
                         << " is not a supported ONNX data type";
  if (getElementTypeOrSelf(getOutput().getType()) != to)
    return emitOpError() << "result element type must be " << to;
  return success();
}

namespace spatten::onnx {

Type getElementTypeForONNX(int64_t dataType, MLIRContext *ctx) {
  Builder b(ctx);
  switch (dataType) {
  case 1: return b.getF32Type();
  case 2: return b.getIntegerType(8, /*isSigned=*/false);
  case 3: return b.getIntegerType(8);
  case 4: return b.getIntegerType(16, false);
  case 5: return b.getIntegerType(16);
  case 6: return b.getIntegerType(32);
  case 7: return b.getIntegerType(64);
  case 9: return b.getI1Type();
  case 10: return b.getF16Type();
  case 11: return b.getF64Type();
  case 12: return b.getIntegerType(32, false);
  case 13: return b.getIntegerType(64, false);
  case 16: return b.getBF16Type();
  default: return {};
  }
}

std::optional<int64_t> getONNXDataType(Type type) {
  for (int64_t dt : {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16})
    if (getElementTypeForONNX(dt, type.getContext()) == type)
      return dt;
  return std::nullopt;
}

} // namespace spatten::onnx

/// Opset 1-12 Softmax on the last axis is the opset-13 Softmax.
template <typename OpTy>
static LogicalResult dropCoerce2d(OpTy op, PatternRewriter &rewriter) {
  auto t = rankedType(op.getInput());
  if (!op.getCoerce_2d() || !t)
    return failure();
  auto axis = normalizeAxis(op.getAxis(), t.getRank());
  if (!axis || *axis != t.getRank() - 1)
    return failure();
  rewriter.modifyOpInPlace(op, [&] {
    op.setCoerce_2d(false);
    op.setAxis(-1);
  });
  return success();
}
LogicalResult SoftmaxOp::canonicalize(SoftmaxOp op, PatternRewriter &rewriter) {
  return dropCoerce2d(op, rewriter);
}
LogicalResult LogSoftmaxOp::canonicalize(LogSoftmaxOp op,
                                         PatternRewriter &rewriter) {
  return dropCoerce2d(op, rewriter);
}

/// Outside training mode Dropout is the identity (ONNX Dropout-13); with its
/// mask unused it is replaced by its input.
LogicalResult DropoutOp::canonicalize(DropoutOp op, PatternRewriter &rewriter) {
  if (op.getMask() && !op.getMask().use_empty())
    return failure();
  if (Value training = op.getTrainingMode()) {
    auto flag = getConstInts(training);
    if (!flag || flag->size() != 1 || (*flag)[0] != 0)
      return failure();
  }
  if (op.getData().getType() != op.getOutput().getType())
    return failure();
  rewriter.replaceAllUsesWith(op.getOutput(), op.getData());
  rewriter.eraseOp(op);
  return success();
}

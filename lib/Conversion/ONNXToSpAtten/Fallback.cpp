//===- Fallback.cpp - Run unmatched reductions and products as they are ---===//
//
// ONNX ops that no fusion took still run, one op at a time:
//   ReduceSum/ReduceMean/ReduceMax over any axes -> the reduced axes are
//       transposed last and merged, spatten.reduce gives one value per row,
//       and a reshape gives the ONNX result (keepdims or not);
//   Softmax/LogSoftmax on another axis than the last -> transposed there
//       and back;
//   MatMul of two computed tensors -> spatten.linear with the second as its
//       weight, one per broadcast batch index, concatenated (the GEMM unit).
// The vector unit runs the first two (docs/ISA.md, "vec").
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Traits.h"
#include "llvm/ADT/STLExtras.h"

#include <numeric>

namespace spatten::lift {
namespace {

/// More broadcast batches than this in one MatMul is refused: each one is
/// its own GEMM call.
constexpr int64_t kMaxMatMulBatches = 4096;

int64_t product(ArrayRef<int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t(1),
                         std::multiplies<int64_t>());
}

/// The reduced axes, sorted and non-negative; all axes when none are given
/// (ONNX default), an empty list for ReduceSum's noop_with_empty_axes.
FailureOr<SmallVector<int64_t>> reducedAxes(Operation *op, int64_t rank,
                                            std::string &why) {
  std::optional<SmallVector<int64_t>> axes;
  if (isOnnx(op, "ReduceSum")) {
    Value in = op->getNumOperands() > 1 ? op->getOperand(1) : Value();
    if (in && !(axes = getConstInts(in))) {
      why = "has run-time axes; only constant axes are supported";
      return failure();
    }
    if ((!axes || axes->empty()) &&
        getIntAttr(op, "noop_with_empty_axes").value_or(0))
      return SmallVector<int64_t>();
  } else {
    axes = getIntsAttr(op, "axes");
  }
  if (!axes || axes->empty())
    return llvm::to_vector(llvm::seq<int64_t>(0, rank));
  for (int64_t &a : *axes) {
    a = a < 0 ? a + rank : a;
    if (a < 0 || a >= rank) {
      why = "has an axis out of range";
      return failure();
    }
  }
  llvm::sort(*axes);
  axes->erase(std::unique(axes->begin(), axes->end()), axes->end());
  return *axes;
}

LogicalResult convertReduceWith(Operation *op, ReduceFn fn, RewriterBase &rw,
                                std::string &why) {
  Value x = op->getOperand(0), y = op->getResult(0);
  if (!isF32Tensor(x) || !isF32Tensor(y)) {
    why = "reduces a non-f32 tensor; only f32 data is supported here";
    return failure();
  }
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  FailureOr<SmallVector<int64_t>> axes = reducedAxes(op, rank, why);
  if (failed(axes))
    return failure();
  Location loc = op->getLoc();
  if (axes->empty() || rank == 0) { // nothing to reduce
    rw.replaceOp(op, reshapeTo(rw, loc, x, shapeOf(y)));
    return success();
  }
  SmallVector<int64_t> perm, kept;
  for (int64_t a = 0; a < rank; ++a)
    if (!llvm::is_contained(*axes, a)) {
      perm.push_back(a);
      kept.push_back(shape[a]);
    }
  int64_t width = 1;
  for (int64_t a : *axes) {
    perm.push_back(a);
    width *= shape[a];
  }
  SmallVector<int64_t> rows = kept;
  rows.push_back(width);
  Value in = reshapeTo(rw, loc, permute(rw, loc, x, perm), rows);
  rows.back() = 1;
  Value r = ReduceOp::create(rw, loc, tensorTypeOf(x).clone(rows), in, fn);
  rw.replaceOp(op, reshapeTo(rw, loc, r, shapeOf(y)));
  return success();
}

LogicalResult convertSoftmaxAlongAxis(Operation *op, bool log,
                                     RewriterBase &rw, std::string &why) {
  Value x = op->getOperand(0);
  int64_t rank = shapeOf(x).size();
  int64_t axis = getIntAttr(op, "axis").value_or(-1);
  axis = axis < 0 ? axis + rank : axis;
  if (!isF32Tensor(x) || !isF32Tensor(op->getResult(0)) || axis < 0 ||
      axis >= rank) {
    why = "is not an f32 softmax along a valid axis";
    return failure();
  }
  if (op->hasAttr("coerce_2d") && axis != rank - 1) {
    why = "has opset 1-12 semantics (2-D coercion at a non-last axis), which "
          "differ from a softmax along one axis";
    return failure();
  }
  Location loc = op->getLoc();
  SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(perm[axis], perm.back());
  Value in = permute(rw, loc, x, perm);
  Value s = log ? Value(LogSoftmaxOp::create(rw, loc, in))
                : Value(SoftmaxOp::create(rw, loc, in));
  rw.replaceOp(op, permute(rw, loc, s, perm));
  return success();
}

/// Batch `flat` of the broadcast batch shape `out`, as slice offsets into an
/// operand of batch shape `dims` (right-aligned, size-1 dims broadcast).
SmallVector<int64_t> batchOffsets(int64_t flat, ArrayRef<int64_t> out,
                                  ArrayRef<int64_t> dims) {
  SmallVector<int64_t> offsets(dims.size() + 2, 0);
  for (int64_t i = int64_t(out.size()) - 1; i >= 0; --i) {
    int64_t index = flat % out[i];
    flat /= out[i];
    int64_t d = i - int64_t(out.size() - dims.size());
    if (d >= 0 && dims[d] != 1)
      offsets[d] = index;
  }
  return offsets;
}

/// Batch `flat` of `v` ([batch..., R, C]) as a [R, C] matrix.
Value batchMatrix(OpBuilder &rw, Location loc, Value v, int64_t flat,
                  ArrayRef<int64_t> out) {
  ArrayRef<int64_t> shape = shapeOf(v);
  ArrayRef<int64_t> matrix = shape.take_back(2);
  SmallVector<int64_t> sizes(shape.size() - 2, 1);
  sizes.append(matrix.begin(), matrix.end());
  SmallVector<int64_t> offsets = batchOffsets(flat, out, shape.drop_back(2));
  if (llvm::equal(sizes, shape)) // a single batch: only a view
    return reshapeTo(rw, loc, v, matrix);
  SmallVector<int64_t> strides(shape.size(), 1);
  Value s = SliceOp::create(rw, loc, tensorTypeOf(v).clone(sizes), v, offsets,
                            strides);
  return reshapeTo(rw, loc, s, matrix);
}

} // namespace

LogicalResult convertComputedMatMul(Operation *op, RewriterBase &rw,
                                    std::string &why) {
  Value a = op->getOperand(0), b = op->getOperand(1), y = op->getResult(0);
  if (!isF32Tensor(a) || !isF32Tensor(b) || !isF32Tensor(y)) {
    why = "multiplies non-f32 tensors; only f32 data is supported here";
    return failure();
  }
  Location loc = op->getLoc();
  // numpy: a 1-D operand is a row (A) or a column (B), dropped afterwards.
  if (shapeOf(a).size() == 1)
    a = reshapeTo(rw, loc, a, {1, shapeOf(a)[0]});
  if (shapeOf(b).size() == 1)
    b = reshapeTo(rw, loc, b, {shapeOf(b)[0], 1});
  ArrayRef<int64_t> as = shapeOf(a), bs = shapeOf(b);
  int64_t M = as[as.size() - 2], N = bs.back();
  SmallVector<int64_t> batch;
  if (!OpTrait::util::getBroadcastedShape(as.drop_back(2), bs.drop_back(2),
                                          batch)) {
    why = "has batch dimensions that do not broadcast";
    return failure();
  }
  auto matrixType = tensorTypeOf(y).clone({M, N});
  Value result;
  if (product(bs.drop_back(2)) == 1) { // one B for every batch of A
    Value w = reshapeTo(rw, loc, b, bs.take_back(2));
    SmallVector<int64_t> shape(as.drop_back());
    shape.push_back(N);
    result = LinearOp::create(rw, loc, tensorTypeOf(y).clone(shape), a, w,
                              Value(), false);
  } else {
    int64_t count = product(batch);
    if (count > kMaxMatMulBatches) {
      why = "multiplies computed tensors over " + std::to_string(count) +
            " broadcast batches, more than the " +
            std::to_string(kMaxMatMulBatches) + " this fallback issues";
      return failure();
    }
    SmallVector<Value> parts;
    for (int64_t i = 0; i < count; ++i) {
      Value x = batchMatrix(rw, loc, a, i, batch);
      Value w = batchMatrix(rw, loc, b, i, batch);
      Value p = LinearOp::create(rw, loc, matrixType, x, w, Value(), false);
      parts.push_back(reshapeTo(rw, loc, p, {1, M, N}));
    }
    result = parts.size() == 1
                 ? parts.front()
                 : ConcatOp::create(rw, loc, tensorTypeOf(y).clone({count, M, N}),
                                    parts, 0)
                       .getResult();
  }
  rw.replaceOp(op, reshapeTo(rw, loc, result, shapeOf(y)));
  return success();
}

LogicalResult convertReduce(Operation *op, RewriterBase &rw,
                            std::string &why) {
  StringRef type = op->getName().getStringRef();
  ReduceFn fn = type.ends_with("Sum")    ? ReduceFn::sum
                : type.ends_with("Mean") ? ReduceFn::mean
                                         : ReduceFn::max;
  return convertReduceWith(op, fn, rw, why);
}

LogicalResult convertSoftmaxLike(Operation *op, RewriterBase &rw,
                                 std::string &why) {
  return convertSoftmaxAlongAxis(op, isOnnx(op, "LogSoftmax"), rw, why);
}

} // namespace spatten::lift

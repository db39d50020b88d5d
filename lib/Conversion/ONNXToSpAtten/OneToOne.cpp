//===- OneToOne.cpp - Lower the ONNX ops left after the fusions -----------===//
//
// Each remaining ONNX op maps to one spatten op (or a slice + reshape):
//   Add Sub Mul Div Pow Max Min          -> spatten.binary (f32)
//   Neg Exp Log Sqrt Reciprocal Tanh Erf Sigmoid Relu Abs -> spatten.unary
//   Softmax, LogSoftmax, ReduceSum/Mean/Max, MatMul of computed tensors
//                                        -> Fallback.cpp
//   Reshape Flatten Squeeze Unsqueeze    -> spatten.reshape
//   Transpose, Concat                    -> spatten.transpose (a reshape when
//                                           only size-1 dims move), spatten.concat
//   Slice (constant starts/ends/axes/steps > 0), Split -> spatten.slice
//   Gather with constant indices (a scalar or an arithmetic progression)
//                                        -> spatten.slice (+ reshape)
//   Cast int32/int64 -> f32              -> spatten.cast
//   Cast to the same type, Identity, Dropout -> forwarded
//   Constant                             -> arith.constant
// Anything else fails with a reason that the pass reports on the node.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "IndexArithmetic.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Traits.h"
#include "llvm/ADT/StringSwitch.h"

namespace spatten::lift {
namespace {

constexpr const char *kOnlyF32 = "computes on non-f32 tensors; only f32 data "
                                 "is supported here";

bool allF32(Operation *op) {
  return llvm::all_of(op->getOperands(), isF32Tensor) &&
         llvm::all_of(op->getResults(), isF32Tensor);
}

/// Operand 0 (the data; other inputs are indices or sizes) and all results.
bool dataF32(Operation *op) {
  return isF32Tensor(op->getOperand(0)) &&
         llvm::all_of(op->getResults(), isF32Tensor);
}

std::optional<BinaryFn> binaryFn(StringRef type) {
  return llvm::StringSwitch<std::optional<BinaryFn>>(type)
      .Case("Add", BinaryFn::add)
      .Case("Sub", BinaryFn::sub)
      .Case("Mul", BinaryFn::mul)
      .Case("Div", BinaryFn::div)
      .Case("Pow", BinaryFn::pow)
      .Case("Max", BinaryFn::max)
      .Case("Min", BinaryFn::min)
      .Default(std::nullopt);
}

std::optional<UnaryFn> unaryFn(StringRef type) {
  return llvm::StringSwitch<std::optional<UnaryFn>>(type)
      .Case("Neg", UnaryFn::neg)
      .Case("Exp", UnaryFn::exp)
      .Case("Log", UnaryFn::log)
      .Case("Sqrt", UnaryFn::sqrt)
      .Case("Reciprocal", UnaryFn::reciprocal)
      .Case("Tanh", UnaryFn::tanh)
      .Case("Erf", UnaryFn::erf)
      .Case("Sigmoid", UnaryFn::sigmoid)
      .Case("Relu", UnaryFn::relu)
      .Case("Abs", UnaryFn::abs)
      .Default(std::nullopt);
}

/// Max/Min are variadic in ONNX: a left fold of binary ops, broadcasting at
/// each step as the spec does.
LogicalResult convertBinary(Operation *op, BinaryFn fn, RewriterBase &rw,
                            std::string &why) {
  if (!allF32(op)) {
    why = kOnlyF32;
    return failure();
  }
  Value acc = op->getOperand(0);
  Type resultType = op->getResult(0).getType();
  for (Value rhs : op->getOperands().drop_front()) {
    FailureOr<Value> next = broadcastBinary(rw, op->getLoc(), fn, acc, rhs);
    if (failed(next)) {
      why = "has operands that do not broadcast";
      return failure();
    }
    acc = *next;
  }
  if (acc.getType() != resultType) {
    why = "has a result type that is not the broadcast of its operands";
    return failure();
  }
  rw.replaceOp(op, acc);
  return success();
}

LogicalResult convertTranspose(Operation *op, RewriterBase &rw,
                               std::string &why) {
  Value in = op->getOperand(0);
  int64_t rank = shapeOf(in).size();
  SmallVector<int64_t> perm = getIntsAttr(op, "perm").value_or(
      llvm::to_vector(llvm::reverse(llvm::seq<int64_t>(0, rank))));
  if (!allF32(op)) {
    why = kOnlyF32;
    return failure();
  }
  // A transpose that undoes a spatten.transpose (e.g. of a present key)
  // is forwarded.
  if (auto inner = in.getDefiningOp<TransposeOp>()) {
    ArrayRef<int64_t> p0 = inner.getPermutation();
    if (p0.size() == perm.size() &&
        llvm::all_of(llvm::seq<int64_t>(0, rank),
                     [&](int64_t i) { return p0[perm[i]] == i; })) {
      rw.replaceOp(op, inner.getInput());
      return success();
    }
  }
  // Moving only size-1 dimensions keeps the elements in order: a reshape
  // (torch's sequence-first [L,1,H] of a [1,L,H] batch), which the pruning
  // passes follow.
  SmallVector<int64_t> moved;
  for (int64_t p : perm)
    if (shapeOf(in)[p] != 1)
      moved.push_back(p);
  if (llvm::is_sorted(moved)) {
    rw.replaceOpWithNewOp<ReshapeOp>(op, op->getResult(0).getType(), in);
    return success();
  }
  rw.replaceOpWithNewOp<TransposeOp>(op, op->getResult(0).getType(), in,
                                     rw.getDenseI64ArrayAttr(perm));
  return success();
}

LogicalResult convertConcat(Operation *op, RewriterBase &rw,
                            std::string &why) {
  int64_t rank = shapeOf(op->getResult(0)).size();
  std::optional<int64_t> axis = getIntAttr(op, "axis");
  if (!allF32(op) || !axis) {
    why = "is not an f32 concat with an axis";
    return failure();
  }
  rw.replaceOpWithNewOp<ConcatOp>(op, op->getResult(0).getType(),
                                  op->getOperands(),
                                  *axis < 0 ? *axis + rank : *axis);
  return success();
}

/// ONNX Slice: per listed axis, clamp start to [0, dim] after adding dim to
/// negative values. Only positive steps.
LogicalResult convertSlice(Operation *op, RewriterBase &rw, std::string &why) {
  Value data = op->getOperand(0);
  ArrayRef<int64_t> shape = shapeOf(data);
  int64_t rank = shape.size();
  std::optional<SmallVector<int64_t>> starts = getConstInts(op->getOperand(1));
  int64_t count = starts ? starts->size() : 0;
  Value axesIn = getOnnxInput(op, 3), stepsIn = getOnnxInput(op, 4);
  std::optional<SmallVector<int64_t>> axes =
      axesIn ? getConstInts(axesIn)
             : SmallVector<int64_t>(llvm::to_vector(llvm::seq<int64_t>(0, count)));
  std::optional<SmallVector<int64_t>> steps =
      stepsIn ? getConstInts(stepsIn) : SmallVector<int64_t>(count, 1);
  if (!starts || !axes || !steps || axes->size() != starts->size() ||
      steps->size() != starts->size()) {
    why = "needs constant starts, axes and steps";
    return failure();
  }
  if (!dataF32(op)) {
    why = kOnlyF32;
    return failure();
  }
  SmallVector<int64_t> offsets(rank, 0), strides(rank, 1);
  for (auto [a, s, st] : llvm::zip(*axes, *starts, *steps)) {
    int64_t axis = a < 0 ? a + rank : a;
    if (axis < 0 || axis >= rank || st <= 0) {
      why = "has an axis out of range or a non-positive step (not "
            "implemented)";
      return failure();
    }
    int64_t start = s < 0 ? s + shape[axis] : s;
    offsets[axis] = std::clamp<int64_t>(start, 0, shape[axis]);
    strides[axis] = st;
  }
  rw.replaceOpWithNewOp<SliceOp>(op, op->getResult(0).getType(), data,
                                 offsets, strides);
  return success();
}

LogicalResult convertSplit(Operation *op, RewriterBase &rw, std::string &why) {
  Value in = op->getOperand(0);
  int64_t rank = shapeOf(in).size();
  int64_t axis = getIntAttr(op, "axis").value_or(0);
  axis = axis < 0 ? axis + rank : axis;
  if (!dataF32(op) || axis < 0 || axis >= rank) {
    why = "is not an f32 split along a valid axis";
    return failure();
  }
  SmallVector<Value> parts;
  SmallVector<int64_t> offsets(rank, 0), strides(rank, 1);
  for (Value r : op->getResults()) {
    parts.push_back(SliceOp::create(rw, op->getLoc(), r.getType(), in,
                                    offsets, strides));
    offsets[axis] += shapeOf(r)[axis];
  }
  rw.replaceOp(op, parts);
  return success();
}

/// Gather with constant indices that form a scalar or a positive-step
/// progression: a strided slice along the axis, reshaped to the result.
LogicalResult convertGather(Operation *op, RewriterBase &rw,
                            std::string &why) {
  Value data = op->getOperand(0);
  ArrayRef<int64_t> shape = shapeOf(data);
  int64_t rank = shape.size();
  int64_t axis = getIntAttr(op, "axis").value_or(0);
  axis = axis < 0 ? axis + rank : axis;
  std::optional<SmallVector<int64_t>> idx = getConstInts(op->getOperand(1));
  if (axis < 0 || axis >= rank) {
    why = "gathers along an invalid axis";
    return failure();
  }
  if (!idx || idx->empty()) {
    why = "gathers with run-time indices from a computed tensor";
    if (isTableLookup(op))
      why = "looks up table rows by indices it cannot compute: " +
            explainIndexArithmetic(op->getOperand(1), shape[0]);
    return failure();
  }
  if (!isF32Tensor(data)) {
    why = kOnlyF32;
    return failure();
  }
  for (int64_t &i : *idx)
    i = i < 0 ? i + shape[axis] : i;
  int64_t step = idx->size() > 1 ? (*idx)[1] - (*idx)[0] : 1;
  for (size_t i = 0; i < idx->size(); ++i)
    if ((*idx)[i] != (*idx)[0] + int64_t(i) * step || (*idx)[i] < 0 ||
        (*idx)[i] >= shape[axis] || step <= 0) {
      why = "has constant indices that are not an increasing progression "
            "(not implemented)";
      return failure();
    }
  SmallVector<int64_t> offsets(rank, 0), strides(rank, 1), sizes(shape);
  offsets[axis] = idx->front();
  strides[axis] = step;
  sizes[axis] = idx->size();
  Location loc = op->getLoc();
  Value slice = SliceOp::create(rw, loc, tensorTypeOf(data).clone(sizes), data,
                                offsets, strides);
  rw.replaceOp(op, reshapeTo(rw, loc, slice, shapeOf(op->getResult(0))));
  return success();
}

LogicalResult convertCast(Operation *op, RewriterBase &rw, std::string &why) {
  Value in = op->getOperand(0), out = op->getResult(0);
  if (in.getType() == out.getType()) {
    rw.replaceOp(op, in);
    return success();
  }
  Type from = tensorTypeOf(in).getElementType();
  if ((from.isInteger(64) || from.isInteger(32)) && isF32Tensor(out)) {
    rw.replaceOpWithNewOp<CastOp>(op, out.getType(), in);
    return success();
  }
  why = "converts between types other than int32/int64 -> f32";
  return failure();
}

LogicalResult forwardFirst(Operation *op, RewriterBase &rw, std::string &why) {
  if (llvm::any_of(op->getResults().drop_front(),
                   [](Value r) { return !r.use_empty(); })) {
    why = "has a used second output";
    return failure();
  }
  rw.replaceAllUsesWith(op->getResult(0), op->getOperand(0));
  rw.eraseOp(op);
  return success();
}

LogicalResult convertConstant(Operation *op, RewriterBase &rw,
                              std::string &why) {
  auto value = dyn_cast_or_null<TypedAttr>(op->getAttr("value"));
  if (!value || value.getType() != op->getResult(0).getType()) {
    why = "has no `value` of the result type";
    return failure();
  }
  rw.replaceOpWithNewOp<arith::ConstantOp>(op, value);
  return success();
}

} // namespace

LogicalResult convertOneToOne(Operation *op, RewriterBase &rw,
                              std::string &why) {
  StringRef type = op->getName().getStringRef().drop_front(strlen("onnx."));
  rw.setInsertionPoint(op);
  if (std::optional<BinaryFn> fn = binaryFn(type))
    return convertBinary(op, *fn, rw, why);
  if (std::optional<UnaryFn> fn = unaryFn(type)) {
    if (!allF32(op)) {
      why = kOnlyF32;
      return failure();
    }
    rw.replaceOpWithNewOp<UnaryOp>(op, op->getOperand(0), *fn);
    return success();
  }
  if (type == "Reshape" || type == "Flatten" || type == "Squeeze" ||
      type == "Unsqueeze") {
    rw.replaceOpWithNewOp<ReshapeOp>(op, op->getResult(0).getType(),
                                     op->getOperand(0));
    return success();
  }
  using Fn = LogicalResult (*)(Operation *, RewriterBase &, std::string &);
  Fn fn = llvm::StringSwitch<Fn>(type)
              .Cases({"Softmax", "LogSoftmax"}, convertSoftmaxLike)
              .Cases({"ReduceSum", "ReduceMean", "ReduceMax"}, convertReduce)
              .Case("MatMul", convertComputedMatMul)
              .Case("Transpose", convertTranspose)
              .Case("Concat", convertConcat)
              .Case("Slice", convertSlice)
              .Case("Split", convertSplit)
              .Case("Gather", convertGather)
              .Case("Cast", convertCast)
              .Cases({"Identity", "Dropout"}, forwardFirst)
              .Case("Constant", convertConstant)
              .Default(nullptr);
  if (fn)
    return fn(op, rw, why);
  if (type == "LayerNormalization")
    why = "is not lifted to spatten.layer_norm: " + explainUnliftedNorm(op);
  else if (type == "Conv")
    why = "is not lifted to a linear layer over patches: it " +
          explainUnliftedConv(op);
  else if (type == "Gemm")
    why = "multiplies by a computed tensor (not a constant or graph-input "
          "weight) and is not part of a recognised attention subgraph "
          "(Q*K^T, scale, mask, Softmax, *V)";
  else
    why = "has no lowering to the spatten dialect";
  return failure();
}

} // namespace spatten::lift

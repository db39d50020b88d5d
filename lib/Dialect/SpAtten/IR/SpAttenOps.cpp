//===- SpAttenOps.cpp - SpAtten op verifiers and folders ------------------===//

#include "Verify.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Dialect/Traits.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace spatten;
using namespace spatten::verify;

LogicalResult verify::verifyStatic(Operation *op) {
  for (Type t : llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes()))
    if (auto rt = dyn_cast<RankedTensorType>(t); rt && !rt.hasStaticShape())
      return op->emitOpError("requires static shapes, got ") << t;
  return success();
}

LogicalResult verify::verifyHeads(Operation *op, Value q, int64_t heads) {
  ArrayRef<int64_t> s = shapeOf(q);
  if (s.size() != 3)
    return op->emitOpError("query must be [B, L, H*D]");
  if (heads <= 0 || s[2] % heads != 0)
    return op->emitOpError("num_heads ") << heads << " must divide width "
                                         << s[2];
  return success();
}

LogicalResult verify::verifyMask(Operation *op, MaskKind kind, Value mask,
                                 bool hasFill, int64_t batch, int64_t queries,
                                 int64_t keys, int64_t heads) {
  bool padding = kind == MaskKind::padding || kind == MaskKind::padding_causal;
  if (padding != bool(mask))
    return op->emitOpError(
        "a mask operand is required exactly for padding masks");
  if (hasFill && !mask)
    return op->emitOpError("mask_fill needs a padding mask");
  if (!mask)
    return success();
  ArrayRef<int64_t> m = shapeOf(mask);
  bool perKey = m.size() == 2 && m[0] == batch && m[1] == keys;
  bool perQuery =
      m.size() == 3 && m[0] == batch && m[1] == queries && m[2] == keys;
  bool perHead = m.size() == 4 && m[0] == batch && m[1] == heads &&
                 m[2] == queries && m[3] == keys;
  if (!perKey && !perQuery && !perHead)
    return op->emitOpError("padding mask must be [B, P + Lk], [B, Lq, P + Lk] "
                           "or [B, H, Lq, P + Lk]");
  if (perHead && hasFill)
    return op->emitOpError("a per-head score bias cannot be a selector mask");
  return success();
}

LogicalResult LinearOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> x = shapeOf(getInput()), w = shapeOf(getWeight()),
                    y = shapeOf(getOutput());
  if (w.size() != 2)
    return emitOpError("weight must be rank 2, got rank ") << w.size();
  int64_t k = getTransposeWeight() ? w[1] : w[0];
  int64_t n = getTransposeWeight() ? w[0] : w[1];
  if (x.empty() || x.back() != k)
    return emitOpError("input features ") << (x.empty() ? 0 : x.back())
           << " do not match weight K " << k;
  if (y.size() != x.size() || y.back() != n ||
      !llvm::equal(x.drop_back(), y.drop_back()))
    return emitOpError("result shape must be input shape with last dim ") << n;
  if (getBias() && shapeOf(getBias()) != ArrayRef<int64_t>(n))
    return emitOpError("bias must be [") << n << "]";
  return success();
}

LogicalResult AttentionOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> q = shapeOf(getQuery()), k = shapeOf(getKey()),
                    v = shapeOf(getValue());
  if (q.size() != 3 || k.size() != 3 || v.size() != 3)
    return emitOpError("query, key and value must be [B, L, H*D]");
  int64_t heads = getNumHeads();
  if (failed(verifyHeads(*this, getQuery(), heads)))
    return failure();
  if (k[0] != q[0] || v[0] != q[0] || k[2] != q[2] || v[2] != q[2] ||
      v[1] != k[1])
    return emitOpError("query, key and value shapes disagree");
  if (shapeOf(getOutput()) != q)
    return emitOpError("output must have the query's shape");
  int64_t past = 0;
  if (!getPastKey() && !getPresent().empty())
    return emitOpError("present results need a KV cache (past operands)");
  if (getPastKey()) {
    ArrayRef<int64_t> pk = shapeOf(getPastKey());
    int64_t d = q[2] / heads;
    if (pk.size() != 4 || pk[0] != q[0] || pk[1] != heads || pk[3] != d ||
        shapeOf(getPastValue()) != pk)
      return emitOpError("past key/value must be [B, H, P, D]");
    past = pk[2];
    if (getPresent().size() != 2)
      return emitOpError("a KV cache needs two present results (key, value)");
    SmallVector<int64_t> present{q[0], heads, past + k[1], d};
    if (shapeOf(getPresentKey()) != ArrayRef(present) ||
        shapeOf(getPresentValue()) != ArrayRef(present))
      return emitOpError("present key/value must be [B, H, P + L, D]");
  }
  return verifyMask(*this, getMaskKind(), getMask(), bool(getMaskFill()), q[0],
                    q[1], past + k[1], heads);
}

/// A norm over the last dimension N of `input`: each of `params` (named
/// `paramNames` in the error) is [N], the result has the input's shape, and
/// epsilon is finite and >= 0.
static LogicalResult verifyRowNorm(Operation *op, Value input,
                                   ValueRange params, StringRef paramNames,
                                   Value output, APFloat epsilon) {
  if (failed(verifyStatic(op)))
    return failure();
  ArrayRef<int64_t> x = shapeOf(input);
  if (x.empty())
    return op->emitOpError("input must have rank >= 1");
  ArrayRef<int64_t> n(x.back());
  if (llvm::any_of(params, [&](Value p) { return shapeOf(p) != n; }))
    return op->emitOpError() << paramNames << " must be [" << x.back() << "]";
  if (shapeOf(output) != x)
    return op->emitOpError("result must have the input's shape");
  float eps = epsilon.convertToFloat();
  if (!std::isfinite(eps) || eps < 0)
    return op->emitOpError("epsilon must be finite and >= 0, got ") << eps;
  return success();
}

LogicalResult LayerNormOp::verify() {
  return verifyRowNorm(*this, getInput(), {getGamma(), getBeta()},
                       "gamma and beta", getOutput(), getEpsilon());
}

LogicalResult RmsNormOp::verify() {
  return verifyRowNorm(*this, getInput(), getGamma(), "gamma", getOutput(),
                       getEpsilon());
}

LogicalResult RotaryEmbeddingOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> x = shapeOf(getInput()), cos = shapeOf(getCos());
  if (x.size() != 3)
    return emitOpError("input must be [B, L, H*D]");
  if (cos.size() != 2 || cos[0] != x[1] || shapeOf(getSin()) != cos)
    return emitOpError("cos and sin must be [L, R] with L = ") << x[1];
  int64_t d = getHeadColumns();
  if (cos[1] <= 0 || cos[1] % 2 || cos[1] > d)
    return emitOpError("rotary dims R = ")
           << cos[1] << " must be even, positive and at most the head dim "
           << d;
  if (x[2] % d)
    return emitOpError("head dim D = ")
           << d << " must divide the input width " << x[2];
  if (shapeOf(getOutput()) != x)
    return emitOpError("result must have the input's shape");
  return success();
}

LogicalResult ReduceOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> x = shapeOf(getInput()), y = shapeOf(getOutput());
  if (x.empty() || y.size() != x.size() || y.back() != 1 ||
      !llvm::equal(x.drop_back(), y.drop_back()))
    return emitOpError("result must be the input's shape with last dim 1");
  return success();
}

LogicalResult EmbeddingOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> ids = shapeOf(getIndices()), table = shapeOf(getTable());
  if (table.size() != 2)
    return emitOpError("table must be [V, D]");
  SmallVector<int64_t> expected(ids);
  expected.push_back(table[1]);
  if (shapeOf(getOutput()) != ArrayRef(expected))
    return emitOpError("result must be indices shape + [D]");
  return success();
}

LogicalResult BinaryOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(shapeOf(getLhs()), shapeOf(getRhs()),
                                          shape))
    return emitOpError("operands do not broadcast");
  if (shapeOf(getOutput()) != ArrayRef(shape))
    return emitOpError("result must have the broadcast shape");
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getOutput().getType());
  if (!in.hasStaticShape() || !out.hasStaticShape())
    return emitOpError("requires static shapes");
  if (in.getNumElements() != out.getNumElements() ||
      in.getElementType() != out.getElementType())
    return emitOpError("must keep element count and type");
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getOutput().getType())
    return getInput();
  if (auto producer = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(producer.getInput());
    return getResult();
  }
  return {};
}

LogicalResult TransposeOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> in = shapeOf(getInput()), out = shapeOf(getOutput());
  ArrayRef<int64_t> perm = getPermutation();
  if (perm.size() != in.size() || out.size() != in.size())
    return emitOpError("permutation rank mismatch");
  SmallVector<bool> seen(in.size(), false);
  for (auto [i, p] : llvm::enumerate(perm)) {
    if (p < 0 || p >= int64_t(in.size()) || seen[p])
      return emitOpError("invalid permutation");
    seen[p] = true;
    if (out[i] != in[p])
      return emitOpError("result dim ") << i << " must be " << in[p];
  }
  return success();
}

LogicalResult ConcatOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> out = shapeOf(getOutput());
  int64_t axis = getAxis();
  if (axis < 0 || axis >= int64_t(out.size()))
    return emitOpError("axis out of range");
  int64_t total = 0;
  for (Value v : getInputs()) {
    ArrayRef<int64_t> s = shapeOf(v);
    if (s.size() != out.size())
      return emitOpError("inputs must have the result's rank");
    for (size_t d = 0; d < s.size(); ++d)
      if (int64_t(d) != axis && s[d] != out[d])
        return emitOpError("inputs disagree off the concat axis");
    total += s[axis];
  }
  if (total != out[axis])
    return emitOpError("result axis size must be the sum of the inputs'");
  return success();
}

LogicalResult SliceOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> in = shapeOf(getInput()), out = shapeOf(getOutput());
  ArrayRef<int64_t> off = getOffsets(), str = getStrides();
  if (off.size() != in.size() || str.size() != in.size() ||
      out.size() != in.size())
    return emitOpError("offsets, strides and result must have the input's rank");
  for (size_t d = 0; d < in.size(); ++d) {
    if (str[d] <= 0 || off[d] < 0)
      return emitOpError("strides must be positive and offsets non-negative");
    if (out[d] > 0 && off[d] + (out[d] - 1) * str[d] >= in[d])
      return emitOpError("slice reads past dim ") << d;
  }
  return success();
}

LogicalResult CastOp::verify() {
  if (shapeOf(getInput()) != shapeOf(getOutput()))
    return emitOpError("result must have the input's shape");
  auto isF32 = [](Value v) {
    return cast<ShapedType>(v.getType()).getElementType().isF32();
  };
  if (isF32(getInput()) == isF32(getOutput()))
    return emitOpError("converts between an integer and an fp32 tensor, "
                       "not ")
           << getInput().getType() << " to " << getOutput().getType();
  return success();
}

#define GET_OP_CLASSES
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.cpp.inc"

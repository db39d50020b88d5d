//===- SpAttenPruningOps.cpp - Verifiers of SpAtten algorithm ops ---------===//

#include "Verify.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::verify;

/// `[B, H, Lq, Lk]` probabilities for queries `q` and keys `k`.
static SmallVector<int64_t> probsShape(Value q, Value k, int64_t heads) {
  ArrayRef<int64_t> qs = shapeOf(q), ks = shapeOf(k);
  return {qs[0], heads, qs[1], ks[1]};
}

/// Shared by attention_probs and progressive_fetch.
template <typename OpTy>
static LogicalResult verifyProbsOp(OpTy op) {
  if (failed(verifyStatic(op)) ||
      failed(verifyHeads(op, op.getQuery(), op.getNumHeads())))
    return failure();
  ArrayRef<int64_t> q = shapeOf(op.getQuery()), k = shapeOf(op.getKey());
  if (k.size() != 3 || k[0] != q[0] || k[2] != q[2])
    return op.emitOpError("key must be [B, Lk, H*D] like the query");
  if (shapeOf(op.getProbs()) !=
      ArrayRef(probsShape(op.getQuery(), op.getKey(), op.getNumHeads())))
    return op.emitOpError("result must be [B, H, Lq, Lk]");
  return verifyMask(op, op.getMaskKind(), op.getMask(),
                    bool(op.getMaskFill()), q[0], q[1], k[1],
                    op.getNumHeads());
}

LogicalResult AttentionProbsOp::verify() { return verifyProbsOp(*this); }

LogicalResult ProgressiveFetchOp::verify() {
  if (failed(verifyProbsOp(*this)))
    return failure();
  if (getMsbBits() != 6 && getMsbBits() != 8)
    return emitOpError("msb_bits must be 6 or 8, got ") << getMsbBits();
  if (getLsbBits() != 4)
    return emitOpError("lsb_bits must be 4, got ") << getLsbBits();
  float t = getThreshold().convertToFloat();
  if (!(t > 0 && t < 1))
    return emitOpError("threshold must be in (0, 1), got ") << t;
  return success();
}

LogicalResult AttentionOutputOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> p = shapeOf(getProbs()), v = shapeOf(getValue());
  if (p.size() != 4 || v.size() != 3 || v[0] != p[0] || v[1] != p[3] ||
      v[2] % p[1] != 0)
    return emitOpError("probs [B, H, Lq, Lk] and value [B, Lk, H*D] disagree");
  if (shapeOf(getOutput()) != ArrayRef<int64_t>{p[0], p[2], v[2]})
    return emitOpError("result must be [B, Lq, H*D]");
  return success();
}

LogicalResult TokenImportanceOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> p = shapeOf(getProbs());
  if (p.size() != 4)
    return emitOpError("probs must be [B, H, Lq, Lk]");
  SmallVector<int64_t> want{p[0], p[3]};
  if (shapeOf(getImportance()) != ArrayRef(want) ||
      shapeOf(getResult()) != ArrayRef(want))
    return emitOpError("importance and result must be [B, Lk] = [")
           << p[0] << ", " << p[3] << "]";
  return success();
}

LogicalResult HeadImportanceOp::verify() {
  if (failed(verifyStatic(*this)) ||
      failed(verifyHeads(*this, getOutput(), getNumHeads())))
    return failure();
  SmallVector<int64_t> want{shapeOf(getOutput())[0], int64_t(getNumHeads())};
  if (shapeOf(getImportance()) != ArrayRef(want) ||
      shapeOf(getResult()) != ArrayRef(want))
    return emitOpError("importance and result must be [B, H]");
  return success();
}

LogicalResult TopkOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> s = shapeOf(getScores());
  if (s.size() != 2)
    return emitOpError("scores must be [B, N]");
  if (getK() < 1 || getK() > s[1])
    return emitOpError("k = ") << getK() << " must be in [1, " << s[1] << "]";
  if (shapeOf(getIndices()) != ArrayRef<int64_t>{s[0], int64_t(getK())})
    return emitOpError("result must be [B, k]");
  return success();
}

LogicalResult PruneTokensOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> x = shapeOf(getInput()), idx = shapeOf(getIndices());
  int64_t axis = getAxis();
  if (axis < 1 || axis >= int64_t(x.size()))
    return emitOpError("axis ") << axis << " must be a token axis in [1, "
                                << x.size() << ")";
  if (idx.size() != 2 || idx[0] != x[0] || idx[1] > x[axis])
    return emitOpError("indices must be [B, k] with k <= ") << x[axis];
  SmallVector<int64_t> want(x);
  want[axis] = idx[1];
  if (shapeOf(getResult()) != ArrayRef(want))
    return emitOpError("result must be the input with ") << idx[1]
           << " tokens along axis " << axis;
  return success();
}

LogicalResult MergeTokensOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> full = shapeOf(getFull()), rows = shapeOf(getRows()),
                    pos = shapeOf(getPositions());
  if (full.size() < 2 || rows.size() != full.size() || rows[0] != full[0] ||
      rows[1] > full[1] || !llvm::equal(rows.drop_front(2), full.drop_front(2)))
    return emitOpError("rows must be [B, k, ...] with k <= ")
           << (full.size() > 1 ? full[1] : 0) << " and full's trailing dims";
  if (pos != ArrayRef<int64_t>{rows[0], rows[1]})
    return emitOpError("positions must be [B, k]");
  return success();
}

LogicalResult PruneHeadsOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> x = shapeOf(getInput()), idx = shapeOf(getIndices());
  int64_t axis = getAxis(), heads = getNumHeads();
  if (axis < 0 || axis >= int64_t(x.size()))
    return emitOpError("axis ") << axis << " out of range";
  if (heads <= 0 || x[axis] % heads != 0)
    return emitOpError("num_heads ") << heads << " must divide dim " << axis
                                     << " (" << x[axis] << ")";
  if (idx.size() != 1 || idx[0] < 1 || idx[0] > heads)
    return emitOpError("indices must be [k] with 1 <= k <= num_heads");
  SmallVector<int64_t> want(x);
  want[axis] = x[axis] / heads * idx[0];
  if (shapeOf(getResult()) != ArrayRef(want))
    return emitOpError("result must keep ") << idx[0] << " heads along axis "
                                            << axis;
  return success();
}

LogicalResult LocalValuePruneOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> p = shapeOf(getProbs());
  if (p.size() != 4)
    return emitOpError("probs must be [B, H, Lq, Lk]");
  if (getKeep() < 1 || getKeep() > p[3])
    return emitOpError("keep = ") << getKeep() << " must be in [1, " << p[3]
                                  << "]";
  return success();
}

LogicalResult QuantizeOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  if (getBits() < 4 || getBits() > 16)
    return emitOpError("bits must be in [4, 16], got ") << getBits();
  ArrayRef<int64_t> x = shapeOf(getInput());
  if (x.empty() || shapeOf(getCodes()) != x)
    return emitOpError("codes must have the input's shape");
  SmallVector<int64_t> rows(x.drop_back());
  rows.push_back(1);
  if (shapeOf(getScales()) != ArrayRef(rows))
    return emitOpError("scales must be the input's shape with last dim 1");
  return success();
}

LogicalResult DequantizeOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> c = shapeOf(getCodes());
  SmallVector<int64_t> rows(c.drop_back());
  rows.push_back(1);
  if (c.empty() || shapeOf(getScales()) != ArrayRef(rows))
    return emitOpError("scales must be the codes' shape with last dim 1");
  if (shapeOf(getResult()) != c)
    return emitOpError("result must have the codes' shape");
  return success();
}

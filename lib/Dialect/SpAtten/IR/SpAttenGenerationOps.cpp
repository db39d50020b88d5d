//===- SpAttenGenerationOps.cpp - Verifiers of the decode-step ops --------===//

#include "Verify.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::verify;

LogicalResult PositionRowOp::verify() {
  if (failed(verifyStatic(*this)))
    return failure();
  ArrayRef<int64_t> table = shapeOf(getTable()), out = shapeOf(getOutput());
  if (table.size() != 2 || table[0] < 1)
    return emitOpError("table must be [C, N] with C >= 1");
  if (out != ArrayRef<int64_t>{1, 1, table[1]})
    return emitOpError("result must be [1, 1, N] for a [C, N] table");
  return success();
}

LogicalResult CachedAttentionOp::verify() {
  if (failed(verifyStatic(*this)) ||
      failed(verifyHeads(*this, getQuery(), getNumHeads())))
    return failure();
  ArrayRef<int64_t> q = shapeOf(getQuery());
  if (q.size() != 3 || q[0] != 1 || q[1] != 1)
    return emitOpError("query must be one token, [1, 1, H*D]");
  if (shapeOf(getOutput()) != q)
    return emitOpError("result must be [1, 1, H*D] like the query");
  int64_t kvHeads = getKvHeadsAttr().getInt();
  if (kvHeads < 0 || (kvHeads && getNumHeads() % kvHeads))
    return emitOpError("kv_heads must divide num_heads (0: num_heads)");
  SmallVector<int64_t> kv = {1, 1, getCacheHeads() * getHeadDim()};
  for (Value v : {getKey(), getValue()})
    if (shapeOf(v) != ArrayRef<int64_t>(kv))
      return emitOpError("key and value must be [1, 1, G*D] with G = "
                         "kv_heads (else num_heads)");
  // I64Attr getters return uint64_t: compare the signed values.
  if (getLayerAttr().getInt() < 0)
    return emitOpError("layer must be >= 0");
  if (getMaxContextAttr().getInt() < 1)
    return emitOpError("max_context must be >= 1");
  if (getValueCounts() &&
      shapeOf(getValueCounts()) != ArrayRef<int64_t>{int64_t(getMaxContext())})
    return emitOpError("value_counts must be [max_context]");
  if (getTokenCounts() &&
      shapeOf(getTokenCounts()) != ArrayRef<int64_t>{int64_t(getMaxContext())})
    return emitOpError("token_counts must be [max_context]");
  if (getKeepPositions() && !getTokenCounts())
    return emitOpError("keep_positions needs token_counts");
  if (std::optional<ArrayRef<int64_t>> budget = getKvBudget();
      budget && (budget->size() != 3 || !getTokenCounts() ||
                 getKeepPositions() ||
                 llvm::any_of(*budget, [](int64_t n) { return n < 0; }) ||
                 llvm::sum_of(*budget) < 1))
    return emitOpError("kv_budget must be [S, I, R], each >= 0 and not all "
                       "0, and needs token_counts without keep_positions");
  if (std::optional<uint64_t> kept = getKeptHeads();
      kept && (!getTokenCounts() || getKeptHeadsAttr().getInt() < 1 ||
               *kept > getNumHeads()))
    return emitOpError("kept_heads must be in [1, num_heads] and needs "
                       "token_counts");
  for (int64_t position : getKeepPositions().value_or(ArrayRef<int64_t>{}))
    if (position < 0 || position >= getMaxContext())
      return emitOpError("keep position ") << position << " is outside the "
                                           << getMaxContext() << " positions";
  for (int64_t bits : {getKeyBits(), getValueBits()})
    if (bits != 0 && (bits < 4 || bits > 16))
      return emitOpError("key_bits and value_bits must be 0 (fp32) or "
                         "4..16");
  if (bool(getPqThresholdAttr()) != (getPqMsb() != 0) ||
      (getPqValues() && !getPqThresholdAttr()))
    return emitOpError("pq_msb, pq_lsb and pq_threshold go together, and "
                       "pq_values needs them");
  if (getPqThresholdAttr() &&
      (getPqLsb() < 1 || getPqMsb() + getPqLsb() > 16 || getKeyBits() != 0 ||
       (getPqValues() && getValueBits() != 0)))
    return emitOpError("progressive quantization needs pq_lsb >= 1, "
                       "pq_msb + pq_lsb <= 16, and owns the widths of the "
                       "tensors it handles");
  return success();
}

LogicalResult RecordKeptTokensOp::verify() {
  ArrayRef<int64_t> imp = shapeOf(getImportance());
  if (imp.size() != 2 || imp[0] != 1 || shapeOf(getPositions()) != imp)
    return emitOpError("importance and positions must both be [1, n]");
  if (getLayerAttr().getInt() < 0)
    return emitOpError("layer must be >= 0");
  return success();
}

LogicalResult RecordKeptHeadsOp::verify() {
  ArrayRef<int64_t> heads = shapeOf(getHeads());
  if (heads.size() != 2 || heads[0] != 1 || heads[1] < 1)
    return emitOpError("heads must be [1, k] with k >= 1");
  if (getLayerAttr().getInt() < 0)
    return emitOpError("layer must be >= 0");
  return success();
}

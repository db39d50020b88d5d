//===- AttentionForms.cpp - Shared rewrites of SpAtten passes -------------===//

#include "AttentionForms.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace spatten;

static FailureOr<DecomposedAttention> decompose(AttentionOp attn,
                                                StringRef pass) {
  if (attn.getPastKey())
    return attn.emitOpError()
           << "with a KV cache cannot be decomposed for " << pass
           << " (generation mode is not implemented)";
  OpBuilder b(attn);
  auto q = cast<RankedTensorType>(attn.getQuery().getType());
  auto k = cast<RankedTensorType>(attn.getKey().getType());
  int64_t heads = attn.getNumHeads();
  auto probsType = RankedTensorType::get(
      {q.getDimSize(0), heads, q.getDimSize(1), k.getDimSize(1)},
      q.getElementType());
  auto probs = AttentionProbsOp::create(
      b, attn.getLoc(), probsType, attn.getQuery(), attn.getKey(),
      attn.getMask(), attn.getNumHeadsAttr(), attn.getScaleAttr(),
      attn.getMaskKindAttr(), attn.getMaskFillAttr());
  auto output = AttentionOutputOp::create(b, attn.getLoc(),
                                          attn.getOutput().getType(),
                                          probs, attn.getValue());
  if (Attribute layer = attn->getAttr(kKVCacheLayerAttrName))
    output->setAttr(kKVCacheLayerAttrName, layer);
  attn.getOutput().replaceAllUsesWith(output);
  attn.erase();
  return DecomposedAttention{probs, output};
}

FailureOr<SmallVector<DecomposedAttention>>
spatten::decomposeAttentions(func::FuncOp func, StringRef pass) {
  SmallVector<DecomposedAttention> result;
  for (Operation &op : llvm::make_early_inc_range(func.getBody().front())) {
    if (auto attn = dyn_cast<AttentionOp>(op)) {
      FailureOr<DecomposedAttention> d = decompose(attn, pass);
      if (failed(d))
        return failure();
      result.push_back(*d);
    } else if (auto output = dyn_cast<AttentionOutputOp>(op)) {
      Operation *probs = output.getProbs().getDefiningOp();
      while (auto pruned = dyn_cast_or_null<LocalValuePruneOp>(probs))
        probs = pruned.getProbs().getDefiningOp();
      if (!isa_and_nonnull<AttentionProbsOp, ProgressiveFetchOp>(probs))
        return output.emitOpError("probabilities do not come from "
                                  "attention_probs or progressive_fetch");
      result.push_back({probs, output});
    }
  }
  return result;
}

Value spatten::fakeQuantizeHeads(OpBuilder &b, Location loc, Value x,
                                 int64_t heads, int64_t bits) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> rows(type.getShape().drop_back());
  rows.append({heads, type.getShape().back() / heads});
  auto rowType = RankedTensorType::get(rows, type.getElementType());
  SmallVector<int64_t> scaleShape(rows);
  scaleShape.back() = 1;
  Value r = ReshapeOp::create(b, loc, rowType, x);
  auto q = QuantizeOp::create(
      b, loc, RankedTensorType::get(rows, b.getI16Type()),
      RankedTensorType::get(scaleShape, type.getElementType()), r,
      b.getI64IntegerAttr(bits));
  Value d = DequantizeOp::create(b, loc, rowType, q.getCodes(), q.getScales());
  return ReshapeOp::create(b, loc, type, d);
}

Value spatten::countsPerContext(CachedAttentionOp op,
                                function_ref<int64_t(int64_t)> count) {
  SmallVector<int32_t> counts;
  for (int64_t n = 1; n <= int64_t(op.getMaxContext()); ++n)
    counts.push_back(int32_t(count(n)));
  OpBuilder b(op);
  auto type = RankedTensorType::get({int64_t(counts.size())}, b.getI32Type());
  return arith::ConstantOp::create(
      b, op.getLoc(), DenseElementsAttr::get(type, ArrayRef(counts)));
}

bool spatten::isFakeQuantized(Value x) {
  auto reshape = x.getDefiningOp<ReshapeOp>();
  return reshape && reshape.getInput().getDefiningOp<DequantizeOp>();
}

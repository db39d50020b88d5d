//===- AttentionParts.cpp - One attention, fused or decomposed ------------===//

#include "AttentionParts.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// The fields every attention-like op has (query, key, mask, heads, mask
/// kind and fill, scale).
template <typename AttentionLikeOp>
AttentionParts commonParts(AttentionLikeOp op) {
  AttentionParts parts;
  parts.query = op.getQuery();
  parts.key = op.getKey();
  parts.mask = op.getMask();
  parts.heads = int64_t(op.getNumHeads());
  parts.kind = op.getMaskKind();
  if (op.getMaskFill())
    parts.maskFill = op.getMaskFill()->convertToDouble();
  parts.scale = op.getScale().convertToDouble();
  return parts;
}

AttentionParts partsOf(AttentionOp op) {
  AttentionParts parts = commonParts(op);
  parts.value = op.getValue();
  parts.pastKey = op.getPastKey();
  parts.pastValue = op.getPastValue();
  parts.presentKey = op.getPresentKey();
  parts.presentValue = op.getPresentValue();
  parts.output = op.getOutput();
  if (auto layer = op->getAttrOfType<IntegerAttr>(kKVCacheLayerAttrName))
    parts.kvCacheLayer = layer.getInt();
  return parts;
}

/// Finds the token and head importance that the ATTN instructions
/// accumulate; both must be read only after the attention output exists.
LogicalResult collectImportance(Operation *source, AttentionOutputOp output,
                                AttentionParts &parts) {
  for (Operation *user : source->getUsers()) {
    if (auto i = dyn_cast<TokenImportanceOp>(user); i && !parts.importanceOut) {
      parts.importanceIn = i.getImportance();
      parts.importanceOut = i.getResult();
    } else if (!llvm::isa<LocalValuePruneOp, AttentionOutputOp>(user)) {
      return user->emitOpError("reads attention probabilities; lowering it "
                               "to spatten_isa is not implemented");
    }
  }
  for (Operation *user : output->getUsers())
    if (auto hi = dyn_cast<HeadImportanceOp>(user)) {
      if (parts.headImportanceOut)
        return hi.emitOpError("is a second head importance of one "
                              "attention (not implemented)");
      parts.headImportanceIn = hi.getImportance();
      parts.headImportanceOut = hi.getResult();
    }
  for (Value v : {parts.importanceOut, parts.headImportanceOut})
    for (Operation *user : v ? SmallVector<Operation *>(v.getUsers())
                             : SmallVector<Operation *>())
      if (user->isBeforeInBlock(output))
        return user->emitOpError("reads an importance before its attention "
                                 "output is computed (not implemented)");
  if (Value in = parts.headImportanceIn;
      in && in.getDefiningOp() && output->isBeforeInBlock(in.getDefiningOp()))
    return output.emitOpError("accumulates head importance computed after "
                              "it (not implemented)");
  return success();
}

/// The decomposed attention runs as fused ATTN instructions where its
/// `attention_output` is: the probabilities, read only by
/// `token_importance`, `local_value_prune` and this op, never reach DRAM;
/// a `head_importance` of the output joins them. Other forms are not
/// implemented.
FailureOr<AttentionParts> partsOf(AttentionOutputOp output) {
  Value probs = output.getProbs();
  int64_t valueKeep = 0;
  if (auto vp = probs.getDefiningOp<LocalValuePruneOp>()) {
    valueKeep = vp.getKeep();
    probs = vp.getProbs();
  }
  Operation *source = probs.getDefiningOp();
  AttentionParts parts;
  if (auto p = dyn_cast_or_null<AttentionProbsOp>(source)) {
    parts = commonParts(p);
  } else if (auto pf = dyn_cast_or_null<ProgressiveFetchOp>(source)) {
    parts = commonParts(pf);
    parts.pqThreshold = pf.getThreshold().convertToDouble();
    parts.pqValues = pf.getValues();
  } else {
    return output.emitOpError("reads probabilities that are not computed "
                              "by attention_probs or progressive_fetch "
                              "(not implemented)");
  }
  parts.valueKeep = valueKeep;
  parts.source = source;
  parts.value = output.getValue();
  parts.output = output.getOutput();
  if (auto layer = output->getAttrOfType<IntegerAttr>(kKVCacheLayerAttrName))
    parts.kvCacheLayer = layer.getInt();
  for (auto record : output->getBlock()->getOps<RecordKeptTokensOp>())
    if (int64_t(record.getLayer()) == parts.kvCacheLayer)
      parts.cachePositions = record.getPositions();
  for (auto record : output->getBlock()->getOps<RecordKeptHeadsOp>())
    if (int64_t(record.getLayer()) == parts.kvCacheLayer)
      parts.cacheHeads = record.getHeads();
  if (failed(collectImportance(source, output, parts)))
    return failure();
  return parts;
}

/// `attention_probs` and `progressive_fetch` are emitted with the
/// `attention_output` that reads them; one without it is an error.
LogicalResult checkFused(Operation *source) {
  for (Operation *user : source->getUsers()) {
    if (llvm::isa<AttentionOutputOp>(user))
      return success();
    if (auto vp = dyn_cast<LocalValuePruneOp>(user))
      if (llvm::any_of(vp->getUsers(), llvm::IsaPred<AttentionOutputOp>))
        return success();
  }
  return source->emitOpError("has no attention_output to fuse with (not "
                             "implemented)");
}
} // namespace

LogicalResult AttentionParts::resolveTensors(const LoweringCore &core) {
  std::pair<Value, const Tensor **> wanted[] = {
      {mask, &t.mask},
      {pastKey, &t.pastKey},
      {pastValue, &t.pastValue},
      {presentKey, &t.presentKey},
      {presentValue, &t.presentValue},
      {output, &t.output},
      {importanceIn, &t.importanceIn},
      {importanceOut, &t.importanceOut},
      {headImportanceIn, &t.headImportanceIn},
      {headImportanceOut, &t.headImportanceOut},
      {cacheHeads, &t.cacheHeads}};
  for (auto [v, tensor] : wanted)
    if (v && failed(core.get(v, *tensor)))
      return failure();
  if (kvCacheLayer >= 0) {
    const KVCacheLayer *cache = core.plan.kvCache(kvCacheLayer);
    if (!cache || t.presentKey)
      return core.currentOp()->emitOpError("writes KV cache layer ")
             << kvCacheLayer << ", which the DRAM plan has not placed";
    t.presentKey = &cache->key;
    t.presentValue = &cache->value;
  }
  bool padding = kind == spatten::MaskKind::padding ||
                 kind == spatten::MaskKind::padding_causal;
  if (padding && !t.mask)
    return core.currentOp()->emitOpError(
        "has a padding mask kind but no mask operand");
  return success();
}

LogicalResult isa::collectAttention(Operation *op,
                                    std::optional<AttentionParts> &parts) {
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    parts = partsOf(attention);
    return success();
  }
  if (auto output = dyn_cast<AttentionOutputOp>(op)) {
    FailureOr<AttentionParts> fused = partsOf(output);
    if (failed(fused))
      return failure();
    parts = std::move(*fused);
    return success();
  }
  if (llvm::isa<AttentionProbsOp, ProgressiveFetchOp>(op))
    return checkFused(op);
  return success();
}

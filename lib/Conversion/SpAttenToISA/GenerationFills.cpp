//===- GenerationFills.cpp - A decode step's keys over several fills ------===//
//
// When a head's keys exceed one K/V buffer fill, the decode step attends
// them fill by fill with the exact two-pass softmax (docs/Algorithms.md,
// "Attention over several fills"), under progressive quantization and
// local value pruning too.
//
//===----------------------------------------------------------------------===//

#include "GenerationLowering.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

/// Keys over several fills (docs/Algorithms.md, "Attention over several
/// fills"): a statistics pass, then an apply pass, over the cached rows
/// fill by fill (a fill past the position is empty) and then the token's
/// own row as a fill of one key, which the apply pass appends to the cache.
/// A cache written first holds the token's rows: its fills cover [0, p].
void CachedAttentionLowering::lowerFills(int64_t h) {
  if (op.getPqThresholdAttr() || valueCounts)
    return lowerPrunedFills(h);
  int64_t cached = writeFirst ? maxKeys : maxKeys - 1;
  for (bool apply : {false, true}) {
    uint8_t flags = apply ? AttnFillApply : AttnFillStats;
    for (int64_t first = 0; first < cached; first += fill) {
      int64_t rows = std::min(fill, cached - first);
      loadCached(Buffer::K, cache->key, h, first, rows, 0, writeFirst);
      if (apply)
        loadCached(Buffer::V, cache->value, h, first, rows, 0, writeFirst);
      bindToKeys(fields::Attn::lk, 1, int64_t(writeFirst) - 1 - first, 0, rows);
      AttnInstr a = attn(h, rows, flags);
      if (apply)
        addImportance(a, first);
      pb.emit(a);
    }
    if (writeFirst)
      continue;
    loadNewRow(Buffer::K, k, TensorClass::K, h, 0);
    if (apply)
      loadNewRow(Buffer::V, v, TensorClass::V, h, 0);
    pb.emit(attn(h, 1, flags));
  }
  if (writeFirst)
    return;
  appendToCache(Buffer::K, cache->key, h, 0, /*atPosition=*/false);
  appendToCache(Buffer::V, cache->value, h, 0, /*atPosition=*/false);
}

/// Progressive quantization and local value pruning over several fills
/// (docs/Algorithms.md, "Attention over several fills"): a statistics pass
/// over every fill (phase `decide` under progressive quantization, which
/// marks the query unconfident from the statistics), then for an
/// unconfident head only, statistics with full keys (the MSB and LSB
/// planes under `pred = 1`, phase `finish`), then the apply passes. With
/// local value pruning every pass carries `vk`: the statistics passes keep
/// the scores and the first apply pass selects on the whole row. The
/// token's own row is a fill of its own, after the cached rows [0, p).
void CachedAttentionLowering::lowerPrunedFills(int64_t h) {
  bool pq = bool(op.getPqThresholdAttr());
  forEachFill([&](const Fill &f) {
    loadFill(Buffer::K, cache->key, h, f);
    emitFillPass(h, f, AttnFillStats, pq ? AttnPhase::Decide : AttnPhase::None);
  });
  if (pq)
    forEachFill([&](const Fill &f) {
      loadFill(Buffer::K, cache->key, h, f, DmaPred::Unconfident);
      loadFill(Buffer::K, *cache->keyLsb, h, f, DmaPred::Unconfident);
      emitFillPass(h, f, AttnFillStats, AttnPhase::Finish);
    });
  forEachFill([&](const Fill &f) { applyPrunedFill(h, f); });
  if (writeFirst)
    return;
  appendToCache(Buffer::K, cache->key, h, 0, /*atPosition=*/false);
  appendToCache(Buffer::V, cache->value, h, 0, /*atPosition=*/false);
}

/// The cached rows before the position in fills of `fill` keys (a fill
/// past the position is empty), then the token's own row.
void CachedAttentionLowering::forEachFill(
    llvm::function_ref<void(const Fill &)> body) const {
  for (int64_t first = 0; first < maxKeys - 1; first += fill)
    body({first, std::min(fill, maxKeys - 1 - first), false});
  body({0, 1, true});
}

/// Fill `f`'s rows of cache `t` (K or V side) into `buf` at 0: cached rows,
/// or the token's row, from the cache when it was written first, else
/// from its projection.
void CachedAttentionLowering::loadFill(Buffer buf, const Tensor &t, int64_t h,
                                       const Fill &f, DmaPred pred) {
  if (!f.own)
    return loadCached(buf, t, h, f.first, f.rows, 0, false, pred);
  if (!writeFirst) {
    const Operand &src = buf == Buffer::K ? k : v;
    return loadNewRow(buf, src, buf == Buffer::K ? TensorClass::K
                                                 : TensorClass::V,
                      h, 0);
  }
  loadOwnRow(buf, t, h, pred, /*atLastKey=*/false);
}

/// One pass of head h over fill `f`, its key count bound to the position.
void CachedAttentionLowering::emitFillPass(int64_t h, const Fill &f,
                                           uint8_t flags, AttnPhase phase) {
  AttnInstr a = attn(h, f.rows, flags);
  a.phase = phase;
  if (auto threshold = op.getPqThresholdAttr())
    a.pqThreshold = threshold.getValue().convertToFloat();
  if (valueCounts && phase != AttnPhase::Values) {
    a.vk = maxKeys;
    bindToKeys(fields::Attn::vk, 1, 0, 1, maxKeys, valueCounts->ref.addr);
  }
  if (!f.own)
    bindToKeys(fields::Attn::lk, 1, -1 - f.first, 0, f.rows);
  bool adds = (flags & AttnFillApply) && phase != AttnPhase::Decide &&
              phase != AttnPhase::Values;
  if (adds && f.own && selection) { // the last key's importance
    int64_t base = selection->importance().off;
    bindToKeys(fields::Attn::impOff, 1, base - 1, base,
               base + maxKeys - 1);
  }
  if (adds)
    addImportance(a, f.own ? 0 : f.first);
  pb.emit(a);
}

/// The apply pass over fill `f`: K (the MSB plane, completed by the LSB
/// plane under `pred = 1` between the `decide` and `finish` parts under
/// progressive quantization), V with K, or with local value pruning after
/// the pass, only the rows it kept (`pred = 2`; the token's own row
/// always, as the cache needs it), then a `values` phase that adds this
/// fill's P V (FillApply after the first fill).
void CachedAttentionLowering::applyPrunedFill(int64_t h, const Fill &f) {
  bool pq = bool(op.getPqThresholdAttr());
  const std::optional<Tensor> &valueLsb = cache->valueLsb;
  loadFill(Buffer::K, cache->key, h, f);
  if (!valueCounts) {
    loadFill(Buffer::V, cache->value, h, f);
    if (valueLsb)
      loadFill(Buffer::V, *valueLsb, h, f, DmaPred::Unconfident);
  }
  uint8_t defer = valueCounts ? AttnDeferValues : 0;
  if (pq) {
    emitFillPass(h, f, AttnFillApply, AttnPhase::Decide);
    loadFill(Buffer::K, *cache->keyLsb, h, f, DmaPred::Unconfident);
  }
  emitFillPass(h, f, AttnFillApply | defer,
               pq ? AttnPhase::Finish : AttnPhase::None);
  if (!valueCounts)
    return;
  loadFill(Buffer::V, cache->value, h, f,
           f.own ? DmaPred::Always : DmaPred::ValueRows);
  if (valueLsb)
    loadFill(Buffer::V, *valueLsb, h, f,
             f.own ? DmaPred::Unconfident : DmaPred::UnconfidentValueRows);
  bool firstFill = !f.own && f.first == 0;
  emitFillPass(h, f, firstFill ? 0 : AttnFillApply, AttnPhase::Values);
}

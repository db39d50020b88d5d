//===- AttentionKVCache.cpp - An attention's KV cache rows ----------------===//
//
// The K and V sides of one head against its KV cache: past rows read before
// the new ones, and the updated rows written to present_key/present_value
// or a generation KV cache, by grouped-query head, by kept position, as
// fixed-point codes or as MSB and LSB planes (docs/Generation.md).
//
//===----------------------------------------------------------------------===//

#include "AttentionLowering.h"
#include "TokenState.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

/// The K or V side of the attention: its new rows, KV cache and class.
AttentionLowering::KVSide AttentionLowering::kvSide(Buffer buf) const {
  if (buf == Buffer::K)
    return {p.k, op.t.pastKey, op.t.presentKey, buf, TensorClass::K};
  return {p.v, op.t.pastValue, op.t.presentValue, buf, TensorClass::V};
}

/// Cached rows [r0, r0 + rows) of head h from past_key/past_value into
/// the side's buffer at `off` (nothing without a cache or rows).
void AttentionLowering::loadPast(const KVSide &side, int64_t off, int64_t b,
                                 int64_t h, int64_t r0, int64_t rows) {
  if (!side.past || !rows)
    return;
  DramRef ref = side.past->ref;
  ref.cls = side.cls;
  ref.addr = side.past->addrOf(((b * op.heads + h) * p.P + r0) * p.D);
  pb.load({side.buf, off, p.D}, ref, p.D * 4, rows, p.D);
}

/// Key rows [r0, r0 + rows) of head h from the side's buffer at `off` to
/// present_key/present_value, when the attention writes them.
void AttentionLowering::storePresent(const KVSide &side, int64_t off,
                                     int64_t b, int64_t h, int64_t r0,
                                     int64_t rows) {
  if (!side.present || h % cacheGroup(*side.present))
    return;
  if (side.present->ref.plane == Plane::Msb)
    return storePlanesToCache(side, b, h, r0 + rows);
  storeCacheRows(*side.present, {side.buf, off, p.D}, b, h, r0, rows);
}

/// Rows [r0, r0 + rows) of head h from `src` to present_key [B, H, keys, D]
/// or a KV cache [1, G, C >= keys, D] (G divides H: head h's K/V head is
/// h / (H/G)); a fixed-point store re-quantizes dequantized rows to their
/// codes and scales (docs/Generation.md).
void AttentionLowering::storeCacheRows(const Tensor &t, SramRef src, int64_t b,
                                       int64_t h, int64_t r0, int64_t rows) {
  DramRef ref = t.ref;
  int64_t row = ref.rowBytes(p.D), headBytes = t.shape[2] * row;
  int64_t cacheHeads = t.shape[1], kvHead = h / cacheGroup(t);
  int64_t first = op.cachePositions ? 0 : r0 * row;
  if (op.t.cacheHeads) // head h is the layer's kept head h
    bindToHeadList(pb, op.t.cacheHeads->ref.addr, h, ref.addr + first,
                   headBytes, t.shape[1]);
  else
    ref.addr += (b * cacheHeads + kvHead) * headBytes;
  ref.addr += first;
  if (op.cachePositions) // the kept tokens' rows, at their positions
    return pb.scatter(ref, row, src, rows, p.D,
                      {core.listOffset(op.cachePositions) + r0});
  pb.store(ref, row, src, rows, p.D);
}

/// Query heads per head of `t`: a grouped-query KV cache holds K/V heads,
/// written by the group's first query head. Under head pruning (a head
/// list) the cache has a head per query head.
int64_t AttentionLowering::cacheGroup(const Tensor &t) const {
  return op.t.cacheHeads ? 1 : std::max<int64_t>(1, op.heads / t.shape[1]);
}

/// A cache of MSB and LSB planes takes head h's rows from the attention's
/// planes, completed to full values in the act buffer (K in SRAM holds
/// MSB-only values when the head was confident).
void AttentionLowering::storePlanesToCache(const KVSide &side, int64_t b,
                                           int64_t h, int64_t rows) {
  const KVCacheLayer &cache = *core.plan.kvCache(op.kvCacheLayer);
  bool key = side.buf == Buffer::K;
  const Tensor &lsb = key ? *cache.keyLsb : *cache.valueLsb;
  SramRef act{Buffer::Act, 0, p.D};
  int64_t tile = std::max<int64_t>(1, pb.bufferElems(Buffer::Act) / p.D);
  for (int64_t r0 = 0, n; r0 < rows; r0 += n) {
    n = std::min(tile, rows - r0);
    for (const Tensor &plane : planes.slice(key ? 0 : 2, 2))
      loadHeadRows(act, plane, TensorClass::Activation, b, h, r0, n);
    storeCacheRows(*side.present, act, b, h, r0, n);
    storeCacheRows(lsb, act, b, h, r0, n);
  }
}

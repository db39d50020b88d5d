//===- GenerationLowering.cpp - The decode step's run-time rows -----------===//
//
// A decode program serves every position p < C (docs/Generation.md): the
// host sets register `position` before each step, and `bind` instructions
// (docs/ISA.md) give the DMA rows and addresses and the ATTN key counts
// that depend on it. `position_row` reads row p of a per-position table;
// `cached_attention` appends the token's K and V to the layer's KV cache at
// row p and attends the p + 1 cached rows, in one ATTN when they fit a
// K/V buffer fill, else in fills with the exact two-pass softmax. A cache
// of fixed-point rows gets the token's rows first, quantized by the store,
// and the step reads all p + 1 rows back at their width. Under progressive
// quantization the cache holds MSB and LSB planes: each head decides on
// MSB-only keys and fetches the LSB plane only when unconfident. Under
// cascade token pruning each layer first selects its kept tokens
// (TokenState.h); the heads then gather only those rows of the cache.
//
//===----------------------------------------------------------------------===//

#include "GenerationLowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// Binds `field` of the next instruction to `add + mul * p` in [lo, hi].
void bindToPosition(ProgramBuilder &pb, const Field &field, int64_t mul,
                    int64_t add, int64_t lo, int64_t hi) {
  bindToRegister(pb, field, kPositionRegister, mul, add, lo, hi);
}

using DmaFields = fields::Dma;

/// The largest count of `token_counts` (a constant table, non-decreasing
/// in the context length), else C.
int64_t maxKeptTokens(CachedAttentionOp op, int64_t C) {
  auto table = op.getTokenCounts()
                   ? op.getTokenCounts().getDefiningOp<arith::ConstantOp>()
                   : nullptr;
  auto counts =
      table ? dyn_cast<DenseIntElementsAttr>(table.getValue()) : nullptr;
  if (!counts || counts.empty())
    return C;
  int64_t most = 1;
  for (const APInt &count : counts.getValues<APInt>())
    most = std::max(most, count.getSExtValue());
  return std::min(most, C);
}

LogicalResult lowerPositionRow(LoweringCore &core, PositionRowOp op) {
  ProgramBuilder &pb = core.pb;
  const Tensor *table, *out;
  if (failed(core.get(op.getTable(), table, op.getOutput(), out)))
    return failure();
  int64_t C = table->shape[0], N = table->shape[1], rowBytes = N * 4;
  if (failed(pb.rowsThatFit(Buffer::Act, N, 1)))
    return failure();
  int64_t base = table->ref.addr;
  bindToPosition(pb, DmaFields::dramAddr, rowBytes, base, base,
                 base + (C - 1) * rowBytes);
  pb.load({Buffer::Act, 0, N}, table->ref, rowBytes, 1, N);
  pb.store(out->ref, rowBytes, {Buffer::Act, 0, N}, 1, N);
  return success();
}

} // namespace

FailureOr<CachedAttentionLowering::Operand>
CachedAttentionLowering::operand(Value value, bool fixedPointAllowed) {
  const InPlaceView *view = core.plan.viewOf(value);
  if (view && view->kind != InPlaceView::Kind::Columns)
    return op.emitOpError("reads a kept-heads view; head pruning in "
                          "generation is not implemented");
  FailureOr<const Tensor *> src = core.tensor(view ? view->source : value);
  if (failed(src))
    return failure();
  if ((*src)->ref.packed() && !fixedPointAllowed)
    return op.emitOpError("reads fixed-point keys or values; the cache "
                          "quantizes them from fp32 rows");
  return Operand{*src, view ? view->firstColumn : 0};
}

/// `head0` advanced to head h, `stride` bytes per head; under head pruning
/// bound at run time to the original head of slot h (the next DMA's).
DramRef CachedAttentionLowering::atHead(DramRef head0, int64_t stride,
                                        int64_t h) {
  if (!headList) {
    head0.addr += h * stride;
    return head0;
  }
  bindToHeadList(pb, *headList, h, head0.addr, stride, H);
  return head0;
}

/// Row `row` of query head h's K/V head in a cache `[1, H/group, C, D]`.
DramRef CachedAttentionLowering::cacheRow(const Tensor &t, int64_t h,
                                          int64_t row) const {
  DramRef ref = t.ref;
  ref.addr += (h / group * C + row) * rowBytes(t);
  return ref;
}

/// Row 0 of query head h's K/V head in cache `t`, bound to the head list
/// under head pruning (whose caches are not grouped).
DramRef CachedAttentionLowering::cacheHead(const Tensor &t, int64_t h) {
  return atHead(cacheRow(t, 0, 0), C * rowBytes(t), h / group);
}

/// Binds `field` of the next instruction to `add + mul * keys` in
/// [lo, hi], keys the number the step attends; with a `table` of counts
/// per key number, to `add + mul * table[keys - 1]`.
void CachedAttentionLowering::bindToKeys(const Field &field, int64_t mul,
                                         int64_t add, int64_t lo, int64_t hi,
                                         std::optional<int64_t> table) {
  if (!table)
    return bindToRegister(pb, field, keyReg, mul, add + mul * keyBias, lo, hi);
  Bind bind;
  bind.field = fieldName(field);
  bind.source = BindSource::Table;
  bind.reg = keyReg;
  bind.table = *table + 4 * (keyBias - 1);
  bind.mul = mul, bind.add = add, bind.lo = lo, bind.hi = hi;
  pb.bind(bind);
}

/// Under cascade token pruning, ATTN `a` over the keys from `firstKey` of
/// the kept list adds their probabilities to the kept tokens' importance.
void CachedAttentionLowering::addImportance(AttnInstr &a,
                                            int64_t firstKey) const {
  if (!selection)
    return;
  a.flags |= AttnAccumulateImportance;
  a.importance = selection->importance();
  a.importance.off += firstKey;
}

/// Key rows [first, first + min(rows, keys - 1 - first)) of head h into
/// `buf` at `off`: the cached rows before the token's, and the token's too
/// when `throughPosition` (written first). Without token pruning key j is
/// cache row j; with it, the kept list's entry j (a gather).
void CachedAttentionLowering::loadCached(Buffer buf, const Tensor &t,
                                         int64_t h, int64_t first,
                                         int64_t rows, int64_t off,
                                         bool throughPosition, DmaPred pred) {
  bindToKeys(DmaFields::rows, 1, int64_t(throughPosition) - 1 - first, 0, rows);
  if (selection)
    return pb.gather({buf, off, D}, cacheHead(t, h), rowBytes(t), rows, D,
                     IndexList{first}, pred);
  pb.load({buf, off, D}, cacheRow(t, h, first), rowBytes(t), rows, D, pred);
}

/// The token's own K or V row of query head h (its K/V head's) into `buf`
/// at `off`.
void CachedAttentionLowering::loadNewRow(Buffer buf, const Operand &src,
                                         TensorClass cls, int64_t h,
                                         int64_t off) {
  pb.load({buf, off, D},
          atHead(src.headRow(0, D, cls), src.headStride(D), h / group), D * 4,
          1, D);
}

/// Writes the token's row of head h, in `buf` at `off` (or at off + p*D
/// when `atPosition`), to row p of the cache; once per K/V head.
void CachedAttentionLowering::appendToCache(Buffer buf, const Tensor &t,
                                            int64_t h, int64_t off,
                                            bool atPosition) {
  if (!writesCache(h))
    return;
  if (selection) { // p is the kept list's last entry
    bindToKeys(fields::Gather::idxOff, 1, -1, 0, maxKeys - 1);
    return pb.scatter(cacheHead(t, h), rowBytes(t), {buf, off, D}, 1, D,
                      IndexList{0});
  }
  bindToPositionRow(t, h);
  if (atPosition)
    bindToPosition(pb, DmaFields::sram.off, D, off, off, off + (C - 1) * D);
  pb.store(cacheRow(t, h, 0), rowBytes(t), {buf, off, D}, 1, D);
}

/// Binds the next DMA's DRAM address to row p of head h of cache `t`.
void CachedAttentionLowering::bindToPositionRow(const Tensor &t, int64_t h) {
  int64_t base = cacheRow(t, h, 0).addr, row = rowBytes(t);
  bindToPosition(pb, DmaFields::dramAddr, row, base, base,
                 base + (C - 1) * row);
}

/// The token's fp32 row of head h, from its projection through the act
/// buffer to cache row p; a fixed-point store quantizes it exactly as
/// docs/Algorithms.md says (the projection's read is an activation's).
void CachedAttentionLowering::writeNewRow(const Tensor &t, const Operand &src,
                                          int64_t h) {
  if (!writesCache(h))
    return;
  loadNewRow(Buffer::Act, src, TensorClass::Activation, h, 0);
  appendToCache(Buffer::Act, t, h, 0, /*atPosition=*/false);
  const std::optional<Tensor> &lsb =
      &t == &cache->key ? cache->keyLsb : cache->valueLsb;
  if (lsb) // the second plane of the same codes
    appendToCache(Buffer::Act, *lsb, h, 0, /*atPosition=*/false);
}

/// Cache row p of head h (the token's, written first) into the SRAM row of
/// the last key of head h's slot, or with `atLastKey` false into `buf` at 0
/// (a fill of its own).
void CachedAttentionLowering::loadOwnRow(Buffer buf, const Tensor &t,
                                         int64_t h, DmaPred pred,
                                         bool atLastKey) {
  int64_t off = atLastKey ? slotOff(buf, h) : 0;
  if (atLastKey)
    bindToKeys(DmaFields::sram.off, D, off - D, off, off + (maxKeys - 1) * D);
  if (selection) { // p is the kept list's last entry
    bindToKeys(fields::Gather::idxOff, 1, -1, 0, maxKeys - 1);
    return pb.gather({buf, off, D}, cacheHead(t, h), rowBytes(t), 1, D,
                     IndexList{0}, pred);
  }
  bindToPositionRow(t, h);
  pb.load({buf, off, D}, cacheRow(t, h, 0), rowBytes(t), 1, D, pred);
}

/// Head h's ATTN over (at most) `lk` keys in its slots.
AttnInstr CachedAttentionLowering::attn(int64_t h, int64_t lk, uint8_t flags) {
  AttnInstr a;
  a.flags = flags;
  a.q = {Buffer::Q, slotOff(Buffer::Q, h), D};
  a.k = {Buffer::K, slotOff(Buffer::K, h), D};
  a.v = {Buffer::V, slotOff(Buffer::V, h), D};
  a.o = {Buffer::Acc, slotOff(Buffer::Acc, h), D};
  a.lq = 1, a.lk = lk, a.d = D;
  a.scale = op.getScale().convertToFloat();
  return a;
}

LogicalResult CachedAttentionLowering::lower() {
  cache = core.plan.kvCache(op.getLayer());
  if (!cache)
    return op.emitOpError("reads KV cache layer ")
           << op.getLayer() << ", which the DRAM plan has not placed";
  H = op.getNumHeads(), D = op.getHeadDim(), C = cache->key.shape[2];
  group = H / op.getCacheHeads();
  maxKeys = maxKeptTokens(op, C);
  const HardwareConfig &hw = pb.config();
  fill = std::min({int64_t(hw.maxKeysPerFill),
                   pb.bufferElems(Buffer::K, cache->key.ref.bits) / D,
                   pb.bufferElems(Buffer::V, cache->value.ref.bits) / D});
  if (fill < 1)
    return op.emitOpError("a key row of width ")
           << D << " does not fit the K and V buffers";
  if (failed(core.get(op.getOutput(), output)))
    return failure();
  if (op.getValueCounts() && failed(core.get(op.getValueCounts(), valueCounts)))
    return failure();
  FailureOr<Operand> qo = operand(op.getQuery(), true),
                     ko = operand(op.getKey(), false),
                     vo = operand(op.getValue(), false);
  if (failed(qo) || failed(ko) || failed(vo))
    return failure();
  q = *qo, k = *ko, v = *vo;
  writeFirst = cache->key.ref.packed() || cache->value.ref.packed();
  if (op.getTokenCounts()) {
    // The kept list ends with p, so the token's rows go to the cache first.
    selection.emplace(core, op, *cache);
    if (failed(selection->select()))
      return failure();
    keyReg = selection->countRegister(), keyBias = 0;
    writeFirst = true;
  }
  keptHeads = op.getKeptHeads() ? int64_t(*op.getKeptHeads()) : H;
  if (keptHeads < H) {
    if (!selection || !cache->headList || group > 1)
      return op.emitOpError("cascade head pruning needs the kept-token path, "
                            "the KV cache's head list and one K/V head per "
                            "query head");
    headList = cache->headList->ref.addr;
  }
  if (op.getPqThresholdAttr() && !cache->keyLsb)
    return op.emitOpError("progressive quantization needs a KV cache of "
                          "key planes");
  kvSlotElems = std::min(core.slotElems(Buffer::K, cache->key.ref.bits),
                         core.slotElems(Buffer::V, cache->value.ref.bits));
  if (maxKeys <= fill && maxKeys * D <= kvSlotElems)
    slots = core.numSlots();
  // A deferred V fetch waits for its head's ATTN: the next head's inputs
  // go before it in the load queue, so that the queue keeps streaming.
  bool prefetch = valueCounts && slots > 1;
  zeroPrunedHeads();
  for (int64_t h = 0; h < keptHeads; ++h) {
    if (!prefetch || h == 0)
      loadHeadInputs(h);
    bool next = prefetch && h + 1 < keptHeads;
    if (op.getPqThresholdAttr() && maxKeys <= fill)
      lowerProgressive(h, next);
    else if (maxKeys <= fill)
      lowerOneFill(h, next);
    else
      lowerFills(h);
    storeOutput(h);
  }
  if (selection)
    selection->finish();
  return success();
}

/// Head h's query row, the token's rows into a cache written first, and
/// with every key in one fill, its keys.
void CachedAttentionLowering::loadHeadInputs(int64_t h) {
  pb.load({Buffer::Q, slotOff(Buffer::Q, h), D},
          atHead(q.headRow(0, D, TensorClass::Q), q.headStride(D), h),
          q.src->ref.rowBytes(D), 1, D);
  if (writeFirst) {
    writeNewRow(cache->key, k, h);
    writeNewRow(cache->value, v, h);
  }
  if (maxKeys <= fill)
    appendKeys(h);
}

/// Every key in one fill: the cached rows [0, p) and the token's row at p,
/// which also goes to the cache; one ATTN over the p + 1 keys. With local
/// value pruning the ATTN defers prob*V, and only the V rows it kept are
/// fetched (docs/ISA.md, `attn` phase `values`).
void CachedAttentionLowering::lowerOneFill(int64_t h, bool prefetchNext) {
  emitOutput(attn(h, maxKeys, 0), h, prefetchNext);
}

/// The ATTN `a` that gives the head's output over the p + 1 keys; with
/// local value pruning it defers prob*V to a `values` phase after the
/// kept V rows are fetched (after the next head's inputs with
/// `prefetchNext`).
void CachedAttentionLowering::emitOutput(AttnInstr a, int64_t h,
                                         bool prefetchNext) {
  addImportance(a, 0);
  if (valueCounts) {
    a.flags |= AttnDeferValues;
    a.vk = maxKeys;
    bindToKeys(fields::Attn::vk, 1, 0, 1, maxKeys, valueCounts->ref.addr);
  }
  bindToKeys(fields::Attn::lk, 1, 0, 1, maxKeys);
  pb.emit(a);
  if (!valueCounts)
    return;
  if (prefetchNext)
    loadHeadInputs(h + 1);
  fetchKeptValues(h);
  AttnInstr values = attn(h, maxKeys, 0);
  values.phase = AttnPhase::Values;
  bindToKeys(fields::Attn::lk, 1, 0, 1, maxKeys);
  pb.emit(values);
}

/// Progressive quantization (docs/Algorithms.md, "Generation"): the MSB
/// planes of rows [0, p] (the token's written first), an ATTN that
/// decides on MSB-only keys, the LSB planes under the unconfident
/// predicate (`pred = 1`), and an ATTN that finishes with full keys.
void CachedAttentionLowering::lowerProgressive(int64_t h, bool prefetchNext) {
  AttnInstr decide = attn(h, maxKeys, 0), finish = attn(h, maxKeys, 0);
  decide.phase = AttnPhase::Decide, finish.phase = AttnPhase::Finish;
  decide.pqThreshold = finish.pqThreshold =
      op.getPqThresholdAttr().getValue().convertToFloat();
  bindToKeys(fields::Attn::lk, 1, 0, 1, maxKeys);
  pb.emit(decide);
  loadCached(Buffer::K, *cache->keyLsb, h, 0, maxKeys, slotOff(Buffer::K, h),
             true, DmaPred::Unconfident);
  if (cache->valueLsb && !valueCounts) // else after the finish, when kept
    loadCached(Buffer::V, *cache->valueLsb, h, 0, maxKeys,
               slotOff(Buffer::V, h), true, DmaPred::Unconfident);
  emitOutput(finish, h, prefetchNext);
}

/// K (and V unless value pruning fetches it after the top-k): the p cached
/// rows, then the token's own row into SRAM row p and on to cache row p;
/// or rows [0, p] of a cache the token's rows were written to first.
void CachedAttentionLowering::appendKeys(int64_t h) {
  for (auto [buf, side, cls] :
       {std::tuple(Buffer::K, &cache->key, TensorClass::K),
        std::tuple(Buffer::V, &cache->value, TensorClass::V)}) {
    if (buf == Buffer::V && valueCounts)
      continue;
    int64_t off = slotOff(buf, h);
    if (writeFirst) {
      loadCached(buf, *side, h, 0, maxKeys, off, /*throughPosition=*/true);
      continue;
    }
    loadCached(buf, *side, h, 0, C - 1, off);
    const Operand &src = buf == Buffer::K ? k : v;
    bindToPosition(pb, DmaFields::sram.off, D, off, off, off + (C - 1) * D);
    loadNewRow(buf, src, cls, h, off);
    appendToCache(buf, *side, h, off, /*atPosition=*/true);
  }
}

/// The cached V rows the query kept (DMA `pred = 2`, the value-row mask),
/// and the token's own row, which the cache needs whether kept or not.
void CachedAttentionLowering::fetchKeptValues(int64_t h) {
  int64_t off = slotOff(Buffer::V, h);
  if (writeFirst) {
    loadCached(Buffer::V, cache->value, h, 0, maxKeys - 1, off, false,
               DmaPred::ValueRows);
    loadOwnRow(Buffer::V, cache->value, h);
    if (!cache->valueLsb)
      return;
    // Under --pq-values an unconfident head completes the rows it kept.
    loadCached(Buffer::V, *cache->valueLsb, h, 0, maxKeys - 1, off, false,
               DmaPred::UnconfidentValueRows);
    return loadOwnRow(Buffer::V, *cache->valueLsb, h, DmaPred::Unconfident);
  }
  const Tensor &values = cache->value;
  bindToPosition(pb, DmaFields::rows, 1, 0, 0, C - 1);
  pb.load({Buffer::V, off, D}, cacheRow(values, h, 0), rowBytes(values),
          C - 1, D, DmaPred::ValueRows);
  bindToPosition(pb, DmaFields::sram.off, D, off, off, off + (C - 1) * D);
  loadNewRow(Buffer::V, v, TensorClass::V, h, off);
  appendToCache(Buffer::V, cache->value, h, off, /*atPosition=*/true);
}

void CachedAttentionLowering::storeOutput(int64_t h) {
  pb.store(atHead(output->ref, D * 4, h), H * D * 4,
           {Buffer::Acc, slotOff(Buffer::Acc, h), D}, 1, D);
}

/// Under head pruning the pruned heads' output columns are 0: the row is
/// zeroed first (x * 0 over a kept token's importance, finite, broadcast),
/// then the kept heads overwrite their columns.
void CachedAttentionLowering::zeroPrunedHeads() {
  if (keptHeads == H)
    return;
  VecInstr zero;
  zero.func = VecFunc::Mul;
  zero.flags = VecYImm;
  zero.x = selection->importance();
  zero.x.stride = 0;
  zero.z = {Buffer::Acc, 0, 1};
  zero.rows = H * D, zero.cols = 1;
  pb.emit(zero);
  pb.store(output->ref, H * D * 4, {Buffer::Acc, 0, H * D}, 1, H * D);
}

LogicalResult isa::lowerGenerationFamily(LoweringCore &core, Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](PositionRowOp o) { return lowerPositionRow(core, o); })
      .Case([&](CachedAttentionOp o) {
        return CachedAttentionLowering(core, o).lower();
      })
      .Case(
          [&](RecordKeptTokensOp o) { return lowerRecordKeptTokens(core, o); })
      .Case([&](RecordKeptHeadsOp o) { return lowerRecordKeptHeads(core, o); });
}

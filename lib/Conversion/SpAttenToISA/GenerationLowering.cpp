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
// MSB-only keys and fetches the LSB plane only when unconfident.
//
//===----------------------------------------------------------------------===//

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// The decode entry's register holding the position p (`registers[0]`).
constexpr unsigned kPositionRegister = 0;

/// Binds `field` of the next instruction to `add + mul * x`, within
/// [lo, hi]: x = p, or with a `table` (a DRAM address) x = table[p].
void bindToPosition(ProgramBuilder &pb, const Field &field, int64_t mul,
                    int64_t add, int64_t lo, int64_t hi,
                    std::optional<int64_t> table = std::nullopt) {
  Bind bind;
  bind.field = fieldName(field);
  bind.reg = kPositionRegister;
  bind.mul = mul, bind.add = add, bind.lo = lo, bind.hi = hi;
  if (table) {
    bind.source = BindSource::Table;
    bind.table = *table;
  }
  pb.bind(bind);
}

using DmaFields = fields::Dma;

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

/// One decode step of attention for every head (CachedAttentionOp).
class CachedAttentionLowering {
public:
  CachedAttentionLowering(LoweringCore &core, CachedAttentionOp op)
      : core(core), pb(core.pb), op(op) {}

  LogicalResult lower();

private:
  /// Where a `[1, 1, H*D]` operand's head h starts: a tensor of its own or
  /// a column slice of a fused projection read in place, fp32 columns or
  /// (a quantized query) one fixed-point row per head.
  struct Operand {
    const Tensor *src = nullptr;
    int64_t firstColumn = 0;
    DramRef headRow(int64_t h, int64_t D, TensorClass cls) const {
      DramRef ref = src->ref;
      ref.cls = cls;
      ref.addr = ref.packed() ? ref.addr + h * ref.rowBytes(D)
                              : src->addrOf(firstColumn + h * D);
      return ref;
    }
  };

  LoweringCore &core;
  ProgramBuilder &pb;
  CachedAttentionOp op;
  const KVCacheLayer *cache = nullptr;
  const Tensor *output = nullptr;
  /// Local value pruning's keep count per position (`value_counts`).
  const Tensor *valueCounts = nullptr;
  Operand q, k, v;
  int64_t H = 0, D = 0, C = 0;
  /// Keys per K/V buffer fill (max_keys_per_fill and the buffer sizes).
  int64_t fill = 0;
  /// A fixed-point cache: the token's K and V rows go to the cache before
  /// the step reads rows [0, p] from it, so it attends their quantized
  /// values (an fp32 cache takes them from the projections instead).
  bool writeFirst = false;
  /// Double-buffering slots of one head's K/V, Q and output: 2 when every
  /// key fits half of the K and V buffers, so that the next head's fetch
  /// overlaps this head's ATTN.
  int64_t slots = 1;
  /// Elements of one K/V slot at the cache's widths (HardwareConfig).
  int64_t kvSlotElems = 0;
  int64_t slotOff(Buffer buf, int64_t h) const {
    if (slots == 1)
      return 0;
    bool kv = buf == Buffer::K || buf == Buffer::V;
    return kv ? (h % slots) * kvSlotElems : core.slotOff(buf, h);
  }

  FailureOr<Operand> operand(Value v, bool fixedPointAllowed);
  DramRef cacheRow(const Tensor &t, int64_t h, int64_t row) const;
  int64_t rowBytes(const Tensor &t) const { return t.ref.rowBytes(D); }
  void loadCached(Buffer buf, const Tensor &t, int64_t h, int64_t first,
                  int64_t rows, int64_t off, bool throughPosition = false,
                  DmaPred pred = DmaPred::Always);
  void loadNewRow(Buffer buf, const Operand &src, TensorClass cls, int64_t h,
                  int64_t off);
  void appendToCache(Buffer buf, const Tensor &t, int64_t h, int64_t off,
                     bool atPosition);
  void bindToPositionRow(const Tensor &t, int64_t h);
  void writeNewRow(const Tensor &t, const Operand &src, int64_t h);
  void loadOwnRow(Buffer buf, const Tensor &t, int64_t h,
                  DmaPred pred = DmaPred::Always);
  AttnInstr attn(int64_t h, int64_t lk, uint8_t flags);
  void loadHeadInputs(int64_t h);
  void lowerOneFill(int64_t h, bool prefetchNext);
  void emitOutput(AttnInstr a, int64_t h, bool prefetchNext);
  void lowerProgressive(int64_t h, bool prefetchNext);
  void appendKeys(int64_t h);
  void fetchKeptValues(int64_t h);
  void lowerFills(int64_t h);
  void storeOutput(int64_t h);

  // Progressive quantization and local value pruning over several fills.
  /// A fill of the decode step: cached rows [first, first + rows) before
  /// the position, or (`own`) the token's row.
  struct Fill {
    int64_t first, rows;
    bool own;
  };
  void lowerPrunedFills(int64_t h);
  void forEachFill(llvm::function_ref<void(const Fill &)> body) const;
  void loadFill(Buffer buf, const Tensor &t, int64_t h, const Fill &f,
                DmaPred pred = DmaPred::Always);
  void emitFillPass(int64_t h, const Fill &f, uint8_t flags, AttnPhase phase);
  void applyPrunedFill(int64_t h, const Fill &f);
};
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

/// Row `row` of head h of a cache `[1, H, C, D]`.
DramRef CachedAttentionLowering::cacheRow(const Tensor &t, int64_t h,
                                          int64_t row) const {
  DramRef ref = t.ref;
  ref.addr += (h * C + row) * rowBytes(t);
  return ref;
}

/// Cached rows [first, first + min(rows, p - first)) of head h into `buf`
/// at `off`: only the rows before the position hold keys, and row p too
/// when `throughPosition` (the token's row, written first).
void CachedAttentionLowering::loadCached(Buffer buf, const Tensor &t,
                                         int64_t h, int64_t first,
                                         int64_t rows, int64_t off,
                                         bool throughPosition, DmaPred pred) {
  bindToPosition(pb, DmaFields::rows, 1, int64_t(throughPosition) - first, 0,
                 rows);
  pb.load({buf, off, D}, cacheRow(t, h, first), rowBytes(t), rows, D, pred);
}

/// The token's own row of head h into `buf` at `off`.
void CachedAttentionLowering::loadNewRow(Buffer buf, const Operand &src,
                                         TensorClass cls, int64_t h,
                                         int64_t off) {
  pb.load({buf, off, D}, src.headRow(h, D, cls), D * 4, 1, D);
}

/// Writes the token's row of head h, in `buf` at `off` (or at off + p*D
/// when `atPosition`), to row p of the cache.
void CachedAttentionLowering::appendToCache(Buffer buf, const Tensor &t,
                                            int64_t h, int64_t off,
                                            bool atPosition) {
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
  loadNewRow(Buffer::Act, src, TensorClass::Activation, h, 0);
  appendToCache(Buffer::Act, t, h, 0, /*atPosition=*/false);
  const std::optional<Tensor> &lsb =
      &t == &cache->key ? cache->keyLsb : cache->valueLsb;
  if (lsb) // the second plane of the same codes
    appendToCache(Buffer::Act, *lsb, h, 0, /*atPosition=*/false);
}

/// Cache row p of head h (the token's, written first) into SRAM row p.
void CachedAttentionLowering::loadOwnRow(Buffer buf, const Tensor &t,
                                         int64_t h, DmaPred pred) {
  int64_t off = slotOff(buf, h);
  bindToPositionRow(t, h);
  bindToPosition(pb, DmaFields::sram.off, D, off, off, off + (C - 1) * D);
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
  if (op.getPqThresholdAttr() && !cache->keyLsb)
    return op.emitOpError("progressive quantization needs a KV cache of "
                          "key planes");
  kvSlotElems = std::min(core.slotElems(Buffer::K, cache->key.ref.bits),
                         core.slotElems(Buffer::V, cache->value.ref.bits));
  if (C <= fill && C * D <= kvSlotElems)
    slots = core.numSlots();
  // A deferred V fetch waits for its head's ATTN: the next head's inputs
  // go before it in the load queue, so that the queue keeps streaming.
  bool prefetch = valueCounts && slots > 1;
  for (int64_t h = 0; h < H; ++h) {
    if (!prefetch || h == 0)
      loadHeadInputs(h);
    bool next = prefetch && h + 1 < H;
    if (op.getPqThresholdAttr() && C <= fill)
      lowerProgressive(h, next);
    else if (C <= fill)
      lowerOneFill(h, next);
    else
      lowerFills(h);
    storeOutput(h);
  }
  return success();
}

/// Head h's query row, the token's rows into a cache written first, and
/// with every key in one fill, its keys.
void CachedAttentionLowering::loadHeadInputs(int64_t h) {
  pb.load({Buffer::Q, slotOff(Buffer::Q, h), D},
          q.headRow(h, D, TensorClass::Q), q.src->ref.rowBytes(D), 1, D);
  if (writeFirst) {
    writeNewRow(cache->key, k, h);
    writeNewRow(cache->value, v, h);
  }
  if (C <= fill)
    appendKeys(h);
}

/// Every key in one fill: the cached rows [0, p) and the token's row at p,
/// which also goes to the cache; one ATTN over the p + 1 keys. With local
/// value pruning the ATTN defers prob*V, and only the V rows it kept are
/// fetched (docs/ISA.md, `attn` phase `values`).
void CachedAttentionLowering::lowerOneFill(int64_t h, bool prefetchNext) {
  emitOutput(attn(h, C, 0), h, prefetchNext);
}

/// The ATTN `a` that gives the head's output over the p + 1 keys; with
/// local value pruning it defers prob*V to a `values` phase after the
/// kept V rows are fetched (after the next head's inputs with
/// `prefetchNext`).
void CachedAttentionLowering::emitOutput(AttnInstr a, int64_t h,
                                         bool prefetchNext) {
  if (valueCounts) {
    a.flags |= AttnDeferValues;
    a.vk = C;
    bindToPosition(pb, fields::Attn::vk, 1, 0, 1, C, valueCounts->ref.addr);
  }
  bindToPosition(pb, fields::Attn::lk, 1, 1, 1, C);
  pb.emit(a);
  if (!valueCounts)
    return;
  if (prefetchNext)
    loadHeadInputs(h + 1);
  fetchKeptValues(h);
  AttnInstr values = attn(h, C, 0);
  values.phase = AttnPhase::Values;
  bindToPosition(pb, fields::Attn::lk, 1, 1, 1, C);
  pb.emit(values);
}

/// Progressive quantization (docs/Algorithms.md, "Generation"): the MSB
/// planes of rows [0, p] (the token's written first), an ATTN that
/// decides on MSB-only keys, the LSB planes under the unconfident
/// predicate (`pred = 1`), and an ATTN that finishes with full keys.
void CachedAttentionLowering::lowerProgressive(int64_t h, bool prefetchNext) {
  AttnInstr decide = attn(h, C, 0), finish = attn(h, C, 0);
  decide.phase = AttnPhase::Decide, finish.phase = AttnPhase::Finish;
  decide.pqThreshold = finish.pqThreshold =
      op.getPqThresholdAttr().getValue().convertToFloat();
  bindToPosition(pb, fields::Attn::lk, 1, 1, 1, C);
  pb.emit(decide);
  loadCached(Buffer::K, *cache->keyLsb, h, 0, C, slotOff(Buffer::K, h), true,
             DmaPred::Unconfident);
  if (cache->valueLsb && !valueCounts) // else after the finish, when kept
    loadCached(Buffer::V, *cache->valueLsb, h, 0, C, slotOff(Buffer::V, h),
               true, DmaPred::Unconfident);
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
      loadCached(buf, *side, h, 0, C, off, /*throughPosition=*/true);
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
    loadCached(Buffer::V, cache->value, h, 0, C - 1, off, false,
               DmaPred::ValueRows);
    loadOwnRow(Buffer::V, cache->value, h);
    if (!cache->valueLsb)
      return;
    // Under --pq-values an unconfident head completes the rows it kept.
    loadCached(Buffer::V, *cache->valueLsb, h, 0, C - 1, off, false,
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

/// Keys over several fills (docs/Algorithms.md, "Attention over several
/// fills"): a statistics pass, then an apply pass, over the cached rows
/// fill by fill (a fill past the position is empty) and then the token's
/// own row as a fill of one key, which the apply pass appends to the cache.
/// A cache written first holds the token's rows: its fills cover [0, p].
void CachedAttentionLowering::lowerFills(int64_t h) {
  if (op.getPqThresholdAttr() || valueCounts)
    return lowerPrunedFills(h);
  int64_t cached = writeFirst ? C : C - 1;
  for (bool apply : {false, true}) {
    uint8_t flags = apply ? AttnFillApply : AttnFillStats;
    for (int64_t first = 0; first < cached; first += fill) {
      int64_t rows = std::min(fill, cached - first);
      loadCached(Buffer::K, cache->key, h, first, rows, 0, writeFirst);
      if (apply)
        loadCached(Buffer::V, cache->value, h, first, rows, 0, writeFirst);
      bindToPosition(pb, fields::Attn::lk, 1, int64_t(writeFirst) - first, 0,
                     rows);
      pb.emit(attn(h, rows, flags));
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

void CachedAttentionLowering::storeOutput(int64_t h) {
  DramRef out = output->ref;
  out.addr = output->addrOf(h * D);
  pb.store(out, H * D * 4, {Buffer::Acc, slotOff(Buffer::Acc, h), D}, 1, D);
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
  for (int64_t first = 0; first < C - 1; first += fill)
    body({first, std::min(fill, C - 1 - first), false});
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
  bindToPositionRow(t, h);
  pb.load({buf, 0, D}, cacheRow(t, h, 0), rowBytes(t), 1, D, pred);
}

/// One pass of head h over fill `f`, its key count bound to the position.
void CachedAttentionLowering::emitFillPass(int64_t h, const Fill &f,
                                           uint8_t flags, AttnPhase phase) {
  AttnInstr a = attn(h, f.rows, flags);
  a.phase = phase;
  if (auto threshold = op.getPqThresholdAttr())
    a.pqThreshold = threshold.getValue().convertToFloat();
  if (valueCounts && phase != AttnPhase::Values) {
    a.vk = C;
    bindToPosition(pb, fields::Attn::vk, 1, 0, 1, C, valueCounts->ref.addr);
  }
  if (!f.own)
    bindToPosition(pb, fields::Attn::lk, 1, -f.first, 0, f.rows);
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

LogicalResult isa::lowerGenerationFamily(LoweringCore &core, Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](PositionRowOp o) { return lowerPositionRow(core, o); })
      .Case([&](CachedAttentionOp o) {
        return CachedAttentionLowering(core, o).lower();
      });
}

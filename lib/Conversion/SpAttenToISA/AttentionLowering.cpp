//===- AttentionLowering.cpp - Multi-head attention to ATTN instructions --===//
//
// One attention, fused (`spatten.attention`) or decomposed by the SpAtten
// passes (`attention_probs` / `progressive_fetch`, `local_value_prune`,
// `attention_output`, `token_importance`, `head_importance`), runs as ATTN
// instructions head by head and query tile by query tile, with K/V and Q
// double-buffered, progressive quantization's MSB/LSB planes and local
// value pruning's deferred V fetch (docs/ISA.md, `attn`). Keys over more
// than one K/V buffer fill take a statistics pass and an apply pass per
// fill.
//
//===----------------------------------------------------------------------===//

#include "AttentionLowering.h"
#include "TokenState.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// Whether local value pruning should fetch V after the top-k: only
/// when a query tile of `rows` rows is expected to need at most half of
/// the `keys` V rows (each row keeps `vk`; taken as independent, the tile
/// needs 1 - (1 - vk/keys)^rows of them). Otherwise the fetch after the
/// top-k saves few bytes and exposes its latency, so V is fetched with K
/// and overlaps the previous head's compute; prob·V still reads only the
/// kept rows.
bool deferValueFetch(int64_t vk, int64_t keys, int64_t rows) {
  if (!vk || vk >= keys)
    return false;
  double needed = 1.0 - std::pow(1.0 - double(vk) / double(keys), double(rows));
  return needed <= 0.5;
}
} // namespace

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

/// The widest element width (bits) of the rows the attention loads into
/// `buf` (Q, K or V), which sets how many the buffer holds: Q rows as
/// placed (fixed point under static quantization); K/V cached rows are
/// fp32; new rows are the MSB plane of progressive quantization (its full
/// width msb + lsb, which the LSB plane completes in place) or the rows as
/// placed (fixed point under static quantization, else fp32).
FailureOr<unsigned> AttentionLowering::loadedBits(Buffer buf) {
  if (buf == Buffer::Q) {
    const InPlaceView *view = core.plan.viewOf(op.query);
    FailureOr<const Tensor *> t = core.tensor(view ? view->source : op.query);
    return failed(t) ? FailureOr<unsigned>(failure())
                     : FailureOr<unsigned>((*t)->ref.bits);
  }
  bool isK = buf == Buffer::K;
  unsigned past = (isK ? op.pastKey : op.pastValue) ? kWordBits : 0;
  if (isK ? op.pqThreshold.has_value() : op.pqValues)
    return std::max(past, unsigned(core.plan.scratchOf(op.source)[isK ? 0 : 2]
                                       .ref.bits));
  Value rows = isK ? op.key : op.value;
  const InPlaceView *view = core.plan.viewOf(rows);
  FailureOr<const Tensor *> t = core.tensor(view ? view->source : rows);
  if (failed(t))
    return failure();
  return std::max(past, unsigned((*t)->ref.bits));
}

/// Picks the keys per K/V buffer fill (at most max_keys_per_fill and what
/// the K and V buffers hold at the width of their rows) and the K/V slots.
/// A mask row must hold every key.
LogicalResult AttentionLowering::planKeys() {
  int64_t keys = p.keys, D = p.D;
  const HardwareConfig &hw = pb.config();
  FailureOr<unsigned> kBits = loadedBits(Buffer::K),
                      vBits = loadedBits(Buffer::V);
  if (failed(kBits) || failed(vBits))
    return failure();
  int64_t fill = std::min({int64_t(hw.maxKeysPerFill),
                           pb.bufferElems(Buffer::K, *kBits) / D,
                           pb.bufferElems(Buffer::V, *vBits) / D});
  if (keys > pb.bufferElems(Buffer::Mask))
    return pb.error() << keys << " keys exceed the "
                      << pb.bufferElems(Buffer::Mask)
                      << " elements of the mask buffer, which holds a "
                         "mask row of every key";
  if (fill < 1)
    return pb.error() << "a key row of width " << D
                      << " does not fit the K and V buffers";
  p.fill = std::min(keys, fill);
  if (keys > fill) {
    // A fill pass's causal_offset is signed 16-bit.
    if (std::max(keys, p.P + p.Lq) > INT16_MAX)
      return pb.error() << keys << " keys and " << p.Lq
                        << " query rows exceed the 16-bit signed causal "
                           "offset of more than one K/V buffer fill";
    p.passes = true, p.kvSlots = 1;
    return success();
  }
  p.kvSlotElems = std::min(core.slotElems(Buffer::K, *kBits),
                           core.slotElems(Buffer::V, *vBits));
  p.kvSlots = keys * D <= p.kvSlotElems ? core.numSlots() : 1;
  return success();
}

/// Picks the query tile and its Q/ACC slots.
LogicalResult AttentionLowering::planQueryTile() {
  if (p.passes)
    return planFillQueryTile();
  int64_t keys = p.keys, D = p.D;
  FailureOr<int64_t> tq =
      core.commonTile({Buffer::Q, Buffer::Acc}, D, std::min(p.Lq, kMaxDim16));
  if (succeeded(tq) && p.perQueryMask)
    tq = core.commonTile(
        {Buffer::Mask}, keys,
        std::min(*tq, op.importanceOut ? p.impOff / keys : *tq));
  if (failed(tq))
    return failure();
  p.tq = *tq;
  p.qSlots = core.numSlots();
  if (!op.pqThreshold || p.tq >= p.Lq)
    return success();
  // The refetch decision is per head (docs/Algorithms.md): every query row
  // in one ATTN when they fit the whole Q and ACC buffers, else query tiles
  // of statistics and apply passes.
  FailureOr<unsigned> qBits = loadedBits(Buffer::Q);
  if (failed(qBits))
    return failure();
  if (p.perQueryMask || p.Lq > kMaxDim16 ||
      p.Lq * D > pb.bufferElems(Buffer::Q, *qBits) ||
      p.Lq * D > pb.bufferElems(Buffer::Acc))
    return planPassesAcrossTiles();
  p.tq = p.Lq, p.qSlots = 1;
  return success();
}

/// The query tile of a head over several fills: its ATTNs follow one
/// another through the attention unit's statistics, so a tile takes the
/// whole Q and ACC buffers (each tile fetches every fill's K twice and V
/// once: the larger the tile, the fewer fetches).
LogicalResult AttentionLowering::planFillQueryTile() {
  FailureOr<int64_t> tq =
      pb.rowsThatFit(Buffer::Q, p.D, std::min(p.Lq, kMaxDim16), 0);
  if (succeeded(tq))
    tq = pb.rowsThatFit(Buffer::Acc, p.D, *tq, 0);
  if (succeeded(tq) && p.perQueryMask)
    tq = core.commonTile(
        {Buffer::Mask}, p.keys,
        std::min(*tq, op.importanceOut ? p.impOff / p.keys : *tq));
  if (failed(tq))
    return failure();
  p.tq = *tq, p.qSlots = 1;
  return success();
}

/// Progressive quantization with more query rows than one ATTN holds: the
/// head's keys in one fill run as statistics and apply passes, query tile
/// by query tile, after decide statistics of every tile have made the
/// head's decision (docs/ISA.md, `next_tile` and `head_decided`).
LogicalResult AttentionLowering::planPassesAcrossTiles() {
  if (p.P + p.Lq > INT16_MAX) // a pass's causal_offset is signed 16-bit
    return pb.error() << p.Lq
                      << " query rows exceed the 16-bit signed causal offset "
                         "of progressive quantization across query tiles";
  p.passes = true, p.kvSlots = 1;
  return planFillQueryTile();
}

/// Where the mask and the token and head importance live in SRAM.
LogicalResult AttentionLowering::planImportance() {
  int64_t keys = p.keys;
  if (op.headImportanceOut &&
      p.H > std::min<int64_t>(pb.bufferElems(Buffer::Wgt), 1 << 16))
    return pb.error() << "head importance of " << p.H
                      << " heads does not fit the weight buffer";
  p.padding = op.kind == spatten::MaskKind::padding ||
              op.kind == spatten::MaskKind::padding_causal;
  // A per-query mask streams with the query tile; a per-key one is loaded
  // once per batch and read with stride 0. Token importance accumulates
  // in the last `keys` elements of the mask buffer.
  p.perQueryMask = p.padding && op.t.mask->shape.size() >= 3;
  p.perHeadMask = p.padding && op.t.mask->shape.size() == 4;
  p.impOff = pb.bufferElems(Buffer::Mask) - keys;
  if (op.importanceOut && p.impOff < keys)
    return pb.error() << "the mask buffer cannot hold a mask row and the "
                         "importance of "
                      << keys << " keys";
  return success();
}

/// Checks that the attention fits the buffers, picks the query tile and
/// the value fetch, and writes the planes and head lists it reads.
LogicalResult AttentionLowering::plan() {
  if (failed(op.resolveTensors(core)))
    return failure();
  ArrayRef<int64_t> qShape = cast<ShapedType>(op.query.getType()).getShape();
  p.B = qShape[0], p.Lq = qShape[1], p.H = op.heads, p.D = qShape[2] / p.H;
  p.P = op.pastKey ? op.t.pastKey->shape[2] : 0;
  p.keys = p.P + cast<ShapedType>(op.key.getType()).getShape()[1];
  if (failed(planKeys()) || failed(planImportance()) || failed(planQueryTile()))
    return failure();
  // Importance and value pruning work per query tile, adding once per
  // tile and fetching the V rows each tile keeps.
  // The KV cache needs every V row, so a prefill fetches V with K.
  op.deferValues = op.kvCacheLayer < 0 &&
                   deferValueFetch(op.valueKeep, p.keys, std::min(p.tq, p.Lq));
  if (failed(writePlanes()) || failed(loadHeadLists()))
    return failure();
  p.oneTile = p.tq >= p.Lq;
  // The next head's K/V go to the other slot while this head finishes;
  // with one slot they would overwrite what it still reads.
  // A per-head mask is in one place of the mask buffer: no prefetch of the
  // next head's rows over it.
  p.prefetch = p.oneTile && p.kvSlots > 1 && p.qSlots > 1 &&
               (op.pqThreshold || op.deferValues) && !p.perHeadMask;
  FailureOr<HeadRows> q = headRows(op.query), k = headRows(op.key),
                      v = headRows(op.value);
  if (failed(q) || failed(k) || failed(v))
    return failure();
  p.q = *q, p.k = *k, p.v = *v;
  return success();
}

/// The K (and with `--pq-values` V) planes the attention reads, unless
/// the projection already wrote them.
LogicalResult AttentionLowering::writePlanes() {
  planes = core.plan.scratchOf(op.source);
  const Tensor *src;
  if (op.pqThreshold && !core.plan.writtenAsPlanes(op.key) &&
      (failed(core.get(op.key, src)) ||
       failed(core.repack(*src, planes.take_front(2), p.D))))
    return failure();
  if (op.pqValues && (failed(core.get(op.value, src)) ||
                      failed(core.repack(*src, planes.drop_front(2), p.D))))
    return failure();
  return success();
}

/// Loads the kept-head lists of the Q/K/V operands read in place
/// (headRows reads their offsets).
LogicalResult AttentionLowering::loadHeadLists() {
  if (op.cachePositions && failed(core.loadList(op.cachePositions)))
    return failure();
  for (Value v : {op.query, op.key, op.value}) {
    const InPlaceView *view = v ? core.plan.viewOf(v) : nullptr;
    if (view && view->kind == InPlaceView::Kind::KeptHeads &&
        failed(core.loadList(view->indices)))
      return failure();
  }
  return success();
}

FailureOr<HeadRows> AttentionLowering::headRows(Value v) {
  const InPlaceView *view = core.plan.viewOf(v);
  FailureOr<const Tensor *> src = core.tensor(view ? view->source : v);
  if (failed(src))
    return failure();
  if (!view)
    return HeadRows{*src};
  if (view->kind == InPlaceView::Kind::KeptHeads)
    return HeadRows{*src, core.listOffset(view->indices)};
  return HeadRows{*src, -1, view->firstColumn};
}

//===----------------------------------------------------------------------===//
// Heads and query tiles
//===----------------------------------------------------------------------===//

LogicalResult AttentionLowering::lower() {
  if (failed(plan()))
    return failure();
  const AttentionTensors &t = op.t;
  int64_t keys = p.keys, H = p.H, headTile = 0, qTile = 0;
  for (int64_t b = 0; b < p.B; ++b) {
    if (p.padding && !p.perQueryMask)
      core.moveVector(*t.mask, b, keys, {Buffer::Mask, 0, keys}, true);
    if (op.importanceOut)
      core.moveVector(*t.importanceIn, b, keys, {Buffer::Mask, p.impOff, keys},
                      true);
    if (op.headImportanceOut)
      core.moveVector(*t.headImportanceIn, b, H, {Buffer::Wgt, 0, H}, true);
    for (int64_t h = 0; h < H; ++h, ++headTile)
      lowerHead(b, h, headTile, qTile);
    if (op.importanceOut)
      core.moveVector(*t.importanceOut, b, keys, {Buffer::Mask, p.impOff, keys},
                      false);
    if (op.headImportanceOut)
      core.moveVector(*t.headImportanceOut, b, H, {Buffer::Wgt, 0, H}, false);
  }
  return success();
}

/// The ATTN instructions of head h of batch row b, query tile by tile;
/// `headTile` and `qTile` count the double-buffering slots used so far.
void AttentionLowering::lowerHead(int64_t b, int64_t h, int64_t headTile,
                                  int64_t &qTile) {
  if (p.passes)
    return lowerFilledHead(b, h);
  int64_t kv = kvOff(headTile);
  if (p.prefetch && h == 0)
    loadHead(b, h, headTile, qTile);
  if (!p.prefetch)
    loadKV(b, h, kv);
  for (int64_t q0 = 0; q0 < p.Lq; q0 += p.tq, ++qTile) {
    int64_t n = std::min(p.tq, p.Lq - q0);
    int64_t qAt = qOff(Buffer::Q, qTile);
    int64_t oAt = qOff(Buffer::Acc, qTile);
    if (!p.prefetch)
      loadQueryTile(b, h, q0, n, qAt);
    auto next = [&] {
      if (p.prefetch && h + 1 < p.H)
        loadHead(b, h + 1, headTile + 1, qTile + 1);
    };
    emitAttn(
        {b, h, q0, n, p.keys, p.P, p.D, p.impOff, p.perQueryMask, kv, qAt, oAt},
        next);
    storeOutput(b, h, q0, n, oAt);
  }
}

/// Stores rows q0..q0+n of head h's output from ACC at `oAt`.
void AttentionLowering::storeOutput(int64_t b, int64_t h, int64_t q0,
                                    int64_t n, int64_t oAt) {
  const Tensor &o = *op.t.output;
  DramRef out = o.ref;
  out.addr = o.addrOf((b * p.Lq + q0) * p.H * p.D + h * p.D);
  pb.store(out, p.H * p.D * 4, {Buffer::Acc, oAt, p.D}, n, p.D);
}

/// Head h when its keys exceed one K/V buffer fill, query tile by query
/// tile (at Q and ACC offset 0, planFillQueryTile): a statistics pass over
/// each fill (K fetched), then an apply pass over each fill (K and V
/// fetched again), exact softmax without an lq x lk probability buffer
/// (docs/Algorithms.md). The mask and importance are addressed at the
/// fill's first key; the first tile writes present_key/present_value.
void AttentionLowering::lowerFilledHead(int64_t b, int64_t h) {
  if (op.pqThreshold || op.valueKeep)
    return lowerPrunedFilledHead(b, h);
  uint8_t importance = op.importanceOut ? AttnAccumulateImportance : 0;
  for (int64_t q0 = 0; q0 < p.Lq; q0 += p.tq) {
    int64_t rows = std::min(p.tq, p.Lq - q0);
    loadQueryTile(b, h, q0, rows, 0);
    AttnTile tile{b, h, q0, rows, p.keys, p.P, p.D, p.impOff, p.perQueryMask,
                  0, 0, 0};
    for (bool apply : {false, true}) {
      for (int64_t f0 = 0; f0 < p.keys; f0 += p.fill) {
        int64_t n = std::min(p.fill, p.keys - f0);
        bool last = f0 + n == p.keys;
        loadFill(Buffer::K, b, h, f0, n, apply && q0 == 0);
        if (apply)
          loadFill(Buffer::V, b, h, f0, n, q0 == 0);
        uint8_t flags = AttnFillStats;
        if (apply)
          flags = AttnFillApply | importance |
                  (last && op.headImportanceOut ? AttnHeadImportance : 0);
        emitFillPass(tile, f0, n, flags, AttnPhase::None);
      }
    }
    storeOutput(b, h, q0, rows, 0);
  }
}

/// Head h over several fills with progressive quantization or local value
/// pruning, query tile by query tile: statistics passes over every fill
/// (phase `decide` under progressive quantization: the unit marks the
/// unconfident rows from the statistics), then for an unconfident head
/// only, statistics with full keys (MSB and LSB planes under `pred = 1`,
/// phase `finish`), then the apply passes (applyPrunedFill). With local
/// value pruning every pass carries `vk`: the statistics passes keep the
/// scores and the first apply pass selects on the whole row
/// (docs/Algorithms.md, "Attention over several fills").
void AttentionLowering::lowerPrunedFilledHead(int64_t b, int64_t h) {
  bool pq = op.pqThreshold.has_value();
  // Over several query tiles the head decides first: decide statistics of
  // every tile, each adding to the predicate (next_tile); the tiles then
  // only mark their rows (head_decided).
  bool probe = pq && p.tq < p.Lq;
  auto eachFill = [&](llvm::function_ref<void(int64_t, int64_t)> body) {
    for (int64_t f0 = 0; f0 < p.keys; f0 += p.fill)
      body(f0, std::min(p.fill, p.keys - f0));
  };
  auto eachTile = [&](llvm::function_ref<void(const AttnTile &)> body) {
    for (int64_t q0 = 0; q0 < p.Lq; q0 += p.tq) {
      int64_t rows = std::min(p.tq, p.Lq - q0);
      loadQueryTile(b, h, q0, rows, 0);
      body({b, h, q0, rows, p.keys, p.P, p.D, p.impOff, p.perQueryMask, 0, 0,
            0, probe});
    }
  };
  auto decideStatistics = [&](const AttnTile &tile) {
    eachFill([&](int64_t f0, int64_t n) {
      loadKeyFill(b, h, f0, n, 0, DmaPred::Always, false);
      emitFillPass(tile, f0, n, AttnFillStats,
                   pq ? AttnPhase::Decide : AttnPhase::None);
    });
  };
  if (probe)
    eachTile([&](const AttnTile &tile) {
      AttnTile probing = tile;
      probing.headDecided = false;
      decideStatistics(probing);
    });
  eachTile([&](const AttnTile &tile) {
    decideStatistics(tile);
    if (pq)
      eachFill([&](int64_t f0, int64_t n) {
        loadKeyFill(b, h, f0, n, 0, DmaPred::Unconfident, false);
        loadKeyFill(b, h, f0, n, 1, DmaPred::Unconfident, false);
        emitFillPass(tile, f0, n, AttnFillStats, AttnPhase::Finish);
      });
    eachFill([&](int64_t f0, int64_t n) { applyPrunedFill(tile, f0, n); });
    if (pq && tile.q0 == 0) { // the KV cache of planes, from their copies
      storePresent(kvSide(Buffer::K), 0, b, h, 0, p.keys);
      if (op.pqValues)
        storePresent(kvSide(Buffer::V), 0, b, h, 0, p.keys);
    }
    storeOutput(b, h, tile.q0, tile.rows, 0);
  });
}

/// The apply pass over fill [f0, f0 + n) of a query tile: K (the MSB
/// plane, completed by its LSB plane under `pred = 1` between a `decide`
/// and a `finish` part under progressive quantization), V with K, or when
/// local value pruning fetches V after its top-k, only the fill's kept
/// rows and a `values` phase that adds their P V (FillApply after the
/// first fill). Head importance goes with the last fill's O.
void AttentionLowering::applyPrunedFill(const AttnTile &tile, int64_t f0,
                                        int64_t n) {
  int64_t b = tile.b, h = tile.h;
  bool pq = op.pqThreshold.has_value(), present = tile.q0 == 0;
  uint8_t importance = op.importanceOut ? AttnAccumulateImportance : 0;
  uint8_t headImportance =
      f0 + n == p.keys && op.headImportanceOut ? AttnHeadImportance : 0;
  loadKeyFill(b, h, f0, n, 0, DmaPred::Always, present);
  if (!op.deferValues)
    loadValueFill(b, h, f0, n, present, false);
  if (pq) {
    emitFillPass(tile, f0, n, AttnFillApply, AttnPhase::Decide);
    loadKeyFill(b, h, f0, n, 1, DmaPred::Unconfident, false);
  }
  AttnPhase phase = pq ? AttnPhase::Finish : AttnPhase::None;
  if (!op.deferValues)
    return emitFillPass(tile, f0, n,
                        AttnFillApply | importance | headImportance, phase);
  emitFillPass(tile, f0, n, AttnFillApply | importance | AttnDeferValues,
               phase);
  loadValueFill(b, h, f0, n, false, true);
  emitFillPass(tile, f0, n, (f0 ? AttnFillApply : 0) | headImportance,
               AttnPhase::Values);
}

/// The ATTN of `phase` and `flags` over fill [f0, f0 + n) of a query tile:
/// the mask and importance at the fill's first key, the signed causal
/// offset of the tile's first row from it.
void AttentionLowering::emitFillPass(const AttnTile &tile, int64_t f0,
                                     int64_t n, uint8_t flags,
                                     AttnPhase phase) {
  AttnInstr a = attnInstr(tile, phase, flags);
  if (phase == AttnPhase::Values)
    a.flags = flags; // not the mask's
  // Across query tiles (docs/ISA.md, `next_tile`): a tile's first decide
  // statistics start its statistics after the tile before (the probe's, or
  // the probe itself), and a later tile's apply passes merge its refetch
  // decision into the head's.
  bool decideStats = (flags & AttnFillStats) && phase == AttnPhase::Decide;
  bool startsTile =
      decideStats && f0 == 0 && (tile.headDecided || tile.q0 > 0);
  bool merges = (flags & AttnFillApply) && tile.q0 > 0;
  a.nextTile = op.pqThreshold && (startsTile || merges);
  a.headDecided = tile.headDecided && decideStats;
  a.lk = n;
  a.mask.off = f0;
  a.importance.off = p.impOff + f0;
  a.causalOffset = uint16_t(int16_t(p.P + tile.q0 - f0));
  pb.emit(a);
}

/// Key rows [r0, r0 + n) of head h into `buf` (K or V) at 0: cached rows
/// from past_key/past_value, then new rows; with `withPresent`, the same
/// rows to present_key/present_value.
void AttentionLowering::loadFill(Buffer buf, int64_t b, int64_t h, int64_t r0,
                                 int64_t n, bool withPresent) {
  KVSide side = kvSide(buf);
  int64_t pastRows = std::clamp<int64_t>(p.P - r0, 0, n);
  loadPast(side, 0, b, h, r0, pastRows);
  if (n > pastRows)
    loadHeadRows({buf, pastRows * p.D, p.D}, side.cur, side.cls, b, h,
                 r0 + pastRows - p.P, n - pastRows);
  if (withPresent)
    storePresent(side, 0, b, h, r0, n);
}

/// Every input of head h with one query tile (prefetch mode).
void AttentionLowering::loadHead(int64_t b, int64_t h, int64_t headTile,
                                 int64_t qTile) {
  loadKV(b, h, kvOff(headTile));
  loadQueryTile(b, h, 0, p.Lq, qOff(Buffer::Q, qTile));
}

/// Where head tile `headTile` keeps K and V (the same offset in both
/// buffers).
int64_t AttentionLowering::kvOff(int64_t headTile) const {
  return (headTile % p.kvSlots) * p.kvSlotElems;
}

/// Where query tile `qTile` keeps its rows in `buf` (Q or ACC).
int64_t AttentionLowering::qOff(Buffer buf, int64_t qTile) const {
  return p.qSlots > 1 ? core.slotOff(buf, qTile) : 0;
}

/// Fills the K buffer (and the V buffer unless local value pruning
/// fetches V later) for (b, h): cached rows first, then new rows; writes
/// the updated cache to present_key/present_value when present. With
/// progressive quantization, K is the MSB plane.
void AttentionLowering::loadKV(int64_t b, int64_t h, int64_t off) {
  int64_t P = p.P, D = p.D;
  int64_t Lk = cast<ShapedType>(op.key.getType()).getShape()[1];
  for (Buffer buf : {Buffer::K, Buffer::V}) {
    if (buf == Buffer::V && op.deferValues)
      continue;
    KVSide side = kvSide(buf);
    loadPast(side, off, b, h, 0, P);
    if (buf == Buffer::K && op.pqThreshold)
      loadHeadRows({buf, off, D}, planes[0], TensorClass::KMsb, b, h, 0, Lk);
    else if (buf == Buffer::V && op.pqValues)
      loadHeadRows({buf, off, D}, planes[2], TensorClass::VMsb, b, h, 0, Lk);
    else
      loadHeadRows({buf, off + P * D, D}, side.cur, side.cls, b, h, 0, Lk);
    storePresent(side, off, b, h, 0, P + Lk);
  }
}

/// Q rows q0..q0+n of head h into `qOff`, with their mask rows when the
/// mask is per query (the same for every head, so loaded once per tile,
/// unless it is a per-head score bias).
void AttentionLowering::loadQueryTile(int64_t b, int64_t h, int64_t q0,
                                      int64_t n, int64_t qOff) {
  loadHeadRows({Buffer::Q, qOff, p.D}, p.q, TensorClass::Q, b, h, q0, n);
  if (!p.perQueryMask || (p.oneTile && h != 0 && !p.perHeadMask))
    return;
  const Tensor &m = *op.t.mask;
  DramRef ref = m.ref;
  int64_t row = p.perHeadMask ? (b * p.H + h) * p.Lq + q0 : b * p.Lq + q0;
  ref.addr = m.addrOf(row * p.keys);
  pb.load({Buffer::Mask, 0, p.keys}, ref, p.keys * 4, n, p.keys);
}

/// The ATTN instruction of one query tile in `phase`.
AttnInstr AttentionLowering::attnInstr(const AttnTile &tile, AttnPhase phase,
                                       uint8_t flags) const {
  AttnInstr a;
  a.phase = phase;
  a.maskKind = isa::MaskKind(unsigned(op.kind));
  a.flags = flags | (op.maskFill ? AttnMaskSelect : 0);
  a.maskFill = float(op.maskFill.value_or(0));
  a.q = {Buffer::Q, tile.qOff, tile.D};
  a.k = {Buffer::K, tile.kvOff, tile.D};
  a.v = {Buffer::V, tile.kvOff, tile.D};
  a.o = {Buffer::Acc, tile.oOff, tile.D};
  a.mask = {Buffer::Mask, 0, tile.perQueryMask ? tile.keys : 0};
  a.importance = {Buffer::Mask, tile.impOff};
  a.headImportance = {Buffer::Wgt, tile.h};
  a.lq = tile.rows, a.lk = tile.keys, a.d = tile.D;
  a.causalOffset = tile.past + tile.q0;
  a.vk = op.valueKeep;
  a.pqThreshold = float(op.pqThreshold.value_or(0));
  a.scale = float(op.scale);
  return a;
}

/// The ATTN instructions of one query tile, with the K rows and (unless
/// value pruning fetches them later) the V rows already in SRAM:
/// progressive quantization decides, refetches the key LSB plane under
/// the predicate and finishes; local value pruning that defers its V
/// fetch (deferValueFetch) defers prob*V until only the V rows some query
/// kept are fetched (docs/ISA.md, `attn`).
/// `afterFirst` emits what may run while the last ATTN computes (the next
/// head's inputs), after the DMAs that wait for the first one: a DMA
/// that waits for the compute queue waits for every ATTN before it.
void AttentionLowering::emitAttn(const AttnTile &tile,
                                 llvm::function_ref<void()> afterFirst) {
  uint8_t importance = op.importanceOut ? AttnAccumulateImportance : 0;
  uint8_t headImportance = op.headImportanceOut ? AttnHeadImportance : 0;
  AttnPhase main = AttnPhase::None;
  if (op.pqThreshold) {
    pb.emit(attnInstr(tile, AttnPhase::Decide, 0));
    loadPlane(tile, 1, Buffer::K, DmaPred::Unconfident);
    if (op.pqValues && !op.deferValues)
      loadPlane(tile, 3, Buffer::V, DmaPred::Unconfident);
    afterFirst();
    main = AttnPhase::Finish;
  }
  if (!op.deferValues) {
    pb.emit(attnInstr(tile, main, importance | headImportance));
    if (!op.pqThreshold)
      afterFirst();
    return;
  }
  pb.emit(attnInstr(tile, main, importance | AttnDeferValues));
  if (op.pqValues) {
    loadPlane(tile, 2, Buffer::V, DmaPred::ValueRows);
    loadPlane(tile, 3, Buffer::V, DmaPred::UnconfidentValueRows);
  } else {
    loadHeadRows({Buffer::V, tile.kvOff, tile.D}, p.v, TensorClass::V, tile.b,
                 tile.h, 0, tile.keys, DmaPred::ValueRows);
  }
  if (!op.pqThreshold)
    afterFirst();
  pb.emit(attnInstr(tile, AttnPhase::Values, headImportance));
}

/// Loads the head's rows of progressive-quantization plane `index` (K MSB,
/// K LSB, V MSB, V LSB) into `buf`.
void AttentionLowering::loadPlane(const AttnTile &tile, unsigned index,
                                  Buffer buf, DmaPred pred) {
  const Tensor &plane = planes[index];
  loadHeadRows({buf, tile.kvOff, tile.D}, plane, plane.ref.cls, tile.b, tile.h,
               0, tile.keys, pred);
}

LogicalResult isa::lowerAttentionFamily(LoweringCore &core, Operation *op) {
  std::optional<AttentionParts> parts;
  if (failed(collectAttention(op, parts)))
    return failure();
  if (!parts) // emitted with the attention_output it belongs to
    return success();
  return AttentionLowering(core, std::move(*parts)).lower();
}

//===- AttentionLowering.h - One attention to ATTN instructions -*- C++ -*-===//
//
// Private to the SpAttenToISA lowering: the plan and state of lowering one
// attention (AttentionLowering.cpp plans it and emits its heads and query
// tiles; AttentionDma.cpp fetches one head's rows; AttentionKVCache.cpp
// reads and writes its KV cache rows).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_ATTENTIONLOWERING_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_ATTENTIONLOWERING_H

#include "AttentionParts.h"
#include "LoweringCore.h"

namespace spatten::isa {

/// Where attention reads the heads of a [B, L, H*D] operand: `src`
/// itself (`listOff` < 0), or for kept heads read in place the unpruned
/// tensor, head `h` being entry `listOff + h` of the idx buffer.
struct HeadRows {
  const Tensor *src = nullptr;
  int64_t listOff = -1;
  /// A column slice read in place: its first column in `src` [B, L, C].
  int64_t colOff = 0;
};

/// Per-op parameters of the ATTN instructions of one query tile.
struct AttnTile {
  int64_t b, h, q0, rows, keys, past, D, impOff;
  bool perQueryMask;
  int64_t kvOff, qOff, oOff; ///< double-buffering slots of K/V, Q and O
  /// Progressive quantization's head decision is made (a probe of every
  /// query tile came first).
  bool headDecided = false;
};

/// What the lowering decided for one attention: sizes, the query tile
/// and where the mask and importance live.
struct AttnPlan {
  int64_t B, Lq, H, D, P, keys, tq, impOff;
  /// Keys per K/V buffer fill: `keys` when they fit one; else a head runs
  /// a statistics pass and an apply pass over each fill (docs/ISA.md).
  int64_t fill;
  /// A head runs statistics and apply passes: its keys take several fills,
  /// or progressive quantization's query rows several tiles.
  bool passes;
  /// K/V double-buffering slots: 1 when a head's K or V fills more than
  /// half its buffer (BERT-base at 512 fp32 keys): the next head's fetch
  /// then follows this head's ATTNs instead of overlapping them.
  int64_t kvSlots;
  /// Elements of one K/V slot, the same in both buffers: half of what each
  /// holds at the width of the rows loaded into it.
  int64_t kvSlotElems;
  /// Q and ACC slots: 1 when progressive quantization needs more query
  /// rows in one ATTN than half of those buffers hold.
  int64_t qSlots;
  bool padding, perQueryMask;
  /// The mask is a per-head score bias [B, H, Lq, Lk] (T5's position
  /// bias): each head loads its own rows with each query tile.
  bool perHeadMask;
  /// Progressive quantization and a deferred V fetch split a head's ATTN
  /// around a DMA that waits for its first part. With one query tile per
  /// head, the next head's inputs are fetched right after that DMA, while
  /// the head's last part computes, instead of after the head.
  bool oneTile, prefetch;
  HeadRows q, k, v;
};

class AttentionLowering {
public:
  AttentionLowering(LoweringCore &core, AttentionParts parts)
      : core(core), pb(core.pb), op(std::move(parts)) {}

  mlir::LogicalResult lower();

private:
  LoweringCore &core;
  ProgramBuilder &pb;
  AttentionParts op;
  AttnPlan p{};
  /// The progressive-quantization planes of op.source: K MSB, K LSB[,
  /// V MSB, V LSB].
  llvm::ArrayRef<Tensor> planes;

  // Planning.
  mlir::LogicalResult plan();
  mlir::LogicalResult planKeys();
  mlir::FailureOr<unsigned> loadedBits(Buffer buf);
  mlir::LogicalResult planQueryTile();
  mlir::LogicalResult planFillQueryTile();
  mlir::LogicalResult planPassesAcrossTiles();
  mlir::LogicalResult planImportance();
  mlir::LogicalResult writePlanes();
  mlir::LogicalResult loadHeadLists();
  mlir::FailureOr<HeadRows> headRows(mlir::Value v);

  // The head and query-tile loop.
  void lowerHead(int64_t b, int64_t h, int64_t headTile, int64_t &qTile);
  void lowerFilledHead(int64_t b, int64_t h);
  void lowerPrunedFilledHead(int64_t b, int64_t h);
  void applyPrunedFill(const AttnTile &tile, int64_t f0, int64_t n);
  void emitFillPass(const AttnTile &tile, int64_t f0, int64_t n, uint8_t flags,
                    AttnPhase phase);
  void loadKeyFill(int64_t b, int64_t h, int64_t f0, int64_t n,
                   unsigned plane, DmaPred pred, bool withPresent);
  void loadValueFill(int64_t b, int64_t h, int64_t f0, int64_t n,
                     bool withPresent, bool afterTopk);
  void loadFill(Buffer buf, int64_t b, int64_t h, int64_t r0, int64_t n,
                bool withPresent);
  /// One side (K or V) of the attention's keys.
  struct KVSide {
    const HeadRows &cur;
    const Tensor *past, *present;
    Buffer buf;
    TensorClass cls;
  };
  KVSide kvSide(Buffer buf) const;
  void loadPast(const KVSide &side, int64_t off, int64_t b, int64_t h,
                int64_t r0, int64_t rows);
  void storePresent(const KVSide &side, int64_t off, int64_t b, int64_t h,
                    int64_t r0, int64_t rows);
  int64_t cacheGroup(const Tensor &t) const;
  void storeCacheRows(const Tensor &t, SramRef src, int64_t b, int64_t h,
                      int64_t r0, int64_t rows);
  void storePlanesToCache(const KVSide &side, int64_t b, int64_t h,
                          int64_t rows);
  void storeOutput(int64_t b, int64_t h, int64_t q0, int64_t n, int64_t oAt);
  void loadHead(int64_t b, int64_t h, int64_t headTile, int64_t qTile);
  void loadKV(int64_t b, int64_t h, int64_t off);
  void loadQueryTile(int64_t b, int64_t h, int64_t q0, int64_t n, int64_t qOff);
  void emitAttn(const AttnTile &tile, llvm::function_ref<void()> afterFirst);
  AttnInstr attnInstr(const AttnTile &tile, AttnPhase phase,
                      uint8_t flags) const;
  void loadPlane(const AttnTile &tile, unsigned index, Buffer buf,
                 DmaPred pred);
  int64_t kvOff(int64_t headTile) const;
  int64_t qOff(Buffer buf, int64_t qTile) const;

  // DMA of one head's rows.
  void loadHeadRows(SramRef dst, const Tensor &src, TensorClass cls, int64_t b,
                    int64_t h, int64_t r0, int64_t rows,
                    DmaPred pred = DmaPred::Always);
  void loadHeadRows(SramRef dst, const HeadRows &src, TensorClass cls,
                    int64_t b, int64_t h, int64_t r0, int64_t rows,
                    DmaPred pred = DmaPred::Always);
  void loadSliceHeadRows(SramRef dst, const HeadRows &src, TensorClass cls,
                         int64_t b, int64_t h, int64_t r0, int64_t rows,
                         DmaPred pred);
};

} // namespace spatten::isa

#endif // SPATTEN_LIB_CONVERSION_SPATTENTOISA_ATTENTIONLOWERING_H

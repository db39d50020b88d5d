//===- GenerationLowering.h - One decode step's attention -------*- C++ -*-===//
//
// Private to the SpAttenToISA lowering: the state of lowering one
// `cached_attention` (GenerationLowering.cpp emits the step's heads;
// GenerationFills.cpp the keys over several K/V buffer fills).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_GENERATIONLOWERING_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_GENERATIONLOWERING_H

#include "TokenState.h"

namespace spatten::isa {

/// One decode step of attention for every head (CachedAttentionOp).
class CachedAttentionLowering {
public:
  CachedAttentionLowering(LoweringCore &core, CachedAttentionOp op)
      : core(core), pb(core.pb), op(op) {}

  mlir::LogicalResult lower();

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
    int64_t headStride(int64_t D) const {
      return src->ref.packed() ? src->ref.rowBytes(D) : D * 4;
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
  /// Query heads per K/V head (grouped-query attention): query head h reads
  /// K/V head h / group, whose token rows the group's first head writes.
  int64_t group = 1;
  bool writesCache(int64_t h) const { return h % group == 0; }
  /// The most keys the step attends: C, or under cascade token pruning the
  /// layer's keep count at context C (its one-fill or fills schedule).
  int64_t maxKeys = 0;
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
  /// Cascade token pruning's selection of the layer, when it prunes.
  std::optional<DecodeTokenSelection> selection;
  /// Under cascade head pruning, the heads attended (`kept_heads`) and the
  /// DRAM address of their original indices: head h of the loop is slot h
  /// of that list, and its DRAM addresses are bound to it.
  int64_t keptHeads = 0;
  std::optional<int64_t> headList;
  /// The keys the step attends are `r[keyReg] + keyBias`: p + 1, or the
  /// kept tokens' count.
  unsigned keyReg = kPositionRegister;
  int64_t keyBias = 1;
  int64_t slotOff(Buffer buf, int64_t h) const {
    if (slots == 1)
      return 0;
    bool kv = buf == Buffer::K || buf == Buffer::V;
    return kv ? (h % slots) * kvSlotElems : core.slotOff(buf, h);
  }

  mlir::FailureOr<Operand> operand(mlir::Value v, bool fixedPointAllowed);
  void bindToKeys(const Field &field, int64_t mul, int64_t add, int64_t lo,
                  int64_t hi, std::optional<int64_t> table = std::nullopt);
  void addImportance(AttnInstr &a, int64_t firstKey) const;
  DramRef cacheRow(const Tensor &t, int64_t h, int64_t row) const;
  DramRef atHead(DramRef head0, int64_t stride, int64_t h);
  DramRef cacheHead(const Tensor &t, int64_t h);
  void zeroPrunedHeads();
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
                  DmaPred pred = DmaPred::Always, bool atLastKey = true);
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

} // namespace spatten::isa

#endif // SPATTEN_LIB_CONVERSION_SPATTENTOISA_GENERATIONLOWERING_H

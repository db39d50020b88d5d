//===- TokenState.h - Cascade token pruning across runs ---------*- C++ -*-===//
//
// In a generation binary, cascade token pruning continues from the prompt
// through every decode step (paper Sec. III-A; docs/Generation.md,
// "Cascade token pruning"). Its state lives in DRAM beside the KV cache
// (DramPlan::placeTokenState): the cumulative token importance `[C]` and,
// per layer, a candidate mask `[C]` (0, or -inf at the positions the layer
// pruned). The prefill writes it (`record_kept_tokens`); each decode step
// reads and updates it around every layer's attention.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_TOKENSTATE_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_TOKENSTATE_H

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::isa {

/// The decode entry's register holding the position p (`registers[0]`).
constexpr unsigned kPositionRegister = 0;

/// A register no program writes, so 0 in every run: the `reg` of a table
/// bind whose `table` address names the entry itself.
constexpr unsigned kZeroRegister = 15;

/// Binds `field` of the next instruction to `add + mul * r[reg]` in
/// [lo, hi] (docs/ISA.md, "bind").
void bindToRegister(ProgramBuilder &pb, const Field &field, unsigned reg,
                    int64_t mul, int64_t add, int64_t lo, int64_t hi);

/// Binds the DRAM address of the next DMA to `base + stride * list[slot]`,
/// `list` the DRAM address of an i64 list of head indices below `heads`
/// (a table bind reads the low word of entry `slot`): the original head a
/// kept head's slot stands for under cascade head pruning.
void bindToHeadList(ProgramBuilder &pb, int64_t list, int64_t slot,
                    int64_t base, int64_t stride, int64_t heads);

/// One layer's selection in a decode step. Before the heads, select()
/// ranks the layer's candidates (the previous layer's kept list of this
/// step, or positions [0, p] at the first layer), masked by the tokens the
/// layer pruned before, with the top-k engine; the kept list is left in
/// the idx buffer at 0, ascending and ending with p, its length in
/// countRegister(). The heads then gather the kept rows and accumulate
/// importance at importance(). finish() adds that importance back and
/// records the kept list as the layer's mask.
class DecodeTokenSelection {
public:
  DecodeTokenSelection(LoweringCore &core, spatten::CachedAttentionOp op,
                       const KVCacheLayer &cache)
      : core(core), pb(core.pb), op(op), cache(cache) {}

  /// Emits the selection; fails with a diagnostic at the op when the state
  /// does not fit the act and idx buffers.
  mlir::LogicalResult select();
  /// The register that holds the number of kept tokens.
  unsigned countRegister() const { return countReg; }
  /// Where ATTN accumulates the kept tokens' importance (act buffer, one
  /// element per kept token in list order).
  SramRef importance() const { return {Buffer::Act, impOff, 1}; }
  /// Emits the importance write-back and the mask update.
  void finish();

private:
  LoweringCore &core;
  ProgramBuilder &pb;
  spatten::CachedAttentionOp op;
  const KVCacheLayer &cache;
  int64_t C = 0;
  unsigned countReg = 0;
  /// Act buffer: the scores (and later the -inf row) at 0, the mask at C,
  /// the kept tokens' importance at impOff (past the token's K/V row the
  /// heads stage at 0).
  int64_t impOff = 0;

  void loadScores(const Tensor &cumulative);
  void forceKeep();
  void rank(std::optional<unsigned> candidatesReg, int64_t countsTable);
};

/// `record_kept_tokens` of a prefill.
mlir::LogicalResult lowerRecordKeptTokens(LoweringCore &core,
                                          spatten::RecordKeptTokensOp op);
/// `record_kept_heads` of a prefill.
mlir::LogicalResult lowerRecordKeptHeads(LoweringCore &core,
                                         spatten::RecordKeptHeadsOp op);

} // namespace spatten::isa

#endif

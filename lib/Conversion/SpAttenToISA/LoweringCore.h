//===- LoweringCore.h - State shared by the lowerings -----------*- C++ -*-===//
//
// Each lowering streams tiles DRAM -> SRAM -> unit -> SRAM -> DRAM. Tile
// sizes come from the SRAM buffer sizes of the hardware configuration
// (`*_buffer_bytes`) and from the ISA field widths (docs/ISA.md). The
// families (LinearLowering.cpp, AttentionLowering.cpp, VectorLowering.cpp,
// DataMovementLowering.cpp, PruningLowering.cpp) share this core: the
// program builder, the DRAM plan, index-list loading and row tiling.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_LOWERINGCORE_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_LOWERINGCORE_H

#include "DramPlan.h"
#include "ProgramBuilder.h"

#include "mlir/IR/Operation.h"

namespace spatten::isa {

/// The largest `m`/`n`/`k`/`lq` an instruction encodes (16-bit fields).
constexpr int64_t kMaxDim16 = (1 << 16) - 1;
/// The largest `rows` a DMA or VEC instruction encodes (24-bit field).
constexpr int64_t kMaxRows = (1 << 24) - 1;

class LoweringCore {
public:
  LoweringCore(ProgramBuilder &pb, const DramPlan &plan) : pb(pb), plan(plan) {}

  ProgramBuilder &pb;
  const DramPlan &plan;

  /// Starts lowering `op`: diagnostics go to it, index lists start afresh.
  void beginOp(mlir::Operation *op);
  mlir::Operation *currentOp() const { return op; }

  /// The DRAM placement of `v`; an unplanned value is an error at the op.
  mlir::FailureOr<const Tensor *> tensor(mlir::Value v) const {
    return plan.lookup(v, op);
  }
  /// Sets `out` to the placement of `v` (tensor()), then likewise for each
  /// further (value, out) pair; fails at the first unplanned value.
  mlir::LogicalResult get(mlir::Value v, const Tensor *&out) const;
  template <typename... More>
  mlir::LogicalResult get(mlir::Value v, const Tensor *&out,
                          More &&...more) const {
    if (mlir::failed(get(v, out)))
      return mlir::failure();
    return get(std::forward<More>(more)...);
  }

  /// Loads the int64 index list `indices` ([k]) into the idx buffer unless
  /// this op already did; returns its offset there (entries). Fails when
  /// the op's lists overflow the idx buffer.
  mlir::FailureOr<int64_t> loadList(mlir::Value indices);
  /// The idx buffer offset of a list this op loaded.
  int64_t listOffset(mlir::Value indices) const;

  /// Double buffering (hardware `double_buffered`): tile `i` of a loop uses
  /// half `i % 2` of each buffer it streams through, so that the DMA of
  /// tile i+1 overlaps the compute of tile i.
  int64_t numSlots() const { return pb.config().doubleBuffered ? 2 : 1; }
  /// Elements of one slot of `buf` for data `bits` wide.
  int64_t slotElems(Buffer buf, unsigned bits = kWordBits) const {
    return pb.bufferElems(buf, bits) / numSlots();
  }
  /// Element offset of slot `i % numSlots()` of `buf`.
  int64_t slotOff(Buffer buf, int64_t i) const {
    return (i % numSlots()) * slotElems(buf);
  }
  /// Rows of `cols` elements that fit one slot of `buf` (at most `limit`).
  mlir::FailureOr<int64_t> rowsPerSlot(Buffer buf, int64_t cols, int64_t limit);
  /// Rows per tile when each row needs `cols` elements in a slot of every
  /// buffer of `bufs`.
  mlir::FailureOr<int64_t> commonTile(llvm::ArrayRef<Buffer> bufs, int64_t cols,
                                      int64_t limit = kMaxRows);

  /// Loads or stores row `b` of a per-batch fp32 vector `vec` ([B, n]) at
  /// `sram`.
  void moveVector(const Tensor &vec, int64_t b, int64_t n, SramRef sram,
                  bool load);
  /// Copies rows of `D` elements from one layout (fp32 or fixed point) to
  /// each of `to`, tiled through the act buffer: quantizing stores, or the
  /// MSB and LSB planes of progressive quantization from a projection's
  /// fp32 output.
  mlir::LogicalResult repack(const Tensor &from, llvm::ArrayRef<Tensor> to,
                             int64_t D);

  /// In a decode step under cascade token pruning: the register holding
  /// the length of the kept list the last layer's selection left at idx
  /// entry 0 (TokenState.h); unset before the first layer's.
  std::optional<unsigned> keptTokensRegister;

  /// Seeds of the top-k engine's pivots: 1, 2, ... in program order.
  int64_t nextTopkSeed() { return ++topkSeed; }

private:
  mlir::Operation *op = nullptr;
  /// Offsets in the idx buffer of the index lists the current op loaded.
  llvm::SmallVector<std::pair<mlir::Value, int64_t>, 4> lists;
  int64_t listTop = 0;
  int64_t topkSeed = 0;
};

/// Lowers `op` (a spatten op the plan marks as lowered) to instructions,
/// dispatching to its family.
mlir::LogicalResult lowerOp(LoweringCore &core, mlir::Operation *op);

// The families. Each emits the op's instructions (without the SYNC that
// follows every op) or fails with a diagnostic at the op.
mlir::LogicalResult lowerLinear(LoweringCore &core, mlir::Operation *op);
/// `attention`, `attention_output` (with the attention_probs or
/// progressive_fetch it fuses), and the check that those fuse.
mlir::LogicalResult lowerAttentionFamily(LoweringCore &core,
                                         mlir::Operation *op);
/// unary, binary, gelu, softmax, layer_norm.
mlir::LogicalResult lowerVectorFamily(LoweringCore &core, mlir::Operation *op);
/// embedding, transpose, slice, concat, cast, merge_tokens.
mlir::LogicalResult lowerDataMovement(LoweringCore &core, mlir::Operation *op);
/// topk, prune_tokens, prune_heads, quantize, dequantize.
mlir::LogicalResult lowerPruningFamily(LoweringCore &core, mlir::Operation *op);
/// The decode step: position_row, cached_attention.
mlir::LogicalResult lowerGenerationFamily(LoweringCore &core,
                                          mlir::Operation *op);

} // namespace spatten::isa

#endif

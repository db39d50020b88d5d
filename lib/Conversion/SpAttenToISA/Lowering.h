//===- Lowering.h - Per-op tiling of spatten ops ----------------*- C++ -*-===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_LOWERING_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_LOWERING_H

#include "ProgramBuilder.h"

#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

namespace spatten::isa {

/// A tensor placed in DRAM: address/dtype/class plus its row-major shape.
struct Tensor {
  DramRef ref;
  llvm::SmallVector<int64_t> shape;
  /// Elements per fixed-point row when `ref.packed()`: rows are the
  /// innermost groups of `packedCols` elements (one token of one head), each
  /// `ref.rowBytes(packedCols)` bytes, stored back to back.
  int64_t packedCols = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  /// Width of a row: the last dim (1 for scalars).
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return numel() / std::max<int64_t>(cols(), 1); }
  /// Byte address of element `index` (row-major).
  int64_t addrOf(int64_t index) const {
    return ref.addr + index * dtypeBytes(ref.dtype);
  }
};

/// Whether every user of `op` (a `spatten.prune_heads`) reads the kept heads
/// in place from its unpruned input by index-gather DMA: a linear's weight
/// (rows or columns) or bias, an attention's Q/K (`attention_probs`; the
/// query of `progressive_fetch`) or V (`attention_output`, unless V is
/// fetched in planes). Such an op is neither placed in DRAM nor lowered, so
/// head pruning writes no compacted copy. False for any other op.
bool readsHeadsInPlace(mlir::Operation *op);

/// Whether `op` is a `spatten.slice` that takes a column range [o, o + n)
/// of whole rows of its input: unit strides, offsets 0 but on the last
/// axis, the other dimensions kept.
bool isColumnSlice(mlir::Operation *op);

/// Whether `op` is a column slice of an fp32 [B, L, C] tensor that every
/// user reads head by head in place, at the slice's column offset: an
/// attention's Q/K/V as readsHeadsInPlace lists them, or a fused
/// `attention`'s (GPT-2's split of the fused QKV projection). Such a slice
/// is neither placed in DRAM nor copied. False for any other op.
bool readsColumnsInPlace(mlir::Operation *op);

/// Lowers one spatten op to instructions through `pb`, reading the DRAM
/// placement of its operands and results from `tensors`.
struct OpLowering {
  ProgramBuilder &pb;
  llvm::DenseMap<mlir::Value, Tensor> &tensors;
  /// DRAM the lowering of an op needs beyond its results, e.g. the MSB and
  /// LSB planes of progressively quantized keys, in the layout's order.
  llvm::DenseMap<mlir::Operation *, llvm::SmallVector<Tensor, 2>> &scratch;
  /// Seeds of the top-k engine's pivots: 1, 2, ... in program order.
  int64_t topkSeed = 0;

  mlir::LogicalResult lower(mlir::Operation *op);
};

} // namespace spatten::isa

#endif

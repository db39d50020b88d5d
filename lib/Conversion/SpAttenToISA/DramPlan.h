//===- DramPlan.h - Where each tensor lives in DRAM -------------*- C++ -*-===//
//
// One analysis, run once over the module's functions before any
// instruction is emitted, decides how each value lives in DRAM:
//
//   placed       constants in .rodata from address 0 (a constant two
//                functions share is placed once), then a generation
//                binary's KV cache, then each function's graph inputs and
//                results of ops in the arena (64-byte aligned, in program
//                order); quantized codes as packed fixed-point rows
//                (docs/ISA.md, "Fixed-point DMA")
//   aliased      a reshape, or a dequantize read only by attention, shares
//                its input's bytes (placed, with its own shape)
//   in place     a `prune_heads` result read head by head from its unpruned
//                input, or a column slice of a fused projection read from
//                it: never materialized (a view)
//
// plus each op's scratch: the MSB and LSB planes of progressive
// quantization. The lowering only queries the plan; asking for a value the
// plan did not place is an error at the op that asked.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_DRAMPLAN_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_DRAMPLAN_H

#include "ProgramBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"

namespace spatten::isa {

/// The most DRAM a binary may address (docs/BinaryFormat.md, `dram.size`).
inline constexpr int64_t kMaxDramBytes = int64_t(1) << 48;

/// Bytes of `shape` at `elementBytes` each, or nullopt past kMaxDramBytes
/// (shapes come from --shape bindings: counted with overflow checks).
std::optional<int64_t> tensorBytes(llvm::ArrayRef<int64_t> shape,
                                   int64_t elementBytes);

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

/// A value that is never materialized: its readers take it from `source`.
struct InPlaceView {
  enum class Kind {
    /// The kept heads of a `prune_heads`: head `j` of the view is head
    /// `indices[j]` of `source` along `axis`, `headWidth` elements each.
    KeptHeads,
    /// A column slice of an fp32 [B, L, C] tensor: columns
    /// [firstColumn, firstColumn + width) of `source`.
    Columns,
  };
  Kind kind;
  mlir::Value source;
  mlir::Value indices;     ///< KeptHeads: the kept-head list ([k] int64)
  int64_t axis = 0;        ///< KeptHeads: the pruned axis of `source`
  int64_t headWidth = 0;   ///< KeptHeads: elements of one head along `axis`
  int64_t firstColumn = 0; ///< Columns: the slice's offset in `source`
};

/// The MSB and LSB planes of progressive quantization that a projection
/// writes itself (its GEMM stores quantize), and the first of its output
/// columns they cover (the key columns of a fused QKV projection).
struct ProjectionPlanes {
  llvm::ArrayRef<Tensor> planes; ///< {K MSB, K LSB}
  int64_t firstColumn = 0;
};

/// One layer's KV cache of a generation binary (docs/Generation.md):
/// `[1, H, C, D]` each, head-major, persisting in DRAM between the
/// prefill and the decode steps; rows of `D` fp32 elements, or fixed-point
/// rows (`ref.packed()`, `packedCols` = D) under static quantization.
/// Under progressive quantization `key` (and with `--pq-values` `value`)
/// is the MSB plane and `keyLsb` (`valueLsb`) the LSB plane.
struct KVCacheLayer {
  Tensor key, value;
  std::optional<Tensor> keyLsb, valueLsb;
  /// Under cascade token pruning, `[C]` f32: 0 at the positions the layer
  /// attended at the last step (and at positions not reached yet), `-inf`
  /// at those it pruned (docs/Generation.md, "Cascade token pruning").
  std::optional<Tensor> tokenMask;
  /// Under cascade head pruning, `[H]` i64: the original indices of the
  /// heads the layer kept in the prefill, the first `kept_heads` valid.
  std::optional<Tensor> headList;
};

class DramPlan {
public:
  /// Places every value of the single-block functions of `module`, which
  /// share DRAM (the entry points of one binary; they never run at once, but
  /// each keeps its own arena). Fails with a diagnostic at the value when it
  /// is not a static f32/i64/i32 tensor, or at an op that needs a KV cache
  /// when the module lacks `spatten.generation`.
  static mlir::FailureOr<DramPlan> build(mlir::ModuleOp module);

  /// The placement of `v` (its own bytes or those it aliases). A value the
  /// plan did not place (an in-place view, a value of another function) is
  /// an error reported at `user`, never address 0.
  mlir::FailureOr<const Tensor *> lookup(mlir::Value v,
                                         mlir::Operation *user) const;
  /// How `v` is read in place, or null when it is placed.
  const InPlaceView *viewOf(mlir::Value v) const;
  /// Whether `op` is lowered to instructions. Reshapes (aliases), in-place
  /// views and a dequantize whose packed codes attention reads directly
  /// are not; neither are constants (segments) and the return.
  bool isLowered(mlir::Operation *op) const { return lowered.contains(op); }
  /// DRAM an op needs beyond its results: for a `progressive_fetch` the
  /// planes {K MSB, K LSB[, V MSB, V LSB]} (with `--pq-values`); empty for
  /// other ops.
  llvm::ArrayRef<Tensor> scratchOf(mlir::Operation *op) const;
  /// The planes `linear` writes, if it writes any.
  std::optional<ProjectionPlanes>
  planesWrittenBy(mlir::Operation *linear) const;
  /// Whether the projection defining `v` already wrote its planes (as the
  /// linear itself, or through the column slice that takes the keys).
  bool writtenAsPlanes(mlir::Value v) const;

  /// The KV cache of `layer`, or null when the binary has none.
  const KVCacheLayer *kvCache(int64_t layer) const {
    return layer >= 0 && layer < int64_t(caches.size()) ? &caches[layer]
                                                        : nullptr;
  }
  llvm::ArrayRef<KVCacheLayer> kvCaches() const { return caches; }
  /// Under cascade token pruning in generation, the cumulative token
  /// importance `[C]` f32 that every layer and step adds to; else null.
  const Tensor *tokenImportance() const {
    return importance ? &*importance : nullptr;
  }
  /// Positions per cache layer (C); 0 without a cache.
  int64_t maxContext() const { return context; }

  /// Bytes of .rodata (the constants).
  int64_t rodataSize() const { return rodataTop; }
  /// Bytes of DRAM the program uses (.rodata, then the arena).
  int64_t dramSize() const { return arenaTop; }

private:
  llvm::DenseMap<mlir::Value, Tensor> tensors;
  llvm::DenseMap<mlir::Value, InPlaceView> views;
  llvm::DenseMap<mlir::Operation *, llvm::SmallVector<Tensor, 2>> scratch;
  /// Projections writing planes -> the first column the planes cover.
  llvm::DenseMap<mlir::Operation *, int64_t> planeColumns;
  /// Key slices a projection writes as planes (the slice copies nothing).
  llvm::DenseSet<mlir::Operation *> planeSlices;
  llvm::DenseSet<mlir::Operation *> lowered;
  std::vector<KVCacheLayer> caches;
  std::optional<Tensor> importance;
  int64_t context = 0;
  int64_t rodataTop = 0;
  int64_t arenaTop = 0;

  mlir::LogicalResult placeConstants(mlir::ModuleOp module);
  mlir::LogicalResult placeKVCache(mlir::ModuleOp module);
  void placeTokenState(bool heads);
  mlir::LogicalResult placeFunction(mlir::func::FuncOp func);
  mlir::LogicalResult placeOps(mlir::Block &body);
  mlir::LogicalResult place(mlir::Value v, int64_t &top, TensorClass cls);
  Tensor placePacked(llvm::ArrayRef<int64_t> shape, int64_t packedCols,
                     DramRef fmt);
  void placeQuantize(mlir::Operation *quantize);
  void placePlanes(mlir::Operation *progressiveFetch);
  void placePlanePair(mlir::Operation *progressiveFetch, mlir::Value x,
                      TensorClass msb, TensorClass lsb);
  mlir::LogicalResult alias(mlir::Value from, mlir::Value to);
  std::optional<InPlaceView> inPlaceViewOf(mlir::Operation *op) const;
};

} // namespace spatten::isa

#endif

//===- ShapeRefresh.h - Re-derive result shapes after pruning ---*- C++ -*-===//
//
// Cascade pruning shrinks the token (or head) dimension of a value; every op
// downstream then needs its result types re-derived from its operands.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_DIALECT_SPATTEN_TRANSFORMS_SHAPEREFRESH_H
#define SPATTEN_LIB_DIALECT_SPATTEN_TRANSFORMS_SHAPEREFRESH_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/DenseMap.h"

namespace spatten {

/// Re-derives result types in program order, remembering each changed
/// value's previous shape (slices need it to tell whole dims from parts).
class ShapeRefresher {
public:
  /// `replacement` now stands where a value of shape `oldShape` was used.
  void noteReplaced(mlir::Value replacement, llvm::ArrayRef<int64_t> oldShape);

  /// Recomputes the result types of `op` from its operand types. Fails with
  /// a diagnostic on ops whose new shape cannot be derived (e.g. a reshape
  /// that mixes the token dimension with others).
  mlir::LogicalResult refresh(mlir::Operation *op);

  /// Whether an operand of `op` was noted replaced or changed shape: only
  /// such ops need `refresh` (another stack's ops are left as they are).
  bool readsChanged(mlir::Operation *op) const;

private:
  llvm::SmallVector<int64_t> oldShapeOf(mlir::Value v) const;
  void setShape(mlir::Value result, llvm::ArrayRef<int64_t> shape);

  llvm::DenseMap<mlir::Value, llvm::SmallVector<int64_t>> oldShapes;
};

} // namespace spatten

#endif

//===- Verify.h - Shared checks of spatten op verifiers ---------*- C++ -*-===//

#ifndef SPATTEN_LIB_DIALECT_SPATTEN_IR_VERIFY_H
#define SPATTEN_LIB_DIALECT_SPATTEN_IR_VERIFY_H

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::verify {

inline llvm::ArrayRef<int64_t> shapeOf(mlir::Value v) {
  return mlir::cast<mlir::RankedTensorType>(v.getType()).getShape();
}

/// Every operand and result is a statically shaped tensor.
mlir::LogicalResult verifyStatic(mlir::Operation *op);

/// `heads` > 0 divides the `[B, L, H*D]` width of `q`.
mlir::LogicalResult verifyHeads(mlir::Operation *op, mlir::Value q,
                                int64_t heads);

/// A mask operand exists exactly for padding kinds, is `[B, keys]`,
/// `[B, Lq, keys]` or a per-head score bias `[B, heads, Lq, keys]` (not a
/// selector), and `mask_fill` needs one.
mlir::LogicalResult verifyMask(mlir::Operation *op, MaskKind kind,
                               mlir::Value mask, bool hasFill, int64_t batch,
                               int64_t queries, int64_t keys, int64_t heads);

} // namespace spatten::verify

#endif

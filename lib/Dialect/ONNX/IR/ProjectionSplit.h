//===- ProjectionSplit.h - per-head windows of a projection ---*- C++ -*-===//
#ifndef SPATTEN_LIB_DIALECT_ONNX_IR_PROJECTIONSPLIT_H
#define SPATTEN_LIB_DIALECT_ONNX_IR_PROJECTIONSPLIT_H

#include "mlir/IR/PatternMatch.h"

namespace spatten::onnx {
/// Canonicalization patterns that give each last-axis window of a per-head
/// view [.., H, M] of a constant-weight projection its own projection by
/// the window's weight columns (GPT-NeoX's fused QKV, ProjectionSplit.cpp).
void populateProjectionSplitPatterns(mlir::RewritePatternSet &patterns);
} // namespace spatten::onnx

#endif

//===- ShapeRefinement.h - static result types via libonnx -------*- C++ -*-===//
#ifndef SPATTEN_LIB_DIALECT_ONNX_IR_SHAPEREFINEMENT_H
#define SPATTEN_LIB_DIALECT_ONNX_IR_SHAPEREFINEMENT_H

#include "mlir/IR/PatternMatch.h"

namespace spatten::onnx {
/// Canonicalization patterns that make onnx result types (and the signature of
/// an uncalled func returning them) as static as libonnx shape inference can.
void populateShapeRefinementPatterns(mlir::RewritePatternSet &patterns);
} // namespace spatten::onnx

#endif

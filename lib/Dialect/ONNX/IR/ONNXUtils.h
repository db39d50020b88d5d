//===- ONNXUtils.h - helpers shared by verifiers and folders -----*- C++ -*-===//
#ifndef SPATTEN_LIB_DIALECT_ONNX_IR_ONNXUTILS_H
#define SPATTEN_LIB_DIALECT_ONNX_IR_ONNXUTILS_H

#include "ConstTensor.h"

#include "mlir/IR/Value.h"

namespace spatten::onnx {

mlir::RankedTensorType rankedType(mlir::Value v);
/// `axis` in [-rank, rank) mapped to [0, rank); nullopt when out of range.
std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank);
/// Numpy multidirectional broadcast of two shapes (dynamic dims allowed);
/// nullopt when two static dims conflict.
std::optional<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b);

} // namespace spatten::onnx

#endif

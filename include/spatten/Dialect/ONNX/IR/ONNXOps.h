//===- ONNXOps.h - ONNX operators --------------------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_ONNX_IR_ONNXOPS_H
#define SPATTEN_DIALECT_ONNX_IR_ONNXOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "spatten/Dialect/ONNX/IR/ONNXDialect.h"

#define GET_OP_CLASSES
#include "spatten/Dialect/ONNX/IR/ONNXOps.h.inc"

namespace spatten::onnx {
/// Name of the module attribute holding the ONNX opset version whose operator
/// schemas give the ops' semantics (an i64; at least 13, see ONNXDialect.td).
inline constexpr llvm::StringLiteral kOpsetAttrName = "onnx.opset_version";
/// Module attribute: the `--shape` bindings the importer applied, NAME to
/// value, for diagnostics about what they cost.
inline constexpr llvm::StringLiteral kShapeBindingsAttrName =
    "onnx.shape_bindings";
/// Name of the arg/result attribute holding a graph input's/output's ONNX name.
inline constexpr llvm::StringLiteral kNameAttrName = "onnx.name";

/// MLIR element type of an ONNX TensorProto.DataType (FLOAT=1 -> f32,
/// INT64=7 -> i64, BOOL=9 -> i1, UINT8=2 -> ui8, ...); null for STRING,
/// COMPLEX and unknown codes.
mlir::Type getElementTypeForONNX(int64_t dataType, mlir::MLIRContext *ctx);
/// Inverse of getElementTypeForONNX.
std::optional<int64_t> getONNXDataType(mlir::Type type);
} // namespace spatten::onnx

#endif

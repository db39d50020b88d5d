//===- ONNXDialect.h - ONNX dialect ------------------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_ONNX_IR_ONNXDIALECT_H
#define SPATTEN_DIALECT_ONNX_IR_ONNXDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "spatten/Dialect/ONNX/IR/ONNXOpsDialect.h.inc"

#endif

//===- Passes.h - SpAtten algorithm passes ----------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_SPATTEN_TRANSFORMS_PASSES_H
#define SPATTEN_DIALECT_SPATTEN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenDialect.h"

namespace spatten {
#define GEN_PASS_DECL
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

#endif

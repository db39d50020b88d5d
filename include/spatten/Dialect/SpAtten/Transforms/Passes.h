//===- Passes.h - SpAtten algorithm passes ----------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_SPATTEN_TRANSFORMS_PASSES_H
#define SPATTEN_DIALECT_SPATTEN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenDialect.h"
#include "spatten/Dialect/SpAtten/Transforms/Settings.h"

namespace spatten {
#define GEN_PASS_DECL
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"

// Each pass with its options taken from `settings` (those it uses; see
// Passes.td). The passes validate them when they run.
std::unique_ptr<mlir::Pass>
createSpAttenQuantize(const SpAttenSettings &settings);
std::unique_ptr<mlir::Pass>
createSpAttenProgressiveQuantization(const SpAttenSettings &settings);
std::unique_ptr<mlir::Pass>
createSpAttenLocalValuePruning(const SpAttenSettings &settings);
std::unique_ptr<mlir::Pass>
createSpAttenCascadeTokenPruning(const SpAttenSettings &settings);
std::unique_ptr<mlir::Pass>
createSpAttenCascadeHeadPruning(const SpAttenSettings &settings);
std::unique_ptr<mlir::Pass>
createSpAttenRecordSettings(const SpAttenSettings &settings);

#define GEN_PASS_REGISTRATION
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

#endif

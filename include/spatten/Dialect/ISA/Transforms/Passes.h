//===- Passes.h - spatten_isa passes ----------------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_ISA_TRANSFORMS_PASSES_H
#define SPATTEN_DIALECT_ISA_TRANSFORMS_PASSES_H

#include "spatten/Dialect/ISA/IR/ISAOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace spatten::isa {
#define GEN_PASS_DECL
#include "spatten/Dialect/ISA/Transforms/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "spatten/Dialect/ISA/Transforms/Passes.h.inc"
} // namespace spatten::isa

#endif

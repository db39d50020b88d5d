//===- Passes.h - SpAtten conversion passes ---------------------*- C++ -*-===//
#ifndef SPATTEN_CONVERSION_PASSES_H
#define SPATTEN_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "spatten/Dialect/ISA/IR/ISADialect.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenDialect.h"

namespace spatten {
#define GEN_PASS_DECL
#include "spatten/Conversion/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "spatten/Conversion/Passes.h.inc"
} // namespace spatten

#endif

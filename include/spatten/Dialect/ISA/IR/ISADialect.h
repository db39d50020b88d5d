//===- ISADialect.h - SpAtten ISA dialect -----------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_ISA_IR_ISADIALECT_H
#define SPATTEN_DIALECT_ISA_IR_ISADIALECT_H

#include "mlir/IR/Dialect.h"

#include "spatten/Dialect/ISA/IR/ISAOpsDialect.h.inc"

#endif

//===- SpAttenDialect.h - SpAtten dialect -----------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_SPATTEN_IR_SPATTENDIALECT_H
#define SPATTEN_DIALECT_SPATTEN_IR_SPATTENDIALECT_H

#include "mlir/IR/Dialect.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOpsDialect.h.inc"

#endif

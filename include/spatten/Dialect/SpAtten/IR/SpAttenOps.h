//===- SpAttenOps.h - SpAtten transformer ops -------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_SPATTEN_IR_SPATTENOPS_H
#define SPATTEN_DIALECT_SPATTEN_IR_SPATTENOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenDialect.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenEnums.h.inc"
#define GET_ATTRDEF_CLASSES
#include "spatten/Dialect/SpAtten/IR/SpAttenAttrs.h.inc"
#define GET_OP_CLASSES
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h.inc"

#endif

//===- ISAOps.h - SpAtten ISA ops -------------------------------*- C++ -*-===//
#ifndef SPATTEN_DIALECT_ISA_IR_ISAOPS_H
#define SPATTEN_DIALECT_ISA_IR_ISAOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/RegionKindInterface.h"
#include "mlir/IR/SymbolTable.h"
#include "spatten/Dialect/ISA/IR/ISADialect.h"
#include "spatten/ISA/Spec.h"

#define GET_OP_CLASSES
#include "spatten/Dialect/ISA/IR/ISAOps.h.inc"

namespace spatten::isa {
/// The ISA opcode an instruction op encodes to, or std::nullopt for
/// non-instruction ops (program, segment).
std::optional<Opcode> getOpcode(mlir::Operation *op);
/// Packs an instruction op into its words using the Spec.h field tables.
/// Fails with a diagnostic on the op when a field does not fit, or a bind's
/// field names no field of the instruction it patches.
mlir::FailureOr<Instr> encodeInstruction(mlir::Operation *op);
/// The op a bind patches: its next sibling that is not a bind (nullptr at
/// the end of the block).
mlir::Operation *getBoundOp(BindOp bind);
/// The binds directly before `op`, in program order.
llvm::SmallVector<BindOp> getBinds(mlir::Operation *op);
} // namespace spatten::isa

#endif

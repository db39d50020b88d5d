//===- FiniteParameters.h - Model parameters must be finite -----*- C++ -*-===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_FINITEPARAMETERS_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_FINITEPARAMETERS_H

#include "mlir/IR/BuiltinOps.h"

namespace spatten::isa {

/// Refuses, at the op, a constant weight or bias of a linear layer, an
/// embedding table, or a layer norm's gamma or beta holding NaN or an
/// infinity, naming the operand and the element.
mlir::LogicalResult checkFiniteParameters(mlir::ModuleOp module);

} // namespace spatten::isa

#endif

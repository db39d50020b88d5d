//===- BinaryEmitter.h - spatten_isa -> .spbin ------------------*- C++ -*-===//
//
// A translation, not a pass: packs a `spatten_isa.program` into the .spbin
// image (docs/BinaryFormat.md). Instruction words come from the Spec.h field
// tables; `.rodata` holds the segments' bytes at their addresses; the
// manifest records the hardware config, I/O tensors, DRAM layout and the
// module's `spatten.settings`.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TARGET_BINARY_BINARYEMITTER_H
#define SPATTEN_TARGET_BINARY_BINARYEMITTER_H

#include "spatten/Binary/SpBin.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

namespace spatten {
namespace isa {
class ProgramOp;
}

/// Builds the image of the single `spatten_isa.program` in `module`; the
/// manifest's `settings` are the module's `spatten.settings` (none when the
/// module has no such attribute). The image's .rodata borrows
/// the segments' bytes from their attributes and resource blobs, so
/// `module` must outlive it (until it is written). Errors are emitted as
/// diagnostics on the offending op: a segment outside .rodata or
/// overlapping another, a constant without a byte layout, settings of the
/// wrong form or invalid.
mlir::FailureOr<binary::Image> buildImage(mlir::ModuleOp module);

/// Registers `--export-binary` (the .spbin bytes) with mlir-translate.
void registerToBinaryTranslations();

} // namespace spatten

#endif

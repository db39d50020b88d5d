//===- BinaryEmitter.h - spatten_isa -> .spbin ------------------*- C++ -*-===//
//
// A translation, not a pass: packs the `spatten_isa.program` ops of a module
// into the .spbin image (docs/BinaryFormat.md), one entry point per program.
// Instruction words come from the Spec.h field tables; `.rodata` holds the
// segments' bytes at their addresses; the manifest records the hardware
// config, the entry points with their I/O tensors and registers, the DRAM
// layout, and the module's `spatten.settings` and `spatten.kv_cache`.
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

/// The module attribute that lays out a generation binary's KV cache: a
/// dictionary in the JSON shape of the manifest's `kv_cache`
/// (docs/BinaryFormat.md).
constexpr llvm::StringLiteral kKVCacheAttrName = "spatten.kv_cache";

/// Builds the image of the `spatten_isa.program` ops in `module`, in order:
/// their instructions one after another in .text, each program an entry
/// point named by its `sym_name` starting at its first instruction (with
/// its `inputs`, `outputs` and `registers`); DRAM is the largest
/// `dram_size`; a segment that several programs repeat at the same address
/// with the same bytes is stored once. The manifest's `settings` are the
/// module's `spatten.settings` and its `kv_cache` the module's
/// `spatten.kv_cache` (none without the attribute). One program without
/// registers or KV cache gives format version 3, as before entry points,
/// else 4. The image's .rodata borrows the segments' bytes from their
/// attributes and resource blobs, so `module` must outlive it (until it is
/// written). Errors are emitted as diagnostics on the offending op: no
/// program, programs whose `rodata_size` or `hardware` differ, a segment
/// outside .rodata or overlapping another with different bytes, a constant
/// without a byte layout, more than 16 or repeated register names,
/// settings or KV cache of the wrong form or invalid.
mlir::FailureOr<binary::Image> buildImage(mlir::ModuleOp module);

/// Registers `--export-binary` (the .spbin bytes) with mlir-translate.
void registerToBinaryTranslations();

} // namespace spatten

#endif

//===- ProgramBuilder.h - Emit spatten_isa instructions ---------*- C++ -*-===//
//
// Builds instruction ops from field/value lists checked against the Spec.h
// tables, plus the DMA idioms every lowering shares (tiled strided copies).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_PROGRAMBUILDER_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_PROGRAMBUILDER_H

#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Support/HardwareConfig.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/ArrayRef.h"

#include <utility>

namespace spatten::isa {

/// An SRAM operand: buffer, element offset, row stride in elements.
struct SramRef {
  Buffer buf;
  int64_t off = 0;
  int64_t stride = 0;
};

/// A DRAM tensor view: byte address, element type, row-major shape.
struct DramRef {
  int64_t addr = 0;
  DType dtype = DType::F32;
  TensorClass cls = TensorClass::Activation;
};

using FieldValues = llvm::ArrayRef<std::pair<llvm::StringRef, double>>;

class ProgramBuilder {
public:
  ProgramBuilder(mlir::OpBuilder &builder, const HardwareConfig &hw)
      : b(builder), hw(hw) {}

  void setLoc(mlir::Location l) { loc = l; }
  const HardwareConfig &config() const { return hw; }
  int64_t bufferElems(Buffer buf) const { return hw.bufferElems(buf); }

  /// Creates the instruction op for `opcode`. Fields not named are 0;
  /// `scale` and `imm` are fp32, everything else an integer.
  mlir::Operation *emit(Opcode opcode, FieldValues fields);

  /// 2-D DMA between DRAM (`rows` rows `dramStride` bytes apart, `cols`
  /// contiguous elements each) and SRAM.
  void load(SramRef dst, DramRef src, int64_t dramStride, int64_t rows,
            int64_t cols);
  void store(DramRef dst, int64_t dramStride, SramRef src, int64_t rows,
             int64_t cols);
  void sync() { emit(Opcode::Sync, {}); }

  /// Copies an N-d strided view (strides in elements, per dim) from `src` to
  /// `dst` through the ACT buffer, tiled to its size.
  mlir::LogicalResult copy(DramRef src, llvm::ArrayRef<int64_t> srcStrides,
                           DramRef dst, llvm::ArrayRef<int64_t> dstStrides,
                           llvm::ArrayRef<int64_t> shape);

  /// Rows of `cols` elements that fit `buf` (at least 1, at most `limit`);
  /// fails with a diagnostic at the current location when one row does not.
  mlir::FailureOr<int64_t> rowsThatFit(Buffer buf, int64_t cols,
                                       int64_t limit, int64_t reserved = 0);

  mlir::InFlightDiagnostic error() { return mlir::emitError(loc); }

private:
  mlir::OpBuilder &b;
  const HardwareConfig &hw;
  mlir::Location loc = b.getUnknownLoc();
};

/// Row-major strides (in elements) of `shape`.
llvm::SmallVector<int64_t> rowMajorStrides(llvm::ArrayRef<int64_t> shape);

} // namespace spatten::isa

#endif

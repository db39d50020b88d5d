//===- ProgramBuilder.h - Emit spatten_isa instructions ---------*- C++ -*-===//
//
// Builds instruction ops from typed per-opcode descriptions, naming each
// attribute by the Spec.h field constants, plus the DMA idioms every
// lowering shares (tiled strided copies).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_PROGRAMBUILDER_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_PROGRAMBUILDER_H

#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Support/HardwareConfig.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/ArrayRef.h"

#include <optional>
#include <utility>

namespace spatten::isa {

/// An SRAM operand: buffer, element offset, row stride in elements.
struct SramRef {
  Buffer buf = Buffer::Idx;
  int64_t off = 0;
  int64_t stride = 0;
};

/// A DRAM tensor view: byte address, element type, traffic class, and for
/// fixed-point rows their width and plane (docs/ISA.md, "Fixed-point DMA").
struct DramRef {
  int64_t addr = 0;
  DType dtype = DType::F32;
  TensorClass cls = TensorClass::Activation;
  int64_t bits = 32;
  Plane plane = Plane::Full;
  int64_t lsbBits = 0;

  bool packed() const { return bits != 32; }
  /// Bytes of one DRAM row of `cols` elements.
  int64_t rowBytes(int64_t cols) const {
    return packed() ? int64_t(packedRowBytes(cols, bits, plane, lsbBits))
                    : cols * int64_t(dtypeBytes(dtype));
  }
};

/// Where gather/scatter read their indices: entries from `off` in the idx
/// buffer, repeating every `period` rows (0: never), each period
/// `periodStride` DRAM bytes further.
struct IndexList {
  int64_t off = 0, period = 0, periodStride = 0;
};

/// GEMM tile (docs/ISA.md, "gemm"): C[m, n] (+)= A[m, k] B[k, n]
/// (+ bias[n]); dimensions in elements, at most 16 bits each.
struct GemmInstr {
  uint8_t flags = 0; ///< GemmFlags
  SramRef a, b, c, bias;
  int64_t m = 0, n = 0, k = 0;
};

/// One attention head of one query tile (docs/ISA.md, "attn"): `lq` query
/// rows against `lk` keys of width `d`.
struct AttnInstr {
  AttnPhase phase = AttnPhase::None;
  MaskKind maskKind = MaskKind::None;
  uint8_t flags = 0;  ///< AttnFlags
  float maskFill = 0; ///< the fill of AttnMaskSelect
  SramRef q, k, v, o, mask;
  /// Token importance accumulated over the keys (stride unused).
  SramRef importance;
  /// Head importance: element `off` of buffer `buf` (stride unused).
  SramRef headImportance;
  int64_t lq = 0, lk = 0, d = 0;
  int64_t causalOffset = 0; ///< the KV-cache length plus the tile's first row
  int64_t vk = 0;           ///< V rows local value pruning keeps; 0 = off
  float pqThreshold = 0;    ///< progressive quantization's confidence
  /// A later query tile of the head: its refetch decision merges into the
  /// head's (statistics passes in phase decide).
  bool nextTile = false;
  /// The head's refetch decision is made: decide statistics mark their
  /// rows but leave the predicate.
  bool headDecided = false;
  float scale = 0;          ///< applied to Q K^T
};

/// Vector-unit instruction (docs/ISA.md, "vec"): `rows` x `cols` elements.
struct VecInstr {
  VecFunc func = VecFunc::Copy;
  uint8_t flags = 0; ///< VecFlags
  SramRef x, y, z, w;
  int64_t rows = 0, cols = 0;
  float imm = 0; ///< VecYImm's operand, or layer norm's epsilon
};

/// Top-k engine instruction (docs/ISA.md, "topk"): the `k` best of `n`
/// candidates scored from `scores` (stride unused).
struct TopkInstr {
  uint8_t flags = 0; ///< TopkFlags
  TopkRole role = TopkRole::Other;
  SramRef scores;
  int64_t inOff = 0, outOff = 0; ///< idx buffer offsets of the lists
  int64_t n = 0, k = 0;
  int64_t seed = 0; ///< the engine's pivot seed
  /// With TopkWriteCount in `flags`: the register that receives min(k, n).
  unsigned countReg = 0;
};

/// The name of ISA field `f` (Spec.h), as the spatten_isa ops' attributes
/// and a bind's `field` spell it.
inline llvm::StringRef fieldName(const Field &f) {
  return llvm::StringRef(f.name.data(), f.name.size());
}

/// A run-time value for one field of the next instruction (docs/ISA.md,
/// "bind"): `clamp(add + mul * x, lo, hi)`, x = r[reg] (BindSource::Register)
/// or the u32 at DRAM byte `table + 4 * r[reg]` (BindSource::Table).
struct Bind {
  llvm::StringRef field; ///< a field name of the next instruction's layout
  BindSource source = BindSource::Register;
  unsigned reg = 0;
  int64_t mul = 1, add = 0, lo = 0, hi = 0;
  int64_t table = 0; ///< DRAM byte address of the table (BindSource::Table)
};

class ProgramBuilder {
public:
  ProgramBuilder(mlir::OpBuilder &builder, const HardwareConfig &hw)
      : b(builder), hw(hw) {}

  void setLoc(mlir::Location l) { loc = l; }
  /// Report attribution of the instructions that follow: the `layer` field
  /// (layer + 1; 0 = none) of every instruction that has one.
  void setLayer(std::optional<int64_t> layer) {
    layerField = layer ? *layer + 1 : 0;
  }
  const HardwareConfig &config() const { return hw; }
  mlir::OpBuilder &builder() { return b; }
  /// Elements of `buf` for data `bits` wide (HardwareConfig::bufferElems:
  /// K and V hold elements at their loaded width, the others at 32 bits).
  int64_t bufferElems(Buffer buf, unsigned bits = kWordBits) const {
    return hw.bufferElems(buf, bits);
  }

  /// Creates the instruction op (docs/ISA.md); the ISA op verifier checks
  /// that every value fits its field.
  void emit(const GemmInstr &instr);
  void emit(const AttnInstr &instr);
  void emit(const VecInstr &instr);
  void emit(const TopkInstr &instr);
  /// A `bind` of the next instruction emitted (several may precede it, one
  /// per field); the op verifier checks the field against it.
  void bind(const Bind &bind);
  void sync();
  void halt();

  /// 2-D DMA between DRAM (`rows` rows `dramStride` bytes apart, `cols`
  /// contiguous elements each) and SRAM.
  void load(SramRef dst, DramRef src, int64_t dramStride, int64_t rows,
            int64_t cols, DmaPred pred = DmaPred::Always);
  void store(DramRef dst, int64_t dramStride, SramRef src, int64_t rows,
             int64_t cols);
  /// Index-driven DMA: DRAM row `r` is `dram.addr + idx[list.off + r] *
  /// dramStride`, or with a period p, `dram.addr + idx[list.off + r % p] *
  /// dramStride + (r / p) * list.periodStride` (gather reads it, scatter
  /// writes it; docs/ISA.md).
  void gather(SramRef dst, DramRef src, int64_t dramStride, int64_t rows,
              int64_t cols, IndexList list, DmaPred pred = DmaPred::Always);
  void scatter(DramRef dst, int64_t dramStride, SramRef src, int64_t rows,
               int64_t cols, IndexList list);

  /// Copies an N-d strided view (strides in elements, per dim) from `src` to
  /// `dst` through the ACT buffer, tiled to its size.
  mlir::LogicalResult copy(DramRef src, llvm::ArrayRef<int64_t> srcStrides,
                           DramRef dst, llvm::ArrayRef<int64_t> dstStrides,
                           llvm::ArrayRef<int64_t> shape);

  /// Rows of `cols` elements that fit `buf` (at least 1, at most `limit`);
  /// fails with a diagnostic at the current location when one row does not.
  mlir::FailureOr<int64_t> rowsThatFit(Buffer buf, int64_t cols, int64_t limit,
                                       int64_t reserved = 0);

  mlir::InFlightDiagnostic error() { return mlir::emitError(loc); }

private:
  mlir::OpBuilder &b;
  const HardwareConfig &hw;
  mlir::Location loc = b.getUnknownLoc();
  int64_t layerField = 0;

  void dma(Opcode opcode, DramRef ref, int64_t dramStride, SramRef sram,
           int64_t rows, int64_t cols, IndexList list, DmaPred pred);
};

/// Row-major strides (in elements) of `shape`.
llvm::SmallVector<int64_t> rowMajorStrides(llvm::ArrayRef<int64_t> shape);

} // namespace spatten::isa

#endif

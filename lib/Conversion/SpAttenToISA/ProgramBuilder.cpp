//===- ProgramBuilder.cpp - Emit spatten_isa instructions -----------------===//

#include "ProgramBuilder.h"

#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

SmallVector<int64_t> isa::rowMajorStrides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

namespace {
StringRef opNameFor(Opcode opcode) {
  switch (opcode) {
  case Opcode::Halt: return HaltOp::getOperationName();
  case Opcode::Sync: return SyncOp::getOperationName();
  case Opcode::Load: return LoadOp::getOperationName();
  case Opcode::Store: return StoreOp::getOperationName();
  case Opcode::Gather: return GatherOp::getOperationName();
  case Opcode::Gemm: return GemmOp::getOperationName();
  case Opcode::Attn: return AttnOp::getOperationName();
  case Opcode::Vec: return VecOp::getOperationName();
  case Opcode::Topk: return TopkOp::getOperationName();
  case Opcode::Scatter: return ScatterOp::getOperationName();
  case Opcode::Bind: return BindOp::getOperationName();
  }
  llvm_unreachable("opcode out of range");
}

/// The attributes of one instruction op, named by the Spec.h field
/// constants.
class InstrAttrs {
public:
  explicit InstrAttrs(Builder &b) : b(b) {}

  void set(const Field &f, int64_t value) {
    attrs.set(fieldName(f), b.getI64IntegerAttr(value));
  }
  void setFp32(const Field &f, float value) {
    attrs.set(fieldName(f), b.getF32FloatAttr(value));
  }
  /// An SRAM operand's buffer, offset and stride fields.
  void set(const OperandFields &operand, SramRef ref) {
    set(operand.buf, int64_t(ref.buf));
    set(operand.off, ref.off);
    set(operand.stride, ref.stride);
  }

  /// The instruction op; every field of its layout must have been set.
  Operation *create(OpBuilder &builder, Location loc, Opcode opcode) {
    const OpcodeSpec &spec = kOpcodeSpecs[unsigned(opcode)];
    assert(llvm::all_of(llvm::ArrayRef(spec.fields, spec.numFields),
                        [&](const Field &f) { return attrs.get(fieldName(f)); }) &&
           "an ISA field was not set");
    OperationState state(loc, opNameFor(opcode));
    state.addAttributes(attrs);
    return builder.create(state);
  }

private:
  Builder &b;
  NamedAttrList attrs;
};
} // namespace

void ProgramBuilder::emit(const GemmInstr &g) {
  using F = fields::Gemm;
  InstrAttrs attrs(b);
  attrs.set(F::flags, g.flags);
  attrs.set(F::layer, layerField);
  attrs.set(F::a, g.a);
  attrs.set(F::b, g.b);
  attrs.set(F::c, g.c);
  attrs.set(F::bias, g.bias);
  attrs.set(F::m, g.m);
  attrs.set(F::n, g.n);
  attrs.set(F::k, g.k);
  attrs.create(b, loc, Opcode::Gemm);
}

void ProgramBuilder::emit(const AttnInstr &a) {
  using F = fields::Attn;
  InstrAttrs attrs(b);
  attrs.set(F::maskKind, int64_t(a.maskKind));
  attrs.set(F::flags, a.flags);
  attrs.set(F::phase, int64_t(a.phase));
  attrs.setFp32(F::maskFill, a.maskFill);
  attrs.set(F::q, a.q);
  attrs.set(F::k, a.k);
  attrs.set(F::v, a.v);
  attrs.set(F::o, a.o);
  attrs.set(F::mask, a.mask);
  attrs.set(F::impBuf, int64_t(a.importance.buf));
  attrs.set(F::impOff, a.importance.off);
  attrs.set(F::headImpBuf, int64_t(a.headImportance.buf));
  attrs.set(F::headImpOff, a.headImportance.off);
  attrs.set(F::lq, a.lq);
  attrs.set(F::lk, a.lk);
  attrs.set(F::d, a.d);
  attrs.set(F::causalOffset, a.causalOffset);
  attrs.set(F::vk, a.vk);
  attrs.set(F::nextTile, a.nextTile);
  attrs.set(F::headDecided, a.headDecided);
  attrs.set(F::layer, layerField);
  attrs.setFp32(F::pqThreshold, a.pqThreshold);
  attrs.setFp32(F::scale, a.scale);
  attrs.create(b, loc, Opcode::Attn);
}

void ProgramBuilder::emit(const VecInstr &v) {
  using F = fields::Vec;
  InstrAttrs attrs(b);
  attrs.set(F::func, int64_t(v.func));
  attrs.set(F::flags, v.flags);
  attrs.set(F::layer, layerField);
  attrs.set(F::x, v.x);
  attrs.set(F::y, v.y);
  attrs.set(F::z, v.z);
  attrs.set(F::w, v.w);
  attrs.set(F::rows, v.rows);
  attrs.set(F::cols, v.cols);
  attrs.setFp32(F::imm, v.imm);
  attrs.create(b, loc, Opcode::Vec);
}

void ProgramBuilder::emit(const TopkInstr &t) {
  using F = fields::Topk;
  InstrAttrs attrs(b);
  attrs.set(F::flags, t.flags);
  attrs.set(F::role, int64_t(t.role));
  attrs.set(F::layer, layerField);
  attrs.set(F::sBuf, int64_t(t.scores.buf));
  attrs.set(F::sOff, t.scores.off);
  attrs.set(F::inOff, t.inOff);
  attrs.set(F::outOff, t.outOff);
  attrs.set(F::n, t.n);
  attrs.set(F::k, t.k);
  attrs.set(F::seed, t.seed);
  attrs.set(F::countReg, t.countReg);
  attrs.create(b, loc, Opcode::Topk);
}

void ProgramBuilder::bind(const Bind &bd) {
  BindOp::create(b, loc, bd.field, int64_t(bd.source), int64_t(bd.reg),
                 bd.table, bd.mul, bd.add, bd.lo, bd.hi);
}

void ProgramBuilder::sync() {
  SyncOp::create(b, loc, /*dep_wait=*/IntegerAttr(),
                 /*dep_signal=*/IntegerAttr());
}

void ProgramBuilder::halt() {
  HaltOp::create(b, loc, /*dep_wait=*/IntegerAttr(),
                 /*dep_signal=*/IntegerAttr());
}

void ProgramBuilder::dma(Opcode opcode, DramRef ref, int64_t dramStride,
                         SramRef sram, int64_t rows, int64_t cols,
                         IndexList list, DmaPred pred) {
  // Load and store use the gather layout's leading fields (fields::Dma).
  using F = fields::Gather;
  InstrAttrs attrs(b);
  attrs.set(F::tensorClass, int64_t(ref.cls));
  attrs.set(F::dtype, int64_t(ref.dtype));
  attrs.set(F::bits, ref.bits);
  attrs.set(F::plane, int64_t(ref.plane));
  attrs.set(F::lsbBits, ref.lsbBits);
  attrs.set(F::pred, int64_t(pred));
  attrs.set(F::layer, layerField);
  attrs.set(F::dramAddr, ref.addr);
  attrs.set(F::dramStride, dramStride);
  attrs.set(F::sram, sram);
  attrs.set(F::rows, rows);
  attrs.set(F::cols, cols);
  if (opcode == Opcode::Gather || opcode == Opcode::Scatter) {
    attrs.set(F::idxOff, list.off);
    attrs.set(F::idxPeriod, list.period);
    attrs.set(F::periodStride, list.periodStride);
  }
  attrs.create(b, loc, opcode);
}

void ProgramBuilder::load(SramRef dst, DramRef src, int64_t dramStride,
                          int64_t rows, int64_t cols, DmaPred pred) {
  dma(Opcode::Load, src, dramStride, dst, rows, cols, {}, pred);
}

void ProgramBuilder::store(DramRef dst, int64_t dramStride, SramRef src,
                           int64_t rows, int64_t cols) {
  dma(Opcode::Store, dst, dramStride, src, rows, cols, {}, DmaPred::Always);
}

void ProgramBuilder::gather(SramRef dst, DramRef src, int64_t dramStride,
                            int64_t rows, int64_t cols, IndexList list,
                            DmaPred pred) {
  dma(Opcode::Gather, src, dramStride, dst, rows, cols, list, pred);
}

void ProgramBuilder::scatter(DramRef dst, int64_t dramStride, SramRef src,
                             int64_t rows, int64_t cols, IndexList list) {
  dma(Opcode::Scatter, dst, dramStride, src, rows, cols, list, DmaPred::Always);
}

FailureOr<int64_t> ProgramBuilder::rowsThatFit(Buffer buf, int64_t cols,
                                               int64_t limit,
                                               int64_t reserved) {
  int64_t capacity = bufferElems(buf) - reserved;
  if (cols <= 0 || capacity < cols) {
    error() << "a row of " << cols << " elements does not fit the "
            << kBufferNames[unsigned(buf)] << " buffer ("
            << hw.bufferBytes[unsigned(buf)]
            << " bytes); tiling a row is not implemented";
    return failure();
  }
  return std::max<int64_t>(1, std::min(limit, capacity / cols));
}

LogicalResult ProgramBuilder::copy(DramRef src, ArrayRef<int64_t> srcStrides,
                                   DramRef dst, ArrayRef<int64_t> dstStrides,
                                   ArrayRef<int64_t> shape) {
  size_t rank = shape.size();
  if (rank == 0)
    return copy(src, {1}, dst, {1}, {1});
  if (llvm::is_contained(shape, 0))
    return success();
  // Rows of contiguous columns when both views are contiguous in the last
  // dim; otherwise one element per row along the last dim.
  bool contiguous = srcStrides.back() == 1 && dstStrides.back() == 1;
  int64_t cols = contiguous ? shape.back() : 1;
  size_t rowDim = contiguous ? (rank >= 2 ? rank - 2 : rank) : rank - 1;
  int64_t rows = rowDim < rank ? shape[rowDim] : 1;
  int64_t srcRowStride = rowDim < rank ? srcStrides[rowDim] : 0;
  int64_t dstRowStride = rowDim < rank ? dstStrides[rowDim] : 0;
  size_t outerDims = contiguous ? (rank >= 2 ? rank - 2 : 0) : rank - 1;
  int64_t elemBytes = dtypeBytes(src.dtype);
  FailureOr<int64_t> tile = rowsThatFit(Buffer::Act, cols, rows);
  if (failed(tile))
    return failure();

  SmallVector<int64_t> index(outerDims, 0);
  while (true) {
    int64_t srcOff = 0, dstOff = 0;
    for (size_t d = 0; d < outerDims; ++d) {
      srcOff += index[d] * srcStrides[d];
      dstOff += index[d] * dstStrides[d];
    }
    for (int64_t r0 = 0; r0 < rows; r0 += *tile) {
      int64_t n = std::min(*tile, rows - r0);
      DramRef s = src, t = dst;
      s.addr += (srcOff + r0 * srcRowStride) * elemBytes;
      t.addr += (dstOff + r0 * dstRowStride) * dtypeBytes(dst.dtype);
      load({Buffer::Act, 0, cols}, s, srcRowStride * elemBytes, n, cols);
      store(t, dstRowStride * dtypeBytes(dst.dtype), {Buffer::Act, 0, cols}, n,
            cols);
    }
    // Odometer over the outer dims.
    int64_t d = int64_t(outerDims) - 1;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
    if (d < 0)
      break;
  }
  return success();
}

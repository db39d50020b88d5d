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

static StringRef opNameFor(Opcode opcode) {
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
  }
  llvm_unreachable("opcode out of range");
}

Operation *ProgramBuilder::emit(Opcode opcode, FieldValues fields) {
  const OpcodeSpec &spec = kOpcodeSpecs[unsigned(opcode)];
  OperationState state(loc, opNameFor(opcode));
  auto valueOf = [&](std::string_view name) -> double {
    for (auto &[n, v] : fields)
      if (n == StringRef(name.data(), name.size()))
        return v;
    return 0;
  };
  bool hasLayer = false;
  for (auto &[n, v] : fields) {
    assert(lookupField(spec, std::string_view(n.data(), n.size())) &&
           "unknown ISA field");
    hasLayer |= n == "layer";
  }
  for (unsigned i = 0; i < spec.numFields; ++i) {
    std::string_view name = spec.fields[i].name;
    StringRef key(name.data(), name.size());
    if (key == "layer" && !hasLayer)
      state.addAttribute(key, b.getI64IntegerAttr(layerField));
    else if (spec.fields[i].fp32)
      state.addAttribute(key, b.getF32FloatAttr(float(valueOf(name))));
    else
      state.addAttribute(key, b.getI64IntegerAttr(int64_t(valueOf(name))));
  }
  return b.create(state);
}

void ProgramBuilder::dma(Opcode opcode, DramRef ref, int64_t dramStride,
                         SramRef sram, int64_t rows, int64_t cols,
                         IndexList list, DmaPred pred) {
  SmallVector<std::pair<StringRef, double>, 16> fields = {
      {"tensor_class", double(ref.cls)}, {"dtype", double(ref.dtype)},
      {"bits", double(ref.bits)}, {"plane", double(ref.plane)},
      {"lsb_bits", double(ref.lsbBits)}, {"pred", double(pred)},
      {"dram_addr", double(ref.addr)}, {"dram_stride", double(dramStride)},
      {"sram_buf", double(sram.buf)}, {"sram_off", double(sram.off)},
      {"sram_stride", double(sram.stride)}, {"rows", double(rows)},
      {"cols", double(cols)}};
  if (opcode == Opcode::Gather || opcode == Opcode::Scatter)
    fields.append({{"idx_off", double(list.off)},
                   {"idx_period", double(list.period)},
                   {"period_stride", double(list.periodStride)}});
  emit(opcode, fields);
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
  dma(Opcode::Scatter, dst, dramStride, src, rows, cols, list,
      DmaPred::Always);
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

//===- DataMovementLowering.cpp - Copies, gathers and scatters ------------===//
//
// embedding (index-gather of table rows), transpose, slice, concat and
// cast (strided copies through the act buffer) and merge_tokens (copy,
// then index-scatter of the kept rows back to their positions).
//
//===----------------------------------------------------------------------===//

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// Copies `in` (viewed through `srcStrides` from `base`) to the whole of
/// `out`.
LogicalResult copyTo(LoweringCore &core, DramRef base,
                     ArrayRef<int64_t> srcStrides, const Tensor &out) {
  return core.pb.copy(base, srcStrides, out.ref, rowMajorStrides(out.shape),
                      out.shape);
}

LogicalResult lowerEmbedding(LoweringCore &core, EmbeddingOp op) {
  ProgramBuilder &pb = core.pb;
  const Tensor *ids, *table, *out;
  if (failed(core.get(op.getIndices(), ids, op.getTable(), table,
                      op.getOutput(), out)))
    return failure();
  int64_t D = table->shape[1], n = ids->numel();
  FailureOr<int64_t> tile =
      pb.rowsThatFit(Buffer::Act, D, std::min(n, pb.bufferElems(Buffer::Idx)));
  if (failed(tile))
    return failure();
  for (int64_t r0 = 0; r0 < n; r0 += *tile) {
    int64_t rows = std::min(*tile, n - r0);
    DramRef idx = ids->ref, dst = out->ref;
    idx.cls = TensorClass::Index;
    idx.addr = ids->addrOf(r0);
    dst.addr = out->addrOf(r0 * D);
    pb.load({Buffer::Idx, 0, rows}, idx, rows * dtypeBytes(idx.dtype), 1, rows);
    pb.gather({Buffer::Act, 0, D}, table->ref, D * 4, rows, D, {});
    pb.store(dst, D * 4, {Buffer::Act, 0, D}, rows, D);
  }
  return success();
}

LogicalResult lowerTranspose(LoweringCore &core, TransposeOp op) {
  const Tensor *in, *out;
  if (failed(core.get(op.getInput(), in, op.getOutput(), out)))
    return failure();
  SmallVector<int64_t> inStrides = rowMajorStrides(in->shape), src;
  for (int64_t p : op.getPermutation())
    src.push_back(inStrides[p]);
  return copyTo(core, in->ref, src, *out);
}

LogicalResult lowerSlice(LoweringCore &core, SliceOp op) {
  if (core.plan.writtenAsPlanes(op.getOutput()))
    return success(); // its projection wrote it as planes
  const Tensor *in, *out;
  if (failed(core.get(op.getInput(), in, op.getOutput(), out)))
    return failure();
  SmallVector<int64_t> inStrides = rowMajorStrides(in->shape), src;
  DramRef base = in->ref;
  int64_t offset = 0;
  for (auto [i, s] : llvm::enumerate(inStrides)) {
    offset += op.getOffsets()[i] * s;
    src.push_back(s * op.getStrides()[i]);
  }
  base.addr = in->addrOf(offset);
  return copyTo(core, base, src, *out);
}

LogicalResult lowerConcat(LoweringCore &core, ConcatOp op) {
  const Tensor *out;
  if (failed(core.get(op.getOutput(), out)))
    return failure();
  SmallVector<int64_t> outStrides = rowMajorStrides(out->shape);
  int64_t axis = op.getAxis(), at = 0;
  for (Value v : op.getInputs()) {
    const Tensor *in;
    if (failed(core.get(v, in)))
      return failure();
    DramRef dst = out->ref;
    dst.addr = out->addrOf(at * outStrides[axis]);
    if (failed(core.pb.copy(in->ref, rowMajorStrides(in->shape), dst,
                            outStrides, in->shape)))
      return failure();
    at += in->shape[axis];
  }
  return success();
}

LogicalResult lowerCast(LoweringCore &core, CastOp op) {
  const Tensor *in, *out;
  if (failed(core.get(op.getInput(), in, op.getOutput(), out)))
    return failure();
  return copyTo(core, in->ref, rowMajorStrides(in->shape), *out);
}

/// `full` copied to the result, then each batch row's `rows` written at
/// their original positions by index-scatter DMA.
LogicalResult lowerMergeTokens(LoweringCore &core, MergeTokensOp op) {
  ProgramBuilder &pb = core.pb;
  const Tensor *full, *rows, *pos, *out;
  if (failed(core.get(op.getFull(), full, op.getRows(), rows, op.getPositions(),
                      pos, op.getResult(), out)))
    return failure();
  if (failed(copyTo(core, full->ref, rowMajorStrides(full->shape), *out)))
    return failure();
  int64_t B = rows->shape[0], k = rows->shape[1], L0 = full->shape[1];
  int64_t width = rows->numel() / (B * k);
  if (k > pb.bufferElems(Buffer::Idx))
    return pb.error() << k << " positions do not fit the idx buffer";
  FailureOr<int64_t> tile = pb.rowsThatFit(Buffer::Act, width, k);
  if (failed(tile))
    return failure();
  for (int64_t b = 0; b < B; ++b) {
    DramRef p = pos->ref;
    p.cls = TensorClass::Index;
    p.addr = pos->addrOf(b * k);
    pb.load({Buffer::Idx, 0, k}, p, k * 8, 1, k);
    for (int64_t r0 = 0; r0 < k; r0 += *tile) {
      int64_t n = std::min(*tile, k - r0);
      DramRef src = rows->ref, dst = out->ref;
      src.addr = rows->addrOf((b * k + r0) * width);
      dst.addr = out->addrOf(b * L0 * width);
      pb.load({Buffer::Act, 0, width}, src, width * 4, n, width);
      pb.scatter(dst, width * 4, {Buffer::Act, 0, width}, n, width, {r0});
    }
  }
  return success();
}
} // namespace

LogicalResult isa::lowerDataMovement(LoweringCore &core, Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](EmbeddingOp o) { return lowerEmbedding(core, o); })
      .Case([&](TransposeOp o) { return lowerTranspose(core, o); })
      .Case([&](SliceOp o) { return lowerSlice(core, o); })
      .Case([&](ConcatOp o) { return lowerConcat(core, o); })
      .Case([&](CastOp o) { return lowerCast(core, o); })
      .Case([&](MergeTokensOp o) { return lowerMergeTokens(core, o); });
}

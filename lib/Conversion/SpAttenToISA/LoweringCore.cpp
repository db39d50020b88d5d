//===- LoweringCore.cpp - State shared by the per-family lowerings --------===//

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

void LoweringCore::beginOp(Operation *current) {
  op = current;
  lists.clear();
  listTop = 0;
  pb.setLoc(current->getLoc());
}

LogicalResult LoweringCore::get(Value v, const Tensor *&out) const {
  FailureOr<const Tensor *> t = tensor(v);
  if (failed(t))
    return failure();
  out = *t;
  return success();
}

int64_t LoweringCore::listOffset(Value indices) const {
  for (auto &[v, off] : lists)
    if (v == indices)
      return off;
  llvm_unreachable("index list not loaded");
}

FailureOr<int64_t> LoweringCore::loadList(Value indices) {
  if (llvm::is_contained(llvm::make_first_range(lists), indices))
    return listOffset(indices);
  const Tensor *idx;
  if (failed(get(indices, idx)))
    return failure();
  if (keptTokensRegister) {
    pb.error() << "an index list would overwrite the decode step's kept "
                  "tokens in the idx buffer";
    return failure();
  }
  int64_t k = idx->numel();
  if (listTop + k > pb.bufferElems(Buffer::Idx)) {
    pb.error() << k << " head indices do not fit the idx buffer";
    return failure();
  }
  DramRef ref = idx->ref;
  ref.cls = TensorClass::Index;
  pb.load({Buffer::Idx, listTop, k}, ref, k * dtypeBytes(ref.dtype), 1, k);
  lists.push_back({indices, listTop});
  listTop += k;
  return lists.back().second;
}

FailureOr<int64_t> LoweringCore::rowsPerSlot(Buffer buf, int64_t cols,
                                             int64_t limit) {
  return pb.rowsThatFit(buf, cols, limit, pb.bufferElems(buf) - slotElems(buf));
}

FailureOr<int64_t> LoweringCore::commonTile(ArrayRef<Buffer> bufs, int64_t cols,
                                            int64_t limit) {
  for (Buffer b : bufs) {
    FailureOr<int64_t> n = rowsPerSlot(b, cols, limit);
    if (failed(n))
      return failure();
    limit = *n;
  }
  return limit;
}

void LoweringCore::moveVector(const Tensor &vec, int64_t b, int64_t n,
                              SramRef sram, bool load) {
  DramRef ref = vec.ref;
  ref.addr = vec.addrOf(b * n);
  if (load)
    pb.load(sram, ref, n * 4, 1, n);
  else
    pb.store(ref, n * 4, sram, 1, n);
}

LogicalResult LoweringCore::repack(const Tensor &from, ArrayRef<Tensor> to,
                                   int64_t D) {
  int64_t rows = from.numel() / D;
  FailureOr<int64_t> tile = pb.rowsThatFit(Buffer::Act, D, kMaxRows);
  if (failed(tile))
    return failure();
  for (int64_t r0 = 0; r0 < rows; r0 += *tile) {
    int64_t n = std::min(*tile, rows - r0);
    DramRef src = from.ref;
    src.addr += r0 * src.rowBytes(D);
    pb.load({Buffer::Act, 0, D}, src, src.rowBytes(D), n, D);
    for (const Tensor &dstTensor : to) {
      DramRef dst = dstTensor.ref;
      dst.addr += r0 * dst.rowBytes(D);
      pb.store(dst, dst.rowBytes(D), {Buffer::Act, 0, D}, n, D);
    }
  }
  return success();
}

LogicalResult isa::lowerOp(LoweringCore &core, Operation *op) {
  core.beginOp(op);
  using Family = LogicalResult (*)(LoweringCore &, Operation *);
  Family family =
      llvm::TypeSwitch<Operation *, Family>(op)
          .Case<LinearOp>([](auto) { return lowerLinear; })
          .Case<AttentionOp, AttentionOutputOp, AttentionProbsOp,
                ProgressiveFetchOp, TokenImportanceOp, LocalValuePruneOp,
                HeadImportanceOp>([](auto) { return lowerAttentionFamily; })
          .Case<LayerNormOp, RmsNormOp, GeluOp, UnaryOp, SoftmaxOp,
                LogSoftmaxOp, ReduceOp, CumSumOp, BinaryOp, RotaryEmbeddingOp>(
              [](auto) { return lowerVectorFamily; })
          .Case<EmbeddingOp, TransposeOp, SliceOp, ConcatOp, CastOp,
                MergeTokensOp>([](auto) { return lowerDataMovement; })
          .Case<spatten::TopkOp, PruneTokensOp, PruneHeadsOp, QuantizeOp,
                DequantizeOp>([](auto) { return lowerPruningFamily; })
          .Case<PositionRowOp, CachedAttentionOp, RecordKeptTokensOp,
                RecordKeptHeadsOp>([](auto) { return lowerGenerationFamily; })
          .Default([](Operation *) { return nullptr; });
  if (!family)
    return op->emitOpError("has no lowering to spatten_isa yet (not "
                           "implemented)");
  return family(core, op);
}

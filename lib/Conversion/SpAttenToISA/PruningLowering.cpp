//===- PruningLowering.cpp - Top-k, pruning gathers, quantization ---------===//
//
// SpAtten's selection and compaction ops: the top-k engine ranks token or
// head importance (cascade token/head pruning, Sec. III-A/B), prune_tokens
// and prune_heads gather the kept rows or heads by index-gather DMA, and
// quantize/dequantize move fp32 rows to and from fixed-point rows
// (progressive quantization, Sec. III-D; docs/ISA.md "Fixed-point DMA").
//
//===----------------------------------------------------------------------===//

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// TOPK `role` (report attribution): what the scores rank, found through
/// the arithmetic between the importance op and the top-k.
TopkRole topkRole(spatten::TopkOp op) {
  SmallVector<Value> work{op.getScores()};
  while (!work.empty()) {
    Operation *def = work.pop_back_val().getDefiningOp();
    if (!def)
      continue;
    if (llvm::isa<TokenImportanceOp>(def))
      return TopkRole::Tokens;
    if (llvm::isa<HeadImportanceOp>(def))
      return TopkRole::Heads;
    if (llvm::isa<BinaryOp, PruneTokensOp, ReshapeOp>(def))
      work.append(def->operand_begin(), def->operand_end());
  }
  return TopkRole::Other;
}

/// `out[o, j, :] = in[o, idx[j], :]` viewed as blocks: `outer` rows of
/// `n` blocks of `block` elements; `k` indices, one list per `perB`
/// outer rows.
struct GatherShape {
  int64_t outer = 1, inner = 1, k, perB, block, n, es;
  GatherShape(const Tensor &in, const Tensor &idx, int64_t axis, int64_t group,
              bool perBatch)
      : k(idx.shape.back()) {
    for (int64_t dim = 0; dim < axis; ++dim)
      outer *= in.shape[dim];
    for (size_t dim = axis + 1; dim < in.shape.size(); ++dim)
      inner *= in.shape[dim];
    perB = perBatch ? outer / in.shape[0] : outer;
    block = group * inner;
    n = in.shape[axis] / group;
    es = dtypeBytes(in.ref.dtype);
  }
};

/// The index-gather DMA of prune_tokens and prune_heads.
class GatherAxis {
public:
  explicit GatherAxis(LoweringCore &core) : core(core), pb(core.pb) {}

  /// `out[o, j, :] = in[o, idx[j], :]` over an axis split into groups of
  /// `group` elements: `in` is viewed as [outer, n * group * inner], each
  /// index names a block of `group * inner` contiguous elements. `idx` is
  /// [k] or, with `perBatch`, [B, k] with one row per leading batch entry.
  /// Index lists go through the idx buffer; blocks move by index-gather DMA.
  LogicalResult gatherAxis(const Tensor &in, const Tensor &idx, int64_t axis,
                           int64_t group, bool perBatch, const Tensor &out) {
    GatherShape g(in, idx, axis, group, perBatch);
    if (g.k > pb.bufferElems(Buffer::Idx))
      return pb.error() << g.k << " indices do not fit the idx buffer";
    int64_t rowsPerSlot = core.slotElems(Buffer::Act) / g.block;
    for (int64_t b = 0; b * g.perB < g.outer; ++b) {
      DramRef ir = idx.ref;
      ir.cls = TensorClass::Index;
      ir.addr = idx.addrOf(b * g.k);
      pb.load({Buffer::Idx, 0, g.k}, ir, g.k * dtypeBytes(ir.dtype), 1, g.k);
      int64_t first = b * g.perB, last = std::min(g.outer, first + g.perB);
      if (g.k <= rowsPerSlot)
        gatherPeriodic(in, out, g, first, last, rowsPerSlot / g.k);
      else
        gatherRowByRow(in, out, g, first, last);
    }
    return success();
  }

  /// Outer rows [first, last) in chunks of `perChunk`, each one periodic
  /// gather (the index list repeats every k rows, one outer row apart).
  void gatherPeriodic(const Tensor &in, const Tensor &out, const GatherShape &g,
                      int64_t first, int64_t last, int64_t perChunk) {
    perChunk = std::min(perChunk, kMaxRows / g.k);
    for (int64_t o = first, i = 0; o < last; o += perChunk, ++i) {
      int64_t cnt = std::min(perChunk, last - o), rows = cnt * g.k;
      SramRef act{Buffer::Act, core.slotOff(Buffer::Act, i), g.block};
      DramRef src = in.ref;
      src.addr = in.addrOf(o * g.n * g.block);
      pb.gather(act, src, g.block * g.es, rows, g.block,
                {0, g.k, g.n * g.block * g.es});
      DramRef dst = out.ref;
      dst.addr = out.addrOf(o * g.k * g.block);
      pb.store(dst, g.block * dtypeBytes(out.ref.dtype), act, rows, g.block);
    }
  }

  /// Blocks wider than a buffer slot: per outer row, k rows in column
  /// chunks.
  void gatherRowByRow(const Tensor &in, const Tensor &out, const GatherShape &g,
                      int64_t first, int64_t last) {
    int64_t cols = std::min(g.block, pb.bufferElems(Buffer::Act));
    int64_t rows =
        std::max<int64_t>(1, std::min(g.k, pb.bufferElems(Buffer::Act) / cols));
    for (int64_t o = first; o < last; ++o)
      for (int64_t r0 = 0; r0 < g.k; r0 += rows)
        for (int64_t c0 = 0; c0 < g.block; c0 += cols) {
          int64_t nr = std::min(rows, g.k - r0);
          int64_t nc = std::min(cols, g.block - c0);
          DramRef src = in.ref;
          src.addr = in.addrOf(o * g.n * g.block + c0);
          pb.gather({Buffer::Act, 0, nc}, src, g.block * g.es, nr, nc, {r0});
          DramRef dst = out.ref;
          dst.addr = out.addrOf((o * g.k + r0) * g.block + c0);
          pb.store(dst, g.block * dtypeBytes(out.ref.dtype),
                   {Buffer::Act, 0, nc}, nr, nc);
        }
  }

private:
  LoweringCore &core;
  ProgramBuilder &pb;
};

LogicalResult lowerPruneTokens(LoweringCore &core, PruneTokensOp op) {
  const Tensor *in, *idx, *out;
  if (failed(core.get(op.getInput(), in, op.getIndices(), idx, op.getResult(),
                      out)))
    return failure();
  return GatherAxis(core).gatherAxis(*in, *idx, op.getAxis(), 1,
                                     /*perBatch=*/true, *out);
}

LogicalResult lowerPruneHeads(LoweringCore &core, PruneHeadsOp op) {
  const Tensor *in, *idx, *out;
  if (failed(core.get(op.getInput(), in, op.getIndices(), idx, op.getResult(),
                      out)))
    return failure();
  int64_t group = in->shape[op.getAxis()] / op.getNumHeads();
  return GatherAxis(core).gatherAxis(*in, *idx, op.getAxis(), group,
                                     /*perBatch=*/false, *out);
}

/// Per batch row: the scores into the act buffer, the top-k engine over
/// candidates 0..N-1 into the idx buffer, then the indices out as int64.
LogicalResult lowerTopk(LoweringCore &core, spatten::TopkOp op) {
  ProgramBuilder &pb = core.pb;
  const Tensor *scores, *out;
  if (failed(core.get(op.getScores(), scores, op.getIndices(), out)))
    return failure();
  int64_t B = scores->shape[0], N = scores->shape[1], k = op.getK();
  if (N > pb.bufferElems(Buffer::Idx) || N > pb.bufferElems(Buffer::Act))
    return pb.error() << "top-k over " << N
                      << " scores exceeds one buffer fill (not implemented)";
  for (int64_t b = 0; b < B; ++b) {
    core.moveVector(*scores, b, N, {Buffer::Act, 0, N}, true);
    TopkInstr topk;
    topk.flags = TopkIota;
    topk.role = topkRole(op);
    topk.scores = {Buffer::Act, 0};
    topk.n = N, topk.k = k;
    topk.seed = core.nextTopkSeed();
    pb.emit(topk);
    DramRef dst = out->ref;
    dst.cls = TensorClass::Index;
    dst.addr = out->addrOf(b * k);
    pb.store(dst, k * 8, {Buffer::Idx, 0, k}, 1, k);
  }
  return success();
}

/// fp32 rows [.., D] -> fixed-point rows in DRAM (docs/ISA.md): each row
/// is quantized with its own scale by a fixed-point store.
LogicalResult lowerQuantize(LoweringCore &core, QuantizeOp op) {
  const Tensor *in, *codes;
  if (failed(core.get(op.getInput(), in, op.getCodes(), codes)))
    return failure();
  return core.repack(*in, *codes, codes->packedCols);
}

/// A dequantize that is not read only by attention materializes fp32.
LogicalResult lowerDequantize(LoweringCore &core, DequantizeOp op) {
  const Tensor *codes, *out;
  if (failed(core.get(op.getCodes(), codes, op.getResult(), out)))
    return failure();
  return core.repack(*codes, *out, codes->packedCols);
}
} // namespace

LogicalResult isa::lowerPruningFamily(LoweringCore &core, Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](spatten::TopkOp o) { return lowerTopk(core, o); })
      .Case([&](PruneTokensOp o) { return lowerPruneTokens(core, o); })
      .Case([&](PruneHeadsOp o) { return lowerPruneHeads(core, o); })
      .Case([&](QuantizeOp o) { return lowerQuantize(core, o); })
      .Case([&](DequantizeOp o) { return lowerDequantize(core, o); });
}

//===- LinearLowering.cpp - spatten.linear to GEMM tiles ------------------===//
//
// Y[M, N] = X[M, K] W[K, N] (+ bias) as GEMM tiles that fit one slot of the
// act, wgt and acc buffers. A pruned weight or bias is read in place, its
// kept heads gathered from the unpruned matrix (cascade head pruning); a
// key projection of progressive quantization stores its key columns as MSB
// and LSB planes directly.
//
//===----------------------------------------------------------------------===//

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/Support/MathExtras.h"

#include <numeric>

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// A GEMM operand that is the kept heads of a matrix, read in place
/// (`prune_heads` of a linear's weight or bias): `src` viewed as 2-D
/// ([R, cols]; a bias is one row), heads of `D` elements along `axis`
/// (0 rows, 1 columns), kept-head list at `listOff` in the idx buffer.
/// `src` is null for an operand that is not such a view.
struct KeptHeads {
  const Tensor *src = nullptr;
  int64_t cols = 0, axis = 0, D = 0, listOff = 0;
};

struct LinearTiles {
  int64_t tm, tn, tk;
};

class LinearLowering {
public:
  LinearLowering(LoweringCore &core, LinearOp op)
      : core(core), pb(core.pb), op(op) {}

  LogicalResult lower();

private:
  LoweringCore &core;
  ProgramBuilder &pb;
  LinearOp op;
  const Tensor *x = nullptr, *y = nullptr;
  /// The unpruned weight and bias (null for a kept-head view or no bias).
  const Tensor *weight = nullptr, *bias = nullptr;
  KeptHeads wh, bh;
  std::optional<ProjectionPlanes> planes;
  bool transB = false;
  int64_t M = 0, N = 0, K = 0;

  LogicalResult resolveOperands();
  FailureOr<KeptHeads> keptHeadsOf(Value v);
  std::optional<LinearTiles> chooseTiles(int64_t unit);
  void emitTile(const LinearTiles &t, int64_t m0, int64_t m, int64_t n0,
                int64_t n, int64_t k0, int64_t tile, int64_t cOff);
  void loadWeightTile(int64_t off, int64_t k0, int64_t k, int64_t n0,
                      int64_t n);
  void loadKeptHeads(SramRef dst, const KeptHeads &m, int64_t r0, int64_t R,
                     int64_t c0, int64_t C);
  void storeOutputTile(SramRef acc, int64_t m0, int64_t m, int64_t n0,
                       int64_t n);
  void storePlanes(SramRef acc, int64_t m0, int64_t m, int64_t n0, int64_t n);
};
} // namespace

/// The operands' placements and views; the weight's kept-head list is
/// loaded before the bias's.
LogicalResult LinearLowering::resolveOperands() {
  if (failed(core.get(op.getInput(), x, op.getOutput(), y)))
    return failure();
  transB = op.getTransposeWeight();
  K = x->cols(), M = x->rows(), N = y->cols();
  planes = core.plan.planesWrittenBy(op);
  FailureOr<KeptHeads> w = keptHeadsOf(op.getWeight());
  FailureOr<KeptHeads> b = op.getBias() ? keptHeadsOf(op.getBias())
                                        : FailureOr<KeptHeads>(KeptHeads{});
  if (failed(w) || failed(b))
    return failure();
  wh = *w, bh = *b;
  if (!wh.src && failed(core.get(op.getWeight(), weight)))
    return failure();
  if (op.getBias() && !bh.src && failed(core.get(op.getBias(), bias)))
    return failure();
  return success();
}

LogicalResult LinearLowering::lower() {
  if (failed(resolveOperands()))
    return failure();
  // tn granularity: whole heads when writing planes; output tiles of whole
  // kept heads, one periodic gather per W tile.
  int64_t unit = planes ? planes->planes[0].packedCols : 1;
  if (wh.src && wh.axis == (transB ? 0 : 1))
    unit = std::lcm(unit, wh.D);
  std::optional<LinearTiles> tiles = chooseTiles(unit);
  if (!tiles)
    return pb.error() << "the weight, act and acc buffers cannot hold a "
                      << unit << "-column GEMM tile of " << K << " inputs";
  int64_t tile = 0, outTile = 0;
  for (int64_t m0 = 0; m0 < M; m0 += tiles->tm) {
    int64_t m = std::min(tiles->tm, M - m0);
    for (int64_t n0 = 0; n0 < N; n0 += tiles->tn, ++outTile) {
      int64_t n = std::min(tiles->tn, N - n0);
      int64_t cOff = core.slotOff(Buffer::Acc, outTile);
      for (int64_t k0 = 0; k0 < K; k0 += tiles->tk, ++tile)
        emitTile(*tiles, m0, m, n0, n, k0, tile, cOff);
      storeOutputTile({Buffer::Acc, cOff, n}, m0, m, n0, n);
    }
  }
  return success();
}

/// The A, W (and on the first k tile, bias) loads and the GEMM of one
/// k tile of output tile (m0, n0).
void LinearLowering::emitTile(const LinearTiles &t, int64_t m0, int64_t m,
                              int64_t n0, int64_t n, int64_t k0, int64_t tile,
                              int64_t cOff) {
  int64_t k = std::min(t.tk, K - k0);
  int64_t aOff = core.slotOff(Buffer::Act, tile);
  int64_t bOff = core.slotOff(Buffer::Wgt, tile);
  int64_t biasOff = bOff + t.tk * t.tn;
  DramRef a = x->ref;
  a.addr = x->addrOf(m0 * K + k0);
  pb.load({Buffer::Act, aOff, k}, a, K * 4, m, k);
  if (wh.src && transB)
    loadKeptHeads({Buffer::Wgt, bOff, k}, wh, n0, n, k0, k);
  else if (wh.src)
    loadKeptHeads({Buffer::Wgt, bOff, n}, wh, k0, k, n0, n);
  else
    loadWeightTile(bOff, k0, k, n0, n);
  bool addBias = op.getBias() && k0 == 0;
  if (addBias && bh.src) {
    loadKeptHeads({Buffer::Wgt, biasOff, n}, bh, 0, 1, n0, n);
  } else if (addBias) {
    DramRef bb = bias->ref;
    bb.addr = bias->addrOf(n0);
    pb.load({Buffer::Wgt, biasOff, n}, bb, n * 4, 1, n);
  }
  GemmInstr gemm;
  gemm.flags = (k0 ? GemmAccumulate : 0) | (addBias ? GemmBias : 0) |
               (transB ? GemmTransposeB : 0);
  gemm.a = {Buffer::Act, aOff, k};
  gemm.b = {Buffer::Wgt, bOff, transB ? k : n};
  gemm.c = {Buffer::Acc, cOff, n};
  gemm.bias = {Buffer::Wgt, biasOff, 0};
  gemm.m = m, gemm.n = n, gemm.k = k;
  pb.emit(gemm);
}

/// Stores output tile rows m0.., columns [n0, n0 + n) of Y: the columns the
/// planes cover as planes, the others as fp32.
void LinearLowering::storeOutputTile(SramRef acc, int64_t m0, int64_t m,
                                     int64_t n0, int64_t n) {
  int64_t pStart = planes ? planes->firstColumn : 0;
  int64_t pEnd = planes ? pStart + planes->planes[0].shape.back() : pStart;
  auto fp32 = [&](int64_t c0, int64_t c1) {
    if (c0 >= c1)
      return;
    DramRef out = y->ref;
    out.addr = y->addrOf(m0 * N + c0);
    pb.store(out, N * 4, {acc.buf, acc.off + c0 - n0, acc.stride}, m, c1 - c0);
  };
  int64_t lo = std::clamp(pStart, n0, n0 + n);
  int64_t hi = std::clamp(pEnd, n0, n0 + n);
  fp32(n0, lo);
  if (lo < hi)
    storePlanes({acc.buf, acc.off + lo - n0, acc.stride}, m0, m, lo - pStart,
                hi - lo);
  fp32(hi, n0 + n);
}

/// The k x n tile (rows k0.., columns n0..) of the weight [K, N] (with
/// `transB`, [N, K] and the tile n x k) into the wgt buffer at `off`.
void LinearLowering::loadWeightTile(int64_t off, int64_t k0, int64_t k,
                                    int64_t n0, int64_t n) {
  DramRef wb = weight->ref;
  wb.addr = transB ? weight->addrOf(n0 * K + k0) : weight->addrOf(k0 * N + n0);
  if (transB)
    pb.load({Buffer::Wgt, off, k}, wb, K * 4, n, k);
  else
    pb.load({Buffer::Wgt, off, n}, wb, N * 4, k, n);
}

/// The kept-head view of `v`, loading its list into the idx buffer.
FailureOr<KeptHeads> LinearLowering::keptHeadsOf(Value v) {
  const InPlaceView *view = core.plan.viewOf(v);
  if (!view || view->kind != InPlaceView::Kind::KeptHeads)
    return KeptHeads{};
  const Tensor *in;
  if (failed(core.get(view->source, in)))
    return failure();
  FailureOr<int64_t> off = core.loadList(view->indices);
  if (failed(off))
    return failure();
  int64_t axis = view->axis + 2 - int64_t(in->shape.size());
  return KeptHeads{in, in->cols(), axis, view->headWidth, *off};
}

/// Rows [r0, r0+R) x columns [c0, c0+C) of the pruned matrix `m` into
/// `dst` (row stride dst.stride) by index-gather DMA from the unpruned
/// one, so that no compacted copy is ever written. Whole kept column
/// heads are one periodic gather (docs/ISA.md, `gather`: period = heads
/// in the tile, one matrix row apart); otherwise one gather per kept head
/// the tile touches, with period 1 (the head's index, rows one matrix row
/// apart).
void LinearLowering::loadKeptHeads(SramRef dst, const KeptHeads &m, int64_t r0,
                                   int64_t R, int64_t c0, int64_t C) {
  const Tensor &x = *m.src;
  int64_t es = dtypeBytes(x.ref.dtype), D = m.D;
  DramRef ref = x.ref;
  if (m.axis == 1 && c0 % D == 0 && C % D == 0 && dst.stride == C) {
    ref.addr = x.addrOf(r0 * m.cols);
    pb.gather({dst.buf, dst.off, D}, ref, D * es, R * (C / D), D,
              {m.listOff + c0 / D, C / D, m.cols * es});
    return;
  }
  int64_t lo = m.axis ? c0 : r0, hi = lo + (m.axis ? C : R);
  for (int64_t j = lo / D; j * D < hi; ++j) {
    int64_t s = std::max(lo, j * D), len = std::min(hi, (j + 1) * D) - s;
    IndexList list{m.listOff + j, 1, m.cols * es};
    if (m.axis == 0) {
      ref.addr = x.addrOf((s - j * D) * m.cols + c0);
      pb.gather({dst.buf, dst.off + (s - lo) * dst.stride, dst.stride}, ref,
                D * m.cols * es, len, C, list);
    } else {
      ref.addr = x.addrOf(r0 * m.cols + s - j * D);
      pb.gather({dst.buf, dst.off + (s - lo), dst.stride}, ref, D * es, R, len,
                list);
    }
  }
}

/// Rows m0.. and plane columns n0.. (of the planes' H*D) quantized into
/// each progressive-quantization plane: one store per head and plane.
void LinearLowering::storePlanes(SramRef acc, int64_t m0, int64_t m, int64_t n0,
                                 int64_t n) {
  ArrayRef<Tensor> ps = planes->planes;
  int64_t D = ps[0].packedCols, H = ps[0].shape.back() / D;
  for (int64_t c = 0; c < n; c += D)
    for (const Tensor &plane : ps) {
      DramRef dst = plane.ref;
      int64_t row = dst.rowBytes(D);
      dst.addr += (m0 * H + (n0 + c) / D) * row;
      pb.store(dst, H * row, {acc.buf, acc.off + c, acc.stride}, m, D);
    }
}

/// GEMM tile sizes for Y[M, N] = X[M, K] W[K, N] that fit one slot of the
/// act (tm x tk), wgt (tk x tn + bias) and acc (tm x tn) buffers, with tn
/// a multiple of `unit`. Every (m, n) output tile reloads its A and W
/// tiles, so DRAM traffic is X x ceil(N / tn) + W x ceil(M / tm): the
/// candidate widths are compared on it (fewer weight re-reads for short
/// sequences, fewer activation re-reads for long ones).
std::optional<LinearTiles> LinearLowering::chooseTiles(int64_t unit) {
  int64_t act = core.slotElems(Buffer::Act), wgt = core.slotElems(Buffer::Wgt);
  int64_t acc = core.slotElems(Buffer::Acc);
  std::optional<LinearTiles> best;
  double bestTraffic = 0;
  for (int64_t width :
       {int64_t(512), int64_t(256), int64_t(128), int64_t(64), int64_t(32),
        int64_t(16), acc / std::max<int64_t>(M, 1)}) {
    int64_t tn = std::min({N, width, kMaxDim16}) / unit * unit;
    if (tn <= 0)
      tn = unit;
    int64_t tk = std::min({K, (wgt - tn) / tn, kMaxDim16});
    if (tk <= 0 || tn > acc)
      continue;
    int64_t tm = std::min({M, act / tk, acc / tn, kMaxDim16});
    if (tm <= 0)
      continue;
    double traffic = double(M) * K * llvm::divideCeil(N, tn) +
                     double(K) * N * llvm::divideCeil(M, tm);
    if (!best || traffic < bestTraffic) {
      best = LinearTiles{tm, tn, tk};
      bestTraffic = traffic;
    }
  }
  return best;
}

LogicalResult isa::lowerLinear(LoweringCore &core, Operation *op) {
  return LinearLowering(core, cast<LinearOp>(op)).lower();
}

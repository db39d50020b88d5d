//===- Lowering.cpp - Per-op tiling of spatten ops ------------------------===//
//
// Each lowering streams tiles DRAM -> SRAM -> unit -> SRAM -> DRAM. Tile
// sizes come from the SRAM buffer sizes of the hardware configuration
// (`*_buffer_bytes`) and from the ISA field widths (docs/ISA.md).
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// The largest `m`/`n`/`k`/`lq` an instruction encodes (16-bit fields).
constexpr int64_t kMaxDim16 = (1 << 16) - 1;
/// The largest `rows` a DMA or VEC instruction encodes (24-bit field).
constexpr int64_t kMaxRows = (1 << 24) - 1;

double d(int64_t v) { return double(v); }
double d(Buffer b) { return double(unsigned(b)); }

/// The value of a one-element constant, if `v` is one.
std::optional<float> scalarConstant(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!c || !type || type.getNumElements() != 1 || !type.getElementType().isF32())
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue()))
    return *dense.getValues<float>().begin();
  if (auto res = dyn_cast<DenseF32ResourceElementsAttr>(c.getValue()))
    if (std::optional<ArrayRef<float>> data = res.tryGetAsArrayRef())
      if (!data->empty())
        return data->front();
  return std::nullopt;
}

/// One multi-head attention, from a fused `spatten.attention` or from the
/// decomposed form the SpAtten passes build: `attention_probs` or
/// `progressive_fetch`, then `local_value_prune`, `attention_output`, and
/// the `token_importance` / `head_importance` that read them.
struct AttentionParts {
  Value query, key, value, mask, pastKey, pastValue, presentKey, presentValue;
  Value output;
  Value importanceIn, importanceOut;         ///< [B, keys] token importance
  Value headImportanceIn, headImportanceOut; ///< [B, H] head importance
  int64_t heads;
  spatten::MaskKind kind;
  std::optional<double> maskFill;
  double scale;
  int64_t valueKeep = 0; ///< ATTN `vk`; 0 = no local value pruning
  std::optional<double> pqThreshold; ///< set for progressive quantization
  bool pqValues = false;             ///< V in planes too (`--pq-values`)
  /// Local value pruning fetches only the V rows a query tile keeps, after
  /// its top-k, instead of every V row with K (see deferValueFetch).
  bool deferValues = false;
  Operation *source = nullptr;       ///< owner of the K/V planes (scratch)

  /// The fields every attention-like op has (query, key, mask, heads,
  /// mask kind and fill, scale).
  template <typename AttentionLikeOp>
  static AttentionParts common(AttentionLikeOp op) {
    AttentionParts parts{};
    parts.query = op.getQuery();
    parts.key = op.getKey();
    parts.mask = op.getMask();
    parts.heads = int64_t(op.getNumHeads());
    parts.kind = op.getMaskKind();
    if (op.getMaskFill())
      parts.maskFill = op.getMaskFill()->convertToDouble();
    parts.scale = op.getScale().convertToDouble();
    return parts;
  }

  static AttentionParts of(AttentionOp op) {
    AttentionParts parts = common(op);
    parts.value = op.getValue();
    parts.pastKey = op.getPastKey();
    parts.pastValue = op.getPastValue();
    parts.presentKey = op.getPresentKey();
    parts.presentValue = op.getPresentValue();
    parts.output = op.getOutput();
    return parts;
  }
};

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<ShapedType>(v.getType()).getShape();
}

/// Per-op parameters of the ATTN instructions of one query tile.
struct AttnTile {
  int64_t b, h, q0, rows, keys, past, D, impOff;
  bool perQueryMask;
  int64_t kvOff, qOff, oOff; ///< double-buffering slots of K/V, Q and O
};

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

struct Lowerer {
  ProgramBuilder &pb;
  llvm::DenseMap<Value, Tensor> &tensors;
  llvm::DenseMap<Operation *, SmallVector<Tensor, 2>> &scratch;
  int64_t &topkSeed;

  const Tensor &t(Value v) { return tensors[v]; }

  /// Offsets in the idx buffer of the index lists this op loaded, by value
  /// (one Lowerer lowers one op, so each list is loaded once per op).
  SmallVector<std::pair<Value, int64_t>, 4> lists;
  int64_t listTop = 0;

  /// The idx buffer offset of a list this op loaded (loadList).
  int64_t listOffset(Value indices) const {
    for (auto &[v, off] : lists)
      if (v == indices)
        return off;
    llvm_unreachable("index list not loaded");
  }

  /// Loads the int64 index list `indices` ([k]) into the idx buffer unless
  /// this op already did; returns its offset there.
  FailureOr<int64_t> loadList(Value indices) {
    if (llvm::is_contained(llvm::make_first_range(lists), indices))
      return listOffset(indices);
    const Tensor &idx = t(indices);
    int64_t k = idx.numel();
    if (listTop + k > pb.bufferElems(Buffer::Idx)) {
      pb.error() << k << " head indices do not fit the idx buffer";
      return failure();
    }
    DramRef ref = idx.ref;
    ref.cls = TensorClass::Index;
    pb.load({Buffer::Idx, listTop, k}, ref, k * dtypeBytes(ref.dtype), 1, k);
    lists.push_back({indices, listTop});
    listTop += k;
    return lists.back().second;
  }

  void vec(VecFunc func, unsigned flags, SramRef x, SramRef y, SramRef z,
           SramRef w, int64_t rows, int64_t cols, float imm = 0) {
    pb.emit(Opcode::Vec,
            {{"func", double(func)}, {"flags", double(flags)},
             {"x_buf", d(x.buf)}, {"x_off", d(x.off)}, {"x_stride", d(x.stride)},
             {"y_buf", d(y.buf)}, {"y_off", d(y.off)}, {"y_stride", d(y.stride)},
             {"z_buf", d(z.buf)}, {"z_off", d(z.off)}, {"z_stride", d(z.stride)},
             {"w_buf", d(w.buf)}, {"w_off", d(w.off)}, {"w_stride", d(w.stride)},
             {"rows", d(rows)}, {"cols", d(cols)}, {"imm", double(imm)}});
  }

  /// Rows per tile when each row needs `cols` elements in every buffer.
  FailureOr<int64_t> commonTile(ArrayRef<Buffer> bufs, int64_t cols,
                                int64_t limit = kMaxRows) {
    for (Buffer b : bufs) {
      FailureOr<int64_t> n = rowsPerSlot(b, cols, limit);
      if (failed(n))
        return failure();
      limit = *n;
    }
    return limit;
  }

  /// Double buffering (hardware `double_buffered`): tile `i` of a loop uses
  /// half `i % 2` of each buffer it streams through, so that the DMA of
  /// tile i+1 overlaps the compute of tile i (the scheduling pass finds no
  /// conflict between them).
  int64_t numSlots() const { return pb.config().doubleBuffered ? 2 : 1; }
  int64_t slotElems(Buffer b) const { return pb.bufferElems(b) / numSlots(); }
  int64_t slotOff(Buffer b, int64_t i) const {
    return (i % numSlots()) * slotElems(b);
  }
  /// Rows of `cols` that fit one slot of `buf`.
  FailureOr<int64_t> rowsPerSlot(Buffer buf, int64_t cols, int64_t limit) {
    return pb.rowsThatFit(buf, cols, limit,
                          pb.bufferElems(buf) - slotElems(buf));
  }

  /// x (rows of `cols`) -> VEC func -> result, tiled over rows; `y`, `w`
  /// and `imm` are passed through (layer norm's gamma, beta and epsilon).
  LogicalResult rowwise(Value in, Value out, VecFunc func,
                        SramRef y = {Buffer::Act, 0, 0},
                        SramRef w = {Buffer::Act, 0, 0}, float imm = 0) {
    const Tensor &x = t(in), &z = t(out);
    int64_t cols = x.cols(), rows = x.rows();
    FailureOr<int64_t> tile = commonTile({Buffer::Act, Buffer::Acc}, cols);
    if (failed(tile))
      return failure();
    for (int64_t r0 = 0, i = 0; r0 < rows; r0 += *tile, ++i) {
      int64_t n = std::min(*tile, rows - r0);
      DramRef src = x.ref, dst = z.ref;
      src.addr = x.addrOf(r0 * cols);
      dst.addr = z.addrOf(r0 * cols);
      SramRef in{Buffer::Act, slotOff(Buffer::Act, i), cols};
      SramRef out{Buffer::Acc, slotOff(Buffer::Acc, i), cols};
      pb.load(in, src, cols * 4, n, cols);
      vec(func, 0, in, y, out, w, n, cols, imm);
      pb.store(dst, cols * 4, out, n, cols);
    }
    return success();
  }

  LogicalResult lowerLinear(LinearOp op) {
    const Tensor &x = t(op.getInput()), &y = t(op.getOutput());
    bool transB = op.getTransposeWeight();
    int64_t K = x.cols(), M = x.rows(), N = y.cols();
    Value bias = op.getBias();
    ArrayRef<Tensor> planes;
    int64_t unit = 1; // tn granularity: whole heads when writing planes
    if (auto it = scratch.find(op); it != scratch.end()) {
      planes = ArrayRef(it->second).take_front(2);
      unit = planes[0].packedCols;
    }
    FailureOr<KeptHeads> wh = keptHeadsOf(op.getWeight());
    FailureOr<KeptHeads> bh =
        bias ? keptHeadsOf(bias) : FailureOr<KeptHeads>(KeptHeads{});
    if (failed(wh) || failed(bh))
      return failure();
    // Output tiles of whole kept heads: one periodic gather per W tile.
    if (wh->src && wh->axis == (transB ? 0 : 1))
      unit = std::lcm(unit, wh->D);
    std::optional<LinearTiles> tiles = chooseLinearTiles(M, N, K, unit);
    if (!tiles)
      return pb.error() << "the weight, act and acc buffers cannot hold a "
                        << unit << "-column GEMM tile of " << K << " inputs";
    auto [tm, tn, tk] = *tiles;
    int64_t pStart = planes.empty() ? 0 : planeStart(op);
    int64_t tile = 0, outTile = 0;
    for (int64_t m0 = 0; m0 < M; m0 += tm) {
      int64_t m = std::min(tm, M - m0);
      for (int64_t n0 = 0; n0 < N; n0 += tn, ++outTile) {
        int64_t n = std::min(tn, N - n0);
        int64_t cOff = slotOff(Buffer::Acc, outTile);
        for (int64_t k0 = 0; k0 < K; k0 += tk, ++tile) {
          int64_t k = std::min(tk, K - k0);
          int64_t aOff = slotOff(Buffer::Act, tile);
          int64_t bOff = slotOff(Buffer::Wgt, tile);
          DramRef a = x.ref;
          a.addr = x.addrOf(m0 * K + k0);
          pb.load({Buffer::Act, aOff, k}, a, K * 4, m, k);
          if (wh->src && transB)
            loadKeptHeads({Buffer::Wgt, bOff, k}, *wh, n0, n, k0, k);
          else if (wh->src)
            loadKeptHeads({Buffer::Wgt, bOff, n}, *wh, k0, k, n0, n);
          else
            loadWeightTile(t(op.getWeight()), transB, bOff, K, N, k0, k, n0,
                           n);
          bool addBias = bias && k0 == 0;
          if (addBias && bh->src) {
            loadKeptHeads({Buffer::Wgt, bOff + tk * tn, n}, *bh, 0, 1, n0, n);
          } else if (addBias) {
            DramRef bb = t(bias).ref;
            bb.addr = t(bias).addrOf(n0);
            pb.load({Buffer::Wgt, bOff + tk * tn, n}, bb, n * 4, 1, n);
          }
          unsigned flags = (k0 ? GemmAccumulate : 0) |
                           (addBias ? GemmBias : 0) |
                           (transB ? GemmTransposeB : 0);
          pb.emit(Opcode::Gemm,
                  {{"flags", double(flags)}, {"a_buf", d(Buffer::Act)},
                   {"a_off", d(aOff)}, {"a_stride", d(k)},
                   {"b_buf", d(Buffer::Wgt)}, {"b_off", d(bOff)},
                   {"b_stride", d(transB ? k : n)}, {"c_buf", d(Buffer::Acc)},
                   {"c_off", d(cOff)}, {"c_stride", d(n)},
                   {"bias_buf", d(Buffer::Wgt)}, {"bias_off", d(bOff + tk * tn)},
                   {"m", d(m)}, {"n", d(n)}, {"k", d(k)}});
        }
        storeOutputTile(y, planes, pStart, {Buffer::Acc, cOff, n},
                        m0, m, n0, n);
      }
    }
    return success();
  }

  /// The first output column a linear writes as progressive-quantization
  /// planes: that of the key slice that reads them (a fused projection),
  /// else 0.
  int64_t planeStart(LinearOp op) {
    for (Operation *user : op.getOutput().getUsers())
      if (auto slice = dyn_cast<SliceOp>(user); slice && scratch.count(slice))
        return slice.getOffsets().back();
    return 0;
  }

  /// Stores output tile rows m0.., columns [n0, n0 + n) of y [M, N]: the
  /// columns `planes` cover (from `pStart`) as planes, the others as fp32.
  void storeOutputTile(const Tensor &y, ArrayRef<Tensor> planes,
                       int64_t pStart, SramRef acc, int64_t m0, int64_t m,
                       int64_t n0, int64_t n) {
    int64_t N = y.cols();
    int64_t pEnd = planes.empty() ? pStart : pStart + planes[0].shape.back();
    auto fp32 = [&](int64_t c0, int64_t c1) {
      if (c0 >= c1)
        return;
      DramRef out = y.ref;
      out.addr = y.addrOf(m0 * N + c0);
      pb.store(out, N * 4, {acc.buf, acc.off + c0 - n0, acc.stride}, m,
               c1 - c0);
    };
    int64_t lo = std::clamp(pStart, n0, n0 + n);
    int64_t hi = std::clamp(pEnd, n0, n0 + n);
    fp32(n0, lo);
    if (lo < hi)
      storePlanes(planes, {acc.buf, acc.off + lo - n0, acc.stride}, m0, m,
                  lo - pStart, hi - lo);
    fp32(hi, n0 + n);
  }

  /// The k x n tile (rows k0.., columns n0..) of the weight [K, N] (with
  /// `transB`, [N, K] and the tile n x k) into the wgt buffer at `off`.
  void loadWeightTile(const Tensor &w, bool transB, int64_t off, int64_t K,
                      int64_t N, int64_t k0, int64_t k, int64_t n0,
                      int64_t n) {
    DramRef wb = w.ref;
    wb.addr = transB ? w.addrOf(n0 * K + k0) : w.addrOf(k0 * N + n0);
    if (transB)
      pb.load({Buffer::Wgt, off, k}, wb, K * 4, n, k);
    else
      pb.load({Buffer::Wgt, off, n}, wb, N * 4, k, n);
  }

  /// A GEMM operand that is the kept heads of a matrix, read in place
  /// (`prune_heads` of a linear's weight or bias): `src` viewed as 2-D
  /// ([R, cols]; a bias is one row), heads of `D` elements along `axis`
  /// (0 rows, 1 columns), kept-head list at `listOff` in the idx buffer.
  /// `src` is null for an operand that is not such a view.
  struct KeptHeads {
    const Tensor *src = nullptr;
    int64_t cols = 0, axis = 0, D = 0, listOff = 0;
  };

  /// The kept-head view of `v`, loading its list into the idx buffer.
  FailureOr<KeptHeads> keptHeadsOf(Value v) {
    auto prune = v.getDefiningOp<PruneHeadsOp>();
    if (!prune || !readsHeadsInPlace(prune))
      return KeptHeads{};
    const Tensor &in = t(prune.getInput());
    FailureOr<int64_t> off = loadList(prune.getIndices());
    if (failed(off))
      return failure();
    int64_t axis = prune.getAxis() + 2 - int64_t(in.shape.size());
    return KeptHeads{&in, in.cols(), axis,
                     in.shape[prune.getAxis()] / int64_t(prune.getNumHeads()),
                     *off};
  }

  /// Rows [r0, r0+R) x columns [c0, c0+C) of the pruned matrix `m` into
  /// `dst` (row stride dst.stride) by index-gather DMA from the unpruned
  /// one, so that no compacted copy is ever written. Whole kept column
  /// heads are one periodic gather (docs/ISA.md, `gather`: period = heads
  /// in the tile, one matrix row apart); otherwise one gather per kept head
  /// the tile touches, with period 1 (the head's index, rows one matrix row
  /// apart).
  void loadKeptHeads(SramRef dst, const KeptHeads &m, int64_t r0, int64_t R,
                     int64_t c0, int64_t C) {
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
        pb.gather({dst.buf, dst.off + (s - lo), dst.stride}, ref, D * es, R,
                  len, list);
      }
    }
  }

  /// Rows m0.. and plane columns n0.. (of the planes' H*D) quantized into
  /// each progressive-quantization plane: one store per head and plane.
  void storePlanes(ArrayRef<Tensor> planes, SramRef acc, int64_t m0,
                   int64_t m, int64_t n0, int64_t n) {
    int64_t D = planes[0].packedCols, H = planes[0].shape.back() / D;
    for (int64_t c = 0; c < n; c += D)
      for (const Tensor &plane : planes) {
        DramRef dst = plane.ref;
        int64_t row = dst.rowBytes(D);
        dst.addr += (m0 * H + (n0 + c) / D) * row;
        pb.store(dst, H * row, {acc.buf, acc.off + c, acc.stride}, m, D);
      }
  }

  struct LinearTiles {
    int64_t tm, tn, tk;
  };

  /// GEMM tile sizes for Y[M, N] = X[M, K] W[K, N] that fit one slot of the
  /// act (tm x tk), wgt (tk x tn + bias) and acc (tm x tn) buffers, with tn
  /// a multiple of `unit`. Every (m, n) output tile reloads its A and W
  /// tiles, so DRAM traffic is X x ceil(N / tn) + W x ceil(M / tm): the
  /// candidate widths are compared on it (fewer weight re-reads for short
  /// sequences, fewer activation re-reads for long ones).
  std::optional<LinearTiles> chooseLinearTiles(int64_t M, int64_t N, int64_t K,
                                               int64_t unit) {
    int64_t act = slotElems(Buffer::Act), wgt = slotElems(Buffer::Wgt);
    int64_t acc = slotElems(Buffer::Acc);
    std::optional<LinearTiles> best;
    double bestTraffic = 0;
    for (int64_t width : {int64_t(512), int64_t(256), int64_t(128), int64_t(64),
                          int64_t(32), int64_t(16), acc / std::max<int64_t>(M, 1)}) {
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

  /// Loads `rows` rows of head `h` of a [B, L, H*D] tensor (batch `b`, from
  /// row `r0`) into `dst`: fp32 columns [h*D, (h+1)*D), or the head's
  /// fixed-point rows when the tensor is packed.
  void loadHeadRows(SramRef dst, const Tensor &src, TensorClass cls, int64_t b,
                    int64_t h, int64_t r0, int64_t rows, int64_t D,
                    DmaPred pred = DmaPred::Always) {
    int64_t L = src.shape[1], HD = src.shape[2], H = HD / D;
    DramRef ref = src.ref;
    ref.cls = cls;
    if (src.ref.packed()) {
      int64_t row = src.ref.rowBytes(D);
      ref.addr += ((b * L + r0) * H + h) * row;
      pb.load(dst, ref, H * row, rows, D, pred);
      return;
    }
    ref.addr = src.addrOf((b * L + r0) * HD + h * D);
    pb.load(dst, ref, HD * 4, rows, D, pred);
  }

  /// Where attention reads the heads of a [B, L, H*D] operand: `src`
  /// itself (`listOff` < 0), or for a `prune_heads` read in place the
  /// unpruned tensor, head `h` being entry `listOff + h` of the idx buffer.
  struct HeadRows {
    const Tensor *src;
    int64_t listOff = -1;
    /// A column slice read in place: its first column in `src` [B, L, C].
    int64_t colOff = 0;
  };

  HeadRows headRows(Value v) {
    auto prune = v.getDefiningOp<PruneHeadsOp>();
    if (prune && readsHeadsInPlace(prune))
      return {&t(prune.getInput()), listOffset(prune.getIndices())};
    auto slice = v.getDefiningOp<SliceOp>();
    if (slice && readsColumnsInPlace(slice))
      return {&t(slice.getInput()), -1, slice.getOffsets().back()};
    return {&t(v)};
  }

  /// Loads the kept-head lists of the attention operands read in place
  /// (headRows reads their offsets).
  LogicalResult loadHeadLists(const AttentionParts &op) {
    for (Value v : {op.query, op.key, op.value})
      if (auto prune = v ? v.getDefiningOp<PruneHeadsOp>() : PruneHeadsOp();
          prune && readsHeadsInPlace(prune) &&
          failed(loadList(prune.getIndices())))
        return failure();
    return success();
  }

  /// loadHeadRows of a HeadRows: a kept head of an unpruned tensor is one
  /// gather with period 1 (its index, one token row apart), fp32 or packed.
  void loadHeadRows(SramRef dst, const HeadRows &src, TensorClass cls,
                    int64_t b, int64_t h, int64_t r0, int64_t rows, int64_t D,
                    DmaPred pred = DmaPred::Always) {
    if (src.listOff < 0 && src.colOff)
      return loadSliceHeadRows(dst, src, cls, b, h, r0, rows, D, pred);
    // A slice from column 0 reads like a tensor of its input's row width.
    if (src.listOff < 0)
      return loadHeadRows(dst, *src.src, cls, b, h, r0, rows, D, pred);
    const Tensor &in = *src.src;
    int64_t L = in.shape[1], H = in.shape[2] / D;
    DramRef ref = in.ref;
    ref.cls = cls;
    int64_t row = ref.packed() ? ref.rowBytes(D) : D * dtypeBytes(ref.dtype);
    ref.addr += (b * L + r0) * H * row;
    pb.gather(dst, ref, row, rows, D, {src.listOff + h, 1, H * row}, pred);
  }

  /// Head h of a column slice of fp32 [B, L, C], read in place: columns
  /// colOff + h*D.., one input row apart.
  void loadSliceHeadRows(SramRef dst, const HeadRows &src, TensorClass cls,
                         int64_t b, int64_t h, int64_t r0, int64_t rows,
                         int64_t D, DmaPred pred) {
    const Tensor &in = *src.src;
    int64_t L = in.shape[1], C = in.shape[2];
    DramRef ref = in.ref;
    ref.cls = cls;
    ref.addr = in.addrOf((b * L + r0) * C + src.colOff + h * D);
    pb.load(dst, ref, C * 4, rows, D, pred);
  }

  /// The ATTN fields shared by every phase of one query tile.
  SmallVector<std::pair<StringRef, double>, 32>
  attnFields(const AttentionParts &op, const AttnTile &tile, AttnPhase phase,
             unsigned flags) {
    unsigned kind = unsigned(op.kind);
    if (op.maskFill)
      flags |= AttnMaskSelect;
    return {{"mask_kind", double(kind)}, {"flags", double(flags)},
            {"phase", double(phase)}, {"mask_fill", op.maskFill.value_or(0)},
            {"q_buf", d(Buffer::Q)}, {"q_off", d(tile.qOff)},
            {"q_stride", d(tile.D)},
            {"k_buf", d(Buffer::K)}, {"k_off", d(tile.kvOff)},
            {"k_stride", d(tile.D)},
            {"v_buf", d(Buffer::V)}, {"v_off", d(tile.kvOff)},
            {"v_stride", d(tile.D)},
            {"o_buf", d(Buffer::Acc)}, {"o_off", d(tile.oOff)},
            {"o_stride", d(tile.D)},
            {"mask_buf", d(Buffer::Mask)},
            {"mask_stride", d(tile.perQueryMask ? tile.keys : 0)},
            {"lq", d(tile.rows)}, {"lk", d(tile.keys)}, {"d", d(tile.D)},
            {"causal_offset", d(tile.past + tile.q0)},
            {"imp_buf", d(Buffer::Mask)}, {"imp_off", d(tile.impOff)},
            {"head_imp_buf", d(Buffer::Wgt)}, {"head_imp_off", d(tile.h)},
            {"vk", d(op.valueKeep)},
            {"pq_threshold", op.pqThreshold.value_or(0)},
            {"scale", op.scale}};
  }

  /// The ATTN instructions of one query tile, with the K rows and (unless
  /// value pruning fetches them later) the V rows already in SRAM:
  /// progressive quantization decides, refetches the key LSB plane under
  /// the predicate and finishes; local value pruning that defers its V
  /// fetch (deferValueFetch) defers prob*V until only the V rows some query
  /// kept are fetched (docs/ISA.md, `attn`).
  /// `afterFirst` emits what may run while the last ATTN computes (the next
  /// head's inputs), after the DMAs that wait for the first one: a DMA
  /// that waits for the compute queue waits for every ATTN before it.
  LogicalResult emitAttn(const AttentionParts &op, const AttnTile &tile,
                         llvm::function_ref<LogicalResult()> afterFirst) {
    unsigned importance =
        op.importanceOut ? unsigned(AttnAccumulateImportance) : 0;
    unsigned headImportance =
        op.headImportanceOut ? unsigned(AttnHeadImportance) : 0;
    AttnPhase main = AttnPhase::None;
    if (op.pqThreshold) {
      pb.emit(Opcode::Attn, attnFields(op, tile, AttnPhase::Decide, 0));
      loadPlane(op, tile, 1, Buffer::K, DmaPred::Unconfident);
      if (op.pqValues && !op.deferValues)
        loadPlane(op, tile, 3, Buffer::V, DmaPred::Unconfident);
      if (failed(afterFirst()))
        return failure();
      main = AttnPhase::Finish;
    }
    if (!op.deferValues) {
      pb.emit(Opcode::Attn,
              attnFields(op, tile, main, importance | headImportance));
      return op.pqThreshold ? success() : afterFirst();
    }
    pb.emit(Opcode::Attn,
            attnFields(op, tile, main, importance | AttnDeferValues));
    if (op.pqValues) {
      loadPlane(op, tile, 2, Buffer::V, DmaPred::ValueRows);
      loadPlane(op, tile, 3, Buffer::V, DmaPred::UnconfidentValueRows);
    } else {
      loadHeadRows({Buffer::V, tile.kvOff, tile.D}, headRows(op.value),
                   TensorClass::V,
                   tile.b, tile.h, 0, tile.keys, tile.D, DmaPred::ValueRows);
    }
    if (!op.pqThreshold && failed(afterFirst()))
      return failure();
    pb.emit(Opcode::Attn,
            attnFields(op, tile, AttnPhase::Values, headImportance));
    return success();
  }

  /// Loads the head's rows of progressive-quantization plane `index` of
  /// scratch (K MSB, K LSB, V MSB, V LSB) into `buf`.
  void loadPlane(const AttentionParts &op, const AttnTile &tile,
                 unsigned index, Buffer buf, DmaPred pred) {
    const Tensor &plane = scratch[op.source][index];
    loadHeadRows({buf, tile.kvOff, tile.D}, plane, plane.ref.cls, tile.b, tile.h, 0,
                 tile.keys, tile.D, pred);
  }

  /// Loads or stores row `b` of a per-batch vector ([B, n] fp32) at `sram`.
  void moveVector(Value v, int64_t b, int64_t n, SramRef sram, bool load) {
    const Tensor &vec = t(v);
    DramRef ref = vec.ref;
    ref.addr = vec.addrOf(b * n);
    if (load)
      pb.load(sram, ref, n * 4, 1, n);
    else
      pb.store(ref, n * 4, sram, 1, n);
  }

  /// Whether local value pruning should fetch V after the top-k: only
  /// when a query tile of `rows` rows is expected to need at most half of
  /// the `keys` V rows (each row keeps `vk`; taken as independent, the tile
  /// needs 1 - (1 - vk/keys)^rows of them). Otherwise the fetch after the
  /// top-k saves few bytes and exposes its latency, so V is fetched with K
  /// and overlaps the previous head's compute; prob·V still reads only the
  /// kept rows.
  static bool deferValueFetch(int64_t vk, int64_t keys, int64_t rows) {
    if (!vk || vk >= keys)
      return false;
    double needed = 1.0 - std::pow(1.0 - double(vk) / double(keys),
                                   double(rows));
    return needed <= 0.5;
  }

  /// What lowerAttention decided for one attention: sizes, the query tile
  /// and where the mask and importance live.
  struct AttnPlan {
    int64_t B, Lq, H, D, P, keys, tq, impOff;
    /// K/V double-buffering slots: 1 when a head's K or V fills more than
    /// half its buffer (BERT-base at 512 fp32 keys): the next head's fetch
    /// then follows this head's ATTNs instead of overlapping them.
    int64_t kvSlots;
    /// Q and ACC slots: 1 when progressive quantization needs more query
    /// rows in one ATTN than half of those buffers hold.
    int64_t qSlots;
    bool padding, perQueryMask;
    /// Progressive quantization and a deferred V fetch split a head's ATTN
    /// around a DMA that waits for its first part. With one query tile per
    /// head, the next head's inputs are fetched right after that DMA, while
    /// the head's last part computes, instead of after the head.
    bool oneTile, prefetch;
    HeadRows q;
  };

  /// Checks that a head's keys fit one fill of the K, V and mask buffers,
  /// and picks the K/V slots.
  LogicalResult planKeys(AttnPlan &p) {
    int64_t keys = p.keys, D = p.D;
    const HardwareConfig &hw = pb.config();
    if (keys > int64_t(hw.maxKeysPerFill) ||
        keys * D > pb.bufferElems(Buffer::K) ||
        keys * D > pb.bufferElems(Buffer::V) ||
        keys > pb.bufferElems(Buffer::Mask))
      return pb.error() << keys << " keys of width " << D
                        << " exceed one K/V buffer fill (max_keys_per_fill "
                        << hw.maxKeysPerFill
                        << "); multi-fill attention is not implemented";
    bool twoFit = keys * D <= slotElems(Buffer::K) &&
                  keys * D <= slotElems(Buffer::V);
    p.kvSlots = twoFit ? numSlots() : 1;
    return success();
  }

  /// Picks the query tile and its Q/ACC slots.
  LogicalResult planQueryTile(const AttentionParts &op, AttnPlan &p) {
    int64_t keys = p.keys, D = p.D;
    FailureOr<int64_t> tq =
        commonTile({Buffer::Q, Buffer::Acc}, D, std::min(p.Lq, kMaxDim16));
    if (succeeded(tq) && p.perQueryMask)
      tq = commonTile({Buffer::Mask}, keys,
                      std::min(*tq, op.importanceOut ? p.impOff / keys : *tq));
    if (failed(tq))
      return failure();
    p.tq = *tq;
    p.qSlots = numSlots();
    if (!op.pqThreshold || p.tq >= p.Lq)
      return success();
    // The refetch decision is per head (docs/Algorithms.md), so progressive
    // quantization needs every query row in one ATTN: when they do not fit
    // half of the Q and ACC buffers, they take the whole of them.
    if (p.perQueryMask || p.Lq > kMaxDim16 ||
        p.Lq * D > pb.bufferElems(Buffer::Q) ||
        p.Lq * D > pb.bufferElems(Buffer::Acc))
      return pb.error() << p.Lq << " query rows do not fit one ATTN; "
                           "progressive quantization across query tiles is "
                           "not implemented";
    p.tq = p.Lq, p.qSlots = 1;
    return success();
  }

  /// Checks that the attention fits the buffers, picks the query tile and
  /// the value fetch, and writes the planes and head lists it reads.
  FailureOr<AttnPlan> planAttention(AttentionParts &op) {
    ArrayRef<int64_t> qShape = shapeOf(op.query);
    AttnPlan p{};
    p.B = qShape[0], p.Lq = qShape[1], p.H = op.heads, p.D = qShape[2] / p.H;
    p.P = op.pastKey ? t(op.pastKey).shape[2] : 0;
    p.keys = p.P + shapeOf(op.key)[1];
    int64_t keys = p.keys, D = p.D;
    if (failed(planKeys(p)))
      return failure();
    if (op.headImportanceOut && p.H > std::min<int64_t>(
                                          pb.bufferElems(Buffer::Wgt), 1 << 16))
      return pb.error() << "head importance of " << p.H
                        << " heads does not fit the weight buffer";
    p.padding = op.kind == spatten::MaskKind::padding ||
                op.kind == spatten::MaskKind::padding_causal;
    // A per-query mask streams with the query tile; a per-key one is loaded
    // once per batch and read with stride 0. Token importance accumulates
    // in the last `keys` elements of the mask buffer.
    p.perQueryMask = p.padding && t(op.mask).shape.size() == 3;
    p.impOff = pb.bufferElems(Buffer::Mask) - keys;
    if (op.importanceOut && p.impOff < keys)
      return pb.error() << "the mask buffer cannot hold a mask row and the "
                           "importance of " << keys << " keys";
    if (failed(planQueryTile(op, p)))
      return failure();
    // Importance and value pruning work per query tile, adding once per
    // tile and fetching the V rows each tile keeps.
    op.deferValues = deferValueFetch(op.valueKeep, keys, std::min(p.tq, p.Lq));
    if (failed(writePlanes(op, D)) || failed(loadHeadLists(op)))
      return failure();
    p.oneTile = p.tq >= p.Lq;
    // The next head's K/V go to the other slot while this head finishes;
    // with one slot they would overwrite what it still reads.
    p.prefetch = p.oneTile && p.kvSlots > 1 && p.qSlots > 1 &&
                 (op.pqThreshold || op.deferValues);
    p.q = headRows(op.query);
    return p;
  }

  /// The K (and with `--pq-values` V) planes the attention reads, unless
  /// the projection already wrote them.
  LogicalResult writePlanes(const AttentionParts &op, int64_t D) {
    ArrayRef<Tensor> planes = scratch[op.source];
    bool prepacked = op.key.getDefiningOp() &&
                     scratch.count(op.key.getDefiningOp());
    if (op.pqThreshold && !prepacked &&
        failed(repack(t(op.key), planes.take_front(2), D)))
      return failure();
    if (op.pqValues && failed(repack(t(op.value), planes.drop_front(2), D)))
      return failure();
    return success();
  }

  /// Q rows q0..q0+n of head h into `qOff`, with their mask rows when the
  /// mask is per query (the same for every head, so loaded once per tile).
  void loadQueryTile(const AttentionParts &op, const AttnPlan &p, int64_t b,
                     int64_t h, int64_t q0, int64_t n, int64_t qOff) {
    loadHeadRows({Buffer::Q, qOff, p.D}, p.q, TensorClass::Q, b, h, q0, n,
                 p.D);
    if (!p.perQueryMask || (p.oneTile && h != 0))
      return;
    const Tensor &m = t(op.mask);
    DramRef ref = m.ref;
    ref.addr = m.addrOf((b * p.Lq + q0) * p.keys);
    pb.load({Buffer::Mask, 0, p.keys}, ref, p.keys * 4, n, p.keys);
  }

  /// Where head tile `headTile` keeps K and V (the same offset in both
  /// buffers).
  int64_t kvOff(const AttnPlan &p, int64_t headTile) const {
    return p.kvSlots > 1 ? slotOff(Buffer::K, headTile) : 0;
  }

  /// Where query tile `qTile` keeps its rows in `buf` (Q or ACC).
  int64_t qOff(const AttnPlan &p, Buffer buf, int64_t qTile) const {
    return p.qSlots > 1 ? slotOff(buf, qTile) : 0;
  }

  /// Every input of head h with one query tile (prefetch mode).
  LogicalResult loadHead(const AttentionParts &op, const AttnPlan &p,
                         int64_t b, int64_t h, int64_t headTile,
                         int64_t qTile) {
    if (failed(loadKV(op, b, h, p.P, p.D, kvOff(p, headTile))))
      return failure();
    loadQueryTile(op, p, b, h, 0, p.Lq, qOff(p, Buffer::Q, qTile));
    return success();
  }

  /// The ATTN instructions of head h of batch row b, query tile by tile;
  /// `headTile` and `qTile` count the double-buffering slots used so far.
  LogicalResult lowerHead(const AttentionParts &op, const AttnPlan &p,
                          int64_t b, int64_t h, int64_t headTile,
                          int64_t &qTile) {
    int64_t kv = kvOff(p, headTile);
    if (p.prefetch && h == 0 && failed(loadHead(op, p, b, h, headTile, qTile)))
      return failure();
    if (!p.prefetch && failed(loadKV(op, b, h, p.P, p.D, kv)))
      return failure();
    const Tensor &o = t(op.output);
    for (int64_t q0 = 0; q0 < p.Lq; q0 += p.tq, ++qTile) {
      int64_t n = std::min(p.tq, p.Lq - q0);
      int64_t qAt = qOff(p, Buffer::Q, qTile);
      int64_t oAt = qOff(p, Buffer::Acc, qTile);
      if (!p.prefetch)
        loadQueryTile(op, p, b, h, q0, n, qAt);
      auto next = [&] {
        return p.prefetch && h + 1 < p.H
                   ? loadHead(op, p, b, h + 1, headTile + 1, qTile + 1)
                   : success();
      };
      if (failed(emitAttn(op, {b, h, q0, n, p.keys, p.P, p.D, p.impOff,
                               p.perQueryMask, kv, qAt, oAt},
                          next)))
        return failure();
      DramRef out = o.ref;
      out.addr = o.addrOf((b * p.Lq + q0) * p.H * p.D + h * p.D);
      pb.store(out, p.H * p.D * 4, {Buffer::Acc, oAt, p.D}, n, p.D);
    }
    return success();
  }

  LogicalResult lowerAttention(AttentionParts op) {
    FailureOr<AttnPlan> plan = planAttention(op);
    if (failed(plan))
      return failure();
    const AttnPlan &p = *plan;
    int64_t keys = p.keys, H = p.H, headTile = 0, qTile = 0;
    for (int64_t b = 0; b < p.B; ++b) {
      if (p.padding && !p.perQueryMask)
        moveVector(op.mask, b, keys, {Buffer::Mask, 0, keys}, true);
      if (op.importanceOut)
        moveVector(op.importanceIn, b, keys, {Buffer::Mask, p.impOff, keys},
                   true);
      if (op.headImportanceOut)
        moveVector(op.headImportanceIn, b, H, {Buffer::Wgt, 0, H}, true);
      for (int64_t h = 0; h < H; ++h, ++headTile)
        if (failed(lowerHead(op, p, b, h, headTile, qTile)))
          return failure();
      if (op.importanceOut)
        moveVector(op.importanceOut, b, keys, {Buffer::Mask, p.impOff, keys},
                   false);
      if (op.headImportanceOut)
        moveVector(op.headImportanceOut, b, H, {Buffer::Wgt, 0, H}, false);
    }
    return success();
  }

  /// The decomposed attention runs as fused ATTN instructions where its
  /// `attention_output` is: the probabilities, read only by
  /// `token_importance`, `local_value_prune` and this op, never reach DRAM;
  /// a `head_importance` of the output joins them. Other forms are not
  /// implemented.
  LogicalResult lowerAttentionOutput(AttentionOutputOp output) {
    Value probs = output.getProbs();
    int64_t valueKeep = 0;
    if (auto vp = probs.getDefiningOp<LocalValuePruneOp>()) {
      valueKeep = vp.getKeep();
      probs = vp.getProbs();
    }
    Operation *source = probs.getDefiningOp();
    AttentionParts parts;
    if (auto p = dyn_cast_or_null<AttentionProbsOp>(source)) {
      parts = AttentionParts::common(p);
    } else if (auto pf = dyn_cast_or_null<ProgressiveFetchOp>(source)) {
      parts = AttentionParts::common(pf);
      parts.pqThreshold = pf.getThreshold().convertToDouble();
      parts.pqValues = pf.getValues();
    } else {
      return output.emitOpError("reads probabilities that are not computed "
                                "by attention_probs or progressive_fetch "
                                "(not implemented)");
    }
    parts.valueKeep = valueKeep;
    parts.source = source;
    parts.value = output.getValue();
    parts.output = output.getOutput();
    if (failed(collectImportance(source, output, parts)))
      return failure();
    return lowerAttention(parts);
  }

  /// Finds the token and head importance that the ATTN instructions
  /// accumulate; both must be read only after the attention output exists.
  LogicalResult collectImportance(Operation *source, AttentionOutputOp output,
                                  AttentionParts &parts) {
    for (Operation *user : source->getUsers()) {
      if (auto i = dyn_cast<TokenImportanceOp>(user);
          i && !parts.importanceOut) {
        parts.importanceIn = i.getImportance();
        parts.importanceOut = i.getResult();
      } else if (!llvm::isa<LocalValuePruneOp, AttentionOutputOp>(user)) {
        return user->emitOpError("reads attention probabilities; lowering it "
                                 "to spatten_isa is not implemented");
      }
    }
    for (Operation *user : output->getUsers())
      if (auto hi = dyn_cast<HeadImportanceOp>(user)) {
        if (parts.headImportanceOut)
          return hi.emitOpError("is a second head importance of one "
                                "attention (not implemented)");
        parts.headImportanceIn = hi.getImportance();
        parts.headImportanceOut = hi.getResult();
      }
    for (Value v : {parts.importanceOut, parts.headImportanceOut})
      for (Operation *user : v ? SmallVector<Operation *>(v.getUsers())
                               : SmallVector<Operation *>())
        if (user->isBeforeInBlock(output))
          return user->emitOpError("reads an importance before its "
                                   "attention output is computed (not "
                                   "implemented)");
    if (Value in = parts.headImportanceIn; in && in.getDefiningOp() &&
                                           output->isBeforeInBlock(
                                               in.getDefiningOp()))
      return output.emitOpError("accumulates head importance computed after "
                                "it (not implemented)");
    return success();
  }

  /// `attention_probs` and `progressive_fetch` are emitted with the
  /// `attention_output` that reads them; one without it is an error.
  LogicalResult checkFused(Operation *source) {
    for (Operation *user : source->getUsers()) {
      if (llvm::isa<AttentionOutputOp>(user))
        return success();
      if (auto vp = dyn_cast<LocalValuePruneOp>(user))
        if (llvm::any_of(vp->getUsers(), llvm::IsaPred<AttentionOutputOp>))
          return success();
    }
    return source->emitOpError("has no attention_output to fuse with (not "
                               "implemented)");
  }

  /// Fills the K buffer (and the V buffer unless local value pruning
  /// fetches V later) for (b, h): cached rows first, then new rows; writes
  /// the updated cache to present_key/present_value when present. With
  /// progressive quantization, K is the MSB plane.
  LogicalResult loadKV(const AttentionParts &op, int64_t b, int64_t h,
                       int64_t P, int64_t D, int64_t off) {
    int64_t Lk = shapeOf(op.key)[1], H = op.heads;
    struct Side {
      Value cur, past, present;
      Buffer buf;
      TensorClass cls;
    } sides[] = {{op.key, op.pastKey, op.presentKey, Buffer::K, TensorClass::K},
                 {op.value, op.pastValue, op.presentValue, Buffer::V,
                  TensorClass::V}};
    for (const Side &s : sides) {
      if (s.buf == Buffer::V && op.deferValues)
        continue;
      if (s.past) {
        const Tensor &past = t(s.past);
        DramRef ref = past.ref;
        ref.cls = s.cls;
        ref.addr = past.addrOf((b * H + h) * P * D);
        if (P)
          pb.load({s.buf, off, D}, ref, D * 4, P, D);
      }
      if (s.buf == Buffer::K && op.pqThreshold)
        loadHeadRows({s.buf, off, D}, scratch[op.source][0], TensorClass::KMsb,
                     b, h, 0, Lk, D);
      else if (s.buf == Buffer::V && op.pqValues)
        loadHeadRows({s.buf, off, D}, scratch[op.source][2], TensorClass::VMsb,
                     b, h, 0, Lk, D);
      else
        loadHeadRows({s.buf, off + P * D, D}, headRows(s.cur), s.cls, b, h, 0,
                     Lk, D);
      if (s.present) {
        const Tensor &present = t(s.present);
        DramRef ref = present.ref;
        ref.addr = present.addrOf((b * H + h) * (P + Lk) * D);
        pb.store(ref, D * 4, {s.buf, off, D}, P + Lk, D);
      }
    }
    return success();
  }

  LogicalResult lowerLayerNorm(LayerNormOp op) {
    int64_t N = t(op.getInput()).cols();
    if (2 * N > pb.bufferElems(Buffer::Wgt))
      return pb.error() << "gamma and beta of width " << N
                        << " do not fit the weight buffer";
    pb.load({Buffer::Wgt, 0, N}, t(op.getGamma()).ref, N * 4, 1, N);
    pb.load({Buffer::Wgt, N, N}, t(op.getBeta()).ref, N * 4, 1, N);
    return rowwise(op.getInput(), op.getOutput(), VecFunc::LayerNorm,
                   {Buffer::Wgt, 0, 0}, {Buffer::Wgt, N, 0},
                   op.getEpsilon().convertToFloat());
  }

  LogicalResult lowerEmbedding(EmbeddingOp op) {
    const Tensor &ids = t(op.getIndices()), &table = t(op.getTable()),
                 &out = t(op.getOutput());
    int64_t D = table.shape[1], n = ids.numel();
    FailureOr<int64_t> tile = pb.rowsThatFit(
        Buffer::Act, D, std::min(n, pb.bufferElems(Buffer::Idx)));
    if (failed(tile))
      return failure();
    for (int64_t r0 = 0; r0 < n; r0 += *tile) {
      int64_t rows = std::min(*tile, n - r0);
      DramRef idx = ids.ref, dst = out.ref;
      idx.cls = TensorClass::Index;
      idx.addr = ids.addrOf(r0);
      dst.addr = out.addrOf(r0 * D);
      pb.load({Buffer::Idx, 0, rows}, idx, rows * dtypeBytes(idx.dtype), 1,
              rows);
      DramRef tab = table.ref;
      pb.gather({Buffer::Act, 0, D}, tab, D * 4, rows, D, {});
      pb.store(dst, D * 4, {Buffer::Act, 0, D}, rows, D);
    }
    return success();
  }

  LogicalResult lowerBinary(BinaryOp op);

  LogicalResult lowerTranspose(TransposeOp op) {
    const Tensor &in = t(op.getInput()), &out = t(op.getOutput());
    SmallVector<int64_t> inStrides = rowMajorStrides(in.shape), src;
    for (int64_t p : op.getPermutation())
      src.push_back(inStrides[p]);
    return pb.copy(in.ref, src, out.ref, rowMajorStrides(out.shape), out.shape);
  }

  LogicalResult lowerSlice(SliceOp op) {
    if (scratch.count(op)) // its projection wrote it as planes
      return success();
    const Tensor &in = t(op.getInput()), &out = t(op.getOutput());
    SmallVector<int64_t> inStrides = rowMajorStrides(in.shape), src;
    DramRef base = in.ref;
    int64_t offset = 0;
    for (auto [i, s] : llvm::enumerate(inStrides)) {
      offset += op.getOffsets()[i] * s;
      src.push_back(s * op.getStrides()[i]);
    }
    base.addr = in.addrOf(offset);
    return pb.copy(base, src, out.ref, rowMajorStrides(out.shape), out.shape);
  }

  LogicalResult lowerConcat(ConcatOp op) {
    const Tensor &out = t(op.getOutput());
    SmallVector<int64_t> outStrides = rowMajorStrides(out.shape);
    int64_t axis = op.getAxis(), at = 0;
    for (Value v : op.getInputs()) {
      const Tensor &in = t(v);
      DramRef dst = out.ref;
      dst.addr = out.addrOf(at * outStrides[axis]);
      if (failed(pb.copy(in.ref, rowMajorStrides(in.shape), dst, outStrides,
                         in.shape)))
        return failure();
      at += in.shape[axis];
    }
    return success();
  }

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
    int64_t rowsPerSlot = slotElems(Buffer::Act) / g.block;
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

  /// `out[o, j, :] = in[o, idx[j], :]` viewed as blocks: `outer` rows of
  /// `n` blocks of `block` elements; `k` indices, one list per `perB`
  /// outer rows.
  struct GatherShape {
    int64_t outer = 1, inner = 1, k, perB, block, n, es;
    GatherShape(const Tensor &in, const Tensor &idx, int64_t axis,
                int64_t group, bool perBatch)
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

  /// Outer rows [first, last) in chunks of `perChunk`, each one periodic
  /// gather (the index list repeats every k rows, one outer row apart).
  void gatherPeriodic(const Tensor &in, const Tensor &out, const GatherShape &g,
                      int64_t first, int64_t last, int64_t perChunk) {
    perChunk = std::min(perChunk, kMaxRows / g.k);
    for (int64_t o = first, i = 0; o < last; o += perChunk, ++i) {
      int64_t cnt = std::min(perChunk, last - o), rows = cnt * g.k;
      SramRef act{Buffer::Act, slotOff(Buffer::Act, i), g.block};
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
    int64_t rows = std::max<int64_t>(
        1, std::min(g.k, pb.bufferElems(Buffer::Act) / cols));
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

  LogicalResult lowerPruneTokens(PruneTokensOp op) {
    return gatherAxis(t(op.getInput()), t(op.getIndices()), op.getAxis(), 1,
                      /*perBatch=*/true, t(op.getResult()));
  }

  LogicalResult lowerPruneHeads(PruneHeadsOp op) {
    const Tensor &in = t(op.getInput());
    int64_t group = in.shape[op.getAxis()] / op.getNumHeads();
    return gatherAxis(in, t(op.getIndices()), op.getAxis(), group,
                      /*perBatch=*/false, t(op.getResult()));
  }

  /// Per batch row: the scores into the act buffer, the top-k engine over
  /// candidates 0..N-1 into the idx buffer, then the indices out as int64.
  LogicalResult lowerTopk(spatten::TopkOp op) {
    const Tensor &scores = t(op.getScores()), &out = t(op.getIndices());
    int64_t B = scores.shape[0], N = scores.shape[1], k = op.getK();
    if (N > pb.bufferElems(Buffer::Idx) || N > pb.bufferElems(Buffer::Act))
      return pb.error() << "top-k over " << N
                        << " scores exceeds one buffer fill (not implemented)";
    for (int64_t b = 0; b < B; ++b) {
      moveVector(op.getScores(), b, N, {Buffer::Act, 0, N}, true);
      pb.emit(Opcode::Topk, {{"flags", double(TopkIota)},
                             {"role", double(topkRole(op))},
                             {"s_buf", d(Buffer::Act)}, {"s_off", 0},
                             {"in_off", 0}, {"out_off", 0}, {"n", d(N)},
                             {"k", d(k)}, {"seed", d(++topkSeed)}});
      DramRef dst = out.ref;
      dst.cls = TensorClass::Index;
      dst.addr = out.addrOf(b * k);
      pb.store(dst, k * 8, {Buffer::Idx, 0, k}, 1, k);
    }
    return success();
  }

  /// `full` copied to the result, then each batch row's `rows` written at
  /// their original positions by index-scatter DMA.
  LogicalResult lowerMergeTokens(MergeTokensOp op) {
    const Tensor &full = t(op.getFull()), &rows = t(op.getRows()),
                 &pos = t(op.getPositions()), &out = t(op.getResult());
    if (failed(pb.copy(full.ref, rowMajorStrides(full.shape), out.ref,
                       rowMajorStrides(out.shape), out.shape)))
      return failure();
    int64_t B = rows.shape[0], k = rows.shape[1], L0 = full.shape[1];
    int64_t width = rows.numel() / (B * k);
    if (k > pb.bufferElems(Buffer::Idx))
      return pb.error() << k << " positions do not fit the idx buffer";
    FailureOr<int64_t> tile = pb.rowsThatFit(Buffer::Act, width, k);
    if (failed(tile))
      return failure();
    for (int64_t b = 0; b < B; ++b) {
      DramRef p = pos.ref;
      p.cls = TensorClass::Index;
      p.addr = pos.addrOf(b * k);
      pb.load({Buffer::Idx, 0, k}, p, k * 8, 1, k);
      for (int64_t r0 = 0; r0 < k; r0 += *tile) {
        int64_t n = std::min(*tile, k - r0);
        DramRef src = rows.ref, dst = out.ref;
        src.addr = rows.addrOf((b * k + r0) * width);
        dst.addr = out.addrOf(b * L0 * width);
        pb.load({Buffer::Act, 0, width}, src, width * 4, n, width);
        pb.scatter(dst, width * 4, {Buffer::Act, 0, width}, n, width, {r0});
      }
    }
    return success();
  }

  /// fp32 rows [.., D] -> fixed-point rows in DRAM (docs/ISA.md): each row
  /// is quantized with its own scale by a fixed-point store.
  LogicalResult lowerQuantize(QuantizeOp op) {
    const Tensor &in = t(op.getInput()), &codes = t(op.getCodes());
    return repack(in, codes, codes.packedCols);
  }

  /// A dequantize that is not read only by attention materializes fp32.
  LogicalResult lowerDequantize(DequantizeOp op) {
    const Tensor &codes = t(op.getCodes());
    return repack(codes, t(op.getResult()), codes.packedCols);
  }

  /// Copies rows of `D` elements from one layout (fp32 or fixed point) to
  /// each of `to`, tiled through the act buffer: quantizing stores, or the
  /// MSB and LSB planes of progressive quantization from the projection's
  /// fp32 output (re-read as activations traffic).
  LogicalResult repack(const Tensor &from, ArrayRef<Tensor> to, int64_t D) {
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

  LogicalResult lowerCast(CastOp op) {
    const Tensor &in = t(op.getInput()), &out = t(op.getOutput());
    return pb.copy(in.ref, rowMajorStrides(in.shape), out.ref,
                   rowMajorStrides(out.shape), out.shape);
  }
};

VecFunc unaryFunc(UnaryFn fn) {
  switch (fn) {
  case UnaryFn::neg: return VecFunc::Neg;
  case UnaryFn::exp: return VecFunc::Exp;
  case UnaryFn::log: return VecFunc::Log;
  case UnaryFn::sqrt: return VecFunc::Sqrt;
  case UnaryFn::reciprocal: return VecFunc::Recip;
  case UnaryFn::tanh: return VecFunc::Tanh;
  case UnaryFn::erf: return VecFunc::Erf;
  case UnaryFn::sigmoid: return VecFunc::Sigmoid;
  case UnaryFn::relu: return VecFunc::Relu;
  case UnaryFn::abs: return VecFunc::Abs;
  }
  llvm_unreachable("unknown unary fn");
}

/// How one operand of a broadcasting binary op maps onto output rows.
struct Broadcast {
  SmallVector<int64_t> shape; ///< right-aligned to the output rank
  bool perRow = false;        ///< one value per output row (last dim 1)

  Broadcast(ArrayRef<int64_t> s, ArrayRef<int64_t> out) {
    shape.assign(out.size() - s.size(), 1);
    shape.append(s.begin(), s.end());
    perRow = !out.empty() && shape.back() == 1 && out.back() > 1;
  }
  int64_t cols() const { return perRow || shape.empty() ? 1 : shape.back(); }
  /// The operand row read by output row `r`.
  int64_t rowOf(int64_t r, ArrayRef<int64_t> out) const {
    int64_t row = 0, stride = 1;
    for (int64_t dim = int64_t(out.size()) - 2; dim >= 0; --dim) {
      int64_t i = r % out[dim];
      r /= out[dim];
      if (shape[dim] != 1)
        row += i * stride;
      stride *= shape[dim];
    }
    return row;
  }
};
} // namespace

LogicalResult Lowerer::lowerBinary(BinaryOp op) {
  const Tensor &z = t(op.getOutput());
  ArrayRef<int64_t> out = z.shape;
  int64_t C = z.cols(), R = z.rows();
  Value xv = op.getLhs(), yv = op.getRhs();
  unsigned flags = 0;
  std::optional<float> imm = scalarConstant(yv);
  if (!imm && (imm = scalarConstant(xv))) {
    std::swap(xv, yv);
    flags |= VecSwap;
  }
  Broadcast xb(t(xv).shape, out), yb(t(yv).shape, out);
  if (!imm && xb.perRow && !yb.perRow) {
    std::swap(xv, yv);
    std::swap(xb, yb);
    flags |= VecSwap;
  }
  if (xb.perRow)
    return pb.error() << "broadcasting both operands along the last dim is "
                         "not implemented";
  if (imm)
    flags |= VecYImm;
  else if (yb.perRow)
    flags |= VecYPerRow;
  FailureOr<int64_t> maxTile =
      commonTile({Buffer::Act, Buffer::Wgt, Buffer::Acc}, C);
  if (failed(maxTile))
    return failure();
  auto func = VecFunc(unsigned(op.getFn()) + unsigned(VecFunc::Add));
  // Output rows are grouped into runs where each operand's row advances by
  // a constant step of 0 (broadcast) or 1 (contiguous).
  auto step = [&](const Broadcast &bc, int64_t r) {
    return r + 1 < R ? bc.rowOf(r + 1, out) - bc.rowOf(r, out) : 0;
  };
  for (int64_t r0 = 0; r0 < R;) {
    int64_t xs = step(xb, r0), ys = imm ? 0 : step(yb, r0);
    int64_t n = 1;
    while (r0 + n < R && n < *maxTile &&
           xb.rowOf(r0 + n, out) == xb.rowOf(r0, out) + n * xs &&
           (imm || yb.rowOf(r0 + n, out) == yb.rowOf(r0, out) + n * ys))
      ++n;
    if (n == 1)
      xs = ys = 0;
    if ((xs != 0 && xs != 1) || (ys != 0 && ys != 1))
      return pb.error() << "unsupported broadcast pattern";
    const Tensor &x = t(xv);
    DramRef xr = x.ref;
    xr.addr = x.addrOf(xb.rowOf(r0, out) * C);
    pb.load({Buffer::Act, 0, C}, xr, C * 4, xs ? n : 1, C);
    SramRef ysram{Buffer::Wgt, 0, 0};
    if (!imm) {
      const Tensor &y = t(yv);
      int64_t yc = yb.cols();
      DramRef yr = y.ref;
      yr.addr = y.addrOf(yb.rowOf(r0, out) * yc);
      int64_t rows = ys ? n : 1;
      if (yb.perRow) // one value per row, packed contiguously
        pb.load({Buffer::Wgt, 0, 1}, yr, 4, rows, 1);
      else
        pb.load({Buffer::Wgt, 0, yc}, yr, yc * 4, rows, yc);
      ysram.stride = ys ? (yb.perRow ? 1 : yc) : 0;
    }
    vec(func, flags, {Buffer::Act, 0, xs ? C : 0}, ysram, {Buffer::Acc, 0, C},
        {Buffer::Act, 0, 0}, n, C, imm.value_or(0.f));
    DramRef zr = z.ref;
    zr.addr = z.addrOf(r0 * C);
    pb.store(zr, C * 4, {Buffer::Acc, 0, C}, n, C);
    r0 += n;
  }
  return success();
}

LogicalResult OpLowering::lower(Operation *op) {
  Lowerer l{pb, tensors, scratch, topkSeed};
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](LinearOp o) { return l.lowerLinear(o); })
      .Case([&](AttentionOp o) {
        return l.lowerAttention(AttentionParts::of(o));
      })
      .Case([&](AttentionOutputOp o) { return l.lowerAttentionOutput(o); })
      .Case<AttentionProbsOp, ProgressiveFetchOp>(
          [&](Operation *o) { return l.checkFused(o); })
      // Emitted with the attention_output they belong to.
      .Case<TokenImportanceOp, LocalValuePruneOp, HeadImportanceOp>(
          [](Operation *) { return success(); })
      .Case([&](LayerNormOp o) { return l.lowerLayerNorm(o); })
      .Case([&](GeluOp o) {
        return l.rowwise(o.getInput(), o.getOutput(),
                         o.getApproximation() == GeluApproximation::erf
                             ? VecFunc::GeluErf
                             : VecFunc::GeluTanh);
      })
      .Case([&](UnaryOp o) {
        return l.rowwise(o.getInput(), o.getOutput(), unaryFunc(o.getFn()));
      })
      .Case([&](SoftmaxOp o) {
        return l.rowwise(o.getInput(), o.getOutput(), VecFunc::Softmax);
      })
      .Case([&](BinaryOp o) { return l.lowerBinary(o); })
      .Case([&](EmbeddingOp o) { return l.lowerEmbedding(o); })
      .Case([&](TransposeOp o) { return l.lowerTranspose(o); })
      .Case([&](SliceOp o) { return l.lowerSlice(o); })
      .Case([&](ConcatOp o) { return l.lowerConcat(o); })
      .Case([&](CastOp o) { return l.lowerCast(o); })
      .Case([&](PruneTokensOp o) { return l.lowerPruneTokens(o); })
      .Case([&](spatten::TopkOp o) { return l.lowerTopk(o); })
      .Case([&](MergeTokensOp o) { return l.lowerMergeTokens(o); })
      .Case([&](QuantizeOp o) { return l.lowerQuantize(o); })
      .Case([&](DequantizeOp o) { return l.lowerDequantize(o); })
      .Case([&](PruneHeadsOp o) { return l.lowerPruneHeads(o); })
      .Default([](Operation *o) {
        return o->emitOpError("has no lowering to spatten_isa yet (not "
                               "implemented)");
      });
}

/// Whether `use` is a [B, L, H*D] attention operand that the lowering reads
/// head by head through loadHeadRows (headRows).
static bool attentionReadsHeads(OpOperand &use) {
  unsigned operand = use.getOperandNumber();
  Operation *user = use.getOwner();
  if (llvm::isa<AttentionOp>(user))
    return operand <= 2; // query, key, value
  if (llvm::isa<AttentionProbsOp>(user))
    return operand <= 1; // query, key
  if (llvm::isa<ProgressiveFetchOp>(user))
    return operand == 0; // its keys are repacked into planes
  auto output = dyn_cast<AttentionOutputOp>(user);
  if (!output || operand != 1)
    return false;
  Value probs = output.getProbs();
  if (auto vp = probs.getDefiningOp<LocalValuePruneOp>())
    probs = vp.getProbs();
  if (auto pf = probs.getDefiningOp<ProgressiveFetchOp>())
    return !pf.getValues(); // V planes are repacked from fp32 V
  return probs.getDefiningOp<AttentionProbsOp>() != nullptr;
}

/// Whether `use`, of the result of `prune`, reads the kept heads in place
/// (readsHeadsInPlace).
static bool readsInPlace(OpOperand &use, PruneHeadsOp prune) {
  int64_t rank = cast<ShapedType>(prune.getInput().getType()).getRank();
  int64_t axis = prune.getAxis();
  unsigned operand = use.getOperandNumber();
  Operation *user = use.getOwner();
  if (llvm::isa<LinearOp>(user))
    return (operand == 1 && rank == 2) || (operand == 2 && rank == 1);
  return rank == 3 && axis == 2 && attentionReadsHeads(use);
}

bool isa::isColumnSlice(Operation *op) {
  auto slice = dyn_cast_or_null<SliceOp>(op);
  if (!slice)
    return false;
  auto in = cast<ShapedType>(slice.getInput().getType()).getShape();
  auto out = cast<ShapedType>(slice.getOutput().getType()).getShape();
  for (size_t i = 0; i < in.size(); ++i) {
    bool last = i + 1 == in.size();
    if (slice.getStrides()[i] != 1 ||
        (!last && (slice.getOffsets()[i] != 0 || in[i] != out[i])))
      return false;
  }
  return true;
}

bool isa::readsColumnsInPlace(Operation *op) {
  auto slice = dyn_cast_or_null<SliceOp>(op);
  if (!slice || slice->use_empty() || !isColumnSlice(slice))
    return false;
  auto type = cast<ShapedType>(slice.getInput().getType());
  return type.getRank() == 3 && type.getElementType().isF32() &&
         llvm::all_of(slice->getUses(), attentionReadsHeads);
}

bool isa::readsHeadsInPlace(Operation *op) {
  auto prune = dyn_cast_or_null<PruneHeadsOp>(op);
  return prune && !prune->use_empty() &&
         llvm::all_of(prune->getUses(), [&](OpOperand &use) {
           return readsInPlace(use, prune);
         });
}

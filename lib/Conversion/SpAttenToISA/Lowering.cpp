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
/// decomposed `attention_probs` -> `attention_output` (+ `token_importance`).
struct AttentionParts {
  Value query, key, value, mask, pastKey, pastValue, presentKey, presentValue;
  Value output;
  Value importanceIn, importanceOut; ///< [B, keys] cascade token importance
  int64_t heads;
  spatten::MaskKind kind;
  std::optional<double> maskFill;
  double scale;

  static AttentionParts of(AttentionOp op) {
    std::optional<double> fill;
    if (op.getMaskFill())
      fill = op.getMaskFill()->convertToDouble();
    return {op.getQuery(), op.getKey(), op.getValue(), op.getMask(),
            op.getPastKey(), op.getPastValue(), op.getPresentKey(),
            op.getPresentValue(), op.getOutput(), {}, {},
            op.getNumHeads(), op.getMaskKind(), fill,
            op.getScale().convertToDouble()};
  }
};

struct Lowerer {
  ProgramBuilder &pb;
  llvm::DenseMap<Value, Tensor> &tensors;

  const Tensor &t(Value v) { return tensors[v]; }

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
      FailureOr<int64_t> n = pb.rowsThatFit(b, cols, limit);
      if (failed(n))
        return failure();
      limit = *n;
    }
    return limit;
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
    for (int64_t r0 = 0; r0 < rows; r0 += *tile) {
      int64_t n = std::min(*tile, rows - r0);
      DramRef src = x.ref, dst = z.ref;
      src.addr = x.addrOf(r0 * cols);
      dst.addr = z.addrOf(r0 * cols);
      pb.load({Buffer::Act, 0, cols}, src, cols * 4, n, cols);
      vec(func, 0, {Buffer::Act, 0, cols}, y, {Buffer::Acc, 0, cols}, w, n,
          cols, imm);
      pb.store(dst, cols * 4, {Buffer::Acc, 0, cols}, n, cols);
    }
    return success();
  }

  LogicalResult lowerLinear(LinearOp op) {
    const Tensor &x = t(op.getInput()), &w = t(op.getWeight()),
                 &y = t(op.getOutput());
    bool transB = op.getTransposeWeight();
    int64_t K = x.cols(), M = x.rows(), N = y.cols();
    int64_t wgtElems = pb.bufferElems(Buffer::Wgt);
    int64_t tn = std::min({N, int64_t(512), kMaxDim16});
    int64_t tk = std::min({K, (wgtElems - tn) / std::max<int64_t>(tn, 1),
                           kMaxDim16});
    if (tk <= 0)
      return pb.error() << "weight buffer too small for a " << tn
                        << "-column tile";
    FailureOr<int64_t> tmA = pb.rowsThatFit(Buffer::Act, tk, kMaxDim16);
    FailureOr<int64_t> tmC = pb.rowsThatFit(Buffer::Acc, tn, kMaxDim16);
    if (failed(tmA) || failed(tmC))
      return failure();
    int64_t tm = std::min(*tmA, *tmC);
    Value bias = op.getBias();
    for (int64_t m0 = 0; m0 < M; m0 += tm) {
      int64_t m = std::min(tm, M - m0);
      for (int64_t n0 = 0; n0 < N; n0 += tn) {
        int64_t n = std::min(tn, N - n0);
        for (int64_t k0 = 0; k0 < K; k0 += tk) {
          int64_t k = std::min(tk, K - k0);
          DramRef a = x.ref;
          a.addr = x.addrOf(m0 * K + k0);
          pb.load({Buffer::Act, 0, k}, a, K * 4, m, k);
          DramRef wb = w.ref;
          wb.addr = transB ? w.addrOf(n0 * K + k0) : w.addrOf(k0 * N + n0);
          if (transB)
            pb.load({Buffer::Wgt, 0, k}, wb, K * 4, n, k);
          else
            pb.load({Buffer::Wgt, 0, n}, wb, N * 4, k, n);
          bool addBias = bias && k0 == 0;
          if (addBias) {
            DramRef bb = t(bias).ref;
            bb.addr = t(bias).addrOf(n0);
            pb.load({Buffer::Wgt, tk * tn, n}, bb, n * 4, 1, n);
          }
          unsigned flags = (k0 ? GemmAccumulate : 0) |
                           (addBias ? GemmBias : 0) |
                           (transB ? GemmTransposeB : 0);
          pb.emit(Opcode::Gemm,
                  {{"flags", double(flags)}, {"a_buf", d(Buffer::Act)},
                   {"a_stride", d(k)}, {"b_buf", d(Buffer::Wgt)},
                   {"b_stride", d(transB ? k : n)}, {"c_buf", d(Buffer::Acc)},
                   {"c_stride", d(n)}, {"bias_buf", d(Buffer::Wgt)},
                   {"bias_off", d(tk * tn)}, {"m", d(m)}, {"n", d(n)},
                   {"k", d(k)}});
        }
        DramRef out = y.ref;
        out.addr = y.addrOf(m0 * N + n0);
        pb.store(out, N * 4, {Buffer::Acc, 0, n}, m, n);
      }
    }
    return success();
  }

  /// Loads `rows` rows of head `h` (columns [h*D, (h+1)*D) of a [B, L, H*D]
  /// tensor, batch `b`, from row `r0`) into `dst`.
  void loadHeadRows(SramRef dst, const Tensor &src, TensorClass cls, int64_t b,
                    int64_t h, int64_t r0, int64_t rows, int64_t D) {
    int64_t L = src.shape[1], HD = src.shape[2];
    DramRef ref = src.ref;
    ref.cls = cls;
    ref.addr = src.addrOf((b * L + r0) * HD + h * D);
    pb.load(dst, ref, HD * 4, rows, D);
  }

  LogicalResult lowerAttention(const AttentionParts &op) {
    const Tensor &q = t(op.query), &k = t(op.key), &o = t(op.output);
    int64_t B = q.shape[0], Lq = q.shape[1], Lk = k.shape[1];
    int64_t H = op.heads, D = q.shape[2] / H;
    int64_t P = op.pastKey ? t(op.pastKey).shape[2] : 0;
    int64_t keys = P + Lk;
    const HardwareConfig &hw = pb.config();
    if (keys > int64_t(hw.maxKeysPerFill) ||
        keys * D > pb.bufferElems(Buffer::K) ||
        keys * D > pb.bufferElems(Buffer::V) ||
        keys > pb.bufferElems(Buffer::Mask))
      return pb.error() << keys << " keys of width " << D
                        << " exceed one K/V buffer fill (max_keys_per_fill "
                        << hw.maxKeysPerFill
                        << "); multi-fill attention is not implemented";
    spatten::MaskKind kind = op.kind;
    bool padding = kind == spatten::MaskKind::padding ||
                   kind == spatten::MaskKind::padding_causal;
    // A per-query mask streams with the query tile; a per-key one is loaded
    // once per batch and read with stride 0. Token importance accumulates
    // in the last `keys` elements of the mask buffer.
    bool perQueryMask = padding && t(op.mask).shape.size() == 3;
    int64_t impOff = pb.bufferElems(Buffer::Mask) - keys;
    if (op.importanceOut && impOff < keys)
      return pb.error() << "the mask buffer cannot hold a mask row and the "
                           "importance of " << keys << " keys";
    FailureOr<int64_t> tq =
        commonTile({Buffer::Q, Buffer::Acc}, D, std::min(Lq, kMaxDim16));
    if (succeeded(tq) && perQueryMask)
      tq = commonTile({Buffer::Mask}, keys,
                      std::min(*tq, op.importanceOut ? impOff / keys : *tq));
    if (failed(tq))
      return failure();
    unsigned flags = (op.maskFill ? AttnMaskSelect : 0) |
                     (op.importanceOut ? AttnAccumulateImportance : 0);
    double fill = op.maskFill.value_or(0);
    for (int64_t b = 0; b < B; ++b) {
      if (padding && !perQueryMask) {
        const Tensor &m = t(op.mask);
        DramRef ref = m.ref;
        ref.addr = m.addrOf(b * keys);
        pb.load({Buffer::Mask, 0, keys}, ref, keys * 4, 1, keys);
      }
      if (op.importanceOut) {
        const Tensor &imp = t(op.importanceIn);
        DramRef ref = imp.ref;
        ref.addr = imp.addrOf(b * keys);
        pb.load({Buffer::Mask, impOff, keys}, ref, keys * 4, 1, keys);
      }
      for (int64_t h = 0; h < H; ++h) {
        if (failed(loadKV(op, b, h, P, D)))
          return failure();
        for (int64_t q0 = 0; q0 < Lq; q0 += *tq) {
          int64_t n = std::min(*tq, Lq - q0);
          loadHeadRows({Buffer::Q, 0, D}, q, TensorClass::Q, b, h, q0, n, D);
          if (perQueryMask) {
            const Tensor &m = t(op.mask);
            DramRef ref = m.ref;
            ref.addr = m.addrOf((b * Lq + q0) * keys);
            pb.load({Buffer::Mask, 0, keys}, ref, keys * 4, n, keys);
          }
          pb.emit(Opcode::Attn,
                  {{"mask_kind", double(unsigned(kind))},
                   {"flags", double(flags)}, {"mask_fill", fill},
                   {"q_buf", d(Buffer::Q)}, {"q_stride", d(D)},
                   {"k_buf", d(Buffer::K)}, {"k_stride", d(D)},
                   {"v_buf", d(Buffer::V)}, {"v_stride", d(D)},
                   {"o_buf", d(Buffer::Acc)}, {"o_stride", d(D)},
                   {"mask_buf", d(Buffer::Mask)},
                   {"mask_stride", d(perQueryMask ? keys : 0)},
                   {"lq", d(n)}, {"lk", d(keys)}, {"d", d(D)},
                   {"causal_offset", d(P + q0)},
                   {"imp_buf", d(Buffer::Mask)}, {"imp_off", d(impOff)},
                   {"scale", op.scale}});
          DramRef out = o.ref;
          out.addr = o.addrOf((b * Lq + q0) * H * D + h * D);
          pb.store(out, H * D * 4, {Buffer::Acc, 0, D}, n, D);
        }
      }
      if (op.importanceOut) {
        const Tensor &imp = t(op.importanceOut);
        DramRef ref = imp.ref;
        ref.addr = imp.addrOf(b * keys);
        pb.store(ref, keys * 4, {Buffer::Mask, impOff, keys}, 1, keys);
      }
    }
    return success();
  }

  /// `attention_probs` whose only users are one `attention_output` and
  /// `token_importance` ops runs as fused ATTN instructions; the
  /// probabilities never reach DRAM. Other forms need the pruning ISA.
  LogicalResult lowerAttentionProbs(AttentionProbsOp probs) {
    AttentionOutputOp output;
    TokenImportanceOp importance;
    for (Operation *user : probs->getUsers()) {
      if (auto o = dyn_cast<AttentionOutputOp>(user); o && !output)
        output = o;
      else if (auto i = dyn_cast<TokenImportanceOp>(user); i && !importance)
        importance = i;
      else
        return user->emitOpError("reads attention probabilities; lowering it "
                                 "to spatten_isa is not implemented");
    }
    if (!output)
      return probs.emitOpError("has no attention_output to fuse with (not "
                               "implemented)");
    std::optional<double> fill;
    if (probs.getMaskFill())
      fill = probs.getMaskFill()->convertToDouble();
    AttentionParts parts{probs.getQuery(), probs.getKey(), output.getValue(),
                         probs.getMask(), {}, {}, {}, {}, output.getOutput(),
                         importance ? importance.getImportance() : Value(),
                         importance ? importance.getResult() : Value(),
                         probs.getNumHeads(), probs.getMaskKind(), fill,
                         probs.getScale().convertToDouble()};
    return lowerAttention(parts);
  }

  /// Fills the K and V buffers for (b, h): cached rows first, then new rows;
  /// writes the updated cache to present_key/present_value when present.
  LogicalResult loadKV(const AttentionParts &op, int64_t b, int64_t h,
                       int64_t P, int64_t D) {
    int64_t Lk = t(op.key).shape[1], H = op.heads;
    struct Side {
      Value cur, past, present;
      Buffer buf;
      TensorClass cls;
    } sides[] = {{op.key, op.pastKey, op.presentKey, Buffer::K, TensorClass::K},
                 {op.value, op.pastValue, op.presentValue, Buffer::V,
                  TensorClass::V}};
    for (const Side &s : sides) {
      if (s.past) {
        const Tensor &past = t(s.past);
        DramRef ref = past.ref;
        ref.cls = s.cls;
        ref.addr = past.addrOf((b * H + h) * P * D);
        if (P)
          pb.load({s.buf, 0, D}, ref, D * 4, P, D);
      }
      loadHeadRows({s.buf, P * D, D}, t(s.cur), s.cls, b, h, 0, Lk, D);
      if (s.present) {
        const Tensor &present = t(s.present);
        DramRef ref = present.ref;
        ref.addr = present.addrOf((b * H + h) * (P + Lk) * D);
        pb.store(ref, D * 4, {s.buf, 0, D}, P + Lk, D);
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
      pb.emit(Opcode::Gather,
              {{"tensor_class", double(tab.cls)}, {"dtype", double(tab.dtype)},
               {"bits", 32}, {"dram_addr", d(tab.addr)},
               {"dram_stride", d(D * 4)}, {"sram_buf", d(Buffer::Act)},
               {"sram_stride", d(D)}, {"rows", d(rows)}, {"cols", d(D)},
               {"idx_off", 0}});
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
    int64_t outer = 1, inner = 1, k = idx.shape.back();
    for (int64_t d = 0; d < axis; ++d)
      outer *= in.shape[d];
    for (size_t d = axis + 1; d < in.shape.size(); ++d)
      inner *= in.shape[d];
    int64_t perB = perBatch ? outer / in.shape[0] : outer;
    int64_t block = group * inner, n = in.shape[axis] / group;
    int64_t es = dtypeBytes(in.ref.dtype), cols = std::min(block, pb.bufferElems(Buffer::Act));
    if (k > pb.bufferElems(Buffer::Idx))
      return pb.error() << k << " indices do not fit the idx buffer";
    int64_t rows = std::max<int64_t>(1, std::min(k, pb.bufferElems(Buffer::Act) / cols));
    int64_t loaded = -1;
    for (int64_t o = 0; o < outer; ++o) {
      if (int64_t b = o / perB; b != loaded) {
        DramRef ir = idx.ref;
        ir.cls = TensorClass::Index;
        ir.addr = idx.addrOf(b * k);
        pb.load({Buffer::Idx, 0, k}, ir, k * dtypeBytes(ir.dtype), 1, k);
        loaded = b;
      }
      for (int64_t r0 = 0; r0 < k; r0 += rows)
        for (int64_t c0 = 0; c0 < block; c0 += cols) {
          int64_t nr = std::min(rows, k - r0), nc = std::min(cols, block - c0);
          pb.emit(Opcode::Gather,
                  {{"tensor_class", double(in.ref.cls)},
                   {"dtype", double(in.ref.dtype)}, {"bits", 32},
                   {"dram_addr", d(in.addrOf(o * n * block + c0))},
                   {"dram_stride", d(block * es)}, {"sram_buf", d(Buffer::Act)},
                   {"sram_stride", d(nc)}, {"rows", d(nr)}, {"cols", d(nc)},
                   {"idx_off", d(r0)}});
          DramRef dst = out.ref;
          dst.addr = out.addrOf((o * k + r0) * block + c0);
          pb.store(dst, block * dtypeBytes(out.ref.dtype), {Buffer::Act, 0, nc},
                   nr, nc);
        }
    }
    return success();
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
  Lowerer l{pb, tensors};
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](LinearOp o) { return l.lowerLinear(o); })
      .Case([&](AttentionOp o) {
        return l.lowerAttention(AttentionParts::of(o));
      })
      .Case([&](AttentionProbsOp o) { return l.lowerAttentionProbs(o); })
      // Emitted with their attention_probs.
      .Case<AttentionOutputOp, TokenImportanceOp>(
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
      .Case([&](PruneHeadsOp o) { return l.lowerPruneHeads(o); })
      .Default([](Operation *o) {
        return o->emitOpError("has no lowering to spatten_isa yet (not "
                               "implemented)");
      });
}

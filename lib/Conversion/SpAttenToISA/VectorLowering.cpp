//===- VectorLowering.cpp - Elementwise and row-wise ops to VEC -----------===//
//
// unary, gelu, softmax, log_softmax, layer_norm, rms_norm, reduce, cumsum
// and rotary_embedding stream rows through the vector unit (reduce writes
// one value per row, rotary one instruction per head); binary ops
// broadcast their operands (numpy rules) row by row, a one-element constant
// operand becoming the instruction's immediate.
//
//===----------------------------------------------------------------------===//

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// The value of a one-element constant, if `v` is one.
std::optional<float> scalarConstant(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!c || !type || type.getNumElements() != 1 ||
      !type.getElementType().isF32())
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue()))
    return *dense.getValues<float>().begin();
  if (auto res = dyn_cast<DenseF32ResourceElementsAttr>(c.getValue()))
    if (std::optional<ArrayRef<float>> data = res.tryGetAsArrayRef())
      if (!data->empty())
        return data->front();
  return std::nullopt;
}

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
  case UnaryFn::silu: return VecFunc::Silu;
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

/// The operands of a row-wise function besides x and z: a norm's gamma
/// (y) and beta (w), epsilon (imm) and flags.
struct RowOperands {
  SramRef y{Buffer::Act, 0, 0}, w{Buffer::Act, 0, 0};
  float imm = 0;
  uint8_t flags = 0;
};

/// x (rows of `cols`) -> VEC func -> result, tiled over rows; the result's
/// rows are `cols` wide, or 1 for a reduction.
LogicalResult rowwise(LoweringCore &core, Value in, Value out, VecFunc func,
                      const RowOperands &extra = {}) {
  const Tensor *x, *z;
  if (failed(core.get(in, x, out, z)))
    return failure();
  int64_t cols = x->cols(), rows = x->rows(), zCols = z->cols();
  FailureOr<int64_t> tile = core.commonTile({Buffer::Act, Buffer::Acc}, cols);
  if (failed(tile))
    return failure();
  for (int64_t r0 = 0, i = 0; r0 < rows; r0 += *tile, ++i) {
    int64_t n = std::min(*tile, rows - r0);
    DramRef src = x->ref, dst = z->ref;
    src.addr = x->addrOf(r0 * cols);
    dst.addr = z->addrOf(r0 * zCols);
    SramRef inBuf{Buffer::Act, core.slotOff(Buffer::Act, i), cols};
    SramRef outBuf{Buffer::Acc, core.slotOff(Buffer::Acc, i), zCols};
    core.pb.load(inBuf, src, cols * 4, n, cols);
    core.pb.emit(VecInstr{func, extra.flags, inBuf, extra.y, outBuf, extra.w,
                          n, cols, extra.imm});
    core.pb.store(dst, zCols * 4, outBuf, n, zCols);
  }
  return success();
}

/// layer_norm (gamma, beta) or rms_norm (gamma): the vectors are loaded
/// once into the weight buffer, then the rows stream through.
LogicalResult lowerNorm(LoweringCore &core, Operation *op, VecFunc func,
                        Value gammaValue, Value betaValue, APFloat epsilon,
                        bool epsOutsideSqrt) {
  Value in = op->getOperand(0), out = op->getResult(0);
  const Tensor *x, *gamma, *beta = nullptr;
  if (failed(core.get(in, x, gammaValue, gamma)) ||
      (betaValue && failed(core.get(betaValue, beta))))
    return failure();
  int64_t N = x->cols();
  if ((beta ? 2 : 1) * N > core.pb.bufferElems(Buffer::Wgt))
    return core.pb.error() << (beta ? "gamma and beta" : "gamma")
                           << " of width " << N
                           << (beta ? " do not" : " does not")
                           << " fit the weight buffer";
  RowOperands extra;
  extra.y = {Buffer::Wgt, 0, 0};
  extra.imm = epsilon.convertToFloat();
  extra.flags = epsOutsideSqrt ? VecEpsOutsideSqrt : 0;
  core.pb.load({Buffer::Wgt, 0, N}, gamma->ref, N * 4, 1, N);
  if (beta) {
    core.pb.load({Buffer::Wgt, N, N}, beta->ref, N * 4, 1, N);
    extra.w = {Buffer::Wgt, N, 0};
  }
  return rowwise(core, in, out, func, extra);
}

/// rotary_embedding: per batch, tiles of token rows [n, H*D] stream through
/// act, their cos and sin rows [n, R] through the weight buffer (loaded
/// once when one tile holds every token), and one `vec rotary` per head
/// rotates its first R columns (x and z strided by H*D): into acc when it
/// rotates the whole head, in place in act when columns R..D pass through.
LogicalResult lowerRotary(LoweringCore &core, RotaryEmbeddingOp op) {
  const Tensor *x, *z, *cos, *sin;
  if (failed(core.get(op.getInput(), x, op.getOutput(), z)) ||
      failed(core.get(op.getCos(), cos, op.getSin(), sin)))
    return failure();
  ProgramBuilder &pb = core.pb;
  int64_t B = x->shape[0], L = x->shape[1], C = x->shape[2];
  int64_t D = op.getHeadColumns(), R = op.getRotaryDims();
  bool inPlace = R < D;
  FailureOr<int64_t> tile = core.commonTile({Buffer::Act, Buffer::Acc}, C, L);
  if (failed(tile) || failed(tile = pb.rowsThatFit(Buffer::Wgt, 2 * R, *tile)))
    return failure();
  SramRef cosBuf{Buffer::Wgt, 0, R}, sinBuf{Buffer::Wgt, *tile * R, R};
  for (int64_t b = 0, i = 0; b < B; ++b)
    for (int64_t r0 = 0; r0 < L; r0 += *tile, ++i) {
      int64_t n = std::min(*tile, L - r0), slot = core.slotOff(Buffer::Act, i);
      DramRef src = x->ref, dst = z->ref, c = cos->ref, s = sin->ref;
      src.addr = x->addrOf((b * L + r0) * C);
      dst.addr = z->addrOf((b * L + r0) * C);
      c.addr = cos->addrOf(r0 * R);
      s.addr = sin->addrOf(r0 * R);
      pb.load({Buffer::Act, slot, C}, src, C * 4, n, C);
      if (b == 0 || n < L) {
        pb.load(cosBuf, c, R * 4, n, R);
        pb.load(sinBuf, s, R * 4, n, R);
      }
      SramRef out = inPlace
                        ? SramRef{Buffer::Act, slot, C}
                        : SramRef{Buffer::Acc, core.slotOff(Buffer::Acc, i), C};
      for (int64_t h = 0; h < C / D; ++h) {
        SramRef head{Buffer::Act, slot + h * D, C};
        SramRef rotated{out.buf, out.off + h * D, C};
        pb.emit(VecInstr{VecFunc::Rotary, 0, head, cosBuf, rotated, sinBuf, n,
                         R, 0.f});
      }
      pb.store(dst, C * 4, out, n, C);
    }
  return success();
}

VecFunc reduceFunc(ReduceFn fn) {
  switch (fn) {
  case ReduceFn::sum: return VecFunc::RowSum;
  case ReduceFn::mean: return VecFunc::RowMean;
  case ReduceFn::max: return VecFunc::RowMax;
  }
  llvm_unreachable("unknown reduce fn");
}

/// A binary op's operands after choosing which one is x: the immediate or
/// the per-row operand goes to y (VecSwap computes y op x).
struct BinaryOperands {
  Value x, y;
  const Tensor *xt = nullptr, *yt = nullptr;
  std::optional<float> imm;
  uint8_t flags = 0;
};

FailureOr<BinaryOperands> orderOperands(LoweringCore &core, BinaryOp op,
                                        ArrayRef<int64_t> out) {
  BinaryOperands o{op.getLhs(), op.getRhs()};
  o.imm = scalarConstant(o.y);
  if (!o.imm && (o.imm = scalarConstant(o.x))) {
    std::swap(o.x, o.y);
    o.flags |= VecSwap;
  }
  if (failed(core.get(o.x, o.xt, o.y, o.yt)))
    return failure();
  Broadcast xb(o.xt->shape, out), yb(o.yt->shape, out);
  if (!o.imm && xb.perRow && !yb.perRow) {
    std::swap(o.x, o.y);
    std::swap(o.xt, o.yt);
    std::swap(xb, yb);
    o.flags |= VecSwap;
  }
  if (xb.perRow)
    return core.pb.error() << "broadcasting both operands along the last dim "
                              "is not implemented";
  if (o.imm)
    o.flags |= VecYImm;
  else if (yb.perRow)
    o.flags |= VecYPerRow;
  return o;
}

/// One run of output rows [r0, r0 + n) in which x's row advances by `xs`
/// and y's by `ys` (0 broadcast, 1 contiguous) per output row.
struct BinaryRun {
  int64_t r0, n, xs, ys;
};

/// Output rows are grouped into runs where each operand's row advances by a
/// constant step of 0 (broadcast) or 1 (contiguous), at most `maxRows` rows.
FailureOr<BinaryRun> nextRun(LoweringCore &core, const Broadcast &xb,
                             const Broadcast &yb, bool imm,
                             ArrayRef<int64_t> out, int64_t R, int64_t r0,
                             int64_t maxRows) {
  auto step = [&](const Broadcast &bc, int64_t r) {
    return r + 1 < R ? bc.rowOf(r + 1, out) - bc.rowOf(r, out) : 0;
  };
  int64_t xs = step(xb, r0), ys = imm ? 0 : step(yb, r0);
  int64_t n = 1;
  while (r0 + n < R && n < maxRows &&
         xb.rowOf(r0 + n, out) == xb.rowOf(r0, out) + n * xs &&
         (imm || yb.rowOf(r0 + n, out) == yb.rowOf(r0, out) + n * ys))
    ++n;
  if (n == 1)
    xs = ys = 0;
  if ((xs != 0 && xs != 1) || (ys != 0 && ys != 1))
    return core.pb.error() << "unsupported broadcast pattern";
  return BinaryRun{r0, n, xs, ys};
}

/// Loads the y rows of `run` into the wgt buffer; returns y's SRAM operand.
SramRef loadBinaryY(ProgramBuilder &pb, const Tensor &y, const Broadcast &yb,
                    ArrayRef<int64_t> out, const BinaryRun &run) {
  int64_t yc = yb.cols();
  DramRef yr = y.ref;
  yr.addr = y.addrOf(yb.rowOf(run.r0, out) * yc);
  int64_t rows = run.ys ? run.n : 1;
  if (yb.perRow) // one value per row, packed contiguously
    pb.load({Buffer::Wgt, 0, 1}, yr, 4, rows, 1);
  else
    pb.load({Buffer::Wgt, 0, yc}, yr, yc * 4, rows, yc);
  return {Buffer::Wgt, 0, run.ys ? (yb.perRow ? 1 : yc) : 0};
}

LogicalResult lowerBinary(LoweringCore &core, BinaryOp op) {
  ProgramBuilder &pb = core.pb;
  const Tensor *z;
  if (failed(core.get(op.getOutput(), z)))
    return failure();
  ArrayRef<int64_t> out = z->shape;
  int64_t C = z->cols(), R = z->rows();
  FailureOr<BinaryOperands> o = orderOperands(core, op, out);
  if (failed(o))
    return failure();
  const Tensor &x = *o->xt, &y = *o->yt;
  bool imm = o->imm.has_value();
  Broadcast xb(x.shape, out), yb(y.shape, out);
  FailureOr<int64_t> maxTile =
      core.commonTile({Buffer::Act, Buffer::Wgt, Buffer::Acc}, C);
  if (failed(maxTile))
    return failure();
  VecInstr vec;
  vec.func = VecFunc(unsigned(op.getFn()) + unsigned(VecFunc::Add));
  vec.flags = o->flags;
  vec.z = {Buffer::Acc, 0, C};
  vec.w = {Buffer::Act, 0, 0};
  vec.cols = C;
  vec.imm = o->imm.value_or(0.f);
  for (int64_t r0 = 0; r0 < R;) {
    FailureOr<BinaryRun> run = nextRun(core, xb, yb, imm, out, R, r0, *maxTile);
    if (failed(run))
      return failure();
    DramRef xr = x.ref;
    xr.addr = x.addrOf(xb.rowOf(r0, out) * C);
    pb.load({Buffer::Act, 0, C}, xr, C * 4, run->xs ? run->n : 1, C);
    vec.x = {Buffer::Act, 0, run->xs ? C : 0};
    vec.y =
        imm ? SramRef{Buffer::Wgt, 0, 0} : loadBinaryY(pb, y, yb, out, *run);
    vec.rows = run->n;
    pb.emit(vec);
    DramRef zr = z->ref;
    zr.addr = z->addrOf(r0 * C);
    pb.store(zr, C * 4, {Buffer::Acc, 0, C}, run->n, C);
    r0 += run->n;
  }
  return success();
}
} // namespace

LogicalResult isa::lowerVectorFamily(LoweringCore &core, Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](LayerNormOp o) {
        return lowerNorm(core, o, VecFunc::LayerNorm, o.getGamma(),
                         o.getBeta(), o.getEpsilon(),
                         o.getEpsilonOutsideSqrt());
      })
      .Case([&](RmsNormOp o) {
        return lowerNorm(core, o, VecFunc::RmsNorm, o.getGamma(), Value(),
                         o.getEpsilon(), o.getEpsilonOutsideSqrt());
      })
      .Case([&](RotaryEmbeddingOp o) { return lowerRotary(core, o); })
      .Case([&](ReduceOp o) {
        return rowwise(core, o.getInput(), o.getOutput(),
                       reduceFunc(o.getFn()));
      })
      .Case([&](LogSoftmaxOp o) {
        return rowwise(core, o.getInput(), o.getOutput(), VecFunc::LogSoftmax);
      })
      .Case([&](CumSumOp o) {
        RowOperands extra;
        extra.flags = (o.getExclusive() ? VecExclusive : 0) |
                      (o.getReverse() ? VecReverse : 0);
        return rowwise(core, o.getInput(), o.getOutput(), VecFunc::RowCumSum,
                       extra);
      })
      .Case([&](GeluOp o) {
        return rowwise(core, o.getInput(), o.getOutput(),
                       o.getApproximation() == GeluApproximation::erf
                           ? VecFunc::GeluErf
                           : VecFunc::GeluTanh);
      })
      .Case([&](UnaryOp o) {
        return rowwise(core, o.getInput(), o.getOutput(), unaryFunc(o.getFn()));
      })
      .Case([&](SoftmaxOp o) {
        return rowwise(core, o.getInput(), o.getOutput(), VecFunc::Softmax);
      })
      .Case([&](BinaryOp o) { return lowerBinary(core, o); });
}

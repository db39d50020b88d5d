//===- ProjectionSplit.cpp - per-head windows of a fused projection
//--------===//
//
// GPT-NeoX (Pythia) fuses Q, K and V in one projection whose output is
// viewed per head, [.., H, 3*D], and cut on the last axis: head h's Q is
// columns [3hD, 3hD + D) of the projection. No reshape of that output lays
// Q, K or V out as contiguous heads. But the window [s, e) of every head is
// itself a projection, by the weight columns {h*M + j : s <= j < e} (M the
// per-head width): this canonicalization gives each window its own MatMul
// by those columns (and bias entries), which fold into constants. Q, K and
// V are then plain projections viewed per head, with the fused
// projection's multiply-adds split among them, not repeated.
//
// It applies only when every reader of the per-head view is a constant
// last-axis window (Slice with step 1, or Split), so the fused projection
// dies; and not when a window is concatenated back on the last axis: that
// is a computation on part of each head (a partial rotary embedding
// rotates the first columns and keeps the rest), not a projection split.
//
//===----------------------------------------------------------------------===//

#include "ProjectionSplit.h"
#include "FoldUtils.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;

namespace spatten::onnx {
namespace {

/// `MatMul(x, W)` or `Add(MatMul(x, W), b)` (either order) with a constant
/// f32 weight [K, N] and bias [N].
struct Projection {
  Value x;
  ConstTensor weight;
  std::optional<ConstTensor> bias;
};

std::optional<ConstTensor> f32Const(Value v, ArrayRef<int64_t> shape) {
  std::optional<ConstTensor> c = getConstTensor(v);
  if (!c || !c->type.getElementType().isF32() || c->shape() != shape)
    return std::nullopt;
  return c;
}

std::optional<Projection> matchProjection(Value p) {
  auto type = rankedType(p);
  if (!type || !type.hasStaticShape() || type.getRank() < 2 || !p.hasOneUse())
    return std::nullopt;
  int64_t n = type.getShape().back();
  Value bias;
  auto matmul = p.getDefiningOp<MatMulOp>();
  if (auto add = p.getDefiningOp<AddOp>()) {
    for (int i : {0, 1})
      if (auto m = add->getOperand(i).getDefiningOp<MatMulOp>();
          m && m.getY().hasOneUse()) {
        matmul = m;
        bias = add->getOperand(1 - i);
      }
  }
  if (!matmul || rankedType(matmul.getY()) != type)
    return std::nullopt;
  auto x = rankedType(matmul.getA());
  if (!x || !x.hasStaticShape())
    return std::nullopt;
  std::optional<ConstTensor> w =
      f32Const(matmul.getB(), {x.getShape().back(), n});
  std::optional<ConstTensor> b;
  if (!w || (bias && !(b = f32Const(bias, {n}))))
    return std::nullopt;
  return Projection{matmul.getA(), *w, b};
}

/// A window [start, start + width) of the last axis, read by `result`.
struct Window {
  Value result;
  int64_t start, width;
};

bool isLastAxis(int64_t axis, int64_t rank) {
  return normalizeAxis(axis, rank) == rank - 1;
}

/// The last-axis windows that `op` (a reader of `v`) cuts, appended to
/// `out`; false when `op` is no such window.
bool appendWindows(Operation *op, Value v, SmallVectorImpl<Window> &out) {
  auto type = rankedType(v);
  int64_t rank = type.getRank(), dim = type.getShape().back();
  if (auto slice = dyn_cast<SliceOp>(op)) {
    auto starts = getConstInts(slice.getStarts());
    auto axes = slice.getAxes() ? getConstInts(slice.getAxes())
                                : std::optional<SmallVector<int64_t>>();
    auto steps = slice.getSteps() ? getConstInts(slice.getSteps())
                                  : SmallVector<int64_t>{1};
    auto result = rankedType(slice.getOutput());
    if (slice.getData() != v || !starts || !axes || !steps ||
        starts->size() != 1 || axes->size() != 1 ||
        *steps != ArrayRef<int64_t>{1} || !isLastAxis((*axes)[0], rank) ||
        !result || !result.hasStaticShape())
      return false;
    int64_t start = (*starts)[0] < 0 ? (*starts)[0] + dim : (*starts)[0];
    out.push_back({slice.getOutput(), std::clamp<int64_t>(start, 0, dim),
                   result.getShape().back()});
    return true;
  }
  auto split = dyn_cast<SplitOp>(op);
  if (!split || !isLastAxis(split.getAxis(), rank))
    return false;
  int64_t offset = 0;
  for (Value r : split.getOutputs()) {
    auto result = rankedType(r);
    if (!result || !result.hasStaticShape())
      return false;
    out.push_back({r, offset, result.getShape().back()});
    offset += result.getShape().back();
  }
  return true;
}

/// True if `v` (of rank `rank`) is an operand of a last-axis Concat,
/// directly or through a Neg (rotate_half's negated half).
bool concatenatedBack(Value v, int64_t rank) {
  for (Operation *user : v.getUsers()) {
    if (isa<NegOp>(user) && concatenatedBack(user->getResult(0), rank))
      return true;
    auto concat = dyn_cast<ConcatOp>(user);
    if (concat && isLastAxis(concat.getAxis(), rank))
      return true;
  }
  return false;
}

struct SplitHeadWindows : OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ReshapeOp reshape,
                                PatternRewriter &rw) const override {
    auto in = rankedType(reshape.getData());
    auto out = rankedType(reshape.getReshaped());
    if (!in || !out || !in.hasStaticShape() || !out.hasStaticShape() ||
        in.getRank() < 2 || out.getRank() != in.getRank() + 1 ||
        in.getShape().drop_back() != out.getShape().drop_back(2))
      return rw.notifyMatchFailure(reshape, "not a per-head view [.., H, M]");
    int64_t heads = out.getShape()[out.getRank() - 2];
    int64_t width = out.getShape().back();
    std::optional<Projection> proj = matchProjection(reshape.getData());
    if (heads < 2 || !proj)
      return rw.notifyMatchFailure(reshape, "not a view of a projection");
    // The view, through transposes that keep the last axis last.
    SmallVector<TransposeOp> chain;
    Value view = reshape.getReshaped();
    SmallVector<Window> windows;
    while (true) {
      if (auto type = rankedType(view); !type || !type.hasStaticShape())
        return rw.notifyMatchFailure(reshape, "a view without a static shape");
      auto readers = llvm::make_filter_range(
          view.getUsers(), [](Operation *op) { return !isa<ShapeOp>(op); });
      auto next = llvm::range_size(readers) == 1
                      ? dyn_cast<TransposeOp>(*readers.begin())
                      : TransposeOp();
      std::optional<ArrayRef<int64_t>> perm =
          next ? next.getPerm() : std::nullopt;
      if (perm && !perm->empty() && perm->back() == out.getRank() - 1) {
        chain.push_back(next);
        view = next.getTransposed();
        continue;
      }
      for (Operation *reader : readers)
        if (!appendWindows(reader, view, windows))
          return rw.notifyMatchFailure(reshape, "a reader is not a window");
      break;
    }
    if (windows.empty() ||
        llvm::all_of(windows,
                     [&](const Window &w) { return w.width == width; }) ||
        llvm::any_of(windows, [&](const Window &w) {
          return concatenatedBack(w.result, out.getRank());
        }))
      return rw.notifyMatchFailure(reshape, "no projection split to make");
    // A window past the head (a result type that does not match its Slice)
    // or a weight too large to copy is left alone.
    int64_t rows = proj->weight.shape()[0];
    if (llvm::any_of(windows, [&](const Window &w) {
          return w.start + w.width > width ||
                 rows * heads * w.width > kMoveLimit;
        }))
      return rw.notifyMatchFailure(reshape,
                                   "a window past the head or too large");
    for (const Window &w : windows)
      rw.replaceAllUsesWith(w.result,
                            windowProjection(rw, reshape, *proj, chain, w));
    return success();
  }

  /// The projection of window `w` of every head, viewed as the window
  /// (the per-head reshape and the transposes of `chain` replayed).
  static Value windowProjection(PatternRewriter &rw, ReshapeOp reshape,
                                const Projection &p,
                                ArrayRef<TransposeOp> chain, const Window &w) {
    Location loc = reshape.getLoc();
    rw.setInsertionPoint(reshape);
    ArrayRef<int64_t> view = rankedType(reshape.getReshaped()).getShape();
    int64_t heads = view[view.size() - 2], m = view.back(), n = heads * w.width;
    // Column o of the window's projection is column `source(o)` of the
    // fused one.
    auto source = [&](int64_t o) {
      return o / w.width * m + w.start + o % w.width;
    };
    int64_t k = p.weight.shape()[0], fused = p.weight.shape()[1];
    auto f32 = rw.getF32Type();
    auto weightType = RankedTensorType::get({k, n}, f32);
    Value weight =
        ConstantOp::create(rw, loc, weightType,
                           gatherElements(weightType, p.weight, [&](int64_t o) {
                             return o / n * fused + source(o % n);
                           }));
    SmallVector<int64_t> shape(rankedType(p.x).getShape());
    shape.back() = n;
    Value y = MatMulOp::create(rw, loc, RankedTensorType::get(shape, f32), p.x,
                               weight);
    if (p.bias) {
      auto biasType = RankedTensorType::get({n}, f32);
      Value bias = ConstantOp::create(
          rw, loc, biasType, gatherElements(biasType, *p.bias, source));
      y = AddOp::create(rw, loc, y.getType(), y, bias);
    }
    shape.back() = heads;
    shape.push_back(w.width);
    auto shapeType =
        RankedTensorType::get({int64_t(shape.size())}, rw.getI64Type());
    Value target = ConstantOp::create(
        rw, loc, shapeType,
        DenseIntElementsAttr::get(shapeType, ArrayRef<int64_t>(shape)));
    y = ReshapeOp::create(rw, loc, RankedTensorType::get(shape, f32), y,
                          target);
    for (TransposeOp t : chain) {
      SmallVector<int64_t> permuted;
      ArrayRef<int64_t> perm = *t.getPerm();
      for (int64_t d : perm)
        permuted.push_back(shape[d]);
      shape = permuted;
      y = TransposeOp::create(rw, t.getLoc(), RankedTensorType::get(shape, f32),
                              y, t.getPermAttr());
    }
    return y;
  }
};

} // namespace

void populateProjectionSplitPatterns(RewritePatternSet &patterns) {
  patterns.add<SplitHeadWindows>(patterns.getContext());
}

} // namespace spatten::onnx

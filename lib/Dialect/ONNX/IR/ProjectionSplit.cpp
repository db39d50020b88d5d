//===- ProjectionSplit.cpp - per-head windows of a projection -------------===//
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
// Falcon's multi-query projection is viewed [.., H + 2, D] and cut on the
// head axis instead: its query heads, then one key and one value head. A
// window may take a range of heads, a range of each head's columns, or
// both.
//
// It applies only when every reader of the per-head view is a constant
// window (Slice with unit steps, Gather of consecutive indices, or Split,
// on the head or the last axis), so the fused projection dies; and not when a
// window is concatenated back on the last axis: that is a computation on part
// of each head (a partial rotary embedding rotates the first columns and keeps
// the rest), not a projection split.
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

/// A window of the per-head view read by `result`: heads [head, head +
/// heads) and, of each, the columns [start, start + width).
struct Window {
  Value result;
  int64_t head, heads, start, width;
};

bool isLastAxis(int64_t axis, int64_t rank) {
  return normalizeAxis(axis, rank) == rank - 1;
}

/// The per-head view `v` [.., H, .., M]: its head axis `headAxis` (moved by
/// transposes), its columns last.
struct View {
  Value v;
  int64_t headAxis;

  int64_t rank() const { return rankedType(v).getRank(); }
  int64_t dim(int64_t axis) const { return rankedType(v).getDimSize(axis); }
  Window whole(Value result) const {
    return {result, 0, dim(headAxis), 0, dim(rank() - 1)};
  }
  /// Narrows `w` to [start, start + size) of `axis`; false for another axis.
  bool narrow(Window &w, int64_t axis, int64_t start, int64_t size) const {
    std::optional<int64_t> a = normalizeAxis(axis, rank());
    if (!a || (*a != headAxis && *a != rank() - 1) || size < 0)
      return false;
    int64_t n = dim(*a);
    start = std::clamp<int64_t>(start < 0 ? start + n : start, 0, n);
    (*a == headAxis ? w.head : w.start) = start;
    (*a == headAxis ? w.heads : w.width) = size;
    return true;
  }
};

/// Slice with unit steps, on the head or the last axis.
bool appendSlice(SliceOp slice, const View &view,
                 SmallVectorImpl<Window> &out) {
  auto starts = getConstInts(slice.getStarts());
  auto axes = slice.getAxes() ? getConstInts(slice.getAxes())
                              : std::optional<SmallVector<int64_t>>();
  auto steps = slice.getSteps() ? getConstInts(slice.getSteps())
                                : std::optional<SmallVector<int64_t>>();
  auto result = rankedType(slice.getOutput());
  if (!starts || !axes || starts->size() != axes->size() || !result ||
      !result.hasStaticShape() ||
      (steps && llvm::any_of(*steps, [](int64_t s) { return s != 1; })))
    return false;
  Window w = view.whole(slice.getOutput());
  for (auto [axis, start] : llvm::zip(*axes, *starts)) {
    std::optional<int64_t> a = normalizeAxis(axis, view.rank());
    if (!a || !view.narrow(w, *a, start, result.getDimSize(*a)))
      return false;
  }
  out.push_back(w);
  return true;
}

/// Gather of consecutive indices on the head or the last axis (Falcon's
/// `x[..., [-2], :]`).
bool appendGather(GatherOp gather, const View &view,
                  SmallVectorImpl<Window> &out) {
  auto indices = getConstInts(gather.getIndices());
  auto ids = rankedType(gather.getIndices());
  std::optional<int64_t> axis = normalizeAxis(gather.getAxis(), view.rank());
  if (!indices || !ids || ids.getRank() != 1 || indices->empty() || !axis)
    return false;
  int64_t n = view.dim(*axis),
          first = (*indices)[0] < 0 ? (*indices)[0] + n : (*indices)[0];
  for (auto [i, index] : llvm::enumerate(*indices))
    if ((index < 0 ? index + n : index) != first + int64_t(i))
      return false;
  Window w = view.whole(gather.getOutput());
  if (first < 0 || !view.narrow(w, *axis, first, indices->size()))
    return false;
  out.push_back(w);
  return true;
}

/// The windows that `op` (a reader of the view) cuts, appended to `out`;
/// false when `op` is no such window.
bool appendWindows(Operation *op, const View &view,
                   SmallVectorImpl<Window> &out) {
  if (auto slice = dyn_cast<SliceOp>(op))
    return slice.getData() == view.v && appendSlice(slice, view, out);
  if (auto gather = dyn_cast<GatherOp>(op))
    return gather.getData() == view.v && appendGather(gather, view, out);
  auto split = dyn_cast<SplitOp>(op);
  std::optional<int64_t> axis =
      split ? normalizeAxis(split.getAxis(), view.rank()) : std::nullopt;
  if (!axis)
    return false;
  int64_t offset = 0;
  for (Value r : split.getOutputs()) {
    auto result = rankedType(r);
    Window w = view.whole(r);
    if (!result || !result.hasStaticShape() ||
        !view.narrow(w, *axis, offset, result.getDimSize(*axis)))
      return false;
    out.push_back(w);
    offset += result.getDimSize(*axis);
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
    View view{reshape.getReshaped(), out.getRank() - 2};
    SmallVector<Window> windows;
    while (true) {
      if (auto type = rankedType(view.v); !type || !type.hasStaticShape())
        return rw.notifyMatchFailure(reshape, "a view without a static shape");
      auto readers = llvm::make_filter_range(
          view.v.getUsers(), [](Operation *op) { return !isa<ShapeOp>(op); });
      auto next = llvm::range_size(readers) == 1
                      ? dyn_cast<TransposeOp>(*readers.begin())
                      : TransposeOp();
      std::optional<ArrayRef<int64_t>> perm =
          next ? next.getPerm() : std::nullopt;
      if (perm && !perm->empty() && perm->back() == out.getRank() - 1) {
        chain.push_back(next);
        view = {next.getTransposed(),
                int64_t(llvm::find(*perm, view.headAxis) - perm->begin())};
        continue;
      }
      for (Operation *reader : readers)
        if (!appendWindows(reader, view, windows))
          return rw.notifyMatchFailure(reshape, "a reader is not a window");
      break;
    }
    if (windows.empty() ||
        llvm::all_of(windows,
                     [&](const Window &w) {
                       return w.heads == heads && w.width == width;
                     }) ||
        llvm::any_of(windows, [&](const Window &w) {
          return concatenatedBack(w.result, out.getRank());
        }))
      return rw.notifyMatchFailure(reshape, "no projection split to make");
    // A window past the view (a result type that does not match its
    // reader) or a weight too large to copy is left alone.
    int64_t rows = proj->weight.shape()[0];
    if (llvm::any_of(windows, [&](const Window &w) {
          return w.head + w.heads > heads || w.start + w.width > width ||
                 w.heads < 1 || w.width < 1 ||
                 rows * w.heads * w.width > kMoveLimit;
        }))
      return rw.notifyMatchFailure(reshape,
                                   "a window past the view or too large");
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
    int64_t m = rankedType(reshape.getReshaped()).getShape().back();
    int64_t n = w.heads * w.width;
    // Column o of the window's projection is column `source(o)` of the
    // fused one.
    auto source = [&](int64_t o) {
      return (w.head + o / w.width) * m + w.start + o % w.width;
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
    shape.back() = w.heads;
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

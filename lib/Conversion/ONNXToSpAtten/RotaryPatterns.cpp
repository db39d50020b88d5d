//===- RotaryPatterns.cpp - Lift rotary position embeddings ---------------===//
//
// Hugging Face LLaMA applies rotary embeddings to the heads of Q and K:
//
//   xh = Transpose(0,2,1,3)(Reshape(proj -> [B,L,H,D]))
//   rotate_half(xh) = Concat(axis -1)(Neg(Slice(xh, D/2:)), Slice(xh, :D/2))
//   out = Add(Mul(xh, cos), Mul(rotate_half(xh), sin))
//
// with cos/sin constant tables [.., L, D] (leading dims 1) once the position
// ids fold. The rotation is per token and head, so it commutes with the
// head split: the pattern applies `spatten.rotary_embedding` to the
// projection [B,L,H*D] and repeats the Reshape/Transpose chain on its
// result. The attention pattern then finds plain heads, as without rotary
// embeddings.
//
// GPT-NeoX (Pythia) rotates only the first R columns of each head:
//
//   out = Concat(axis -1)(rotary(Slice(xh, :R)), Slice(xh, R:))
//
// with R-wide tables; the op then carries head_dim = D.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "HeadLayout.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::lift {
namespace {

/// The last-axis window [start, end) of `slice` when it is a unit-step
/// Slice of `x`.
std::optional<std::pair<int64_t, int64_t>> lastAxisWindow(Operation *slice,
                                                          Value x) {
  if (!isOnnx(slice, "Slice") || skipNoOps(slice->getOperand(0)) != x)
    return std::nullopt;
  int64_t rank = shapeOf(x).size(), dim = shapeOf(x).back();
  Value axesIn = getOnnxInput(slice, 3), stepsIn = getOnnxInput(slice, 4);
  std::optional<SmallVector<int64_t>> starts = getConstInts(getOnnxInput(slice, 1)),
                                      ends = getConstInts(getOnnxInput(slice, 2));
  std::optional<SmallVector<int64_t>> axes =
      axesIn ? getConstInts(axesIn) : SmallVector<int64_t>{0};
  std::optional<SmallVector<int64_t>> steps =
      stepsIn ? getConstInts(stepsIn) : SmallVector<int64_t>{1};
  if (!starts || !ends || !axes || !steps || starts->size() != 1 ||
      ends->size() != 1 || axes->size() != 1 || steps->size() != 1 ||
      (*steps)[0] != 1 || ((*axes)[0] != -1 && (*axes)[0] != rank - 1))
    return std::nullopt;
  auto clamp = [&](int64_t i) {
    return std::clamp<int64_t>(i < 0 ? i + dim : i, 0, dim);
  };
  return std::make_pair(clamp((*starts)[0]), clamp((*ends)[0]));
}

/// True if `v` is rotate_half(x): Concat(Neg(x[.., D/2:]), x[.., :D/2]).
bool isRotateHalf(Value v, Value x) {
  Operation *cat = defOnnx(v, "Concat");
  int64_t rank = shapeOf(x).size(), d = rank ? shapeOf(x).back() : 0;
  std::optional<int64_t> axis = cat ? getIntAttr(cat, "axis") : std::nullopt;
  if (!cat || cat->getNumOperands() != 2 || d % 2 ||
      !(axis == -1 || axis == rank - 1))
    return false;
  Operation *neg = defOnnx(cat->getOperand(0), "Neg");
  auto high = neg ? lastAxisWindow(defOnnx(neg->getOperand(0), "Slice"), x)
                  : std::nullopt;
  auto low = lastAxisWindow(defOnnx(cat->getOperand(1), "Slice"), x);
  return high && low && *high == std::make_pair(d / 2, d) &&
         *low == std::make_pair(int64_t(0), d / 2);
}

/// A constant table [1,..,1, L, R] for heads of length L rotated in their
/// first R columns.
bool isTable(Value t, int64_t l, int64_t r) {
  ArrayRef<int64_t> s = shapeOf(t);
  return getConstAttr(t) && isF32Tensor(t) && s.size() >= 2 &&
         s[s.size() - 2] == l && s.back() == r &&
         llvm::all_of(s.drop_back(2), [](int64_t n) { return n == 1; });
}

/// `add` = x * cos + rotate_half(x) * sin, cos and sin any values.
struct RotaryMath {
  Value x, cos, sin;
};

/// `mul` = x * table in either operand order: (x, table).
SmallVector<std::pair<Value, Value>, 2> factors(Operation *mul) {
  if (!mul)
    return {};
  return {{skipNoOps(mul->getOperand(0)), mul->getOperand(1)},
          {skipNoOps(mul->getOperand(1)), mul->getOperand(0)}};
}

SmallVector<RotaryMath> rotaryMathOf(Operation *add) {
  SmallVector<RotaryMath> found;
  if (!isOnnx(add, "Add"))
    return found;
  Type type = add->getResult(0).getType();
  for (int i : {0, 1})
    for (auto [x, cos] : factors(defOnnx(add->getOperand(i), "Mul")))
      for (auto [rotated, sin] :
           factors(defOnnx(add->getOperand(1 - i), "Mul")))
        if (x.getType() == type && isRotateHalf(rotated, x))
          found.push_back({x, cos, sin});
  return found;
}

/// A partial rotary embedding: Concat(last axis) of the rotary math on the
/// first R columns of `heads` and the columns R.. passed through. With
/// R = D (rotary_pct 1) the first slice is the whole head, a no-op folded
/// away, and the pass-through is empty.
struct PartialRotary {
  RotaryMath math;
  Value heads;
};

std::optional<PartialRotary> matchPartial(Operation *concat) {
  if (!isOnnx(concat, "Concat") || concat->getNumOperands() != 2)
    return std::nullopt;
  int64_t rank = shapeOf(concat->getResult(0)).size();
  std::optional<int64_t> axis = getIntAttr(concat, "axis");
  if (!axis || !(*axis == -1 || *axis == rank - 1))
    return std::nullopt;
  Operation *pass = defOnnx(concat->getOperand(1), "Slice");
  Value heads = pass ? skipNoOps(pass->getOperand(0)) : Value();
  if (!heads || heads.getType() != concat->getResult(0).getType())
    return std::nullopt;
  int64_t d = shapeOf(heads).back();
  for (RotaryMath m :
       rotaryMathOf(skipNoOps(concat->getOperand(0)).getDefiningOp())) {
    auto rot = lastAxisWindow(m.x.getDefiningOp(), heads);
    int64_t r = shapeOf(m.x).back();
    bool first = rot ? *rot == std::make_pair(int64_t(0), r) : m.x == heads;
    if (first && lastAxisWindow(pass, heads) == std::make_pair(r, d))
      return PartialRotary{m, heads};
  }
  return std::nullopt;
}

/// Why heads `x` with tables `cos`/`sin` of width `r` cannot be rotated;
/// "" when they can (`heads` and `chain` then set).
std::string whyNotRotary(Value x, Value cos, Value sin, int64_t r,
                         Heads *heads = nullptr,
                         SmallVectorImpl<Operation *> *chain = nullptr) {
  std::optional<Heads> h = matchHeadsLayout(x, false, nullptr, chain);
  if (!h)
    return "its input is not the heads [B,H,L,D] of a projection";
  if (h->seqMajor || h->group != 1)
    return "its input heads are sequence-first or shared by a group "
           "(rotate the batch-first heads before repeat_kv)";
  if (!isTable(cos, h->l, r) || !isTable(sin, h->l, r))
    return "its cos and sin are not constant tables [1,..,1,L,R]; "
           "position ids from a graph input are known only at run "
           "time (export them as arange(sequence))";
  if (heads)
    *heads = *h;
  return "";
}

/// Replaces `root` with spatten.rotary_embedding of the heads' projection
/// (R = the tables' width of D = `h.d` columns), split into heads again.
void rewriteRotary(PatternRewriter &rw, Operation *root, const Heads &h,
                   ArrayRef<Operation *> chain, Value cos, Value sin) {
  Location loc = root->getLoc();
  rw.setInsertionPoint(root);
  int64_t r = shapeOf(cos).back();
  Value flat = flatProjection(rw, loc, h);
  Value rotated = RotaryEmbeddingOp::create(
      rw, loc, flat.getType(), flat, reshapeTo(rw, loc, cos, {h.l, r}),
      reshapeTo(rw, loc, sin, {h.l, r}),
      r == h.d ? IntegerAttr() : rw.getI64IntegerAttr(h.d));
  // The same head split, now of the rotated projection.
  Value cur = reshapeTo(rw, loc, rotated, shapeOf(h.base));
  for (Operation *op : llvm::reverse(chain)) {
    Operation *copy = rw.clone(*op);
    copy->setOperand(0, cur);
    cur = copy->getResult(0);
  }
  rw.replaceOp(root, cur);
}

struct RotaryPattern : RewritePattern {
  explicit RotaryPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Add", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *add,
                                PatternRewriter &rw) const override {
    if (llvm::any_of(add->getUsers(), [](Operation *user) {
          return matchPartial(user).has_value();
        }))
      return rw.notifyMatchFailure(add, "rotated at its partial Concat");
    for (const RotaryMath &m : rotaryMathOf(add)) {
      Heads h;
      SmallVector<Operation *> chain;
      if (whyNotRotary(m.x, m.cos, m.sin, shapeOf(m.x).back(), &h, &chain)
              .empty()) {
        rewriteRotary(rw, add, h, chain, m.cos, m.sin);
        return success();
      }
    }
    return rw.notifyMatchFailure(add, "not a rotary embedding");
  }
};

struct PartialRotaryPattern : RewritePattern {
  explicit PartialRotaryPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Concat", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *concat,
                                PatternRewriter &rw) const override {
    std::optional<PartialRotary> p = matchPartial(concat);
    Heads h;
    SmallVector<Operation *> chain;
    if (!p || !whyNotRotary(p->heads, p->math.cos, p->math.sin,
                            shapeOf(p->math.x).back(), &h, &chain)
                   .empty())
      return rw.notifyMatchFailure(concat, "not a partial rotary embedding");
    rewriteRotary(rw, concat, h, chain, p->math.cos, p->math.sin);
    return success();
  }
};

} // namespace

std::string explainUnliftedRotary(Operation *add) {
  for (const RotaryMath &m : rotaryMathOf(add)) {
    int64_t r = shapeOf(m.x).back();
    // The rotated columns of a partial rotary embedding: the heads are
    // what they were cut from.
    Value x = m.x;
    for (Operation *user : add->getResult(0).getUsers())
      if (std::optional<PartialRotary> p = matchPartial(user))
        x = p->heads;
    if (std::string why = whyNotRotary(x, m.cos, m.sin, r); !why.empty())
      return why;
  }
  return "";
}

void populateRotaryPatterns(RewritePatternSet &patterns) {
  patterns.add<RotaryPattern, PartialRotaryPattern>(patterns.getContext());
}

} // namespace spatten::lift

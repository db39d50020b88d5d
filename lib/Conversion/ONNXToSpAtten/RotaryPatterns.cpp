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
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "HeadLayout.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::lift {
namespace {

/// The last-axis window [start, end) of a unit-step Slice of `x`.
std::optional<std::pair<int64_t, int64_t>> lastAxisWindow(Operation *slice,
                                                          Value x) {
  if (!slice || skipNoOps(slice->getOperand(0)) != x)
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

/// A constant table [1,..,1, L, D] for heads of length L and width D.
bool isTable(Value t, const Heads &h) {
  ArrayRef<int64_t> s = shapeOf(t);
  return getConstAttr(t) && isF32Tensor(t) && s.size() >= 2 &&
         s[s.size() - 2] == h.l && s.back() == h.d &&
         llvm::all_of(s.drop_back(2), [](int64_t n) { return n == 1; });
}

struct RotaryMatch {
  Heads heads;
  Value cos, sin;
  SmallVector<Operation *> chain; // base -> xh, nearest xh first
};

/// `mul` = x * table in either operand order: (x, table).
SmallVector<std::pair<Value, Value>, 2> factors(Operation *mul) {
  if (!mul)
    return {};
  return {{skipNoOps(mul->getOperand(0)), mul->getOperand(1)},
          {skipNoOps(mul->getOperand(1)), mul->getOperand(0)}};
}

std::optional<RotaryMatch> matchRotary(Operation *add) {
  Type type = add->getResult(0).getType();
  for (int i : {0, 1}) {
    Operation *cosMul = defOnnx(add->getOperand(i), "Mul");
    Operation *sinMul = defOnnx(add->getOperand(1 - i), "Mul");
    for (auto [x, cos] : factors(cosMul)) {
      if (x.getType() != type)
        continue;
      for (auto [rotated, sin] : factors(sinMul)) {
        if (!isRotateHalf(rotated, x))
          continue;
        RotaryMatch m;
        std::optional<Heads> h = matchHeadsLayout(x, false, nullptr, &m.chain);
        if (!h || h->seqMajor || h->group != 1 || !isTable(cos, *h) ||
            !isTable(sin, *h))
          continue;
        m.heads = *h;
        m.cos = cos;
        m.sin = sin;
        return m;
      }
    }
  }
  return std::nullopt;
}

struct RotaryPattern : RewritePattern {
  explicit RotaryPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Add", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *add,
                                PatternRewriter &rw) const override {
    std::optional<RotaryMatch> m = matchRotary(add);
    if (!m)
      return rw.notifyMatchFailure(add, "not a rotary embedding");
    const Heads &h = m->heads;
    Location loc = add->getLoc();
    rw.setInsertionPoint(add);
    Value flat = flatProjection(rw, loc, h);
    Value rotated = RotaryEmbeddingOp::create(
        rw, loc, flat.getType(), flat, reshapeTo(rw, loc, m->cos, {h.l, h.d}),
        reshapeTo(rw, loc, m->sin, {h.l, h.d}));
    // The same head split, now of the rotated projection.
    Value cur = reshapeTo(rw, loc, rotated, shapeOf(h.base));
    for (Operation *op : llvm::reverse(m->chain)) {
      Operation *copy = rw.clone(*op);
      copy->setOperand(0, cur);
      cur = copy->getResult(0);
    }
    rw.replaceOp(add, cur);
    return success();
  }
};

} // namespace

std::string explainUnliftedRotary(Operation *add) {
  if (!isOnnx(add, "Add"))
    return "";
  Type type = add->getResult(0).getType();
  for (int i : {0, 1})
    for (auto [x, cos] : factors(defOnnx(add->getOperand(i), "Mul")))
      for (auto [rotated, sin] :
           factors(defOnnx(add->getOperand(1 - i), "Mul"))) {
        if (x.getType() != type || !isRotateHalf(rotated, x))
          continue;
        std::optional<Heads> h = matchHeadsLayout(x, false, nullptr);
        if (!h)
          return "its input is not the heads [B,H,L,D] of a projection";
        if (h->seqMajor || h->group != 1)
          return "its input heads are sequence-first or shared by a group "
                 "(rotate the batch-first heads before repeat_kv)";
        if (!isTable(cos, *h) || !isTable(sin, *h))
          return "its cos and sin are not constant tables [1,..,1,L,D]; "
                 "position ids from a graph input are known only at run "
                 "time (export them as arange(sequence))";
      }
  return "";
}

void populateRotaryPatterns(RewritePatternSet &patterns) {
  patterns.add<RotaryPattern>(patterns.getContext());
}

} // namespace spatten::lift

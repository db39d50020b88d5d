//===- NormActPatterns.cpp - Lift norm and activation subgraphs -----------===//
//
// LayerNorm, over the last axis, with d = x - ReduceMean(x) and the spread
// s = Sqrt(ReduceMean(d^2) + eps) or Sqrt(ReduceMean(d^2)) + eps (d^2 as
// Pow(d, 2) or d*d; the two Subs may be distinct nodes, as PyTorch 1.1 and
// Megatron export them):
//   - PyTorch:      Add(Mul(d / s, gamma), beta)
//   - Reciprocal:   Add(Mul(d * Reciprocal(s), gamma), beta)
//   - negated:      d = Sub(mean, x), then Sub(beta, Mul(d / s, gamma))
//   - keras / tf2onnx (tf.nn.batch_normalization): with
//     g = Reciprocal(s) * gamma, Add(x * g, beta - ReduceMean(x) * g); the
//     variance's Sub may be (mean, x) (keras2onnx 1.6.1)
//   - ONNX LayerNormalization (opset 17) over dims [axis, rank).
// RMSNorm (LLaMA): Mul(gamma, x * Div(1, s)) or Mul(gamma, x / s) with
// s = Sqrt(ReduceMean(x^2) + eps) (or eps outside the Sqrt).
// Operands of Add/Mul are accepted in either order.
//
// SiLU: Mul(x, Sigmoid(x)).
// GELU: the expression around one Erf or Tanh is read as a polynomial in
// x and t = erf(.)/tanh(.), so any association order and Pow(x, 3) or
// x*x*x are accepted:
//   - erf:  0.5 x + 0.5 x t,  t = erf(x / sqrt 2)
//   - tanh: 0.5 x + 0.5 x t,  t = tanh(sqrt(2/pi) (x + 0.044715 x^3))
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cmath>
#include <map>

namespace spatten::lift {
namespace {

//===----------------------------------------------------------------------===//
// LayerNorm and RMSNorm
//===----------------------------------------------------------------------===//

/// Why a form that matched up to some point was not lifted, for the
/// diagnostic of a norm left to run op by op; the first reason wins.
struct Why {
  std::string text;
  void operator()(const Twine &t) {
    if (text.empty())
      text = t.str();
  }
};

std::string shapeText(Value v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleave(shapeOf(v), os, ",");
  os << "]";
  return s;
}

bool isLastAxisMean(Operation *rm, Why *why = nullptr) {
  if (!isOnnx(rm, "ReduceMean"))
    return false;
  std::optional<SmallVector<int64_t>> axes = getIntsAttr(rm, "axes");
  int64_t rank = shapeOf(rm->getOperand(0)).size();
  bool last = axes && axes->size() == 1 &&
              ((*axes)[0] == -1 || (*axes)[0] == rank - 1);
  bool keep = getIntAttr(rm, "keepdims").value_or(1) == 1;
  if (why && !last)
    (*why)("ReduceMean '" + nodeName(rm) +
           "' does not reduce exactly the last axis");
  else if (why && !keep)
    (*why)("ReduceMean '" + nodeName(rm) + "' has keepdims=0");
  return last && keep;
}

/// `ReduceMean(x)` over the last axis: returns x.
Value matchMean(Value v, Why *why = nullptr) {
  Operation *rm = defOnnx(v, "ReduceMean");
  return isLastAxisMean(rm, why) ? skipNoOps(rm->getOperand(0)) : Value();
}

/// `Sub(x, ReduceMean(x))` (sign +1) or `Sub(ReduceMean(x), x)` (sign -1,
/// keras2onnx 1.6.1's SquaredDifference): returns x.
Value matchCentered(Value d, int &sign, Why *why = nullptr) {
  Operation *sub = defOnnx(d, "Sub");
  if (!sub)
    return {};
  for (int i : {1, 0}) {
    Value x = matchMean(sub->getOperand(i), why);
    if (x && x == skipNoOps(sub->getOperand(1 - i))) {
      sign = i == 1 ? 1 : -1;
      return x;
    }
  }
  return {};
}

Value matchCentered(Value d) {
  int sign;
  return matchCentered(d, sign);
}

/// `Pow(v, 2)` or `Mul(v, v')` with `leaf(v) == leaf(v')`: returns leaf(v).
template <typename Leaf>
Value matchSquare(Value v, Leaf leaf) {
  if (Operation *pow = defOnnx(v, "Pow")) {
    std::optional<double> e = getScalarConst(pow->getOperand(1));
    return e && *e == 2.0 ? leaf(pow->getOperand(0)) : Value();
  }
  Operation *mul = defOnnx(v, "Mul");
  if (!mul)
    return {};
  Value a = leaf(mul->getOperand(0));
  return a && a == leaf(mul->getOperand(1)) ? a : Value();
}

/// The statistic a norm divides by, as matched.
struct Spread {
  Value x;                      ///< the normalized input
  double eps = 0;
  bool epsOutsideSqrt = false;
};

/// `Sqrt(ReduceMean(sq) + eps)` or `Sqrt(ReduceMean(sq)) + eps`, where
/// `square` reads sq (the squared deviation, or x^2 for RMSNorm).
template <typename Square>
std::optional<Spread> matchRootMeanSquare(Value v, Square square) {
  auto meanOfSquare = [&](Value m) {
    Operation *rm = defOnnx(m, "ReduceMean");
    return isLastAxisMean(rm) ? square(rm->getOperand(0)) : Value();
  };
  auto withEps = [&](Operation *add, auto inner) -> std::optional<Spread> {
    for (int i : {0, 1}) {
      std::optional<double> c = getScalarConst(add->getOperand(i));
      Value x = c ? inner(add->getOperand(1 - i)) : Value();
      if (x)
        return Spread{x, *c, false};
    }
    return std::nullopt;
  };
  if (Operation *sqrt = defOnnx(v, "Sqrt")) {
    Operation *add = defOnnx(sqrt->getOperand(0), "Add");
    return add ? withEps(add, meanOfSquare) : std::nullopt;
  }
  Operation *add = defOnnx(v, "Add");
  std::optional<Spread> s =
      add ? withEps(add, [&](Value r) {
        Operation *sqrt = defOnnx(r, "Sqrt");
        return sqrt ? meanOfSquare(sqrt->getOperand(0)) : Value();
      })
          : std::nullopt;
  if (s)
    s->epsOutsideSqrt = true;
  return s;
}

/// `Reciprocal(s)` or `Div(1, s)` (PyTorch's rsqrt).
template <typename Square>
std::optional<Spread> matchInverse(Value v, Square square) {
  if (Operation *r = defOnnx(v, "Reciprocal"))
    return matchRootMeanSquare(r->getOperand(0), square);
  Operation *div = defOnnx(v, "Div");
  std::optional<double> one =
      div ? getScalarConst(div->getOperand(0)) : std::nullopt;
  if (one == 1.0)
    return matchRootMeanSquare(div->getOperand(1), square);
  return std::nullopt;
}

/// `Div(a, s)` or `Mul(a, inverse(s))` in either order: returns the spread
/// and sets `numerator` to a.
template <typename Square>
std::optional<Spread> matchScaled(Value v, Square square, Value &numerator) {
  if (Operation *div = defOnnx(v, "Div")) {
    numerator = div->getOperand(0);
    return matchRootMeanSquare(div->getOperand(1), square);
  }
  Operation *mul = defOnnx(v, "Mul");
  for (int i : {0, 1})
    if (mul)
      if (std::optional<Spread> s = matchInverse(mul->getOperand(1 - i), square)) {
        numerator = mul->getOperand(i);
        return s;
      }
  return std::nullopt;
}

auto squaredDeviation = [](Value v) {
  return matchSquare(v, [](Value d) { return matchCentered(d); });
};
auto squaredInput = [](Value v) {
  return matchSquare(v, [](Value x) { return skipNoOps(x); });
};

/// A LayerNorm or RMSNorm found by one of the matchers below.
struct Norm {
  Value x, gamma, beta;
  Spread spread;
};

bool isVectorOf(Value v, int64_t n) {
  return v && isF32Tensor(v) && vectorLength(v) == n;
}

/// `(x - mean) / s` or `(x - mean) * inverse(s)`: returns the spread and
/// the sign of the centring Sub.
std::optional<Spread> matchNormalized(Value v, int &sign, Why *why) {
  Value centered;
  std::optional<Spread> s = matchScaled(v, squaredDeviation, centered);
  if (!s || matchCentered(centered, sign, why) != s->x)
    return std::nullopt;
  return s;
}

/// PyTorch form `Add(Mul(normalized, gamma), beta)`, or the normalized
/// value negated by a `Sub(mean, x)` and negated back by
/// `Sub(beta, Mul(normalized, gamma))`.
std::optional<Norm> matchTorchNorm(Operation *root, Why *why) {
  bool isSub = isOnnx(root, "Sub");
  for (int i = isSub ? 1 : 0; i < 2; ++i) { // a Sub's product is operand 1
    Operation *mul = defOnnx(root->getOperand(i), "Mul");
    for (int j : {0, 1}) {
      int sign = 0;
      std::optional<Spread> s =
          mul ? matchNormalized(mul->getOperand(j), sign, why) : std::nullopt;
      if (!s)
        continue;
      if (sign != (isSub ? -1 : 1)) {
        if (why)
          (*why)(isSub ? "the centring Sub has (x, mean) where (mean, x) was "
                         "expected, since the root Sub negates the "
                         "normalized value"
                       : "the centring Sub has (mean, x) where (x, mean) was "
                         "expected, and nothing negates the normalized value "
                         "back");
        continue;
      }
      return Norm{s->x, mul->getOperand(1 - j), root->getOperand(1 - i), *s};
    }
  }
  return std::nullopt;
}

/// keras / tf2onnx form: `Add(x * g, beta - mean * g)`, g = inverse * gamma.
/// The variance's centring Sub may have either order (it is squared).
std::optional<Norm> matchTfNorm(Operation *root) {
  if (!isOnnx(root, "Add"))
    return std::nullopt;
  for (int i : {0, 1}) {
    Operation *xg = defOnnx(root->getOperand(i), "Mul");
    Operation *sub = defOnnx(root->getOperand(1 - i), "Sub");
    Operation *mg = sub ? defOnnx(sub->getOperand(1), "Mul") : nullptr;
    if (!xg || !mg)
      continue;
    for (int j : {0, 1}) {
      Value x = skipNoOps(xg->getOperand(j)), g = skipNoOps(xg->getOperand(1 - j));
      bool meanFirst = matchMean(mg->getOperand(0)) == x &&
                       skipNoOps(mg->getOperand(1)) == g;
      bool meanSecond = matchMean(mg->getOperand(1)) == x &&
                        skipNoOps(mg->getOperand(0)) == g;
      Operation *gm = defOnnx(g, "Mul");
      if ((!meanFirst && !meanSecond) || !gm)
        continue;
      for (int k : {0, 1}) {
        std::optional<Spread> s = matchInverse(gm->getOperand(k), squaredDeviation);
        if (s && s->x == x)
          return Norm{x, gm->getOperand(1 - k), sub->getOperand(0), *s};
      }
    }
  }
  return std::nullopt;
}

/// LLaMA's RMSNorm: `Mul(gamma, x * inverse(s))` or `Mul(gamma, x / s)` with
/// s = Sqrt(ReduceMean(x^2) + eps), factors in either order.
std::optional<Norm> matchRmsNorm(Operation *root) {
  for (int i : {0, 1}) {
    Value x;
    std::optional<Spread> s =
        matchScaled(root->getOperand(i), squaredInput, x);
    if (s && skipNoOps(x) == s->x)
      return Norm{s->x, root->getOperand(1 - i), Value(), *s};
  }
  return std::nullopt;
}

/// Checks what the lifted op needs: f32 data of the root's type and [N]
/// gamma/beta (constants or graph inputs of any [1, ..., N] shape).
LogicalResult checkNorm(const Norm &n, Operation *root, Why *why) {
  if (!isF32Tensor(n.x) || shapeOf(n.x).empty() ||
      n.x.getType() != root->getResult(0).getType()) {
    if (why)
      (*why)("the result is not the f32 shape of the normalized input");
    return failure();
  }
  int64_t width = shapeOf(n.x).back();
  for (auto [v, name] : {std::pair{n.gamma, "gamma"}, {n.beta, "beta"}})
    if (v && !isVectorOf(v, width)) {
      if (why)
        (*why)(Twine(name) + " is " + shapeText(v) + " where [" +
               Twine(width) + "] was expected");
      return failure();
    }
  return success();
}

/// The decomposed LayerNorm of any form rooted at `root`, or null.
std::optional<Norm> matchLayerNorm(Operation *root, Why *why) {
  std::optional<Norm> n = matchTorchNorm(root, why);
  if (!n)
    n = matchTfNorm(root);
  if (!n || failed(checkNorm(*n, root, why)))
    return std::nullopt;
  return n;
}

Value replaceWithNorm(PatternRewriter &rw, Operation *root, const Norm &n) {
  Location loc = root->getLoc();
  int64_t width = shapeOf(n.x).back();
  Value gamma = reshapeTo(rw, loc, n.gamma, {width});
  FloatAttr eps = rw.getF32FloatAttr(float(n.spread.eps));
  UnitAttr outside = n.spread.epsOutsideSqrt ? rw.getUnitAttr() : UnitAttr();
  Value out;
  if (n.beta)
    out = LayerNormOp::create(rw, loc, n.x.getType(), n.x, gamma,
                              reshapeTo(rw, loc, n.beta, {width}), eps, outside);
  else
    out = RmsNormOp::create(rw, loc, n.x.getType(), n.x, gamma, eps, outside);
  rw.replaceOp(root, out);
  return out;
}

struct DecomposedLayerNormPattern : RewritePattern {
  DecomposedLayerNormPattern(StringRef root, MLIRContext *ctx)
      : RewritePattern(root, /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *root,
                                PatternRewriter &rw) const override {
    std::optional<Norm> n = matchLayerNorm(root, nullptr);
    if (!n)
      return rw.notifyMatchFailure(root, "not a LayerNorm");
    replaceWithNorm(rw, root, *n);
    return success();
  }
};

struct RmsNormPattern : RewritePattern {
  RmsNormPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Mul", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *root,
                                PatternRewriter &rw) const override {
    std::optional<Norm> n = matchRmsNorm(root);
    if (!n || failed(checkNorm(*n, root, nullptr)))
      return rw.notifyMatchFailure(root, "not an RMSNorm");
    replaceWithNorm(rw, root, *n);
    return success();
  }
};

/// Why a LayerNormalization cannot be lifted, or "" when it can.
std::string layerNormalizationRefusal(Operation *op) {
  Value x = op->getOperand(0), scale = op->getOperand(1);
  Value bias = op->getNumOperands() > 2 ? op->getOperand(2) : Value();
  int64_t rank = shapeOf(x).size();
  int64_t axis = getIntAttr(op, "axis").value_or(-1);
  axis = axis < 0 ? axis + rank : axis;
  if (!isF32Tensor(x) || axis < 0 || axis >= rank)
    return "X is not f32 data with `axis` in range";
  if (llvm::any_of(op->getResults().drop_front(),
                   [](Value r) { return !r.use_empty(); }))
    return "its Mean/InvStdDev outputs are used (only Y is computed)";
  int64_t width = 1;
  for (int64_t d : shapeOf(x).drop_front(axis))
    width *= d;
  for (auto [v, name] : {std::pair{scale, "Scale"}, {bias, "B"}})
    if (v && (!isF32Tensor(v) || tensorTypeOf(v).getNumElements() != width))
      return (Twine(name) + " is " + shapeText(v) + " where " + Twine(width) +
              " elements (the normalized dims) were expected")
          .str();
  return "";
}

/// LayerNormalization over dims [axis, rank): those dims are one row.
struct LayerNormalizationPattern : RewritePattern {
  LayerNormalizationPattern(MLIRContext *ctx)
      : RewritePattern("onnx.LayerNormalization", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    if (std::string why = layerNormalizationRefusal(op); !why.empty())
      return rw.notifyMatchFailure(op, why);
    Value x = op->getOperand(0);
    Value bias = op->getNumOperands() > 2 ? op->getOperand(2) : Value();
    ArrayRef<int64_t> shape = shapeOf(x);
    int64_t axis = getIntAttr(op, "axis").value_or(-1);
    axis = axis < 0 ? axis + int64_t(shape.size()) : axis;
    SmallVector<int64_t> rows(shape.take_front(axis));
    rows.push_back(1);
    for (int64_t d : shape.drop_front(axis))
      rows.back() *= d;
    int64_t width = rows.back();
    Location loc = op->getLoc();
    Value gamma = reshapeTo(rw, loc, op->getOperand(1), {width});
    Value beta;
    auto vecType = RankedTensorType::get({width}, rw.getF32Type());
    if (bias)
      beta = reshapeTo(rw, loc, bias, {width});
    else
      beta = arith::ConstantOp::create(
          rw, loc, DenseElementsAttr::get(vecType, rw.getF32FloatAttr(0)));
    float eps = getFloatAttr(op, "epsilon").value_or(1e-5);
    Value in = reshapeTo(rw, loc, x, rows);
    auto ln = LayerNormOp::create(rw, loc, in.getType(), in, gamma, beta,
                                  APFloat(eps));
    rw.replaceAllUsesWith(op->getResult(0),
                          reshapeTo(rw, loc, ln.getOutput(), shape));
    rw.eraseOp(op);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// SiLU
//===----------------------------------------------------------------------===//

/// `Mul(x, Sigmoid(x))` in either order (SiLU / swish; SwiGLU's gate is
/// `SiLU(a) * b`, whose product stays an element-wise Mul).
struct SiluPattern : RewritePattern {
  SiluPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Mul", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *root,
                                PatternRewriter &rw) const override {
    for (int i : {0, 1}) {
      Operation *sig = defOnnx(root->getOperand(i), "Sigmoid");
      Value x = skipNoOps(root->getOperand(1 - i));
      if (sig && skipNoOps(sig->getOperand(0)) == x && isF32Tensor(x) &&
          x.getType() == root->getResult(0).getType()) {
        rw.replaceOpWithNewOp<UnaryOp>(root, x, UnaryFn::silu);
        return success();
      }
    }
    return rw.notifyMatchFailure(root, "not x * Sigmoid(x)");
  }
};

//===----------------------------------------------------------------------===//
// GELU
//===----------------------------------------------------------------------===//

/// A polynomial in x and t: coefficient of x^i t^j keyed by (i, j).
using Poly = std::map<std::pair<int, int>, double>;

Poly polyMul(const Poly &a, const Poly &b) {
  Poly r;
  for (auto &[ka, ca] : a)
    for (auto &[kb, cb] : b)
      r[{ka.first + kb.first, ka.second + kb.second}] += ca * cb;
  return r;
}

Poly polyAdd(Poly a, const Poly &b, double sign) {
  for (auto &[k, c] : b)
    a[k] += sign * c;
  return a;
}

bool isArith(Operation *op) {
  return isOnnx(op, "Add") || isOnnx(op, "Sub") || isOnnx(op, "Mul") ||
         isOnnx(op, "Div") || isOnnx(op, "Pow") || isOnnx(op, "Neg");
}

/// Reads `v` as a polynomial in `x` and `t` over Add/Sub/Mul/Neg, Div by a
/// constant and Pow by 1..3, with scalar constants as coefficients.
std::optional<Poly> analyze(Value v, Value x, Value t, int depth = 0) {
  v = skipNoOps(v);
  if (v == x)
    return Poly{{{1, 0}, 1.0}};
  if (t && v == t)
    return Poly{{{0, 1}, 1.0}};
  if (std::optional<double> c = getScalarConst(v))
    return Poly{{{0, 0}, *c}};
  Operation *op = v.getDefiningOp();
  if (!op || depth > 12 || !isArith(op))
    return std::nullopt;
  std::optional<Poly> a = analyze(op->getOperand(0), x, t, depth + 1);
  if (!a)
    return std::nullopt;
  if (isOnnx(op, "Neg"))
    return polyAdd(Poly(), *a, -1);
  if (isOnnx(op, "Pow")) {
    std::optional<double> e = getScalarConst(op->getOperand(1));
    if (!e || (*e != 1 && *e != 2 && *e != 3))
      return std::nullopt;
    Poly r = *a;
    for (int i = 1; i < int(*e); ++i)
      r = polyMul(r, *a);
    return r;
  }
  if (isOnnx(op, "Div")) {
    std::optional<double> c = getScalarConst(op->getOperand(1));
    if (!c || *c == 0)
      return std::nullopt;
    return polyMul(*a, Poly{{{0, 0}, 1.0 / *c}});
  }
  std::optional<Poly> b = analyze(op->getOperand(1), x, t, depth + 1);
  if (!b)
    return std::nullopt;
  if (isOnnx(op, "Mul"))
    return polyMul(*a, *b);
  return polyAdd(*a, *b, isOnnx(op, "Sub") ? -1 : 1);
}

bool polyEquals(const Poly &p, const Poly &want) {
  for (auto &[k, c] : p)
    if (std::fabs(c) > 1e-9 && !want.count(k))
      return false;
  for (auto &[k, c] : want) {
    auto it = p.find(k);
    if (it == p.end() || !approxEq(it->second, c))
      return false;
  }
  return true;
}

/// The first Erf or Tanh reached through arithmetic ops from `v`.
Operation *findActivation(Value v, int depth = 0) {
  Operation *op = skipNoOps(v).getDefiningOp();
  if (!op || depth > 6)
    return nullptr;
  if (isOnnx(op, "Erf") || isOnnx(op, "Tanh"))
    return op;
  if (!isArith(op))
    return nullptr;
  for (Value operand : op->getOperands())
    if (Operation *found = findActivation(operand, depth + 1))
      return found;
  return nullptr;
}

/// The single non-constant leaf of an arithmetic expression.
Value findLeaf(Value v, int depth = 0) {
  v = skipNoOps(v);
  if (getConstAttr(v))
    return {};
  Operation *op = v.getDefiningOp();
  if (!op || !isArith(op) || depth > 8)
    return v;
  Value leaf;
  for (Value operand : op->getOperands()) {
    Value l = findLeaf(operand, depth + 1);
    if (!l)
      continue;
    if (leaf && leaf != l)
      return {};
    leaf = l;
  }
  return leaf;
}

struct GeluPattern : RewritePattern {
  GeluPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Mul", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *root,
                                PatternRewriter &rw) const override {
    Operation *act = findActivation(root->getResult(0));
    Value x = act ? findLeaf(act->getOperand(0)) : Value();
    if (!x || x.getType() != root->getResult(0).getType() || !isF32Tensor(x))
      return rw.notifyMatchFailure(root, "no erf/tanh of the input");
    bool isErf = isOnnx(act, "Erf");
    double k = std::sqrt(2.0 / M_PI);
    Poly wantArg = isErf ? Poly{{{1, 0}, M_SQRT1_2}}
                         : Poly{{{1, 0}, k}, {{3, 0}, k * 0.044715}};
    std::optional<Poly> arg = analyze(act->getOperand(0), x, Value());
    std::optional<Poly> whole = analyze(root->getResult(0), x, act->getResult(0));
    if (!arg || !whole || !polyEquals(*arg, wantArg) ||
        !polyEquals(*whole, {{{1, 0}, 0.5}, {{1, 1}, 0.5}}))
      return rw.notifyMatchFailure(root, "not a GELU polynomial");
    rw.replaceOpWithNewOp<GeluOp>(
        root, x.getType(), x,
        isErf ? GeluApproximation::erf : GeluApproximation::tanh);
    return success();
  }
};

} // namespace

void populateNormActPatterns(RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<DecomposedLayerNormPattern>("onnx.Add", ctx);
  patterns.add<DecomposedLayerNormPattern>("onnx.Sub", ctx);
  patterns.add<LayerNormalizationPattern, RmsNormPattern, SiluPattern,
               GeluPattern>(ctx);
}

std::string explainUnliftedNorm(Operation *op) {
  if (isOnnx(op, "LayerNormalization"))
    return layerNormalizationRefusal(op);
  if (!isOnnx(op, "Add") && !isOnnx(op, "Sub"))
    return "";
  Why why;
  if (matchLayerNorm(op, &why))
    return ""; // lifts (not reached after the fusions)
  return why.text;
}

} // namespace spatten::lift

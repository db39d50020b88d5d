//===- NormActPatterns.cpp - Lift LayerNorm and GELU subgraphs ------------===//
//
// LayerNorm, over the last axis, with d = x - ReduceMean(x) and
// s = Sqrt(ReduceMean(d^2) + eps) (d^2 as Pow(d, 2) or d*d; the two Subs
// may be distinct nodes, as PyTorch 1.1 and Megatron export them):
//   - PyTorch:      Add(Mul(d / s, gamma), beta)
//   - Reciprocal:   Add(Mul(d * Reciprocal(s), gamma), beta)
//   - keras / tf2onnx (tf.nn.batch_normalization): with
//     g = Reciprocal(s) * gamma, Add(x * g, beta - ReduceMean(x) * g)
//   - ONNX LayerNormalization (opset 17) with axis -1.
// Operands of Add/Mul are accepted in either order.
//
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
// LayerNorm
//===----------------------------------------------------------------------===//

bool isLastAxisMean(Operation *rm) {
  if (!isOnnx(rm, "ReduceMean"))
    return false;
  std::optional<SmallVector<int64_t>> axes = getIntsAttr(rm, "axes");
  int64_t rank = shapeOf(rm->getOperand(0)).size();
  return axes && axes->size() == 1 &&
         ((*axes)[0] == -1 || (*axes)[0] == rank - 1) &&
         getIntAttr(rm, "keepdims").value_or(1) == 1;
}

/// `ReduceMean(x)` over the last axis: returns x.
Value matchMean(Value v) {
  Operation *rm = defOnnx(v, "ReduceMean");
  return isLastAxisMean(rm) ? skipNoOps(rm->getOperand(0)) : Value();
}

/// `Sub(x, ReduceMean(x))`: returns x.
Value matchCentered(Value d) {
  Operation *sub = defOnnx(d, "Sub");
  if (!sub)
    return {};
  Value x = matchMean(sub->getOperand(1));
  return x && x == skipNoOps(sub->getOperand(0)) ? x : Value();
}

/// `Pow(d, 2)` or `Mul(d, d')` with d, d' centered on the same x.
Value matchSquaredDeviation(Value v) {
  if (Operation *pow = defOnnx(v, "Pow")) {
    std::optional<double> e = getScalarConst(pow->getOperand(1));
    return e && *e == 2.0 ? matchCentered(pow->getOperand(0)) : Value();
  }
  Operation *mul = defOnnx(v, "Mul");
  if (!mul)
    return {};
  Value a = matchCentered(mul->getOperand(0));
  return a && a == matchCentered(mul->getOperand(1)) ? a : Value();
}

/// `Sqrt(ReduceMean((x - mean)^2) + eps)`: returns x and sets `eps`.
Value matchStdDev(Value v, double &eps) {
  Operation *sqrt = defOnnx(v, "Sqrt");
  Operation *add = sqrt ? defOnnx(sqrt->getOperand(0), "Add") : nullptr;
  if (!add)
    return {};
  for (int i : {0, 1}) {
    std::optional<double> c = getScalarConst(add->getOperand(i));
    Operation *var = defOnnx(add->getOperand(1 - i), "ReduceMean");
    if (!c || !isLastAxisMean(var))
      continue;
    if (Value x = matchSquaredDeviation(var->getOperand(0))) {
      eps = *c;
      return x;
    }
  }
  return {};
}

/// `Reciprocal(s)` or `Div(1, s)` with s a standard deviation.
Value matchInvStdDev(Value v, double &eps) {
  if (Operation *r = defOnnx(v, "Reciprocal"))
    return matchStdDev(r->getOperand(0), eps);
  Operation *div = defOnnx(v, "Div");
  std::optional<double> one =
      div ? getScalarConst(div->getOperand(0)) : std::nullopt;
  return one == 1.0 ? matchStdDev(div->getOperand(1), eps) : Value();
}

/// `(x - mean) / s` or `(x - mean) * Reciprocal(s)`: returns x.
Value matchNormalized(Value v, double &eps) {
  if (Operation *div = defOnnx(v, "Div")) {
    Value x = matchCentered(div->getOperand(0));
    return x && x == matchStdDev(div->getOperand(1), eps) ? x : Value();
  }
  Operation *mul = defOnnx(v, "Mul");
  if (!mul)
    return {};
  for (int i : {0, 1}) {
    Value x = matchCentered(mul->getOperand(i));
    if (x && x == matchInvStdDev(mul->getOperand(1 - i), eps))
      return x;
  }
  return {};
}

/// A LayerNorm found by one of the matchers below.
struct Norm {
  Value x, gamma, beta;
  double eps = 0;
};

bool isVectorOf(Value v, int64_t n) {
  return v && isF32Tensor(v) && vectorLength(v) == n;
}

/// PyTorch form: `Add(Mul(normalized, gamma), beta)`.
std::optional<Norm> matchTorchNorm(Operation *root) {
  for (int i : {0, 1}) {
    Operation *mul = defOnnx(root->getOperand(i), "Mul");
    if (!mul)
      continue;
    for (int j : {0, 1}) {
      Norm n;
      n.x = matchNormalized(mul->getOperand(j), n.eps);
      n.gamma = mul->getOperand(1 - j);
      n.beta = root->getOperand(1 - i);
      if (n.x)
        return n;
    }
  }
  return std::nullopt;
}

/// keras / tf2onnx form: `Add(x * g, beta - mean * g)`, g = inv * gamma.
std::optional<Norm> matchTfNorm(Operation *root) {
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
      if (!meanFirst && !meanSecond)
        continue;
      Operation *gm = defOnnx(g, "Mul");
      if (!gm)
        continue;
      for (int k : {0, 1}) {
        Norm n;
        if (matchInvStdDev(gm->getOperand(k), n.eps) != x)
          continue;
        n.x = x;
        n.gamma = gm->getOperand(1 - k);
        n.beta = sub->getOperand(0);
        return n;
      }
    }
  }
  return std::nullopt;
}

struct DecomposedLayerNormPattern : RewritePattern {
  DecomposedLayerNormPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Add", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *root,
                                PatternRewriter &rw) const override {
    std::optional<Norm> n = matchTorchNorm(root);
    if (!n)
      n = matchTfNorm(root);
    if (!n || !isF32Tensor(n->x) || n->x.getType() != root->getResult(0).getType())
      return rw.notifyMatchFailure(root, "not a LayerNorm");
    int64_t width = shapeOf(n->x).back();
    if (!isVectorOf(n->gamma, width) || !isVectorOf(n->beta, width))
      return rw.notifyMatchFailure(root, "gamma/beta are not [N]");
    Location loc = root->getLoc();
    Value gamma = reshapeTo(rw, loc, n->gamma, {width});
    Value beta = reshapeTo(rw, loc, n->beta, {width});
    rw.replaceOpWithNewOp<LayerNormOp>(root, n->x.getType(), n->x, gamma, beta,
                                       APFloat(float(n->eps)));
    return success();
  }
};

struct LayerNormalizationPattern : RewritePattern {
  LayerNormalizationPattern(MLIRContext *ctx)
      : RewritePattern("onnx.LayerNormalization", /*benefit=*/5, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    Value x = op->getOperand(0), scale = op->getOperand(1);
    Value bias = op->getNumOperands() > 2 ? op->getOperand(2) : Value();
    int64_t rank = shapeOf(x).size(), width = rank ? shapeOf(x).back() : 0;
    int64_t axis = getIntAttr(op, "axis").value_or(-1);
    if (rank == 0 || !(axis == -1 || axis == rank - 1) || !isF32Tensor(x))
      return rw.notifyMatchFailure(op, "only the last axis of f32 data");
    if (llvm::any_of(op->getResults().drop_front(),
                     [](Value r) { return !r.use_empty(); }))
      return rw.notifyMatchFailure(op, "Mean/InvStdDev outputs are used");
    if (!isVectorOf(scale, width) || (bias && !isVectorOf(bias, width)))
      return rw.notifyMatchFailure(op, "Scale/B are not [N]");
    Location loc = op->getLoc();
    Value gamma = reshapeTo(rw, loc, scale, {width});
    Value beta;
    auto vecType = RankedTensorType::get({width}, rw.getF32Type());
    if (bias)
      beta = reshapeTo(rw, loc, bias, {width});
    else
      beta = arith::ConstantOp::create(
          rw, loc, DenseElementsAttr::get(vecType, rw.getF32FloatAttr(0)));
    float eps = getFloatAttr(op, "epsilon").value_or(1e-5);
    auto ln = LayerNormOp::create(rw, loc, x.getType(), x, gamma, beta,
                                  APFloat(eps));
    rw.replaceAllUsesWith(op->getResult(0), ln.getOutput());
    rw.eraseOp(op);
    return success();
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
  patterns.add<DecomposedLayerNormPattern, LayerNormalizationPattern,
               GeluPattern>(patterns.getContext());
}

} // namespace spatten::lift

//===- ElementwiseFold.cpp - constant folding of elementwise onnx ops ------===//
//
// Elementwise math on constants, in double for float operands and in int64
// for integer ones, with numpy broadcasting. Exporters build masks
// (Equal/Where/Not), position tables (Range, Cos/Sin) and scales (Sqrt, Pow)
// this way; once folded, only the model's run-time ops remain.
//
//===----------------------------------------------------------------------===//

#include "FoldUtils.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include <cmath>
#include <functional>

using namespace mlir;
using namespace spatten::onnx;

namespace spatten::onnx {

OpFoldResult foldElementwise(Operation *op, ArrayRef<Attribute> operands,
                             DoubleFn dfn, IntFn ifn) {
  auto type = staticType(op->getResult(0));
  if (!type || type.getNumElements() > kMathLimit)
    return {};
  auto consts = constsOf(operands);
  if (!consts)
    return {};
  SmallVector<ConstTensor> &ins = *consts;
  bool useFloat = llvm::any_of(ins, [](auto &t) { return t.isFloat(); });
  if ((useFloat && !dfn) || (!useFloat && !ifn))
    return {};
  int64_t n = type.getNumElements();
  SmallVector<SmallVector<int64_t>> index(ins.size(), SmallVector<int64_t>(n));
  for (size_t k = 0; k < ins.size(); ++k)
    forEachBroadcast(type.getShape(), ins[k].shape(),
                     [&](int64_t o, int64_t i) { index[k][o] = i; });
  Type et = type.getElementType();
  std::vector<char> out(n * elementBytes(et));
  SmallVector<double> dargs(ins.size());
  SmallVector<int64_t> iargs(ins.size());
  for (int64_t o = 0; o < n; ++o) {
    if (useFloat) {
      for (size_t k = 0; k < ins.size(); ++k)
        dargs[k] = ins[k].getDouble(index[k][o]);
      auto v = dfn(dargs);
      if (!v)
        return {};
      storeDouble(et, out.data(), o, *v);
    } else {
      for (size_t k = 0; k < ins.size(); ++k)
        iargs[k] = ins[k].getInt(index[k][o]);
      auto v = ifn(iargs);
      if (!v)
        return {};
      storeInt(et, out.data(), o, *v);
    }
  }
  return makeElements(type, out);
}

} // namespace spatten::onnx

template <typename F>
static OpFoldResult foldBinary(Operation *op, ArrayRef<Attribute> operands,
                               F f) {
  return foldElementwise(
      op, operands,
      [&](ArrayRef<double> a) -> std::optional<double> { return f(a[0], a[1]); },
      [&](ArrayRef<int64_t> a) -> std::optional<int64_t> {
        return f(a[0], a[1]);
      });
}

/// Integer arithmetic wraps in two's complement, as the hardware's does
/// (and NumPy's); a signed overflow in the folder would be undefined.
static int64_t wrap(uint64_t v) { return static_cast<int64_t>(v); }

template <typename Arith>
static OpFoldResult foldWrapping(Operation *op, ArrayRef<Attribute> operands) {
  return foldElementwise(
      op, operands,
      [](ArrayRef<double> v) -> std::optional<double> {
        return Arith()(v[0], v[1]);
      },
      [](ArrayRef<int64_t> v) -> std::optional<int64_t> {
        return wrap(Arith()(uint64_t(v[0]), uint64_t(v[1])));
      });
}

OpFoldResult AddOp::fold(FoldAdaptor a) {
  return foldWrapping<std::plus<>>(*this, a.getOperands());
}
OpFoldResult SubOp::fold(FoldAdaptor a) {
  return foldWrapping<std::minus<>>(*this, a.getOperands());
}
OpFoldResult MulOp::fold(FoldAdaptor a) {
  return foldWrapping<std::multiplies<>>(*this, a.getOperands());
}
OpFoldResult DivOp::fold(FoldAdaptor a) {
  return foldElementwise(
      *this, a.getOperands(),
      [](ArrayRef<double> v) -> std::optional<double> { return v[0] / v[1]; },
      // Integer Div truncates (onnxruntime); division by zero is not folded,
      // and INT64_MIN / -1 wraps to INT64_MIN instead of trapping.
      [](ArrayRef<int64_t> v) -> std::optional<int64_t> {
        if (v[1] == 0)
          return std::nullopt;
        if (v[1] == -1)
          return wrap(0 - uint64_t(v[0]));
        return v[0] / v[1];
      });
}
OpFoldResult PowOp::fold(FoldAdaptor a) {
  return foldElementwise(
      *this, a.getOperands(),
      [](ArrayRef<double> v) -> std::optional<double> {
        return std::pow(v[0], v[1]);
      },
      [](ArrayRef<int64_t> v) -> std::optional<int64_t> {
        return (int64_t)std::pow((double)v[0], (double)v[1]);
      });
}
OpFoldResult EqualOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x == y); });
}
OpFoldResult LessOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x < y); });
}
OpFoldResult LessOrEqualOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x <= y); });
}
OpFoldResult GreaterOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x > y); });
}
OpFoldResult GreaterOrEqualOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x >= y); });
}
OpFoldResult AndOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x && y); });
}
OpFoldResult OrOp::fold(FoldAdaptor a) {
  return foldBinary(*this, a.getOperands(),
                    [](auto x, auto y) { return decltype(x)(x || y); });
}

template <typename F>
static OpFoldResult foldVariadic(Operation *op, ArrayRef<Attribute> operands,
                                 F f) {
  auto reduce = [&](auto args) -> std::optional<typename decltype(args)::value_type> {
    auto acc = args[0];
    for (size_t i = 1; i < args.size(); ++i)
      acc = f(acc, args[i]);
    return acc;
  };
  return foldElementwise(
      op, operands, [&](ArrayRef<double> v) { return reduce(v); },
      [&](ArrayRef<int64_t> v) { return reduce(v); });
}
OpFoldResult MaxOp::fold(FoldAdaptor a) {
  return foldVariadic(*this, a.getOperands(),
                      [](auto x, auto y) { return x > y ? x : y; });
}
OpFoldResult MinOp::fold(FoldAdaptor a) {
  return foldVariadic(*this, a.getOperands(),
                      [](auto x, auto y) { return x < y ? x : y; });
}
OpFoldResult SumOp::fold(FoldAdaptor a) {
  return foldVariadic(*this, a.getOperands(),
                      [](auto x, auto y) { return x + y; });
}

OpFoldResult WhereOp::fold(FoldAdaptor a) {
  // A constant all-true/all-false condition selects one side unchanged.
  if (auto cond = constOf(a.getCondition()); cond && cond->splat) {
    Value side = cond->getInt(0) ? getX() : getY();
    if (side.getType() == getType())
      return side;
  }
  return foldElementwise(
      *this, a.getOperands(),
      [](ArrayRef<double> v) -> std::optional<double> {
        return v[0] != 0 ? v[1] : v[2];
      },
      [](ArrayRef<int64_t> v) -> std::optional<int64_t> {
        return v[0] ? v[1] : v[2];
      });
}

template <typename F>
static OpFoldResult foldUnary(Operation *op, Attribute operand, F f) {
  return foldElementwise(
      op, {operand},
      [&](ArrayRef<double> v) -> std::optional<double> { return f(v[0]); },
      [&](ArrayRef<int64_t> v) -> std::optional<int64_t> { return f(v[0]); });
}
/// Float-only math (the ONNX schemas of these ops take float tensors).
static OpFoldResult foldFloatUnary(Operation *op, Attribute operand,
                                   double (*f)(double)) {
  return foldElementwise(
      op, {operand},
      [f](ArrayRef<double> v) -> std::optional<double> { return f(v[0]); },
      nullptr);
}
OpFoldResult NegOp::fold(FoldAdaptor a) {
  return foldUnary(*this, a.getX(), [](auto x) { return -x; });
}
OpFoldResult AbsOp::fold(FoldAdaptor a) {
  return foldUnary(*this, a.getX(), [](auto x) { return x < 0 ? -x : x; });
}
OpFoldResult ReluOp::fold(FoldAdaptor a) {
  return foldUnary(*this, a.getX(),
                   [](auto x) { return x > 0 ? x : decltype(x)(0); });
}
OpFoldResult NotOp::fold(FoldAdaptor a) {
  return foldUnary(*this, a.getX(), [](auto x) { return decltype(x)(!x); });
}
#define FLOAT_UNARY_FOLDER(OP, EXPR)                                           \
  OpFoldResult OP::fold(FoldAdaptor a) {                                       \
    return foldFloatUnary(*this, a.getOperands()[0],                           \
                          [](double x) -> double { return EXPR; });            \
  }
FLOAT_UNARY_FOLDER(SqrtOp, std::sqrt(x))
FLOAT_UNARY_FOLDER(ReciprocalOp, 1.0 / x)
FLOAT_UNARY_FOLDER(SigmoidOp, 1.0 / (1.0 + std::exp(-x)))
FLOAT_UNARY_FOLDER(FloorOp, std::floor(x))
FLOAT_UNARY_FOLDER(CeilOp, std::ceil(x))
FLOAT_UNARY_FOLDER(ErfOp, std::erf(x))
FLOAT_UNARY_FOLDER(TanhOp, std::tanh(x))
FLOAT_UNARY_FOLDER(ExpOp, std::exp(x))
FLOAT_UNARY_FOLDER(LogOp, std::log(x))
FLOAT_UNARY_FOLDER(CosOp, std::cos(x))
FLOAT_UNARY_FOLDER(SinOp, std::sin(x))
FLOAT_UNARY_FOLDER(IsNaNOp, std::isnan(x))
#undef FLOAT_UNARY_FOLDER
OpFoldResult IsInfOp::fold(FoldAdaptor a) {
  bool negative = getDetectNegative() != 0, positive = getDetectPositive() != 0;
  return foldElementwise(
      *this, {a.getX()},
      [=](ArrayRef<double> v) -> std::optional<double> {
        return std::isinf(v[0]) && (v[0] < 0 ? negative : positive);
      },
      nullptr);
}

/// ONNX Mod: fmod = 0 takes the divisor's sign (Python's %), fmod = 1 the
/// dividend's (C's fmod). A zero divisor is left for the runtime.
OpFoldResult ModOp::fold(FoldAdaptor a) {
  bool cStyle = getFmod() != 0;
  return foldElementwise(
      *this, a.getOperands(),
      [=](ArrayRef<double> v) -> std::optional<double> {
        if (v[1] == 0)
          return std::nullopt;
        double r = std::fmod(v[0], v[1]);
        if (!cStyle && r != 0 && (r < 0) != (v[1] < 0))
          r += v[1];
        return r;
      },
      [=](ArrayRef<int64_t> v) -> std::optional<int64_t> {
        if (v[1] == 0)
          return std::nullopt;
        int64_t r = v[0] % v[1];
        if (!cStyle && r != 0 && (r < 0) != (v[1] < 0))
          r += v[1];
        return r;
      });
}

OpFoldResult CastOp::fold(FoldAdaptor a) {
  if (getInput().getType() == getType())
    return getInput();
  auto in = constOf(a.getInput());
  auto type = staticType(getOutput());
  if (!in || !type || in->size() > kMathLimit ||
      in->size() != type.getNumElements())
    return {};
  Type et = type.getElementType();
  std::vector<char> out(in->size() * elementBytes(et));
  for (int64_t i = 0, n = in->size(); i < n; ++i) {
    if (in->isFloat())
      storeDouble(et, out.data(), i, in->getDouble(i)); // truncates to int
    else
      storeInt(et, out.data(), i, in->getInt(i));
  }
  return makeElements(type, out);
}


//===- Vector.cpp - The vector unit: z = func(x[, y]) ----------------------===//
//
// Element-wise unary and binary functions (y an operand, a per-row column
// or an immediate), row softmax and log-softmax, layer and RMS
// normalization, row reductions, running sums along rows and the rotary
// embedding (docs/ISA.md, "vec").
//
//===----------------------------------------------------------------------===//

#include "Unit.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace spatten;
using namespace spatten::sim;

namespace {

using F = fields::Vec;

class VectorUnit : UnitInstr {
public:
  explicit VectorUnit(const UnitInstr &instr) : UnitInstr(instr) {}
  Error run();

private:
  /// y of a binary function, broadcast to rows x cols.
  Expected<Mat> operandY(uint64_t rows, uint64_t cols) const;
  Error binary(VecFunc func, const Mat &x, const Operand &z);
  /// LayerNorm: z = (x - mean) / sqrt(var + imm) * gamma (y) + beta (w);
  /// RmsNorm: z = x / sqrt(mean(x^2) + imm) * gamma (y). With
  /// VecEpsOutsideSqrt the divisor is sqrt(.) + imm.
  Error norm(VecFunc func, const Operand &x, const Operand &z);
  /// z[r] = sum, mean or max of row r of x.
  Error reduceRows(VecFunc func, const Mat &x, const Operand &z);
  /// z[r, c] = the sum of x[r, 0..c] (ONNX CumSum along the row), of the
  /// elements before c with VecExclusive, from the row's end with
  /// VecReverse.
  Error cumSumRows(const Mat &x, const Operand &z);
  /// Rotary: z = x * cos (y) + rotate_half(x) * sin (w).
  Error rotary(const Operand &x, const Operand &z);
};

} // namespace

void sim::softmaxRows(Mat &s) {
  if (s.cols() == 0) // no keys: nothing to normalize (maxCoeff needs one)
    return;
  for (Eigen::Index i = 0; i < s.rows(); ++i) {
    float mx = s.row(i).maxCoeff();
    if (!std::isfinite(mx) && mx < 0) {
      s.row(i).setZero();
      continue;
    }
    s.row(i) = (s.row(i).array() - mx).exp().matrix();
    s.row(i) /= s.row(i).sum();
  }
}

/// x - max - log(sum(exp(x - max))) per row; a row of only -inf stays -inf.
static void logSoftmaxRows(Mat &s) {
  for (Eigen::Index i = 0; i < s.rows() && s.cols(); ++i) {
    float mx = s.row(i).maxCoeff();
    if (!std::isfinite(mx) && mx < 0)
      continue;
    s.row(i).array() -= mx;
    s.row(i).array() -= std::log(s.row(i).array().exp().sum());
  }
}

static float applyUnary(VecFunc fn, float x) {
  switch (fn) {
  case VecFunc::Copy: return x;
  case VecFunc::Neg: return -x;
  case VecFunc::Exp: return std::exp(x);
  case VecFunc::Log: return std::log(x);
  case VecFunc::Sqrt: return std::sqrt(x);
  case VecFunc::Recip: return 1.0f / x;
  case VecFunc::Tanh: return std::tanh(x);
  case VecFunc::Erf: return std::erf(x);
  case VecFunc::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
  case VecFunc::Silu: return x / (1.0f + std::exp(-x));
  case VecFunc::Relu: return x > 0 ? x : 0.0f;
  case VecFunc::Abs: return std::fabs(x);
  case VecFunc::GeluErf:
    return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2)));
  case VecFunc::GeluTanh: {
    const float c = std::sqrt(2.0f / float(M_PI));
    return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
  }
  default: return x;
  }
}

static float applyBinary(VecFunc fn, float a, float b) {
  switch (fn) {
  case VecFunc::Add: return a + b;
  case VecFunc::Sub: return a - b;
  case VecFunc::Mul: return a * b;
  case VecFunc::Div: return a / b;
  case VecFunc::Pow: return std::pow(a, b);
  case VecFunc::Max: return std::max(a, b);
  case VecFunc::Min: return std::min(a, b);
  default: return a;
  }
}

Expected<Mat> VectorUnit::operandY(uint64_t rows, uint64_t cols) const {
  uint64_t flags = get(F::flags);
  if ((flags & VecYImm) && (flags & VecYPerRow))
    return error(F::flags, "Imm and PerRow are exclusive");
  if (flags & VecYImm)
    return Mat(Mat::Constant(rows, cols, getFloat(F::imm)));
  bool perRow = flags & VecYPerRow;
  auto y = operand(F::y, rows, perRow ? 1 : cols);
  if (!y)
    return y.takeError();
  Mat ym = read(*y);
  if (perRow)
    return Mat(ym.col(0).replicate(1, cols));
  return ym;
}

Error VectorUnit::binary(VecFunc func, const Mat &x, const Operand &z) {
  uint64_t rows = z.rows, cols = z.cols;
  auto y = operandY(rows, cols);
  if (!y)
    return y.takeError();
  bool swap = get(F::flags) & VecSwap;
  Mat result(rows, cols);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c)
      result(r, c) = swap ? applyBinary(func, (*y)(r, c), x(r, c))
                          : applyBinary(func, x(r, c), (*y)(r, c));
  write(z, result);
  return Error::success();
}

Error VectorUnit::norm(VecFunc func, const Operand &x, const Operand &z) {
  float eps = getFloat(F::imm);
  if (!std::isfinite(eps) || eps < 0)
    return error(F::imm, llvm::formatv("{0} epsilon must be finite and >= 0",
                                       kVecFuncNames[unsigned(func)]));
  bool rms = func == VecFunc::RmsNorm;
  auto gamma = operand(F::y, 1, x.cols);
  if (!gamma)
    return gamma.takeError();
  Mat bt = Mat::Zero(1, x.cols);
  if (!rms) {
    auto beta = operand(F::w, 1, x.cols);
    if (!beta)
      return beta.takeError();
    bt = read(*beta);
  }
  if (!x.rows || !x.cols)
    return Error::success(); // statistics of an empty row are undefined
  bool outside = get(F::flags) & VecEpsOutsideSqrt;
  Mat xm = read(x), g = read(*gamma);
  Mat result(x.rows, x.cols);
  for (uint64_t r = 0; r < x.rows; ++r) {
    // Statistics in double: the mean of a long row loses bits in fp32.
    Eigen::RowVectorXd row = xm.row(r).cast<double>();
    double mean = rms ? 0.0 : row.mean();
    double var = (row.array() - mean).square().mean();
    double inv = outside ? 1.0 / (std::sqrt(var) + double(eps))
                         : 1.0 / std::sqrt(var + double(eps));
    result.row(r) = ((row.array() - mean) * inv).cast<float>().matrix()
                        .cwiseProduct(g.row(0)) +
                    bt.row(0);
  }
  write(z, result);
  return Error::success();
}

Error VectorUnit::reduceRows(VecFunc func, const Mat &x, const Operand &z) {
  Mat result(x.rows(), 1);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    if (x.cols() == 0) // ONNX: the sum of nothing is 0, the max -inf
      result(r, 0) = func == VecFunc::RowMax ? -INFINITY : 0.0f;
    else if (func == VecFunc::RowMax)
      result(r, 0) = x.row(r).maxCoeff();
    else // accumulated in double, as the norms' statistics
      result(r, 0) = float(func == VecFunc::RowMean
                               ? x.row(r).cast<double>().mean()
                               : x.row(r).cast<double>().sum());
  }
  write(z, result);
  return Error::success();
}

Error VectorUnit::cumSumRows(const Mat &x, const Operand &z) {
  bool exclusive = get(F::flags) & VecExclusive;
  bool reverse = get(F::flags) & VecReverse;
  Eigen::Index n = x.cols();
  Mat result(x.rows(), n);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    double sum = 0; // in double, as the row reductions
    for (Eigen::Index i = 0; i < n; ++i) {
      Eigen::Index c = reverse ? n - 1 - i : i;
      if (!exclusive)
        sum += x(r, c);
      result(r, c) = float(sum);
      if (exclusive)
        sum += x(r, c);
    }
  }
  write(z, result);
  return Error::success();
}

Error VectorUnit::rotary(const Operand &x, const Operand &z) {
  if (x.cols % 2)
    return error(F::cols, llvm::formatv("rotary needs an even row width "
                                        "(a head), not {0}",
                                        x.cols));
  auto cos = operand(F::y, x.rows, x.cols);
  if (!cos)
    return cos.takeError();
  auto sin = operand(F::w, x.rows, x.cols);
  if (!sin)
    return sin.takeError();
  Mat xm = read(x);
  Eigen::Index half = xm.cols() / 2;
  Mat rotated(xm.rows(), xm.cols());
  rotated.leftCols(half) = -xm.rightCols(half);
  rotated.rightCols(half) = xm.leftCols(half);
  write(z, Mat(xm.cwiseProduct(read(*cos)) + rotated.cwiseProduct(read(*sin))));
  return Error::success();
}

Error VectorUnit::run() {
  uint64_t fn = get(F::func);
  if (fn >= kNumVecFuncs)
    return error(F::func, llvm::formatv("{0} is not a vector function "
                                        "(0..{1})",
                                        fn, kNumVecFuncs - 1));
  VecFunc func = VecFunc(fn);
  bool isBinary = vecFuncIsBinary(func);
  uint64_t allowed = isBinary              ? (VecYImm | VecYPerRow | VecSwap)
                     : vecFuncIsNorm(func) ? VecEpsOutsideSqrt
                     : func == VecFunc::RowCumSum ? (VecExclusive | VecReverse)
                                                  : 0;
  if (Error e = checkFlags(F::flags, allowed))
    return e;
  uint64_t rows = get(F::rows), cols = get(F::cols);
  auto x = operand(F::x, rows, cols);
  if (!x)
    return x.takeError();
  auto z = output(F::z, rows, vecFuncReducesRows(func) ? 1 : cols);
  if (!z)
    return z.takeError();
  machine.rep.ops.vectorOps += rows * cols * vecFuncCost(func);
  if (machine.timingOnly)
    return Error::success();
  if (vecFuncIsNorm(func))
    return norm(func, *x, *z);
  if (func == VecFunc::Rotary)
    return rotary(*x, *z);
  Mat xm = read(*x);
  if (vecFuncReducesRows(func))
    return reduceRows(func, xm, *z);
  if (func == VecFunc::RowCumSum)
    return cumSumRows(xm, *z);
  if (func == VecFunc::Softmax || func == VecFunc::LogSoftmax) {
    if (func == VecFunc::Softmax)
      softmaxRows(xm);
    else
      logSoftmaxRows(xm);
    write(*z, xm);
    return Error::success();
  }
  if (isBinary)
    return binary(func, xm, *z);
  Mat zm(xm.rows(), xm.cols());
  // Cheap functions are bound by memory, not worth a second thread.
  bool libm = llvm::is_contained({VecFunc::Exp, VecFunc::Log, VecFunc::Tanh,
                                  VecFunc::Erf, VecFunc::Sigmoid, VecFunc::Silu,
                                  VecFunc::GeluErf, VecFunc::GeluTanh},
                                 func);
  splitRows(xm.rows(), xm.cols(), libm ? machine.gemmHelper() : nullptr,
            [&](Eigen::Index lo, Eigen::Index n) {
              zm.middleRows(lo, n) = xm.middleRows(lo, n).unaryExpr(
                  [func](float v) { return applyUnary(func, v); });
            });
  write(*z, zm);
  return Error::success();
}

Error sim::executeVec(const UnitInstr &instr) {
  return VectorUnit(instr).run();
}

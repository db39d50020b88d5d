//===- Gemm.cpp - The matrix unit: C = A B (+ C) (+ bias) ------------------===//

#include "Unit.h"

using namespace spatten;
using namespace spatten::sim;

namespace {

using F = fields::Gemm;

class GemmUnit : UnitInstr {
public:
  explicit GemmUnit(const UnitInstr &instr) : UnitInstr(instr) {}
  Error run();
};

} // namespace

/// C (m x n) = A (m x k) B (k x n, or n x k with GemmTransposeB), plus C
/// with GemmAccumulate, plus the bias row (1 x n) with GemmBias.
Error GemmUnit::run() {
  if (Error e = checkFlags(F::flags,
                           GemmAccumulate | GemmBias | GemmTransposeB))
    return e;
  uint64_t flags = get(F::flags), m = get(F::m), n = get(F::n),
           k = get(F::k);
  bool transB = flags & GemmTransposeB;
  auto a = operand(F::a, m, k);
  if (!a)
    return a.takeError();
  auto b = transB ? operand(F::b, n, k) : operand(F::b, k, n);
  if (!b)
    return b.takeError();
  auto c = output(F::c, m, n);
  if (!c)
    return c.takeError();
  auto bias = operand(F::bias, (flags & GemmBias) ? 1 : 0, n);
  if (!bias)
    return bias.takeError();
  machine.rep.ops.gemmMacs += m * n * k;
  if (machine.timingOnly)
    return Error::success();
  // The product reads A and B in place (Eigen packs them anyway), and is
  // complete before C, which may overlap them, is written.
  llvm::ThreadPoolInterface *helper = machine.gemmHelper();
  Mat result = transB ? splitProduct(view(*a), view(*b).transpose(), helper)
                      : splitProduct(view(*a), view(*b), helper);
  // Accumulating without a bias adds into C in place (the LM head of a
  // decode step is 1,536 such GEMMs of 1 x 32768); the sums are the same.
  if ((flags & GemmAccumulate) && !(flags & GemmBias)) {
    addInto(*c, result);
    return Error::success();
  }
  if (flags & GemmAccumulate)
    result += view(*c);
  if (flags & GemmBias)
    result.rowwise() += view(*bias).row(0);
  write(*c, result);
  return Error::success();
}

Error sim::executeGemm(const UnitInstr &instr) {
  return GemmUnit(instr).run();
}

//===- Quantize.cpp - Fixed-point attention path --------------------------===//

#include "AttentionForms.h"

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"

#include "llvm/ADT/TypeSwitch.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENQUANTIZE
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

namespace {
struct QuantizePass : spatten::impl::SpAttenQuantizeBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    if (bits < 4 || bits > 16) {
      getOperation().emitError("spatten-quantize: bits must be in [4, 16], got ")
          << bits.getValue();
      return signalPassFailure();
    }
    getOperation().walk([&](Operation *op) {
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](AttentionOp a) {
            quantize(a, {0, 1, 2}, a.getNumHeads());
          })
          .Case([&](AttentionProbsOp p) { quantize(p, {0, 1}, p.getNumHeads()); })
          // Progressive quantization owns the keys' format.
          .Case([&](ProgressiveFetchOp p) { quantize(p, {0}, p.getNumHeads()); })
          .Case([&](AttentionOutputOp o) {
            auto probs = cast<RankedTensorType>(o.getProbs().getType());
            quantize(o, {1}, probs.getDimSize(1));
          });
    });
  }

  void quantize(Operation *op, ArrayRef<unsigned> operands, int64_t heads) {
    OpBuilder b(op);
    for (unsigned i : operands) {
      Value x = op->getOperand(i);
      if (!isFakeQuantized(x))
        op->setOperand(i, fakeQuantizeHeads(b, op->getLoc(), x, heads, bits));
    }
  }
};
} // namespace

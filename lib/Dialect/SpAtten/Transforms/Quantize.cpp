//===- Quantize.cpp - Fixed-point attention path --------------------------===//

#include "AttentionForms.h"

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

#include "llvm/ADT/TypeSwitch.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENQUANTIZE
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

namespace {
struct QuantizePass
    : SettingsPass<spatten::impl::SpAttenQuantizeBase<QuantizePass>,
                   setting::List<setting::attnBits>> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    FailureOr<SpAttenSettings> settings = checkedSettings(getOperation());
    if (failed(settings))
      return signalPassFailure();
    if (!settings->quantization())
      return;
    int64_t bits = settings->attnBits;
    getOperation().walk([&](Operation *op) {
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](AttentionOp a) {
            quantize(a, {0, 1, 2}, a.getNumHeads(), bits);
          })
          .Case([&](AttentionProbsOp p) {
            quantize(p, {0, 1}, p.getNumHeads(), bits);
          })
          // Progressive quantization owns the keys' format.
          .Case([&](ProgressiveFetchOp p) {
            quantize(p, {0}, p.getNumHeads(), bits);
          })
          .Case([&](AttentionOutputOp o) {
            auto probs = cast<RankedTensorType>(o.getProbs().getType());
            quantize(o, {1}, probs.getDimSize(1), bits);
          });
    });
  }

  /// Fake-quantizes `op`'s `operands` to `bits` bits per row of each head.
  void quantize(Operation *op, ArrayRef<unsigned> operands, int64_t heads,
                int64_t bits) {
    OpBuilder b(op);
    for (unsigned i : operands) {
      Value x = op->getOperand(i);
      if (!isFakeQuantized(x))
        op->setOperand(i, fakeQuantizeHeads(b, op->getLoc(), x, heads, bits));
    }
  }
};
} // namespace

std::unique_ptr<Pass>
spatten::createSpAttenQuantize(const SpAttenSettings &settings) {
  return std::make_unique<QuantizePass>(settings);
}

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
/// An attention operand and its fixed-point width in bits (0: fp32).
struct QuantizedOperand {
  unsigned index;
  int64_t bits;
};

struct QuantizePass
    : SettingsPass<spatten::impl::SpAttenQuantizeBase<QuantizePass>,
                   setting::List<setting::attnBits, setting::qBits,
                                 setting::kBits, setting::vBits>> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    FailureOr<SpAttenSettings> settings = checkedSettings(getOperation());
    if (failed(settings))
      return signalPassFailure();
    if (!settings->quantization())
      return;
    int64_t q = settings->queryBits(), k = settings->keyBits(),
            v = settings->valueBits();
    getOperation().walk([&](Operation *op) {
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](AttentionOp a) {
            quantize(a, {{0, q}, {1, k}, {2, v}}, a.getNumHeads());
          })
          .Case([&](AttentionProbsOp p) {
            quantize(p, {{0, q}, {1, k}}, p.getNumHeads());
          })
          // Progressive quantization owns the keys' format.
          .Case([&](ProgressiveFetchOp p) {
            quantize(p, {{0, q}}, p.getNumHeads());
          })
          .Case([&](AttentionOutputOp o) {
            auto probs = cast<RankedTensorType>(o.getProbs().getType());
            quantize(o, {{1, v}}, probs.getDimSize(1));
          })
          // The decode step quantizes the token's K and V rows as it
          // writes them to the cache, from the fp32 projections.
          .Case([&](CachedAttentionOp c) {
            quantize(c, {{0, q}}, c.getNumHeads());
            c.setKeyBits(k);
            c.setValueBits(v);
          });
    });
  }

  /// Fake-quantizes each of `op`'s `operands` to its width per row of each
  /// head; an operand of width 0 stays fp32.
  void quantize(Operation *op, ArrayRef<QuantizedOperand> operands,
                int64_t heads) {
    OpBuilder b(op);
    for (auto [i, bits] : operands) {
      Value x = op->getOperand(i);
      if (bits != 0 && !isFakeQuantized(x))
        op->setOperand(i, fakeQuantizeHeads(b, op->getLoc(), x, heads, bits));
    }
  }
};
} // namespace

std::unique_ptr<Pass>
spatten::createSpAttenQuantize(const SpAttenSettings &settings) {
  return std::make_unique<QuantizePass>(settings);
}

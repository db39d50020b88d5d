//===- ProgressiveQuantization.cpp - MSB-first key fetch ------------------===//

#include "AttentionForms.h"

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENPROGRESSIVEQUANTIZATION
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

/// The ops of a `fakeQuantizeHeads` chain ending in `x`, last first.
static SmallVector<Operation *> fakeQuantChain(Value x) {
  if (!isFakeQuantized(x))
    return {};
  auto out = x.getDefiningOp<ReshapeOp>();
  auto dequant = out.getInput().getDefiningOp<DequantizeOp>();
  auto quant = dequant.getCodes().getDefiningOp<QuantizeOp>();
  return {out, dequant, quant, quant.getInput().getDefiningOp()};
}

/// The value before `fakeQuantizeHeads`, so keys are quantized once, by
/// progressive quantization's own widths.
static Value unquantized(Value x) {
  SmallVector<Operation *> chain = fakeQuantChain(x);
  return chain.empty() ? x : chain.back()->getOperand(0);
}

/// Erases a fake-quantization chain nobody reads any more.
static void eraseIfDead(Value x) {
  for (Operation *op : fakeQuantChain(x))
    if (op->use_empty())
      op->erase();
}

namespace {
struct ProgressiveQuantizationPass
    : SettingsPass<spatten::impl::SpAttenProgressiveQuantizationBase<
                       ProgressiveQuantizationPass>,
                   setting::List<setting::pqMsb, setting::pqLsb,
                                 setting::pqThreshold, setting::pqValues>> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    FailureOr<SpAttenSettings> settings = checkedSettings(func);
    if (failed(settings))
      return signalPassFailure();
    if (!settings->progressiveQuantization())
      return;
    func.walk([&](CachedAttentionOp op) { addPlanes(op, *settings); });
    FailureOr<SmallVector<DecomposedAttention>> attns =
        decomposeAttentions(func, getArgument());
    if (failed(attns))
      return signalPassFailure();
    for (DecomposedAttention &a : *attns) {
      auto probs = dyn_cast<AttentionProbsOp>(a.probs);
      if (!probs)
        continue;
      OpBuilder b(probs);
      auto fetch = ProgressiveFetchOp::create(
          b, probs.getLoc(), probs.getType(), probs.getQuery(),
          unquantized(probs.getKey()), probs.getMask(), probs.getNumHeadsAttr(),
          probs.getScaleAttr(), probs.getMaskKindAttr(),
          probs.getMaskFillAttr(), b.getI64IntegerAttr(settings->pqMsb),
          b.getI64IntegerAttr(settings->pqLsb),
          b.getF32FloatAttr(settings->pqThreshold),
          settings->pqValues ? b.getUnitAttr() : UnitAttr());
      Value key = probs.getKey();
      probs.replaceAllUsesWith(fetch.getProbs());
      probs.erase();
      eraseIfDead(key);
      if (settings->pqValues) {
        // Values too are quantized once, at msb + lsb bits.
        Value value = a.output.getValue();
        a.output.getValueMutable().assign(unquantized(value));
        eraseIfDead(value);
      }
    }
  }

  /// A decode step's cache holds the keys (and with `pq-values` the
  /// values) as planes at msb + lsb bits, whatever static width they had.
  static void addPlanes(CachedAttentionOp op, const SpAttenSettings &s) {
    Builder b(op.getContext());
    op.setPqMsb(s.pqMsb);
    op.setPqLsb(s.pqLsb);
    op.setPqThresholdAttr(b.getF32FloatAttr(s.pqThreshold));
    op.setKeyBits(0);
    if (s.pqValues) {
      op.setPqValues(true);
      op.setValueBits(0);
    }
  }
};
} // namespace

std::unique_ptr<Pass>
spatten::createSpAttenProgressiveQuantization(const SpAttenSettings &settings) {
  return std::make_unique<ProgressiveQuantizationPass>(settings);
}

//===- LocalValuePruning.cpp - Per-row top-k of probabilities -------------===//

#include "AttentionForms.h"

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

#include <cmath>

namespace spatten {
#define GEN_PASS_DEF_SPATTENLOCALVALUEPRUNING
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

namespace {
struct LocalValuePruningPass
    : SettingsPass<
          spatten::impl::SpAttenLocalValuePruningBase<LocalValuePruningPass>,
          setting::List<setting::valueKeep>> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    FailureOr<SpAttenSettings> settings = checkedSettings(func);
    if (failed(settings))
      return signalPassFailure();
    if (!settings->localValuePruning())
      return;
    func.walk([&](CachedAttentionOp op) { addValueCounts(op, *settings); });
    FailureOr<SmallVector<DecomposedAttention>> attns =
        decomposeAttentions(func, getArgument());
    if (failed(attns))
      return signalPassFailure();
    for (DecomposedAttention &a : *attns) {
      Value probs = a.output.getProbs();
      if (probs.getDefiningOp<LocalValuePruneOp>())
        continue;
      int64_t keys = cast<RankedTensorType>(probs.getType()).getDimSize(3);
      int64_t keep = keepCount(keys, settings->valueKeep);
      OpBuilder b(a.output);
      auto pruned = LocalValuePruneOp::create(b, a.output.getLoc(), probs,
                                              b.getI64IntegerAttr(keep));
      a.output.getProbsMutable().assign(pruned);
    }
  }

  /// A decode step's keep count for every position p: the query sees
  /// p + 1 keys, of which it keeps max(1, floor((p + 1) value_keep)).
  static void addValueCounts(CachedAttentionOp op,
                             const SpAttenSettings &settings) {
    op.getValueCountsMutable().assign(countsPerContext(
        op, [&](int64_t keys) { return keepCount(keys, settings.valueKeep); }));
  }

  static int64_t keepCount(int64_t keys, double valueKeep) {
    return std::max<int64_t>(1, std::floor(keys * valueKeep));
  }
};
} // namespace

std::unique_ptr<Pass>
spatten::createSpAttenLocalValuePruning(const SpAttenSettings &settings) {
  return std::make_unique<LocalValuePruningPass>(settings);
}

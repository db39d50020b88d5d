//===- LocalValuePruning.cpp - Per-row top-k of probabilities -------------===//

#include "AttentionForms.h"

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"

#include <cmath>

namespace spatten {
#define GEN_PASS_DEF_SPATTENLOCALVALUEPRUNING
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

namespace {
struct LocalValuePruningPass
    : spatten::impl::SpAttenLocalValuePruningBase<LocalValuePruningPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!(keepRatio > 0 && keepRatio <= 1)) {
      func.emitError("spatten-local-value-pruning: keep-ratio must be in "
                     "(0, 1], got ")
          << keepRatio.getValue();
      return signalPassFailure();
    }
    if (keepRatio == 1)
      return;
    FailureOr<SmallVector<DecomposedAttention>> attns =
        decomposeAttentions(func, getArgument());
    if (failed(attns))
      return signalPassFailure();
    for (DecomposedAttention &a : *attns) {
      Value probs = a.output.getProbs();
      if (probs.getDefiningOp<LocalValuePruneOp>())
        continue;
      int64_t keys = cast<RankedTensorType>(probs.getType()).getDimSize(3);
      int64_t keep = std::max<int64_t>(1, std::floor(keys * keepRatio));
      OpBuilder b(a.output);
      auto pruned = LocalValuePruneOp::create(b, a.output.getLoc(), probs,
                                              b.getI64IntegerAttr(keep));
      a.output.getProbsMutable().assign(pruned);
    }
  }
};
} // namespace

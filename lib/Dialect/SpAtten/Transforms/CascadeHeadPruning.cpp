//===- CascadeHeadPruning.cpp - Cascade head pruning ----------------------===//

#include "AttentionForms.h"
#include "Schedule.h"

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENCASCADEHEADPRUNING
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

static RankedTensorType withShape(Value v, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(
      shape, cast<RankedTensorType>(v.getType()).getElementType());
}

static SmallVector<int64_t> shapeOf(Value v) {
  return SmallVector<int64_t>(cast<RankedTensorType>(v.getType()).getShape());
}

namespace {
/// Restricts one layer's attention to `kept` of its `heads` heads.
struct LayerPruner {
  OpBuilder &b;
  Value kept; ///< [k] int64 original head indices, ascending
  int64_t heads, k;

  /// The kept heads' slices of dim `axis` (`heads * D` wide) of `x`.
  Value prune(Value x, int64_t axis) {
    SmallVector<int64_t> shape = shapeOf(x);
    shape[axis] = shape[axis] / heads * k;
    return PruneHeadsOp::create(b, x.getLoc(), withShape(x, shape), x, kept,
                                b.getI64IntegerAttr(heads),
                                b.getI64IntegerAttr(axis));
  }

  LogicalResult run(DecomposedAttention &a) {
    Operation *probs = a.probs;
    b.setInsertionPoint(probs);
    probs->setOperand(0, prune(probs->getOperand(0), 2));
    probs->setOperand(1, prune(probs->getOperand(1), 2));
    probs->setAttr("num_heads", b.getI64IntegerAttr(k));
    SmallVector<int64_t> p = shapeOf(probs->getResult(0));
    p[1] = k;
    probs->getResult(0).setType(withShape(probs->getResult(0), p));
    for (Operation *user : probs->getUsers())
      if (auto lvp = dyn_cast<LocalValuePruneOp>(user))
        lvp.getResult().setType(
            cast<RankedTensorType>(probs->getResult(0).getType()));
    b.setInsertionPoint(a.output);
    a.output.getValueMutable().assign(prune(a.output.getValue(), 2));
    SmallVector<int64_t> o = shapeOf(a.output);
    o[2] = o[2] / heads * k;
    a.output.getOutput().setType(withShape(a.output, o));
    return pruneOutputProjection(a.output);
  }

  /// The output projection reads only the kept heads' rows of its weight.
  LogicalResult pruneOutputProjection(AttentionOutputOp output) {
    for (Operation *user : output->getUsers()) {
      if (isa<HeadImportanceOp>(user))
        continue;
      auto linear = dyn_cast<LinearOp>(user);
      if (!linear || linear.getInput() != output.getOutput())
        return user->emitOpError("reads attention heads that cascade head "
                                 "pruning removes (not implemented)");
      b.setInsertionPoint(linear);
      linear.getWeightMutable().assign(
          prune(linear.getWeight(), linear.getTransposeWeight() ? 1 : 0));
    }
    return success();
  }
};

struct CascadeHeadPruningPass
    : spatten::impl::SpAttenCascadeHeadPruningBase<CascadeHeadPruningPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(run(getOperation())))
      signalPassFailure();
  }

  LogicalResult run(func::FuncOp func);
};
} // namespace

LogicalResult CascadeHeadPruningPass::run(func::FuncOp func) {
  if (!(keepRatio > 0 && keepRatio <= 1))
    return func.emitError("spatten-cascade-head-pruning: keep-ratio must be "
                          "in (0, 1], got ")
           << keepRatio.getValue();
  if (keepRatio == 1)
    return success();
  FailureOr<SmallVector<DecomposedAttention>> attns =
      decomposeAttentions(func, getArgument());
  if (failed(attns) || attns->empty())
    return failure(failed(attns));
  int64_t heads = shapeOf((*attns)[0].probs->getResult(0))[1];
  for (DecomposedAttention &a : *attns) {
    SmallVector<int64_t> p = shapeOf(a.probs->getResult(0));
    if (p[0] != 1 || p[1] != heads)
      return a.probs->emitOpError("cascade head pruning needs batch 1 and ")
             << heads << " heads in every layer (not implemented otherwise)";
  }
  SmallVector<double> f = paperSchedule(attns->size(), keepRatio, 0.3);

  OpBuilder b(func.getBody());
  Location loc = func.getLoc();
  SmallVector<int64_t> all(heads);
  for (int64_t h = 0; h < heads; ++h)
    all[h] = h;
  Value importance = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(RankedTensorType::get({1, heads}, b.getF32Type()),
                             0.f));
  Value kept = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(RankedTensorType::get({1, heads}, b.getI64Type()),
                             ArrayRef(all)));
  int64_t count = heads;
  for (auto [l, a] : llvm::enumerate(*attns)) {
    if (count < heads) {
      b.setInsertionPoint(a.probs);
      Value list = ReshapeOp::create(
          b, loc, RankedTensorType::get({count}, b.getI64Type()), kept);
      if (failed(LayerPruner{b, list, heads, count}.run(a)))
        return failure();
    }
    b.setInsertionPointAfter(a.output);
    importance = HeadImportanceOp::create(b, a.output.getLoc(),
                                          importance.getType(), a.output,
                                          importance, b.getI64IntegerAttr(count));
    if (l + 1 == attns->size())
      continue;
    int64_t k = keptCount(heads, f[l + 1]);
    if (k >= count)
      continue;
    auto idxType = RankedTensorType::get({1, k}, b.getI64Type());
    Value idx = TopKOp::create(b, loc, idxType, importance,
                               b.getI64IntegerAttr(k));
    auto gather = [&](Value v) -> Value {
      return PruneTokensOp::create(b, loc, withShape(v, {1, k}), v, idx,
                                   b.getI64IntegerAttr(1));
    };
    kept = gather(kept);
    importance = gather(importance);
    count = k;
  }
  return success();
}

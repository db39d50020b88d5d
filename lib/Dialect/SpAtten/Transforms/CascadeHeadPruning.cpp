//===- CascadeHeadPruning.cpp - Cascade head pruning ----------------------===//

#include "AttentionForms.h"
#include "KeepSchedule.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"
#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

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
  Value kept;    ///< [k] int64 original head indices, ascending
  Value keptRow; ///< the same as [1, k]
  int64_t heads, k;

  /// The kept heads' slices of dim `axis` (`heads * D` wide) of `x`.
  Value prune(Value x, int64_t axis) { return prune(x, axis, kept, heads, k); }

  /// The `kn` heads of `list` out of `n` heads along dim `axis` of `x`.
  Value prune(Value x, int64_t axis, Value list, int64_t n, int64_t kn) {
    SmallVector<int64_t> shape = shapeOf(x);
    shape[axis] = shape[axis] / n * kn;
    return PruneHeadsOp::create(b, x.getLoc(), withShape(x, shape), x, list,
                                b.getI64IntegerAttr(n),
                                b.getI64IntegerAttr(axis));
  }

  LogicalResult run(DecomposedAttention &a) {
    Operation *probs = a.probs;
    b.setInsertionPoint(probs);
    bool fused = pruneFusedProjection(a);
    if (!fused) {
      probs->setOperand(0, pruneProjection(probs->getOperand(0)));
      probs->setOperand(1, pruneProjection(probs->getOperand(1)));
    }
    probs->setAttr("num_heads", b.getI64IntegerAttr(k));
    // A per-head score bias [B, H, Lq, Lk] keeps the kept heads' rows.
    if (probs->getNumOperands() > 2 &&
        shapeOf(probs->getOperand(2)).size() == 4)
      probs->setOperand(2, prune(probs->getOperand(2), 1));
    SmallVector<int64_t> p = shapeOf(probs->getResult(0));
    p[1] = k;
    probs->getResult(0).setType(withShape(probs->getResult(0), p));
    for (Operation *user : probs->getUsers())
      if (auto lvp = dyn_cast<LocalValuePruneOp>(user))
        lvp.getResult().setType(
            cast<RankedTensorType>(probs->getResult(0).getType()));
    b.setInsertionPoint(a.output);
    if (!fused)
      a.output.getValueMutable().assign(pruneProjection(a.output.getValue()));
    SmallVector<int64_t> o = shapeOf(a.output);
    o[2] = o[2] / heads * k;
    a.output.getOutput().setType(withShape(a.output, o));
    return pruneOutputProjection(a.output);
  }

  /// A copy of `linear` that computes only the `kn` heads of `list` out of
  /// its `n` output heads: it reads their weight columns and bias
  /// (`prune_heads`, which the ISA lowering gathers in place). `linear` is
  /// erased; its users must be rewired by the caller.
  Value keepHeads(LinearOp linear, Value list, int64_t n, int64_t kn) {
    bool transB = linear.getTransposeWeight();
    Value weight = prune(linear.getWeight(), transB ? 0 : 1, list, n, kn);
    Value bias = linear.getBias()
                     ? prune(linear.getBias(), 0, list, n, kn)
                     : Value();
    auto copy = cast<LinearOp>(b.clone(*linear));
    copy.getWeightMutable().assign(weight);
    if (bias)
      copy.getBiasMutable().assign(bias);
    SmallVector<int64_t> shape = shapeOf(linear.getOutput());
    shape.back() = shape.back() / n * kn;
    copy.getOutput().setType(withShape(linear.getOutput(), shape));
    return copy.getOutput();
  }

  /// The kept heads of a Q/K/V operand `x` ([B, L, H*D]). A projection
  /// read only here computes just them, so that no pruned head is computed
  /// and no result columns are gathered; any other `x` keeps its kept head
  /// columns.
  Value pruneProjection(Value x) {
    auto linear = x.getDefiningOp<LinearOp>();
    if (!linear || !x.hasOneUse())
      return prune(x, 2);
    Value keptX = keepHeads(linear, kept, heads, k);
    linear->dropAllUses();
    linear->erase();
    return keptX;
  }

  /// The slices of a fused projection (GPT-2's `c_attn`: one linear of
  /// G*N columns, N = H*D) that are exactly this attention's Q, K and V:
  /// each an N-wide slice at a multiple of N, read once, by `a`.
  static SmallVector<SliceOp> fusedSlices(DecomposedAttention &a) {
    auto q = a.probs->getOperand(0).getDefiningOp<SliceOp>();
    auto linear = q ? q.getInput().getDefiningOp<LinearOp>() : LinearOp();
    if (!linear)
      return {};
    int64_t N = shapeOf(q).back();
    if (shapeOf(linear.getOutput()).back() % N != 0)
      return {};
    SmallVector<Value> operands = {a.probs->getOperand(0),
                                   a.probs->getOperand(1), a.output.getValue()};
    SmallVector<SliceOp> slices;
    for (Operation *user : linear->getUsers()) {
      auto s = dyn_cast<SliceOp>(user);
      if (!s || !s->hasOneUse() ||
          !llvm::is_contained(operands, s.getOutput()) ||
          shapeOf(s).back() != N)
        return {};
      ArrayRef<int64_t> off = s.getOffsets();
      if (llvm::any_of(s.getStrides(), [](int64_t st) { return st != 1; }) ||
          llvm::any_of(off.drop_back(), [](int64_t o) { return o != 0; }) ||
          off.back() % N != 0 ||
          !llvm::equal(ArrayRef(shapeOf(s)).drop_back(),
                       ArrayRef(shapeOf(linear.getOutput())).drop_back()))
        return {};
      slices.push_back(s);
    }
    if (slices.size() != 3)
      return {};
    llvm::sort(slices, [](SliceOp x, SliceOp y) {
      return x.getOffsets().back() < y.getOffsets().back();
    });
    return slices;
  }

  /// Fused Q/K/V projection: the linear computes the kept heads of each of
  /// its G groups (kept-head list `g*H + kept`, gathered from a constant
  /// by the composed original head list) and the slices take kD-wide
  /// groups. Returns false, changing nothing, for any other form.
  bool pruneFusedProjection(DecomposedAttention &a) {
    SmallVector<SliceOp> slices = fusedSlices(a);
    if (slices.empty())
      return false;
    auto linear = slices[0].getInput().getDefiningOp<LinearOp>();
    int64_t N = shapeOf(slices[0]).back();
    int64_t G = shapeOf(linear.getOutput()).back() / N;
    SmallVector<int64_t> groups;
    for (int64_t g = 0; g < G; ++g)
      for (int64_t h = 0; h < heads; ++h)
        groups.push_back(g * heads + h);
    Location loc = linear.getLoc();
    auto i64 = b.getI64Type();
    Value all = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(RankedTensorType::get({1, G, heads}, i64),
                               ArrayRef(groups)));
    Value keptGroups = PruneTokensOp::create(
        b, loc, RankedTensorType::get({1, G, k}, i64), all, keptRow,
        b.getI64IntegerAttr(2));
    Value list = ReshapeOp::create(b, loc, RankedTensorType::get({G * k}, i64),
                                   keptGroups);
    Value keptX = keepHeads(linear, list, G * heads, G * k);
    for (SliceOp s : slices) {
      SmallVector<int64_t> off(s.getOffsets());
      off.back() = off.back() / N * (N / heads * k);
      SmallVector<int64_t> shape = shapeOf(s);
      shape.back() = N / heads * k;
      auto copy = SliceOp::create(b, s.getLoc(), withShape(s, shape), keptX,
                                  off, s.getStrides());
      s.getOutput().replaceAllUsesWith(copy.getOutput());
      s->erase();
    }
    linear->erase();
    return true;
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
    : SettingsPass<
          spatten::impl::SpAttenCascadeHeadPruningBase<CascadeHeadPruningPass>,
          setting::List<setting::headKeep>> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    if (failed(run(getOperation())))
      signalPassFailure();
  }

  LogicalResult run(func::FuncOp func);
  void keepDecodeHeads(ArrayRef<CachedAttentionOp> attns, double keep);
};
} // namespace

/// The heads each layer keeps: all at layer 0, then the schedule's count
/// without ever growing (the cascade).
static SmallVector<int64_t> keptHeadCounts(int64_t layers, int64_t heads,
                                           double keep) {
  SmallVector<double> f = paperSchedule(layers, keep, 0.3);
  SmallVector<int64_t> counts{heads};
  for (int64_t l = 1; l < layers; ++l)
    counts.push_back(std::min(counts.back(), keptCount(heads, f[l])));
  return counts;
}

/// `[1, 1, G*D]` K/V heads repeated over their groups of query heads as
/// `[1, 1, H*D]` (query head h reads K/V head h / (H/G)).
static Value repeatKVHeads(OpBuilder &b, Location loc, Value x, int64_t kvHeads,
                           int64_t heads, int64_t dim) {
  Value one =
      ReshapeOp::create(b, loc, withShape(x, {1, 1, kvHeads, 1, dim}), x);
  SmallVector<Value> copies(heads / kvHeads, one);
  Value rep = ConcatOp::create(
      b, loc, withShape(x, {1, 1, kvHeads, heads / kvHeads, dim}), copies, 3);
  return ReshapeOp::create(b, loc, withShape(x, {1, 1, heads * dim}), rep);
}

/// A kept head is addressed through its original index read at run time,
/// which cannot name its K/V head h / g: a grouped-query cache goes back to
/// one K/V head per query head (docs/Generation.md).
static void ungroupCache(CachedAttentionOp op) {
  if (!op.getKvHeads())
    return;
  OpBuilder b(op);
  int64_t kv = op.getKvHeads(), heads = op.getNumHeads(), d = op.getHeadDim();
  op.getKeyMutable().assign(
      repeatKVHeads(b, op.getLoc(), op.getKey(), kv, heads, d));
  op.getValueMutable().assign(
      repeatKVHeads(b, op.getLoc(), op.getValue(), kv, heads, d));
  op.setKvHeads(0);
}

/// A decode step attends the heads its prefill kept, whose set no later
/// step changes (docs/Algorithms.md): each cached_attention gets its count,
/// and every token as its keep count when token pruning is off (the kept
/// heads are addressed through the kept-token path).
void CascadeHeadPruningPass::keepDecodeHeads(ArrayRef<CachedAttentionOp> attns,
                                             double keep) {
  int64_t heads = CachedAttentionOp(attns.front()).getNumHeads();
  SmallVector<int64_t> counts = keptHeadCounts(attns.size(), heads, keep);
  for (auto [l, attn] : llvm::enumerate(attns)) {
    CachedAttentionOp op = attn;
    ungroupCache(op);
    if (counts[l] < heads)
      op.setKeptHeads(counts[l]);
    if (op.getTokenCounts() || counts[l] == heads)
      continue;
    op.getTokenCountsMutable().assign(
        countsPerContext(op, [](int64_t n) { return n; }));
  }
}

LogicalResult CascadeHeadPruningPass::run(func::FuncOp func) {
  FailureOr<SpAttenSettings> settings = checkedSettings(func);
  if (failed(settings) || !settings->cascadeHeadPruning())
    return failure(failed(settings));
  auto cached = llvm::to_vector(func.getOps<CachedAttentionOp>());
  if (!cached.empty()) {
    keepDecodeHeads(cached, settings->headKeep);
    return success();
  }
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
  SmallVector<double> f = paperSchedule(attns->size(), settings->headKeep, 0.3);

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
      if (failed(LayerPruner{b, list, kept, heads, count}.run(a)))
        return failure();
    }
    b.setInsertionPointAfter(a.output);
    importance = HeadImportanceOp::create(b, a.output.getLoc(),
                                          importance.getType(), a.output,
                                          importance, b.getI64IntegerAttr(count));
    if (auto layer =
            a.output->getAttrOfType<IntegerAttr>(kKVCacheLayerAttrName))
      RecordKeptHeadsOp::create(b, a.output.getLoc(), kept, layer);
    if (l + 1 == attns->size())
      continue;
    int64_t k = keptCount(heads, f[l + 1]);
    if (k >= count)
      continue;
    auto idxType = RankedTensorType::get({1, k}, b.getI64Type());
    Value idx = TopkOp::create(b, loc, idxType, importance,
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

std::unique_ptr<Pass>
spatten::createSpAttenCascadeHeadPruning(const SpAttenSettings &settings) {
  return std::make_unique<CascadeHeadPruningPass>(settings);
}

//===- CascadeTokenPruning.cpp - Cascade token pruning --------------------===//

#include "AttentionForms.h"
#include "KeepSchedule.h"
#include "ShapeRefresh.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"
#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENCASCADETOKENPRUNING
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

/// Keep-position scores: far above any accumulated importance.
constexpr float kForcedScore = 1e30f;

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// Ops between a layer's input rows and its attention's query.
static bool isProjectionSide(Operation *op) {
  return isa<LinearOp, SliceOp, LayerNormOp, RmsNormOp, ReshapeOp, QuantizeOp,
             DequantizeOp, AttentionProbsOp, ProgressiveFetchOp,
             AttentionOutputOp, RotaryEmbeddingOp>(op);
}

/// The row input of a projection-side producer, or null.
static Value rowInput(Operation *op) {
  if (isa_and_nonnull<LinearOp, SliceOp, LayerNormOp, RmsNormOp, ReshapeOp,
                      QuantizeOp, RotaryEmbeddingOp>(op))
    return op->getOperand(0);
  if (auto dequant = dyn_cast_or_null<DequantizeOp>(op))
    return dequant.getCodes();
  return {};
}

/// The layer input of the attention whose probabilities `probs` computes:
/// walking back from its query, the first value that something other than
/// the projections reads (the residual path).
static Value layerInput(Operation *probs) {
  Value v = probs->getOperand(0);
  while (llvm::all_of(v.getUsers(), isProjectionSide)) {
    Value in = rowInput(v.getDefiningOp());
    if (!in)
      return {};
    v = in;
  }
  return v;
}

/// Whether `v` is computed from `target` along rows of its own sequence:
/// a backward walk that does not enter an attention's keys, values or mask
/// (where cross-attention reads the rows of another sequence).
static bool readsRowsOf(Value v, Value target) {
  SmallVector<Value> stack{v};
  llvm::DenseSet<Value> seen;
  while (!stack.empty()) {
    Value cur = stack.pop_back_val();
    if (cur == target)
      return true;
    Operation *op = cur.getDefiningOp();
    if (!op || !seen.insert(cur).second)
      continue;
    bool attention =
        isa<AttentionProbsOp, ProgressiveFetchOp, AttentionOutputOp>(op);
    llvm::append_range(stack, attention ? op->getOperands().take_front(1)
                                        : op->getOperands());
  }
  return false;
}

/// The token cascades of `attns`, each in program order. A self-attention
/// continues the cascade whose last attention's output its query reads, or
/// starts one: an encoder-decoder has one per stack. A cross-attention (its
/// keys are not computed from its queries' rows) belongs to none: its
/// queries follow the kept rows of their stack, its keys are every token
/// of the other (docs/Algorithms.md, "Encoder-decoder models").
static SmallVector<SmallVector<DecomposedAttention>>
tokenCascades(ArrayRef<DecomposedAttention> attns) {
  SmallVector<SmallVector<DecomposedAttention>> cascades;
  for (const DecomposedAttention &a : attns) {
    Value query = a.probs->getOperand(0), rows = layerInput(a.probs);
    if (rows && !readsRowsOf(a.probs->getOperand(1), rows))
      continue;
    auto *cascade = llvm::find_if(cascades, [&](const auto &c) {
      return readsRowsOf(query, c.back().output->getResult(0));
    });
    if (cascade == cascades.end())
      cascades.push_back({a});
    else
      cascade->push_back(a);
  }
  return cascades;
}

/// Torch's sequence-first rows [L, 1, ...] of a batch of 1 viewed as
/// [1, L, ...], the layout prune_tokens and merge_tokens gather on; other
/// values are returned as they are.
static Value batchFirstRows(OpBuilder &b, Location loc, Value v) {
  ArrayRef<int64_t> s = shapeOf(v);
  if (s.size() < 2 || s[1] != 1 || s[0] == 1)
    return v;
  SmallVector<int64_t> shape(s);
  std::swap(shape[0], shape[1]);
  return ReshapeOp::create(
      b, loc, cast<RankedTensorType>(v.getType()).clone(shape), v);
}

/// `rows` [1, k, ...] back in the layout of `like` (see batchFirstRows).
static Value inLayoutOf(OpBuilder &b, Location loc, Value rows, Value like) {
  if (shapeOf(like) == shapeOf(rows) || shapeOf(like)[0] == 1)
    return rows;
  SmallVector<int64_t> shape(shapeOf(rows));
  std::swap(shape[0], shape[1]);
  return ReshapeOp::create(
      b, loc, cast<RankedTensorType>(rows.getType()).clone(shape), rows);
}

/// The layer input before the prune that layerInput finds (a prune_tokens,
/// or a sequence-first prune between batchFirstRows and inLayoutOf).
static Value beforePrune(Value v) {
  if (auto back = v.getDefiningOp<ReshapeOp>())
    if (auto pruned = back.getInput().getDefiningOp<PruneTokensOp>())
      if (auto rows = pruned.getInput().getDefiningOp<ReshapeOp>())
        return rows.getInput();
  if (auto pruned = v.getDefiningOp<PruneTokensOp>())
    return pruned.getInput();
  return v;
}

/// One hop of a forward walk: through operand `operand` of an op named
/// `name`, out of its result `result`.
struct Step {
  OperationName name;
  unsigned operand, result;
};

/// The shortest forward path of ops from `from` to `to`.
static std::optional<SmallVector<Step>> forwardPath(Value from, Value to) {
  llvm::DenseMap<Value, std::pair<Value, Step>> parent;
  SmallVector<Value> frontier{from};
  for (size_t i = 0; i < frontier.size() && !parent.count(to); ++i)
    for (OpOperand &use : frontier[i].getUses())
      for (OpResult r : use.getOwner()->getResults())
        if (r != from && parent.try_emplace(r, frontier[i],
                                            Step{use.getOwner()->getName(),
                                                 use.getOperandNumber(),
                                                 r.getResultNumber()})
                             .second)
          frontier.push_back(r);
  if (!parent.count(to))
    return std::nullopt;
  SmallVector<Step> path;
  // parent never holds `from` itself, so the walk back stops there.
  for (Value v = to; v != from; v = parent.find(v)->second.first)
    path.push_back(parent.find(v)->second.second);
  std::reverse(path.begin(), path.end());
  return path;
}

/// Follows `path` from `from`, taking the first matching user at each hop.
static Value replay(Value from, ArrayRef<Step> path) {
  Value v = from;
  for (const Step &step : path) {
    Value next;
    for (OpOperand &use : v.getUses())
      if (use.getOwner()->getName() == step.name &&
          use.getOperandNumber() == step.operand &&
          (!next || use.getOwner()->isBeforeInBlock(next.getDefiningOp())))
        next = use.getOwner()->getResult(step.result);
    if (!next)
      return {};
    v = next;
  }
  return v;
}

namespace {
/// The state that follows the kept tokens from layer to layer.
struct Cascade {
  Value importance; ///< [1, n] f32, accumulated
  Value forced;     ///< [1, n] f32, kForcedScore at keep positions
  Value positions;  ///< [1, n] i64 original positions
  int64_t count;    ///< n
};

struct CascadeTokenPruningPass
    : SettingsPass<spatten::impl::SpAttenCascadeTokenPruningBase<
                       CascadeTokenPruningPass>,
                   setting::List<setting::tokenKeep, setting::tokenSchedule,
                                 setting::keepPositions, setting::kvBudget>> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    if (failed(run(getOperation())))
      signalPassFailure();
  }

  LogicalResult run(func::FuncOp func);
  LogicalResult pruneCascade(func::FuncOp func, const SpAttenSettings &settings,
                             ArrayRef<DecomposedAttention> attns);
  LogicalResult schedule(func::FuncOp func, const SpAttenSettings &settings,
                         int64_t layers, SmallVector<double> &f);
  LogicalResult pruneSequence(func::FuncOp func,
                              const SpAttenSettings &settings);
  void addTokenCounts(ArrayRef<CachedAttentionOp> attns, ArrayRef<double> f,
                      ArrayRef<int64_t> keepPositions);
  LogicalResult applyKVBudget(func::FuncOp func,
                              const SpAttenSettings &settings);
  LogicalResult checkShapes(ArrayRef<DecomposedAttention> attns,
                            ArrayRef<int64_t> keepPositions);
  Cascade initialState(OpBuilder &b, Location loc, int64_t tokens,
                       ArrayRef<int64_t> keepPositions);
  void pruneMasks(OpBuilder &b, ArrayRef<DecomposedAttention> later, Value idx,
                  ShapeRefresher &refresher);
  void pruneRotaryTables(OpBuilder &b, Operation *after, Value idx);
  LogicalResult restoreLastLayer(ArrayRef<DecomposedAttention> attns,
                                 ArrayRef<std::pair<Value, Value>> boundaries,
                                 Value positions);
};
} // namespace

LogicalResult
CascadeTokenPruningPass::checkShapes(ArrayRef<DecomposedAttention> attns,
                                     ArrayRef<int64_t> keepPositions) {
  int64_t tokens = shapeOf(attns.front().probs->getResult(0))[3];
  for (const DecomposedAttention &a : attns) {
    ArrayRef<int64_t> p = shapeOf(a.probs->getResult(0));
    if (p[0] != 1 || p[2] != p[3] || p[3] != tokens)
      return a.probs->emitOpError("cascade token pruning needs batch 1 and "
                                  "whole-sequence attention over ")
             << tokens << " tokens, got probabilities " << p
             << " (not implemented)";
  }
  for (int64_t pos : keepPositions)
    if (pos < 0 || pos >= tokens)
      return attns.front().probs->emitOpError("keep position ")
             << pos << " is outside the " << tokens << " tokens";
  return success();
}

Cascade CascadeTokenPruningPass::initialState(OpBuilder &b, Location loc,
                                              int64_t tokens,
                                              ArrayRef<int64_t> keepPositions) {
  auto f32 = RankedTensorType::get({1, tokens}, b.getF32Type());
  auto i64 = RankedTensorType::get({1, tokens}, b.getI64Type());
  SmallVector<float> forced(tokens, 0.f);
  for (int64_t pos : keepPositions)
    forced[pos] = kForcedScore;
  SmallVector<int64_t> positions(tokens);
  for (int64_t i = 0; i < tokens; ++i)
    positions[i] = i;
  auto constant = [&](DenseElementsAttr value) -> Value {
    return arith::ConstantOp::create(b, loc, value);
  };
  return {constant(DenseElementsAttr::get(f32, 0.f)),
          constant(DenseElementsAttr::get(f32, ArrayRef(forced))),
          constant(DenseElementsAttr::get(i64, ArrayRef(positions))), tokens};
}

/// Later layers see only the kept keys of their padding masks (key axis
/// last; a per-query mask loses the pruned queries too, a per-head score
/// bias [B, H, Lq, Lk] both and keeps its heads).
void CascadeTokenPruningPass::pruneMasks(OpBuilder &b,
                                         ArrayRef<DecomposedAttention> later,
                                         Value idx, ShapeRefresher &refresher) {
  llvm::DenseMap<Value, Value> pruned;
  for (const DecomposedAttention &a : later) {
    Value mask = a.probs->getNumOperands() > 2 ? a.probs->getOperand(2) : Value();
    if (!mask)
      continue;
    Value &p = pruned[mask];
    if (!p) {
      p = mask;
      int64_t rank = shapeOf(mask).size();
      for (int64_t axis = rank == 4 ? 2 : 1; axis < rank; ++axis) {
        SmallVector<int64_t> shape(shapeOf(p));
        shape[axis] = shapeOf(idx)[1];
        p = PruneTokensOp::create(
            b, mask.getLoc(),
            RankedTensorType::get(shape, cast<RankedTensorType>(p.getType())
                                             .getElementType()),
            p, idx, b.getI64IntegerAttr(axis));
      }
      refresher.noteReplaced(p, shapeOf(mask));
    }
    a.probs->setOperand(2, p);
  }
}

/// Rotary embeddings after `after` (the later layers') read the cos/sin
/// rows of their tokens' original positions: each prune gathers the table
/// rows of the tokens it keeps, as it does the masks' rows.
void CascadeTokenPruningPass::pruneRotaryTables(OpBuilder &b, Operation *after,
                                                Value idx) {
  int64_t k = shapeOf(idx)[1];
  llvm::DenseMap<Value, Value> pruned;
  for (Operation *op = after->getNextNode(); op; op = op->getNextNode()) {
    auto rope = dyn_cast<RotaryEmbeddingOp>(op);
    if (!rope)
      continue;
    for (OpOperand *table : {&rope.getCosMutable(), &rope.getSinMutable()}) {
      Value &p = pruned[table->get()];
      if (!p) {
        Value t = table->get();
        auto type = cast<RankedTensorType>(t.getType());
        int64_t L = type.getShape()[0], D = type.getShape()[1];
        Location loc = t.getLoc();
        Value rows = ReshapeOp::create(b, loc, type.clone({1, L, D}), t);
        Value kept = PruneTokensOp::create(b, loc, type.clone({1, k, D}), rows,
                                           idx, b.getI64IntegerAttr(1));
        p = ReshapeOp::create(b, loc, type.clone({k, D}), kept);
      }
      table->set(p);
    }
  }
}

/// The last layer's output becomes the full sequence again: the first
/// pruned layer output, overwritten by every later layer's kept rows and
/// finally by the last layer's rows, at their original positions. What
/// follows the layers (final layer norm, heads, pooler) sees every token.
/// The last layer's output is where the path from layer n-2's attention
/// output to layer n-1's input leads from layer n-1's attention output.
LogicalResult CascadeTokenPruningPass::restoreLastLayer(
    ArrayRef<DecomposedAttention> attns,
    ArrayRef<std::pair<Value, Value>> boundaries, Value positions) {
  DecomposedAttention prev = attns[attns.size() - 2], last = attns.back();
  Value prevOut = layerInput(last.probs);
  if (prevOut)
    prevOut = beforePrune(prevOut);
  std::optional<SmallVector<Step>> path =
      prevOut ? forwardPath(prev.output, prevOut) : std::nullopt;
  Value lastOut = path ? replay(last.output, *path) : Value();
  if (!lastOut)
    return last.output.emitOpError(
        "cascade token pruning cannot find the last layer's output: the last "
        "layer does not repeat the previous layer's structure");
  OpBuilder b(lastOut.getContext());
  b.setInsertionPointAfterValue(lastOut);
  Value full = boundaries.front().first;
  for (auto [rows, pos] : boundaries.drop_front())
    full = MergeTokensOp::create(b, lastOut.getLoc(), full, rows, pos);
  Value rows = batchFirstRows(b, lastOut.getLoc(), lastOut);
  auto merged = MergeTokensOp::create(b, lastOut.getLoc(), full, rows,
                                      positions);
  Value restored = inLayoutOf(b, lastOut.getLoc(), merged, lastOut);
  lastOut.replaceAllUsesExcept(restored, rows == lastOut
                                             ? merged.getOperation()
                                             : rows.getDefiningOp());
  return success();
}

/// The forced positions `a` and `b` together, sorted, each once.
static SmallVector<int64_t> uniquePositions(ArrayRef<int64_t> a,
                                            ArrayRef<int64_t> b) {
  SmallVector<int64_t> all(a.begin(), a.end());
  all.append(b.begin(), b.end());
  llvm::sort(all);
  all.erase(llvm::unique(all), all.end());
  return all;
}

/// The entry point `func` is in a generation binary ("prefill",
/// "decode"), or empty.
static StringRef entryOf(func::FuncOp func) {
  auto entry = func->getAttrOfType<StringAttr>(kEntryAttrName);
  return entry ? entry.getValue() : StringRef();
}

/// The keep fractions per layer. Layer 0 runs dense in a whole sequence
/// (no importance is known before it); a decode step's layer 0 already
/// has the importance of the steps before.
LogicalResult CascadeTokenPruningPass::schedule(func::FuncOp func,
                                                const SpAttenSettings &settings,
                                                int64_t layers,
                                                SmallVector<double> &f) {
  llvm::Expected<SmallVector<double>> parsed = parseSchedule(
      settings.tokenSchedule, layers, settings.tokenKeep, /*untouched=*/0.15);
  if (!parsed)
    return func.emitError()
           << getArgument() << ": " << llvm::toString(parsed.takeError());
  f = std::move(*parsed);
  StringRef entry = entryOf(func);
  if (entry == "prefill")
    f.front() = 1.0;
  else if (entry != "decode" && f.front() != 1.0)
    return func.emitError()
           << getArgument() << ": --token-schedule=" << settings.tokenSchedule
           << ": the fraction of layer 0 must be 1: no importance is known "
              "before layer 0 (only a generation binary's decode step may "
              "prune there)";
  return success();
}

/// A decode step's keep count of layer l for every context length n:
/// max(1, floor(n f_l)), the schedule applied to the current context.
void CascadeTokenPruningPass::addTokenCounts(ArrayRef<CachedAttentionOp> attns,
                                             ArrayRef<double> f,
                                             ArrayRef<int64_t> keepPositions) {
  for (auto [l, attn] : llvm::enumerate(attns)) {
    CachedAttentionOp op = attn;
    // Never fewer than the forced tokens: the keep positions before the
    // new token, and the new token.
    op.getTokenCountsMutable().assign(countsPerContext(op, [&](int64_t n) {
      return std::max(keptCount(n, f[l]),
                      1 + llvm::count_if(keepPositions,
                                         [&](int64_t p) { return p < n - 1; }));
    }));
    if (!keepPositions.empty())
      op.setKeepPositions(keepPositions);
  }
}

/// The fixed KV budget is a policy of the decode steps: each layer keeps
/// `kvBudgetKept(n)` of its own candidates. The prefill computes the prompt
/// densely, as the authors' policy does, and records its importance.
LogicalResult
CascadeTokenPruningPass::applyKVBudget(func::FuncOp func,
                                       const SpAttenSettings &settings) {
  StringRef entry = entryOf(func);
  if (entry == "prefill")
    return pruneSequence(func, settings);
  if (entry != "decode")
    return func.emitError()
           << getArgument()
           << ": --kv-budget is a policy of generation's decode steps; "
              "compile a generation binary (--max-context)";
  for (CachedAttentionOp op : func.getOps<CachedAttentionOp>()) {
    op.getTokenCountsMutable().assign(countsPerContext(
        op, [&](int64_t n) { return settings.kvBudgetKept(n); }));
    op.setKvBudget(ArrayRef<int64_t>(settings.kvBudget));
  }
  return success();
}

LogicalResult CascadeTokenPruningPass::run(func::FuncOp func) {
  FailureOr<SpAttenSettings> settings = checkedSettings(func);
  if (failed(settings))
    return failure();
  if (settings->kvBudgetPolicy())
    return applyKVBudget(func, *settings);
  if (!settings->cascadeTokenPruning())
    return success();
  auto cached = llvm::to_vector(func.getOps<CachedAttentionOp>());
  if (!cached.empty()) {
    SmallVector<double> f;
    if (failed(schedule(func, *settings, cached.size(), f)))
      return failure();
    addTokenCounts(cached, f, uniquePositions(settings->keepPositions, {}));
    return success();
  }
  return pruneSequence(func, *settings);
}

/// A whole sequence (the summarization stage, a prefill): prune after each
/// layer by the schedule, dense under the KV budget, which prunes only in
/// the decode steps.
LogicalResult
CascadeTokenPruningPass::pruneSequence(func::FuncOp func,
                                       const SpAttenSettings &settings) {
  FailureOr<SmallVector<DecomposedAttention>> attns =
      decomposeAttentions(func, getArgument());
  if (failed(attns))
    return failure();
  for (ArrayRef<DecomposedAttention> cascade : tokenCascades(*attns))
    if (failed(pruneCascade(func, settings, cascade)))
      return failure();
  return success();
}

/// One cascade: the self-attentions `attns` of one token sequence.
LogicalResult
CascadeTokenPruningPass::pruneCascade(func::FuncOp func,
                                      const SpAttenSettings &settings,
                                      ArrayRef<DecomposedAttention> attns) {
  int64_t tokens = shapeOf(attns[0].probs->getResult(0))[3];
  // The prompt's last position is the query of the first generated token.
  SmallVector<int64_t> extra;
  if (entryOf(func) == "prefill")
    extra.push_back(tokens - 1);
  SmallVector<int64_t> keepPositions =
      uniquePositions(settings.keepPositions, extra);
  if (failed(checkShapes(attns, keepPositions)))
    return failure();
  int64_t layers = attns.size();
  SmallVector<double> f(layers, 1.0);
  if (!settings.kvBudgetPolicy() &&
      failed(schedule(func, settings, layers, f)))
    return failure();

  OpBuilder b(func.getBody());
  Cascade state = initialState(b, func.getLoc(), tokens, keepPositions);
  ShapeRefresher refresher;
  SmallVector<std::pair<Value, Value>> boundaries;
  Operation *firstPrune = nullptr;
  for (int64_t l = 0; l < layers; ++l) {
    Operation *probs = attns[l].probs;
    b.setInsertionPointAfter(probs);
    state.importance = TokenImportanceOp::create(
        b, probs->getLoc(), state.importance.getType(), probs->getResult(0),
        state.importance);
    AttentionOutputOp output = attns[l].output;
    if (auto layer =
            output->getAttrOfType<IntegerAttr>(kKVCacheLayerAttrName)) {
      OpBuilder after(output->getContext());
      after.setInsertionPointAfter(output);
      RecordKeptTokensOp::create(after, probs->getLoc(), state.importance,
                                 state.positions, layer);
    }
    if (l + 1 == layers)
      continue;
    int64_t k =
        std::max<int64_t>(keptCount(tokens, f[l + 1]), keepPositions.size());
    if (k >= state.count)
      continue;
    Value h = layerInput(attns[l + 1].probs);
    if (!h)
      return attns[l + 1].probs->emitOpError(
          "cascade token pruning cannot find this layer's input rows");
    b.setInsertionPointAfterValue(h);
    if (!h.getDefiningOp() ||
        h.getDefiningOp()->isBeforeInBlock(state.importance.getDefiningOp()))
      b.setInsertionPointAfter(state.importance.getDefiningOp());
    Location loc = h.getLoc();
    Value scores = BinaryOp::create(b, loc, state.importance.getType(),
                                    state.importance, state.forced,
                                    BinaryFn::add);
    auto idxType = RankedTensorType::get({1, k}, b.getI64Type());
    Value idx = TopkOp::create(b, loc, idxType, scores, b.getI64IntegerAttr(k));
    Value hRows = batchFirstRows(b, loc, h);
    SmallVector<int64_t> rows(shapeOf(hRows));
    rows[1] = k;
    auto hp = PruneTokensOp::create(
        b, loc, RankedTensorType::get(rows, cast<RankedTensorType>(h.getType()).getElementType()),
        hRows, idx, b.getI64IntegerAttr(1));
    if (!firstPrune)
      firstPrune = scores.getDefiningOp();
    Value kept = inLayoutOf(b, loc, hp, h);
    h.replaceAllUsesExcept(kept, hRows == h ? hp.getOperation()
                                            : hRows.getDefiningOp());
    refresher.noteReplaced(kept, shapeOf(h));
    boundaries.push_back({hRows, state.positions});
    auto prune = [&](Value v) -> Value {
      auto type = cast<RankedTensorType>(v.getType());
      return PruneTokensOp::create(
          b, loc, RankedTensorType::get({1, k}, type.getElementType()), v, idx,
          b.getI64IntegerAttr(1));
    };
    state = {prune(state.importance), prune(state.forced),
             prune(state.positions), k};
    pruneMasks(b, attns.drop_front(l + 1), idx, refresher);
    pruneRotaryTables(b, hp, idx);
  }
  if (!firstPrune)
    return success();
  if (failed(restoreLastLayer(attns, boundaries, state.positions)))
    return failure();
  for (Operation &op : llvm::make_range(firstPrune->getIterator(),
                                        func.getBody().front().end()))
    if (refresher.readsChanged(&op) && failed(refresher.refresh(&op)))
      return failure();
  return success();
}

std::unique_ptr<Pass>
spatten::createSpAttenCascadeTokenPruning(const SpAttenSettings &settings) {
  return std::make_unique<CascadeTokenPruningPass>(settings);
}

//===- GenerationEntries.cpp - Prefill and decode functions ---------------===//
//
// A decoder-only language model imported at its maximum context C becomes
// two functions (docs/Generation.md): `prefill`, the first L0 positions
// (the prompt) writing every layer's K and V to a KV cache, and `decode`,
// one token at a run-time position against that cache. Both are the same
// graph restricted to some rows, which holds because every op but causal
// attention treats positions independently; the analysis below checks it.
//
//===----------------------------------------------------------------------===//

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"
#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/SetVector.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENGENERATIONENTRIES
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

namespace {
/// The sequence axis of a function at context C: which values hold one row
/// per position (axis 1 of `[1, C, ...]`), which constants an op combines
/// with them position by position, and the causal attentions in order.
struct SequenceRows {
  int64_t context;
  DenseSet<Value> rows;
  /// Operands holding a per-position constant `[.., C, N]` (aligned to the
  /// result's sequence axis by broadcasting).
  SmallVector<OpOperand *> positional;
  SmallVector<AttentionOp> attentions;

  LogicalResult analyze(func::FuncOp func);

private:
  bool isRows(Value v) const { return rows.contains(v); }
  LogicalResult visit(Operation *op);
  LogicalResult visitBinary(BinaryOp op);
  LogicalResult visitRotary(RotaryEmbeddingOp op);
  bool addPositional(OpOperand &operand, int64_t rank);
  LogicalResult visitAttention(AttentionOp op);
  LogicalResult checkLogits(mlir::func::FuncOp func);
  bool keepsSequenceAxis(Operation *op) const;
};

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<ShapedType>(v.getType()).getShape();
}

/// The constant `v` holds, through reshapes (the lift views a rotary table
/// `[1, 1, C, D]` as `[C, D]`), else null.
arith::ConstantOp constantThroughReshapes(Value v) {
  while (auto reshape = v.getDefiningOp<ReshapeOp>())
    v = reshape.getInput();
  return v.getDefiningOp<arith::ConstantOp>();
}

/// `[1, C, ...]`.
bool hasSequenceAxis(Value v, int64_t context) {
  ArrayRef<int64_t> s = shapeOf(v);
  return s.size() >= 2 && s[0] == 1 && s[1] == context;
}
} // namespace

LogicalResult SequenceRows::analyze(func::FuncOp func) {
  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    auto type = cast<ShapedType>(arg.getType());
    if (i > 0 || !type.getElementType().isInteger() ||
        !hasSequenceAxis(arg, context) || type.getRank() != 2)
      return func.emitError("generation: graph input #")
             << i << " (" << arg.getType()
             << ") is not supported: the token ids [1, " << context
             << "] must be the only input";
    rows.insert(arg);
  }
  Operation *ret = func.getBody().front().getTerminator();
  for (Operation &op : func.getBody().front().without_terminator())
    if (failed(visit(&op)))
      return failure();
  for (Value v : ret->getOperands())
    if (!isRows(v))
      return ret->emitError("generation: every graph output must hold one "
                            "row per position [1, ")
             << context << ", ...], got " << v.getType();
  if (attentions.empty())
    return func.emitError("generation: the model has no causal attention");
  return checkLogits(func);
}

/// The host picks each token from the logits: the graph output named
/// `logits`, else the first one, must be `[1, C, V]` over the vocabulary of
/// the token embedding.
LogicalResult SequenceRows::checkLogits(func::FuncOp func) {
  int64_t vocab = 0;
  for (Operation *user : func.getArgument(0).getUsers())
    if (auto embedding = dyn_cast<EmbeddingOp>(user))
      vocab = shapeOf(embedding.getTable())[0];
  unsigned index = 0;
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    if (auto name = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
        name && name.getValue() == "logits")
      index = i;
  ArrayRef<int64_t> logits = func.getNumResults()
                                 ? shapeOf(func.getBody().front()
                                               .getTerminator()
                                               ->getOperand(index))
                                 : ArrayRef<int64_t>();
  if (!vocab || logits.size() != 3 || logits.back() != vocab)
    return func.emitError("generation: the model has no logits output ")
           << "(the output named 'logits', else the first, must be [1, "
           << context << ", V] with V the " << vocab
           << " rows of the token embedding)";
  return success();
}

/// Whether a one-input op keeps the sequence at axis 1 and reads each row
/// on its own.
bool SequenceRows::keepsSequenceAxis(Operation *op) const {
  if (llvm::isa<UnaryOp, GeluOp, LayerNormOp, RmsNormOp, CastOp>(op))
    return true;
  if (auto softmax = dyn_cast<SoftmaxOp>(op))
    return shapeOf(softmax.getInput()).size() >= 3;
  if (auto linear = dyn_cast<LinearOp>(op))
    return !isRows(linear.getWeight()) &&
           (!linear.getBias() || !isRows(linear.getBias()));
  if (auto slice = dyn_cast<SliceOp>(op))
    return slice.getOffsets()[1] == 0 && slice.getStrides()[1] == 1;
  if (auto embedding = dyn_cast<EmbeddingOp>(op))
    return !isRows(embedding.getTable());
  return llvm::isa<ReshapeOp>(op);
}

LogicalResult SequenceRows::visit(Operation *op) {
  if (llvm::none_of(op->getOperands(), [&](Value v) { return isRows(v); }))
    return success();
  LogicalResult fits = success();
  if (auto binary = dyn_cast<BinaryOp>(op)) {
    fits = visitBinary(binary);
  } else if (auto rotary = dyn_cast<RotaryEmbeddingOp>(op);
             rotary && isRows(rotary.getInput())) {
    if (failed(visitRotary(rotary)))
      return failure();
  } else if (auto attention = dyn_cast<AttentionOp>(op)) {
    if (attention.getMaskKind() != MaskKind::causal || attention.getMask() ||
        attention.getPastKey() || !attention.getPresent().empty())
      return op->emitError("generation: attention must be causal, without a "
                           "padding mask or KV-cache inputs");
    fits = visitAttention(attention);
  } else if (auto concat = dyn_cast<ConcatOp>(op))
    fits = success(concat.getAxis() != 1 &&
                   llvm::all_of(concat.getInputs(),
                                [&](Value v) { return isRows(v); }));
  else if (!keepsSequenceAxis(op))
    fits = failure();
  if (failed(fits))
    return op->emitError("generation: '")
           << op->getName()
           << "' mixes sequence positions, so the model cannot run one "
              "position per decode step";
  for (Value result : op->getResults()) {
    if (!hasSequenceAxis(result, context))
      return op->emitError("generation: expected a result with one row per "
                           "position [1, ")
             << context << ", ...], got " << result.getType();
    rows.insert(result);
  }
  return success();
}

/// Whether `operand` of an op with a rank-`rank` result is a per-position
/// constant `[1.., C, N..]` (aligned to the sequence axis by broadcasting);
/// records it. A dim of 1 there broadcasts one row to every position.
bool SequenceRows::addPositional(OpOperand &operand, int64_t rank) {
  Value v = operand.get();
  ArrayRef<int64_t> shape = shapeOf(v);
  int64_t axis = 1 - (rank - int64_t(shape.size()));
  if (axis < 0 || shape[axis] == 1)
    return true;
  bool leadingOnes =
      llvm::all_of(shape.take_front(axis), [](int64_t d) { return d == 1; });
  if (shape[axis] != context || !leadingOnes || !constantThroughReshapes(v))
    return false;
  positional.push_back(&operand);
  return true;
}

/// Each operand is rows, broadcast along the sequence, or a per-position
/// constant.
LogicalResult SequenceRows::visitBinary(BinaryOp op) {
  int64_t rank = shapeOf(op.getResult()).size();
  for (OpOperand &operand : op->getOpOperands())
    if (!isRows(operand.get()) && !addPositional(operand, rank))
      return failure();
  return success();
}

/// Rotary embeddings rotate each row by its position's angles: the cos and
/// sin tables `[C, R]` must be per-position constants (read at row p in the
/// decode step, as a position embedding is).
LogicalResult SequenceRows::visitRotary(RotaryEmbeddingOp op) {
  int64_t rank = shapeOf(op.getOutput()).size();
  for (OpOperand *table : {&op.getCosMutable(), &op.getSinMutable()})
    if (shapeOf(table->get())[0] != context || !addPositional(*table, rank))
      return op.emitError("generation: the rotary tables must be constants "
                          "[")
             << context << ", R] (the positions 0 .. " << context - 1
             << ", which the decode step reads at its position), got "
             << table->get().getType() << " computed by '"
             << (table->get().getDefiningOp()
                     ? table->get().getDefiningOp()->getName().getStringRef()
                     : StringRef("a block argument"))
             << "'";
  return success();
}

/// Queries, keys and values are all rows.
LogicalResult SequenceRows::visitAttention(AttentionOp op) {
  if (!isRows(op.getQuery()) || !isRows(op.getKey()) || !isRows(op.getValue()))
    return failure();
  attentions.push_back(op);
  return success();
}

//===----------------------------------------------------------------------===//
// Restricting the rows
//===----------------------------------------------------------------------===//

namespace {
RankedTensorType withRows(Type type, int64_t axis, int64_t rows) {
  auto t = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(t.getShape());
  shape[axis] = rows;
  return t.clone(shape);
}

/// The fp32 elements of a constant, or nothing for another kind.
std::optional<SmallVector<float>> floatsOf(ElementsAttr attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (!dense.getElementType().isF32())
      return std::nullopt;
    return SmallVector<float>(dense.getValues<float>());
  }
  if (auto res = dyn_cast<DenseF32ResourceElementsAttr>(attr))
    if (std::optional<ArrayRef<float>> data = res.tryGetAsArrayRef())
      return SmallVector<float>(*data);
  return std::nullopt;
}

/// The sequence axis of a per-position operand of a rank-`rank` result.
int64_t positionalAxis(Value v, int64_t rank) {
  return 1 - (rank - int64_t(shapeOf(v).size()));
}

/// The first `rows` positions of a per-position constant operand (an
/// `arith.constant`, possibly reshaped).
FailureOr<Value> firstRows(OpBuilder &b, Value operand, int64_t axis,
                           int64_t rows) {
  arith::ConstantOp c = constantThroughReshapes(operand);
  std::optional<SmallVector<float>> data =
      floatsOf(cast<ElementsAttr>(c.getValue()));
  if (!data)
    return c.emitError("generation: a per-position constant must be fp32");
  ArrayRef<int64_t> shape = shapeOf(operand);
  int64_t inner = 1;
  for (int64_t d : shape.drop_front(axis + 1))
    inner *= d;
  // Leading dims are 1 (SequenceRows::addPositional): the rows are a prefix.
  ArrayRef<float> prefix = ArrayRef<float>(*data).take_front(rows * inner);
  auto type = withRows(operand.getType(), axis, rows);
  return arith::ConstantOp::create(b, c.getLoc(),
                                   DenseElementsAttr::get(type, prefix))
      .getResult();
}

void setRows(Value v, int64_t rows) {
  v.setType(withRows(v.getType(), 1, rows));
}

void fixFunctionType(func::FuncOp func) {
  auto ret = func.getBody().front().getTerminator();
  func.setFunctionType(
      FunctionType::get(func.getContext(),
                        func.getBody().front().getArgumentTypes(),
                        ret->getOperandTypes()));
}

/// The row operand of an op that computes each output row from one input
/// row and weights (the final layer norm, the LM head), else null.
OpOperand *onlyRowOperand(Operation *op, const SequenceRows &seq) {
  if (!llvm::isa<LinearOp, LayerNormOp, RmsNormOp, GeluOp, UnaryOp, SoftmaxOp,
                 CastOp>(op) ||
      op->getNumResults() != 1 || !op->getResult(0).hasOneUse())
    return nullptr;
  OpOperand *row = nullptr;
  for (OpOperand &use : op->getOpOperands())
    if (seq.rows.contains(use.get())) {
      if (row)
        return nullptr;
      row = &use;
    }
  return row;
}

/// Generation reads the last prompt position's logits only: each output
/// and the ops that lead to it from one row (the final layer norm and the
/// LM head, whose GEMM over a GPT-2 vocabulary would otherwise dominate the
/// prefill) compute that row alone, from a slice of the last row.
void lastRowOutputs(func::FuncOp func, const SequenceRows &seq,
                    int64_t prefillLength) {
  Operation *ret = func.getBody().front().getTerminator();
  for (OpOperand &output : ret->getOpOperands()) {
    SmallVector<Operation *> chain;
    OpOperand *cut = &output;
    while (Operation *def = cut->get().getDefiningOp()) {
      OpOperand *row = onlyRowOperand(def, seq);
      if (!row)
        break;
      chain.push_back(def);
      cut = row;
    }
    auto type = cast<RankedTensorType>(cut->get().getType());
    SmallVector<int64_t> offsets(type.getRank(), 0), strides(type.getRank(), 1);
    offsets[1] = prefillLength - 1;
    OpBuilder b(cut->getOwner());
    auto last = SliceOp::create(b, cut->get().getLoc(), withRows(type, 1, 1),
                                cut->get(), offsets, strides);
    cut->set(last);
    for (Operation *op : chain)
      setRows(op->getResult(0), 1);
  }
}

/// `@prefill`: positions [0, L0); attention writes the KV cache.
LogicalResult buildPrefill(func::FuncOp func, SequenceRows &seq,
                           int64_t prefillLength) {
  OpBuilder b(func.getContext());
  for (OpOperand *use : seq.positional) {
    Operation *user = use->getOwner();
    b.setInsertionPoint(user);
    int64_t rank = shapeOf(user->getResult(0)).size();
    FailureOr<Value> rows = firstRows(
        b, use->get(), positionalAxis(use->get(), rank), prefillLength);
    if (failed(rows))
      return failure();
    use->set(*rows);
  }
  for (Value v : seq.rows)
    setRows(v, prefillLength);
  for (auto [layer, attention] : llvm::enumerate(seq.attentions))
    attention->setAttr(kKVCacheLayerAttrName,
                       b.getI64IntegerAttr(int64_t(layer)));
  lastRowOutputs(func, seq, prefillLength);
  func.setSymName("prefill");
  func->setAttr(kEntryAttrName, b.getStringAttr("prefill"));
  fixFunctionType(func);
  return success();
}

/// Row `p` of a per-position constant `[1.., C, N..]`, shaped like the
/// operand with one position.
Value positionRow(OpBuilder &b, Value table, int64_t axis, int64_t context) {
  Location loc = table.getLoc();
  auto type = cast<RankedTensorType>(table.getType());
  int64_t width = type.getNumElements() / context;
  Value flat = table;
  if (type.getShape() != ArrayRef<int64_t>{context, width})
    flat = ReshapeOp::create(b, loc, type.clone({context, width}), table);
  Value row = PositionRowOp::create(b, loc, type.clone({1, 1, width}), flat);
  RankedTensorType rowType = withRows(type, axis, 1);
  if (row.getType() == rowType)
    return row;
  return ReshapeOp::create(b, loc, rowType, row);
}

/// The K/V heads that grouped-query attention's repeat (the lift's
/// `repeat_kv`: Reshape to `[1, L, G, 1, D]`, a Concat of g copies on axis
/// 3, Reshape to `[1, L, G*g*D]`) reads, and G; else `v` itself and 0.
std::pair<Value, int64_t> unrepeatedHeads(Value v) {
  auto outer = v.getDefiningOp<ReshapeOp>();
  auto concat = outer ? outer.getInput().getDefiningOp<ConcatOp>() : nullptr;
  if (!concat || concat.getAxis() != 3 || concat.getInputs().empty() ||
      !llvm::all_equal(concat.getInputs()))
    return {v, 0};
  Value one = concat.getInputs().front();
  auto inner = one.getDefiningOp<ReshapeOp>();
  ArrayRef<int64_t> s = shapeOf(one);
  if (!inner || s.size() != 5 || s[3] != 1)
    return {v, 0};
  return {inner.getInput(), s[2]};
}

/// `@decode`: one position, read from the `position` register.
void buildDecode(func::FuncOp func, SequenceRows &seq) {
  OpBuilder b(func.getContext());
  int64_t context = seq.context;
  // One read per table and axis: the rotary tables are shared by every
  // layer's Q and K (uses come in op order, so the first dominates).
  DenseMap<std::pair<Value, int64_t>, Value> rowOf;
  for (OpOperand *use : seq.positional) {
    Operation *user = use->getOwner();
    int64_t rank = shapeOf(user->getResult(0)).size();
    int64_t axis = positionalAxis(use->get(), rank);
    Value &row = rowOf[{use->get(), axis}];
    if (!row) {
      b.setInsertionPoint(user);
      row = positionRow(b, use->get(), axis, context);
    }
    use->set(row);
  }
  for (Value v : seq.rows)
    setRows(v, 1);
  for (auto [layer, attention] : llvm::enumerate(seq.attentions)) {
    b.setInsertionPoint(attention);
    // Grouped-query attention caches the K/V heads, not their repeats.
    auto [key, kvHeads] = unrepeatedHeads(attention.getKey());
    auto [value, valueHeads] = unrepeatedHeads(attention.getValue());
    if (kvHeads != valueHeads)
      key = attention.getKey(), value = attention.getValue(), kvHeads = 0;
    auto cached = CachedAttentionOp::create(
        b, attention.getLoc(), attention.getOutput().getType(),
        attention.getQuery(), key, value,
        /*value_counts=*/Value(), /*token_counts=*/Value(),
        b.getI64IntegerAttr(int64_t(layer)), attention.getNumHeadsAttr(),
        attention.getScaleAttr(), b.getI64IntegerAttr(context),
        kvHeads ? b.getI64IntegerAttr(kvHeads) : IntegerAttr(),
        /*key_bits=*/IntegerAttr(), /*value_bits=*/IntegerAttr(),
        /*pq_msb=*/IntegerAttr(), /*pq_lsb=*/IntegerAttr(),
        /*pq_threshold=*/FloatAttr(), /*pq_values=*/UnitAttr(),
        /*keep_positions=*/DenseI64ArrayAttr(), /*kept_heads=*/IntegerAttr(),
        /*kv_budget=*/DenseI64ArrayAttr());
    attention.getOutput().replaceAllUsesWith(cached.getOutput());
    attention.erase();
  }
  func.setSymName("decode");
  func->setAttr(kEntryAttrName, b.getStringAttr("decode"));
  func->setAttr(kRegistersAttrName, b.getStrArrayAttr({"position"}));
  fixFunctionType(func);
}

/// The ops that only stack an attention's `present` K and V into graph
/// outputs (Megatron's `Concat(Unsqueeze(K), Unsqueeze(V))`) and the
/// results they return; failure when a present value, or
/// a value stacked from one, has another use.
LogicalResult collectPresentOutputs(ArrayRef<AttentionOp> attentions,
                                    Operation *ret,
                                    SetVector<Operation *> &stacking,
                                    llvm::BitVector &outputs) {
  SmallVector<Value> worklist;
  for (AttentionOp op : attentions)
    llvm::append_range(worklist, op.getPresent());
  DenseSet<Value> stacked(worklist.begin(), worklist.end());
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (user == ret) {
        outputs.set(use.getOperandNumber());
        continue;
      }
      if (!llvm::isa<ReshapeOp, ConcatOp>(user))
        return user->emitError("generation: the KV-cache outputs of an "
                               "attention may only be graph outputs, "
                               "possibly reshaped and stacked");
      if (stacking.insert(user))
        worklist.push_back(user->getResult(0));
      stacked.insert(user->getResult(0));
    }
  }
  for (Operation *op : stacking)
    if (!llvm::all_of(op->getOperands(),
                      [&](Value v) { return stacked.contains(v); }))
      return op->emitError("generation: a KV-cache output is stacked with "
                           "another value");
  return success();
}

/// Exports with KV-cache inputs (`past_key_values`, Megatron's stacked
/// `past_0`, imported with an empty past for the prefill) become the plain
/// model: each attention with an empty past loses it and its `present`
/// results, which may only be graph outputs, possibly reshaped and
/// stacked; the binary keeps the cache itself, so the empty inputs and the
/// present outputs are dropped.
LogicalResult dropEmptyKVCache(func::FuncOp func) {
  Operation *ret = func.getBody().front().getTerminator();
  llvm::BitVector deadResults(ret->getNumOperands());
  SmallVector<AttentionOp> withPast;
  func.walk([&](AttentionOp op) {
    if (op.getPastKey() && shapeOf(op.getPastKey())[2] == 0)
      withPast.push_back(op);
  });
  SetVector<Operation *> stacking;
  if (failed(collectPresentOutputs(withPast, ret, stacking, deadResults)))
    return failure();
  for (AttentionOp op : withPast) {
    OpBuilder b(op);
    auto plain = AttentionOp::create(
        b, op.getLoc(), op.getOutput().getType(), TypeRange(), op.getQuery(),
        op.getKey(), op.getValue(), op.getMask(), Value(), Value(),
        op.getNumHeadsAttr(), op.getScaleAttr(), op.getMaskKindAttr(),
        op.getMaskFillAttr());
    op.getOutput().replaceAllUsesWith(plain.getOutput());
    stacking.insert(op);
  }
  ret->eraseOperands(deadResults);
  // Users first: the stacking, the attentions, the empty past's slices.
  SmallVector<Operation *> ops = llvm::map_to_vector(
      func.getBody().front().without_terminator(),
      [](Operation &op) { return &op; });
  for (Operation *op : llvm::reverse(ops))
    if (stacking.contains(op) || isOpTriviallyDead(op))
      op->erase();
  return func.eraseResults(deadResults);
}

/// A generation binary takes the token ids only. Graph inputs the graph no
/// longer reads (an empty past, a causal mask the lift made causal
/// attention) are dropped; one still read is refused, naming it.
LogicalResult dropUnusedInputs(func::FuncOp func) {
  llvm::BitVector dead(func.getNumArguments());
  for (BlockArgument arg : func.getArguments().drop_front()) {
    if (arg.use_empty()) {
      dead.set(arg.getArgNumber());
      continue;
    }
    auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                  "onnx.name");
    Operation *user = *arg.getUsers().begin();
    return user->emitError("generation: graph input '")
           << (name ? name.str() : "#" + std::to_string(arg.getArgNumber()))
           << "' is read by '" << user->getName()
           << "'; a generation binary takes the token ids only (position "
              "ids and a [B, 1, M, M] causal mask used as w*m - c*(1-m) are "
              "bound by the compiler; padding masks and a non-empty KV cache "
              "are not supported)";
  }
  return func.eraseArguments(dead);
}

struct GenerationEntriesPass
    : spatten::impl::SpAttenGenerationEntriesBase<GenerationEntriesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto gen = module->getAttrOfType<DictionaryAttr>(kGenerationAttrName);
    auto context = gen ? gen.getAs<IntegerAttr>("max_context") : nullptr;
    auto prefill = gen ? gen.getAs<IntegerAttr>("prefill_length") : nullptr;
    if (!context || !prefill || prefill.getInt() < 1 ||
        context.getInt() < prefill.getInt()) {
      module.emitError("expected ")
          << kGenerationAttrName
          << " = {max_context = C, prefill_length = L0} with 1 <= L0 <= C";
      return signalPassFailure();
    }
    auto funcs = llvm::to_vector(module.getOps<func::FuncOp>());
    if (funcs.size() != 1) {
      module.emitError("expected one function to split, found ")
          << funcs.size();
      return signalPassFailure();
    }
    if (failed(split(funcs.front(), context.getInt(), prefill.getInt())))
      return signalPassFailure();
  }

  LogicalResult split(func::FuncOp main, int64_t context,
                      int64_t prefillLength) {
    if (failed(dropEmptyKVCache(main)) || failed(dropUnusedInputs(main)))
      return failure();
    OpBuilder b(main);
    b.setInsertionPointAfter(main); // prefill is the first entry point
    auto decode = cast<func::FuncOp>(b.clone(*main));
    SequenceRows prefillRows{context}, decodeRows{context};
    if (failed(prefillRows.analyze(main)) ||
        failed(decodeRows.analyze(decode)) ||
        failed(buildPrefill(main, prefillRows, prefillLength)))
      return failure();
    buildDecode(decode, decodeRows);
    return success();
  }
};
} // namespace

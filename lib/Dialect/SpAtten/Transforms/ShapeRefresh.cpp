//===- ShapeRefresh.cpp - Re-derive result shapes after pruning -----------===//

#include "ShapeRefresh.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;

using Shape = SmallVector<int64_t>;

static Shape shapeOf(Value v) {
  return Shape(cast<RankedTensorType>(v.getType()).getShape());
}

void ShapeRefresher::noteReplaced(Value replacement, ArrayRef<int64_t> old) {
  oldShapes[replacement] = Shape(old);
}

bool ShapeRefresher::readsChanged(Operation *op) const {
  return llvm::any_of(op->getOperands(),
                      [&](Value v) { return oldShapes.count(v); });
}

Shape ShapeRefresher::oldShapeOf(Value v) const {
  auto it = oldShapes.find(v);
  return it != oldShapes.end() ? it->second : shapeOf(v);
}

void ShapeRefresher::setShape(Value result, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(result.getType());
  if (type.getShape() == shape)
    return;
  oldShapes.try_emplace(result, Shape(type.getShape()));
  result.setType(RankedTensorType::get(shape, type.getElementType()));
}

static int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// The one dimension of `oldIn` that became `in`'s, kept whole by the
/// reshape to `out` (the same elements before and after it, as in
/// [1,L,H] <-> [L,1,H] or [L,H] of torch's sequence-first layout at batch
/// 1): `out` with that dimension changed, or nullopt.
static std::optional<Shape> wholeDimension(ArrayRef<int64_t> oldIn,
                                           ArrayRef<int64_t> in, Shape out) {
  if (oldIn.size() != in.size())
    return std::nullopt;
  auto changed = llvm::make_filter_range(
      llvm::seq<size_t>(0, in.size()), [&](size_t i) { return oldIn[i] != in[i]; });
  if (llvm::range_size(changed) != 1)
    return std::nullopt;
  size_t t = *changed.begin();
  int64_t before = product(in.take_front(t)), after = product(in.drop_front(t + 1));
  for (size_t j = 0; j < out.size(); ++j)
    if (product(ArrayRef(out).take_front(j)) == before && out[j] == oldIn[t] &&
        product(ArrayRef(out).drop_front(j + 1)) == after) {
      out[j] = in[t];
      return out;
    }
  return std::nullopt;
}

/// The result shape of a reshape whose input changed from `oldIn` to `in`:
/// only the leading [B, L] rows may change, and both sides must start with
/// the same `[B, L]`, or the changed dimension is kept whole.
static FailureOr<Shape> reshapeResult(ReshapeOp op, ArrayRef<int64_t> oldIn,
                                      ArrayRef<int64_t> in) {
  Shape out = shapeOf(op.getOutput());
  int64_t inElems = 1, outElems = 1;
  for (int64_t d : in)
    inElems *= d;
  for (int64_t d : out)
    outElems *= d;
  if (inElems == outElems)
    return out;
  if (in.size() >= 2 && out.size() >= 2 && in[0] == out[0]) {
    int64_t inRow = inElems / (in[0] * in[1]), outRow = outElems / (out[0] * out[1]);
    if (inRow == outRow) {
      out[1] = in[1];
      return out;
    }
  }
  if (std::optional<Shape> whole = wholeDimension(oldIn, in, out))
    return *whole;
  return op.emitOpError("cannot follow a pruned token dimension through this "
                        "reshape (not implemented)");
}

/// Slices keep their offsets; a dimension taken whole follows its input.
static Shape sliceResult(SliceOp op, ArrayRef<int64_t> oldIn,
                         ArrayRef<int64_t> in) {
  Shape out = shapeOf(op.getOutput());
  for (size_t d = 0; d < out.size(); ++d)
    if (out[d] == oldIn[d] && op.getOffsets()[d] == 0 && op.getStrides()[d] == 1)
      out[d] = in[d];
  return out;
}

LogicalResult ShapeRefresher::refresh(Operation *op) {
  auto sameAsInput = [&](unsigned operand) {
    for (Value r : op->getResults())
      setShape(r, shapeOf(op->getOperand(operand)));
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<LayerNormOp, RmsNormOp, GeluOp, UnaryOp, SoftmaxOp, LogSoftmaxOp,
            CastOp, CumSumOp, LocalValuePruneOp, DequantizeOp,
            RotaryEmbeddingOp>([&](Operation *) { return sameAsInput(0); })
      .Case([&](LinearOp l) {
        Shape s = shapeOf(l.getInput());
        s.back() = shapeOf(l.getOutput()).back();
        setShape(l.getOutput(), s);
        return success();
      })
      .Case([&](BinaryOp b) -> LogicalResult {
        SmallVector<int64_t> s;
        if (!OpTrait::util::getBroadcastedShape(shapeOf(b.getLhs()),
                                                shapeOf(b.getRhs()), s))
          return b.emitOpError("operands no longer broadcast after pruning");
        setShape(b.getOutput(), s);
        return success();
      })
      .Case([&](QuantizeOp q) {
        Shape s = shapeOf(q.getInput());
        setShape(q.getCodes(), s);
        s.back() = 1;
        setShape(q.getScales(), s);
        return success();
      })
      .Case([&](ReshapeOp r) -> LogicalResult {
        FailureOr<Shape> s = reshapeResult(r, oldShapeOf(r.getInput()),
                                           shapeOf(r.getInput()));
        if (failed(s))
          return failure();
        setShape(r.getOutput(), *s);
        return success();
      })
      .Case<AttentionProbsOp, ProgressiveFetchOp>([&](Operation *p) {
        Shape q = shapeOf(p->getOperand(0)), k = shapeOf(p->getOperand(1));
        Shape probs = shapeOf(p->getResult(0));
        setShape(p->getResult(0), {q[0], probs[1], q[1], k[1]});
        return success();
      })
      .Case([&](AttentionOutputOp o) {
        Shape p = shapeOf(o.getProbs()), v = shapeOf(o.getValue());
        setShape(o.getOutput(), {p[0], p[2], v[2]});
        return success();
      })
      .Case([&](TokenImportanceOp t) {
        Shape p = shapeOf(t.getProbs());
        setShape(t.getResult(), {p[0], p[3]});
        return success();
      })
      .Case<HeadImportanceOp, MergeTokensOp, PruneTokensOp, TopkOp,
            RecordKeptTokensOp, func::ReturnOp>(
          [](Operation *) { return success(); })
      .Case([&](ConcatOp c) {
        Shape s = shapeOf(c.getInputs()[0]);
        s[c.getAxis()] = 0;
        for (Value in : c.getInputs())
          s[c.getAxis()] += shapeOf(in)[c.getAxis()];
        setShape(c.getOutput(), s);
        return success();
      })
      .Case([&](SliceOp s) {
        setShape(s.getOutput(), sliceResult(s, oldShapeOf(s.getInput()),
                                            shapeOf(s.getInput())));
        return success();
      })
      .Default([](Operation *o) {
        return o->emitOpError("cannot follow pruned tokens through this op "
                              "(not implemented)");
      });
}

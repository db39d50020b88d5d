//===- LinearPatterns.cpp - Lift linear layers and embeddings -------------===//
//
//   - MatMul(x [...,K], W [K,N]) with W a weight (constant or graph input),
//     or W = Transpose(perm 1,0)(weight [N,K]) (tied decoder), plus a
//     following Add of a bias broadcastable as [N] -> spatten.linear.
//   - Gemm(A, B, C) with B a weight: transA becomes a spatten.transpose,
//     transB the transpose_weight flag, alpha != 1 / beta != 1 / C not [N]
//     become spatten.binary ops. The GPT-2 Conv1D form
//     Reshape(x -> [M,K]) -> Gemm -> Reshape([..., N]) lifts to one linear
//     on x.
//   - A linear on the attention output's rows flattened by a reshape
//     (nn.MultiheadAttention's out-projection Gemm on [Lq*B, H*D]) reads
//     the attention output itself, its result reshaped, as the pruning
//     passes expect of an out-projection.
//   - Gather(table [V,D], ids, axis 0) with a weight table and integer ids
//     given at run time -> spatten.embedding; ids computed from an integer
//     input (RoBERTa's position ids) are rebuilt on the vector unit first
//     (IndexArithmetic.h).
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "IndexArithmetic.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::lift {
namespace {

/// `Add(y, bias)` (either order) after `y`, with a bias broadcastable as
/// [N] that keeps y's shape; the Add is returned and `bias` set.
Operation *matchBiasAdd(Value y, Value &bias) {
  Operation *add = soleUser(y);
  if (!isOnnx(add, "Add") || add->getResult(0).getType() != y.getType())
    return nullptr;
  int64_t n = shapeOf(y).back();
  Value other = add->getOperand(add->getOperand(0) == y ? 1 : 0);
  if (!isF32Tensor(other) || vectorLength(other) != n)
    return nullptr;
  bias = other;
  return add;
}

struct MatMulLinearPattern : RewritePattern {
  MatMulLinearPattern(MLIRContext *ctx)
      : RewritePattern("onnx.MatMul", /*benefit=*/2, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    Value x = op->getOperand(0), w = op->getOperand(1);
    if (!isF32Tensor(x) || !isF32Tensor(w) || shapeOf(w).size() != 2 ||
        shapeOf(x).size() < 2)
      return rw.notifyMatchFailure(op, "not [...,K] x [K,N] in f32");
    bool transposed = false;
    if (Operation *t = defOnnx(w, "Transpose");
        t && getIntsAttr(t, "perm") == SmallVector<int64_t>{1, 0} &&
        isWeight(t->getOperand(0))) {
      w = t->getOperand(0);
      transposed = true;
    } else if (!isWeight(w)) {
      return rw.notifyMatchFailure(op, "B is computed, not a weight");
    }
    Value bias;
    Operation *root = matchBiasAdd(op->getResult(0), bias);
    Location loc = op->getLoc();
    int64_t n = shapeOf(op->getResult(0)).back();
    if (bias)
      bias = reshapeTo(rw, loc, bias, {n});
    else
      root = op;
    rw.replaceOpWithNewOp<LinearOp>(root, op->getResult(0).getType(), x, w,
                                    bias, transposed);
    return success();
  }
};

Value binary(PatternRewriter &rw, Location loc, BinaryFn fn, Value a, Value b,
             Type type) {
  return BinaryOp::create(rw, loc, type, a, b, fn);
}

struct GemmPattern : RewritePattern {
  GemmPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Gemm", /*benefit=*/2, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    Value a = op->getOperand(0), b = op->getOperand(1);
    Value c = op->getNumOperands() > 2 ? op->getOperand(2) : Value();
    if (!isF32Tensor(a) || !isF32Tensor(b) || (c && !isF32Tensor(c)) ||
        shapeOf(a).size() != 2 || shapeOf(b).size() != 2 ||
        shapeOf(op->getResult(0)).size() != 2)
      return rw.notifyMatchFailure(op, "Gemm is not on f32 matrices");
    if (!isWeight(b))
      return rw.notifyMatchFailure(op, "B is computed, not a weight");
    double alpha = getFloatAttr(op, "alpha").value_or(1.0);
    double beta = getFloatAttr(op, "beta").value_or(1.0);
    bool transA = getIntAttr(op, "transA").value_or(0) != 0;
    bool transB = getIntAttr(op, "transB").value_or(0) != 0;
    Location loc = op->getLoc();
    Value y = op->getResult(0);
    int64_t n = shapeOf(y)[1];
    bool plainBias = alpha == 1.0 && (!c || (beta == 1.0 && vectorLength(c) == n));
    Value bias = c && plainBias ? reshapeTo(rw, loc, c, {n}) : Value();

    // GPT-2 Conv1D: Reshape -> Gemm -> Reshape around a [..., K] input.
    Operation *in = defOnnx(a, "Reshape");
    Operation *out = soleUser(y);
    if (!transA && plainBias && in && isOnnx(out, "Reshape")) {
      Value x = in->getOperand(0);
      ArrayRef<int64_t> xs = shapeOf(x), os = shapeOf(out->getResult(0));
      if (!xs.empty() && xs.back() == shapeOf(a)[1] && os.size() == xs.size() &&
          os.back() == n && os.drop_back() == xs.drop_back()) {
        rw.replaceOpWithNewOp<LinearOp>(out, out->getResult(0).getType(), x, b,
                                        bias, transB);
        return success();
      }
    }
    if (transA) {
      ArrayRef<int64_t> s = shapeOf(a);
      a = TransposeOp::create(rw, loc, tensorTypeOf(a).clone({s[1], s[0]}), a,
                              rw.getDenseI64ArrayAttr({1, 0}));
    }
    Value r = LinearOp::create(rw, loc, y.getType(), a, b, bias, transB);
    if (alpha != 1.0)
      r = binary(rw, loc, BinaryFn::mul, r, scalarConst(rw, loc, alpha),
                 y.getType());
    if (c && !plainBias) {
      Value cs = beta == 1.0 ? c
                             : binary(rw, loc, BinaryFn::mul, c,
                                      scalarConst(rw, loc, beta), c.getType());
      r = binary(rw, loc, BinaryFn::add, r, cs, y.getType());
    }
    rw.replaceOp(op, r);
    return success();
  }
};

struct EmbeddingPattern : RewritePattern {
  EmbeddingPattern(MLIRContext *ctx)
      : RewritePattern("onnx.Gather", /*benefit=*/2, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    if (!isTableLookup(op))
      return rw.notifyMatchFailure(op, "not a table lookup by run-time ids");
    Value table = op->getOperand(0), ids = op->getOperand(1);
    std::string why;
    FailureOr<Value> lookup =
        liftIndexArithmetic(rw, op->getLoc(), ids, shapeOf(table)[0], why);
    if (failed(lookup))
      return rw.notifyMatchFailure(op, why);
    rw.replaceOpWithNewOp<EmbeddingOp>(op, op->getResult(0).getType(), *lookup,
                                       table);
    return success();
  }
};

} // namespace

struct AttentionRowsLinearPattern : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rw) const override {
    auto rows = op.getInput().getDefiningOp<ReshapeOp>();
    Value x = rows ? rows.getInput() : Value();
    if (!x || !x.getDefiningOp<AttentionOp>() ||
        shapeOf(x).back() != shapeOf(rows.getOutput()).back())
      return rw.notifyMatchFailure(op, "not the rows of an attention output");
    SmallVector<int64_t> shape(shapeOf(x));
    shape.back() = shapeOf(op.getOutput()).back();
    Value lin = LinearOp::create(rw, op.getLoc(), tensorTypeOf(x).clone(shape),
                                 x, op.getWeight(), op.getBias(),
                                 op.getTransposeWeight());
    rw.replaceOp(op, reshapeTo(rw, op.getLoc(), lin, shapeOf(op.getOutput())));
    return success();
  }
};

void populateLinearPatterns(RewritePatternSet &patterns) {
  patterns.add<MatMulLinearPattern, GemmPattern, EmbeddingPattern,
               AttentionRowsLinearPattern>(
      patterns.getContext());
}

} // namespace spatten::lift

//===- ConvPatterns.cpp - Lift patch-embedding convolutions ---------------===//
//
// A ViT patch embedding (Dosovitskiy et al. 2021, Hugging Face
// `ViTPatchEmbeddings`) is a 2-D Conv whose stride equals its kernel, with
// no padding, dilation or groups: every output pixel reads one disjoint
// patch, so the Conv is a linear layer over the flattened patches:
//
//   X [N, C, H, W] -> reshape [N, C, Ph, kh, Pw, kw]
//     -> transpose [N, Ph, Pw, C, kh, kw] -> reshape [N, Ph*Pw, C*kh*kw]
//     -> spatten.linear with W [M, C*kh*kw] (transposed) and B [M]
//     -> transpose [N, M, Ph*Pw] -> reshape Y [N, M, Ph, Pw]
//
// (Ph = H / kh, Pw = W / kw). When the Conv is followed only by ViT's
// `flatten(2).transpose(1, 2)` (Reshape to [N, M, Ph*Pw], Transpose 0,2,1),
// that Transpose reads the linear's rows directly and the last two steps
// are not emitted. Any other Conv is refused; explainUnliftedConv names the
// attribute that differs.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/Support/raw_ostream.h"

namespace spatten::lift {
namespace {

std::string formatInts(ArrayRef<int64_t> v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleaveComma(v, os);
  os << "]";
  return s;
}

bool allEqual(std::optional<ArrayRef<int64_t>> v, int64_t x) {
  return !v || llvm::all_of(*v, [&](int64_t e) { return e == x; });
}

/// Why `conv` is not a patch embedding, or "" when it is.
std::string whyNotPatchEmbedding(onnx::ConvOp conv) {
  Value x = conv.getX(), w = conv.getW(), b = conv.getB();
  if (!isF32Tensor(x) || !isF32Tensor(w) || shapeOf(x).size() != 4 ||
      shapeOf(w).size() != 4)
    return "is not a 2-D convolution of f32 tensors ([N, C, H, W] by "
           "[M, C, kh, kw])";
  if (!isWeight(w))
    return "has a computed weight W (not a constant or graph input)";
  ArrayRef<int64_t> ws = shapeOf(w), xs = shapeOf(x);
  if (b && (!isF32Tensor(b) || vectorLength(b) != ws[0]))
    return "has a bias B that is not an f32 [M] vector";
  if (conv.getGroup() != 1)
    return "has group " + std::to_string(conv.getGroup()) +
           " (only group 1 is supported)";
  StringRef autoPad = conv.getAutoPad();
  if (autoPad != "NOTSET" && autoPad != "VALID")
    return ("has auto_pad " + autoPad + " (only NOTSET or VALID: no padding)")
        .str();
  if (!allEqual(conv.getPads(), 0))
    return "has pads " + formatInts(*conv.getPads()) + " (only zero padding)";
  if (!allEqual(conv.getDilations(), 1))
    return "has dilations " + formatInts(*conv.getDilations()) +
           " (only 1)";
  ArrayRef<int64_t> kernel = ws.drop_front(2);
  if (auto k = conv.getKernelShape(); k && *k != kernel)
    return "has kernel_shape " + formatInts(*k) + " that differs from W's " +
           formatInts(kernel);
  SmallVector<int64_t> strides(kernel.size(), 1); // ONNX's default
  if (auto s = conv.getStrides())
    strides.assign(s->begin(), s->end());
  if (ArrayRef<int64_t>(strides) != kernel)
    return "has strides " + formatInts(strides) + " that differ from the " +
           "kernel " + formatInts(kernel) +
           " (only non-overlapping patches: stride = kernel)";
  if (xs[2] % kernel[0] || xs[3] % kernel[1])
    return "has an input of spatial size " + formatInts(xs.drop_front(2)) +
           " that is not a multiple of the kernel " + formatInts(kernel);
  if (xs[1] != ws[1])
    return "has X with " + std::to_string(xs[1]) + " channels but W with " +
           std::to_string(ws[1]);
  SmallVector<int64_t> patchGrid{xs[0], ws[0], xs[2] / kernel[0],
                                 xs[3] / kernel[1]};
  if (shapeOf(conv.getY()) != ArrayRef<int64_t>(patchGrid))
    return "has the result shape " + formatInts(shapeOf(conv.getY())) +
           " where " + formatInts(patchGrid) + " was expected";
  return "";
}

Value transpose(PatternRewriter &rw, Location loc, Value v,
                ArrayRef<int64_t> perm) {
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(shapeOf(v)[p]);
  return TransposeOp::create(rw, loc, tensorTypeOf(v).clone(shape), v,
                             rw.getDenseI64ArrayAttr(perm));
}

struct PatchEmbeddingPattern : OpRewritePattern<onnx::ConvOp> {
  PatchEmbeddingPattern(MLIRContext *ctx)
      : OpRewritePattern(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(onnx::ConvOp conv,
                                PatternRewriter &rw) const override {
    if (std::string why = whyNotPatchEmbedding(conv); !why.empty())
      return rw.notifyMatchFailure(conv, why);
    Location loc = conv.getLoc();
    ArrayRef<int64_t> xs = shapeOf(conv.getX()), ws = shapeOf(conv.getW());
    int64_t n = xs[0], c = xs[1], m = ws[0], kh = ws[2], kw = ws[3];
    int64_t ph = xs[2] / kh, pw = xs[3] / kw, k = c * kh * kw;
    Value x = reshapeTo(rw, loc, conv.getX(), {n, c, ph, kh, pw, kw});
    x = transpose(rw, loc, x, {0, 2, 4, 1, 3, 5});
    x = reshapeTo(rw, loc, x, {n, ph * pw, k});
    Value weight = reshapeTo(rw, loc, conv.getW(), {m, k});
    Value bias = conv.getB() ? reshapeTo(rw, loc, conv.getB(), {m}) : Value();
    auto rowsType = tensorTypeOf(x).clone({n, ph * pw, m});
    Value y = LinearOp::create(rw, loc, rowsType, x, weight, bias,
                               /*transpose_weight=*/true);
    if (Operation *rows = patchRowsUser(conv)) {
      Operation *flat = soleUser(conv.getY());
      rw.replaceOp(rows, y);
      rw.eraseOp(flat);
      rw.eraseOp(conv);
      return success();
    }
    y = transpose(rw, loc, y, {0, 2, 1});
    rw.replaceOp(conv, reshapeTo(rw, loc, y, {n, m, ph, pw}));
    return success();
  }

  /// The Transpose of `flatten(2).transpose(1, 2)` when it is the Conv's
  /// only consumer (through its Reshape to [N, M, Ph*Pw]), else null.
  static Operation *patchRowsUser(onnx::ConvOp conv) {
    ArrayRef<int64_t> ys = shapeOf(conv.getY());
    Operation *flat = soleUser(conv.getY());
    if (!isOnnx(flat, "Reshape") ||
        shapeOf(flat->getResult(0)) !=
            ArrayRef<int64_t>{ys[0], ys[1], ys[2] * ys[3]})
      return nullptr;
    Operation *t = soleUser(flat->getResult(0));
    return isOnnx(t, "Transpose") &&
                   getIntsAttr(t, "perm") == SmallVector<int64_t>{0, 2, 1}
               ? t
               : nullptr;
  }
};

} // namespace

std::string explainUnliftedConv(Operation *op) {
  auto conv = dyn_cast<onnx::ConvOp>(op);
  return conv ? whyNotPatchEmbedding(conv) : "";
}

void populateConvPatterns(RewritePatternSet &patterns) {
  patterns.add<PatchEmbeddingPattern>(patterns.getContext());
}

} // namespace spatten::lift

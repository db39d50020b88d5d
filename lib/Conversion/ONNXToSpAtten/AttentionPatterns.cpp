//===- AttentionPatterns.cpp - Lift multi-head attention subgraphs --------===//
//
// Rooted at `onnx.Softmax`, the pattern walks backwards to Q·K^T and
// forwards to ·V and the head merge. The heads are read by what the
// Reshape/Transpose chains compute (HeadLayout.h), so these are one match:
//
//   Hugging Face BERT, GPT-2:  Qh = Transpose(0,2,1,3)(Reshape(q -> [B,L,H,D]))
//                              Kt = Transpose(0,2,3,1)(Reshape(k))
//   Megatron:                  Kt = Transpose(0,1,3,2)(Kh)
//   torch MultiheadAttention:  Qh = Transpose(1,0,2)(Reshape(q -> [L,B*H,D]))
//                              Kt = Transpose(1,2,0)(Reshape(k)), 3-D MatMuls
//   GPT-2 with a past:         Kt = Concat(axis -1)(Transpose(0,1,3,2)(past_k), Kt_new)
//                              Kh = Concat(axis -2)(past_k, Kh_new)
//   s  = MatMul(Qh, Kt), with scalar Mul/Div on the Q or K chain or s (the scale)
//   s  = s + mask                     mask [B,1,1|Lq,Lk]: padding bias
//      | s + kpm                      [B,Lk] broadcast over heads and queries
//                                     (float, or Where(bool(ints), -inf, 0))
//      | s + f(ints)                  f of two values over an integer [B,Lk]
//      | Where(c(ints), fill, s)      (KeyMask.h: HF >= 4.36, DistilBERT)
//      | s * m - c * (1 - m)          m [B,1,Lq,Lk] at run time: selector
//      | Where(tril, s, c<=-1e4)      constant lower-triangular: causal
//      | s * tril - 1e4 * (1 - tril)  (folded to constants): causal
//      | s + A, A constant 0 / <=-1e4 lower-triangular: causal
//   out = merge(MatMul(Softmax(s, axis=-1), Vh)), merge a Reshape/Transpose
//         chain back to [B,Lq,H*D] or [Lq,B,H*D] rows
//
// and emits one spatten.attention on the [B,L,H*D] projections. A KV cache
// (Concat of a past tensor with the new heads) becomes past_key/past_value,
// and the uses of the concatenated K/V (the `present` output) are rewired to
// present_key/present_value. A causal constant must be exactly
// lower-triangular with offset P = Lk - Lq, or the pattern does not match.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "HeadLayout.h"
#include "KeyMask.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

#include <sstream>

namespace spatten::lift {
namespace {

bool hasPerm(Operation *op, ArrayRef<int64_t> perm) {
  std::optional<SmallVector<int64_t>> p = getIntsAttr(op, "perm");
  return p && ArrayRef<int64_t>(*p) == perm;
}

/// Concat axis, normalised to be non-negative.
std::optional<int64_t> concatAxis(Operation *op) {
  std::optional<int64_t> axis = getIntAttr(op, "axis");
  if (!axis)
    return std::nullopt;
  int64_t rank = shapeOf(op->getResult(0)).size();
  return *axis < 0 ? *axis + rank : *axis;
}

/// Keys or values: the new heads, and with a KV cache the past tensor and
/// the Concat whose other uses form the `present` output.
struct CachedHeads {
  Heads heads;
  Value past;          // [B,H,P,D], or [B,H,D,P] when `transposed`
  Operation *cat = nullptr;
  bool transposed = false;
};

/// The new heads after a past in `Concat(past, new)` along `axis` (the
/// [B,H,L,D] sequence axis 2, or axis 3 of K^T [B,H,D,L]).
std::optional<CachedHeads> matchCached(Operation *cat, int64_t axis) {
  if (cat->getNumOperands() != 2 || concatAxis(cat) != axis)
    return std::nullopt;
  bool keyT = axis == 3;
  std::optional<Heads> h = matchHeadsLayout(cat->getOperand(1), keyT, nullptr);
  if (!h || shapeOf(cat->getOperand(1)).size() != 4)
    return std::nullopt;
  return CachedHeads{*h, cat->getOperand(0), cat, keyT};
}

/// Vh or Kh ([B,H,L,D] or [B*H,L,D]), optionally concatenated after a
/// past; with `scale`, scalar Mul/Div on the way fold into it.
std::optional<CachedHeads> matchBHLD(Value v, double *scale) {
  if (Operation *cat = defOnnx(v, "Concat"))
    return matchCached(cat, 2);
  if (std::optional<Heads> h = matchHeadsLayout(v, false, scale))
    return CachedHeads{*h};
  return std::nullopt;
}

/// K^T ([B,H,D,Lk] or [B*H,D,Lk]; see the file comment for the cached forms).
std::optional<CachedHeads> matchKeyT(Value kt, double &scale) {
  kt = peelScale(kt, scale);
  if (Operation *cat = defOnnx(kt, "Concat"))
    return matchCached(cat, 3);
  if (Operation *t = defOnnx(kt, "Transpose"); t && hasPerm(t, {0, 1, 3, 2})) {
    double inner = scale;
    if (Operation *cat = defOnnx(peelScale(t->getOperand(0), inner), "Concat")) {
      scale = inner;
      return matchCached(cat, 2);
    }
  }
  if (std::optional<Heads> h = matchHeadsLayout(kt, true, &scale))
    return CachedHeads{*h};
  return std::nullopt;
}

/// Checks a constant `[..,Lq,Lk]` against the causal rule "query i sees
/// key j iff j <= i + Lk - Lq"; `ok(value, visible)` judges each element.
/// Leading dims are 1, or copies of one matrix (Hugging Face BART's mask
/// expanded over the batch and folded).
bool isCausalConst(Value c, int64_t lq, int64_t lk,
                   function_ref<bool(double, bool)> ok) {
  ElementsAttr attr = getConstAttr(c);
  if (!attr)
    return false;
  ArrayRef<int64_t> s = cast<ShapedType>(attr.getType()).getShape();
  if (s.size() < 2 || s[s.size() - 2] != lq || s.back() != lk)
    return false;
  std::optional<SmallVector<double>> vals = readValues(attr);
  if (!vals)
    return false;
  for (size_t at = 0; at < vals->size(); at += lq * lk)
    for (int64_t i = 0; i < lq; ++i)
      for (int64_t j = 0; j < lk; ++j)
        if (!ok((*vals)[at + i * lk + j], j <= i + lk - lq))
          return false;
  return true;
}

constexpr double kMaskedBias = -1e4 * 0.999;

/// An additive causal constant's element: 0 where the key is visible, at
/// most -1e4 where it is masked.
bool isCausalBias(double v, bool visible) {
  return visible ? v == 0 : v <= kMaskedBias;
}

/// The chain between MatMul(Qh, Kt) and Softmax.
struct Scores {
  Value q, kt;
  ArrayRef<std::string> causalInputs; // graph inputs asserted causal
  double scale = 1;
  Value padding; // [B|1, 1, 1|Lq, Lk]: additive bias, or selector with fill
  std::optional<double> maskFill; // set: `padding` is a 0/1 selector
  // torch's key padding mask [B, Lk] broadcast over heads and queries: an
  // additive bias, or with `keyPaddingFlags` integers (nonzero: padding).
  Value keyPadding;
  bool keyPaddingFlags = false;
  bool causal = false;
  // T5's position bias: a constant [B|1, H, Lq, Lk] added to the scores.
  Value scoreBias;
  // A mask over keys read from an integer tensor: additive, or with
  // `maskFill` a 0/1 selector.
  std::optional<KeyMask> keyMask;

  bool hasPadding() const {
    return padding || keyPadding || scoreBias || keyMask;
  }
};

bool isPaddingBias(Value m, ArrayRef<int64_t> scores) {
  auto t = tensorTypeOf(m);
  if (!t || !t.getElementType().isF32() || t.getRank() != 4 ||
      scores.size() != 4)
    return false;
  ArrayRef<int64_t> s = t.getShape();
  return (s[0] == scores[0] || s[0] == 1) && s[1] == 1 &&
         (s[2] == 1 || s[2] == scores[2]) && s[3] == scores[3];
}

FailureOr<Scores> parseScores(Value s, Scores acc, ArrayRef<int64_t> shape);

/// `a` and `b` are the same scores as [B*H,Lq,Lk] and [B,H,Lq,Lk], in
/// either order.
bool isHeadsView(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  if (a.size() == 4)
    std::swap(a, b);
  return a.size() == 3 && b.size() == 4 && a.take_back(2) == b.take_back(2) &&
         a[0] == b[0] * b[1];
}

/// `m` is the [.., P:P+Lq, 0:Lk] window (P = Lk - Lq) of a [B,1,M,M] graph
/// input that the caller asserted (assume-causal-inputs) to hold a
/// lower-triangular 0/1 mask, taken by unit-step Slices: then `m` is the
/// causal mask of this step.
bool isAssertedCausal(Value m, int64_t lq, int64_t lk,
                      ArrayRef<std::string> names) {
  SmallVector<int64_t> offsets(4, 0);
  Value v = skipNoOps(m);
  while (Operation *slice = defOnnx(v, "Slice")) {
    Value data = slice->getOperand(0);
    ArrayRef<int64_t> dims = shapeOf(data);
    std::optional<SmallVector<int64_t>> starts =
        getConstInts(slice->getOperand(1));
    Value axesIn = getOnnxInput(slice, 3), stepsIn = getOnnxInput(slice, 4);
    std::optional<SmallVector<int64_t>> axes =
        axesIn ? getConstInts(axesIn) : std::nullopt;
    std::optional<SmallVector<int64_t>> steps =
        stepsIn ? getConstInts(stepsIn) : std::nullopt;
    if (!starts || dims.size() != 4 || (axesIn && !axes) ||
        (stepsIn && (!steps || llvm::any_of(*steps, [](int64_t x) {
                       return x != 1;
                     }))))
      return false;
    for (auto [i, start] : llvm::enumerate(*starts)) {
      int64_t axis = axes ? (*axes)[i] : int64_t(i);
      axis = axis < 0 ? axis + 4 : axis;
      if (axis < 0 || axis >= 4)
        return false;
      int64_t st = start < 0 ? start + dims[axis] : start;
      offsets[axis] += std::clamp<int64_t>(st, 0, dims[axis]);
    }
    v = skipNoOps(data);
  }
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || !llvm::is_contained(names, argName(arg)))
    return false;
  ArrayRef<int64_t> in = shapeOf(arg), out = shapeOf(m);
  return in.size() == 4 && out.size() == 4 && in[0] == out[0] &&
         in[1] == 1 && out[1] == 1 && in[2] == in[3] && offsets[0] == 0 &&
         offsets[1] == 0 && offsets[2] == lk - lq && offsets[3] == 0;
}

/// c of `Mul(Sub(1, m), c)` with c >= 1e4, in either operand order.
std::optional<double> maskedOffset(Value c, Value m) {
  Operation *mul = defOnnx(c, "Mul");
  if (!mul)
    return std::nullopt;
  for (int j : {0, 1}) {
    std::optional<double> k = getScalarConst(mul->getOperand(j));
    Operation *sub = defOnnx(mul->getOperand(1 - j), "Sub");
    if (k && *k >= -kMaskedBias && sub &&
        getScalarConst(sub->getOperand(0)) == 1.0 &&
        skipNoOps(sub->getOperand(1)) == skipNoOps(m))
      return k;
  }
  return std::nullopt;
}

/// `Sub(Mul(s, m), C)` with C = c * (1 - m): GPT-2 1.4 causal mask (m a
/// folded lower-triangular constant), Megatron's run-time m asserted causal
/// (assume-causal-inputs), or any other run-time m as a selector mask.
FailureOr<Scores> parseMulSubMask(Operation *sub, Scores acc,
                                  ArrayRef<int64_t> shape) {
  int64_t lq = shape[shape.size() - 2], lk = shape.back();
  Operation *mul = defOnnx(sub->getOperand(0), "Mul");
  if (!mul || acc.causal)
    return failure();
  Value offset = sub->getOperand(1);
  bool constOffset = isCausalConst(offset, lq, lk, [](double v, bool keep) {
    return keep ? v == 0 : v >= -kMaskedBias;
  });
  for (int i : {0, 1}) {
    Value w = mul->getOperand(i), m = mul->getOperand(1 - i);
    if (w.getType() != sub->getResult(0).getType())
      continue;
    if (constOffset) {
      if (!isCausalConst(m, lq, lk, [](double v, bool keep) {
            return v == (keep ? 1.0 : 0.0);
          }))
        continue;
      acc.causal = true;
      return parseScores(w, acc, shape);
    }
    std::optional<double> c = maskedOffset(offset, m);
    if (!c)
      continue;
    Scores next = acc;
    if (isAssertedCausal(m, lq, lk, acc.causalInputs)) {
      next.causal = true;
    } else if (!acc.hasPadding() && isPaddingBias(m, shape)) {
      next.padding = m;
      next.maskFill = -*c;
    } else {
      continue;
    }
    return parseScores(w, next, shape);
  }
  return failure();
}

/// torch.nn.MultiheadAttention's key padding mask `m` (times 1, baddbmm's
/// beta): a float bias, or `Where(flags, fill <= -1e4, 0)` with flags =
/// Cast(to bool)(integer tensor), broadcast over heads and queries.
bool matchKeyPadding(Value m, ArrayRef<int64_t> shape, Scores &acc) {
  double one = 1;
  m = peelScale(m, one);
  if (one != 1)
    return false;
  Operation *where = defOnnx(m, "Where");
  if (!where) {
    acc.keyPadding = isF32Tensor(m) ? matchKeyPaddingLayout(m, shape) : Value();
    return bool(acc.keyPadding);
  }
  std::optional<double> fill = getScalarConst(where->getOperand(1));
  if (!fill || *fill > kMaskedBias ||
      getScalarConst(where->getOperand(2)) != 0.0)
    return false;
  Value flags = matchKeyPaddingLayout(where->getOperand(0), shape);
  Operation *cast = flags ? defOnnx(flags, "Cast") : nullptr;
  auto ints = cast ? tensorTypeOf(cast->getOperand(0)) : RankedTensorType();
  if (!ints || !(ints.getElementType().isInteger(64) ||
                 ints.getElementType().isInteger(32)))
    return false;
  acc.keyPadding = cast->getOperand(0);
  acc.keyPaddingFlags = true;
  return true;
}

/// A constant of zeros (T5's cross-attention bias without a mask).
bool isZeroConst(Value m) {
  ElementsAttr attr = getConstAttr(m);
  std::optional<SmallVector<double>> vals =
      attr ? readValues(attr) : std::nullopt;
  return vals && llvm::all_of(*vals, [](double v) { return v == 0; });
}

/// A constant per-head score bias [B|1, H, Lq, Lk] (T5's relative position
/// bias, with the mask added in).
bool isScoreBias(Value m, ArrayRef<int64_t> scores) {
  auto t = tensorTypeOf(m);
  if (!t || !t.getElementType().isF32() || t.getRank() != 4 ||
      scores.size() != 4 || !getConstAttr(m))
    return false;
  ArrayRef<int64_t> s = t.getShape();
  return (s[0] == scores[0] || s[0] == 1) && s[1] == scores[1] &&
         s[2] == scores[2] && s[3] == scores[3];
}

/// `Where(c, fill, C)` or `Where(c, C, fill)` with fill <= -1e4, c a
/// condition on an integer [B, Lk] (KeyMask.h) that selects the fill for
/// padded keys, and C a causal constant: transformers >= 4.36's
/// `causal_4d_mask.masked_fill(expanded_mask.bool(), finfo.min)` (LLaMA
/// with an attention_mask). Sets the causal flag and the keys' bias.
bool matchCausalKeyMask(Value m, ArrayRef<int64_t> shape, Scores &acc) {
  Operation *where = defOnnx(m, "Where");
  if (!where || acc.causal || acc.hasPadding())
    return false;
  int64_t lq = shape[shape.size() - 2], lk = shape.back();
  std::optional<FilledKeys> f =
      matchFilledKeys(where, shape, kMaskedBias, [&](Value causal) {
        return isCausalConst(causal, lq, lk, isCausalBias);
      });
  if (!f)
    return false;
  f->padded.equal *= f->fill;
  f->padded.other *= f->fill;
  acc.keyMask = f->padded;
  acc.causal = true;
  return true;
}

/// `Add(s, mask)` in either operand order: a padding bias (HF's
/// [B,1,1,Lk] or torch's key padding mask), an additive causal constant, a
/// per-head score bias or zeros.
FailureOr<Scores> parseAddMask(Operation *add, Scores acc,
                               ArrayRef<int64_t> shape) {
  for (int i : {0, 1}) {
    Value w = add->getOperand(i), m = add->getOperand(1 - i);
    if (w.getType() != add->getResult(0).getType())
      continue;
    Scores next = acc;
    bool padded = next.hasPadding();
    std::optional<KeyMask> keyMask;
    if (isZeroConst(m)) {
      // Adds nothing (T5's cross-attention bias).
    } else if (!next.causal && isCausalConst(m, shape[shape.size() - 2],
                                             shape.back(), isCausalBias)) {
      next.causal = true;
    } else if (matchCausalKeyMask(m, shape, next)) {
      // causal and the keys' bias
    } else if (!padded && (keyMask = matchKeyMask(m, shape))) {
      next.keyMask = keyMask;
    } else if (!padded && isPaddingBias(m, shape)) {
      next.padding = m;
    } else if (!padded && isScoreBias(m, shape)) {
      next.scoreBias = m;
    } else if (padded || !matchKeyPadding(m, shape, next)) {
      continue;
    }
    if (FailureOr<Scores> r = parseScores(w, next, shape); succeeded(r))
      return r;
  }
  return failure();
}

/// `Where(c, fill, s)` or `Where(c, s, fill)` with fill <= -1e4 and c a
/// condition on an integer [B, Lk] (KeyMask.h): DistilBERT's
/// `scores.masked_fill(mask == 0, finfo.min)`. The kept keys become a 0/1
/// selector with `mask_fill` = fill, which is what Where computes.
FailureOr<Scores> parseKeySelect(Operation *where, Scores acc,
                                 ArrayRef<int64_t> shape) {
  Type scores = where->getResult(0).getType();
  std::optional<FilledKeys> f =
      matchFilledKeys(where, shape, kMaskedBias,
                      [&](Value y) { return y.getType() == scores; });
  if (!f)
    return failure();
  // The selector keeps the keys the fill leaves alone.
  std::swap(f->padded.equal, f->padded.other);
  acc.keyMask = f->padded;
  acc.maskFill = f->fill;
  return parseScores(f->y, acc, shape);
}

FailureOr<Scores> parseScores(Value s, Scores acc, ArrayRef<int64_t> shape) {
  s = skipNoOps(s);
  Operation *op = s.getDefiningOp();
  if (!op)
    return failure();
  if (isOnnx(op, "MatMul")) {
    acc.q = op->getOperand(0);
    acc.kt = op->getOperand(1);
    return acc;
  }
  if (isOnnx(op, "Mul") || isOnnx(op, "Div")) {
    double scale = acc.scale;
    Value inner = peelScale(s, scale);
    if (inner != s) {
      acc.scale = scale;
      return parseScores(inner, acc, shape);
    }
  }
  if (isOnnx(op, "Where") && !acc.causal) {
    std::optional<double> fill = getScalarConst(op->getOperand(2));
    if (fill && *fill <= kMaskedBias &&
        isCausalConst(op->getOperand(0), shape[shape.size() - 2], shape.back(),
                      [](double v, bool keep) { return (v != 0) == keep; })) {
      acc.causal = true;
      return parseScores(op->getOperand(1), acc, shape);
    }
  }
  if (isOnnx(op, "Where") && !acc.hasPadding())
    if (FailureOr<Scores> r = parseKeySelect(op, acc, shape); succeeded(r))
      return r;
  // BART adds its mask to the 3-D bmm's scores viewed as [B,H,Lq,Lk] and
  // views the sum back as [B*H,Lq,Lk] for Softmax: read through the view.
  if (isOnnx(op, "Reshape") && isHeadsView(shapeOf(op->getOperand(0)), shape))
    return parseScores(op->getOperand(0), acc, shapeOf(op->getOperand(0)));
  if (isOnnx(op, "Sub"))
    return parseMulSubMask(op, acc, shape);
  if (isOnnx(op, "Add"))
    return parseAddMask(op, acc, shape);
  return failure();
}

struct Match {
  Scores scores;
  CachedHeads q, k, v;
  Operation *pv = nullptr, *merge = nullptr;
  bool seqMajorOut = false; // the merge reads the output as [Lq, B, H*D]
};

/// Falcon's multi-query attention: the one K or V head [B, 1, L, D] that
/// the 4-D MatMul broadcasts over the H query heads reads as a group of H.
void broadcastOverQueryHeads(CachedHeads &kv, const Heads &q) {
  Heads &h = kv.heads;
  if (!kv.cat && h.h == 1 && h.group == 1 && !h.seqMajor && q.h > 1)
    h.h = h.group = q.h;
}

bool sameHeads(const Heads &a, const Heads &b) {
  return a.b == b.b && a.h == b.h && a.d == b.d;
}

LogicalResult checkShapes(const Match &m, ArrayRef<int64_t> scores) {
  const Heads &q = m.q.heads, &k = m.k.heads, &v = m.v.heads;
  if (!sameHeads(q, k) || !sameHeads(q, v) || k.l != v.l)
    return failure();
  int64_t past = 0;
  if (m.k.cat || m.v.cat) {
    if (!m.k.cat || !m.v.cat)
      return failure();
    ArrayRef<int64_t> pk = shapeOf(m.k.past), pv = shapeOf(m.v.past);
    SmallVector<int64_t> want{q.b, q.h, pv.size() == 4 ? pv[2] : -1, q.d};
    SmallVector<int64_t> wantT{q.b, q.h, q.d, want[2]};
    if (pv != ArrayRef(want) || pk != ArrayRef(m.k.transposed ? wantT : want))
      return failure();
    past = want[2];
  }
  if (scores.size() == 3 ? (past || scores != ArrayRef<int64_t>{
                                                q.b * q.h, q.l, k.l})
                         : scores != ArrayRef<int64_t>{q.b, q.h, q.l,
                                                       past + k.l})
    return failure();
  if ((m.scores.padding && shapeOf(m.scores.padding)[0] != q.b) ||
      (m.scores.scoreBias && shapeOf(m.scores.scoreBias)[0] != q.b))
    return failure(); // a [1,1,1,Lk] bias with B > 1 needs a broadcast
  if (m.scores.keyPadding &&
      tensorTypeOf(m.scores.keyPadding).getNumElements() != q.b * k.l)
    return failure();
  return success();
}

struct AttentionPattern : RewritePattern {
  AttentionPattern(MLIRContext *ctx, ArrayRef<std::string> causalInputs)
      : RewritePattern("onnx.Softmax", /*benefit=*/10, ctx),
        causalInputs(causalInputs) {}

  SmallVector<std::string> causalInputs;

  LogicalResult matchAndRewrite(Operation *softmax,
                                PatternRewriter &rw) const override {
    FailureOr<Match> m = match(softmax);
    if (failed(m))
      return rw.notifyMatchFailure(softmax, "not a recognised attention");
    rewrite(*m, softmax, rw);
    return success();
  }

  FailureOr<Match> match(Operation *softmax) const {
    Value in = softmax->getOperand(0);
    ArrayRef<int64_t> shape = shapeOf(in);
    std::optional<int64_t> axis = getIntAttr(softmax, "axis");
    int64_t rank = shape.size();
    if ((rank != 3 && rank != 4) || !isF32Tensor(in) ||
        !(axis == -1 || axis == rank - 1))
      return failure();
    Match m;
    Scores init;
    init.causalInputs = causalInputs;
    FailureOr<Scores> s = parseScores(in, init, shape);
    if (failed(s))
      return failure();
    m.scores = *s;
    std::optional<Heads> q =
        matchHeadsLayout(m.scores.q, false, &m.scores.scale);
    std::optional<CachedHeads> k = matchKeyT(m.scores.kt, m.scores.scale);
    if (!q || !k)
      return failure();
    m.q = CachedHeads{*q};
    m.k = *k;
    Value probs = forwardNoOps(softmax->getResult(0));
    m.pv = soleUser(probs);
    if (!isOnnx(m.pv, "MatMul") || m.pv->getOperand(0) != probs)
      return failure();
    std::optional<CachedHeads> v = matchBHLD(m.pv->getOperand(1), nullptr);
    if (!v)
      return failure();
    m.merge = matchHeadMerge(m.pv, q->b, q->h, m.seqMajorOut);
    if (!m.merge)
      return failure();
    m.v = *v;
    if (rank == 4) {
      broadcastOverQueryHeads(m.k, *q);
      broadcastOverQueryHeads(m.v, *q);
    }
    if (failed(checkShapes(m, shape)))
      return failure();
    return m;
  }

  void rewrite(const Match &m, Operation *softmax, PatternRewriter &rw) const {
    const Heads &q = m.q.heads;
    int64_t b = q.b, h = q.h, d = q.d, lk = m.k.heads.l;
    Location loc = rw.getFusedLoc({softmax->getLoc(), m.pv->getLoc()});
    rw.setInsertionPoint(m.merge);
    auto flat = [&](const Heads &x) { return flatProjection(rw, loc, x); };
    Value qv = flat(q), kv = flat(m.k.heads), vv = flat(m.v.heads);
    Value pastK = m.k.past, pastV = m.v.past;
    if (pastK && m.k.transposed) {
      Operation *t = defOnnx(pastK, "Transpose");
      pastK = t && hasPerm(t, {0, 1, 3, 2})
                  ? t->getOperand(0)
                  : untranspose(rw, loc, pastK);
    }
    int64_t past = pastV ? shapeOf(pastV)[2] : 0;
    Value mask = keyPaddingBias(rw, loc, m.scores, b, past + lk);
    if (m.scores.padding) {
      bool perQuery = shapeOf(m.scores.padding)[2] != 1;
      mask = perQuery
                 ? reshapeTo(rw, loc, m.scores.padding, {b, q.l, past + lk})
                 : reshapeTo(rw, loc, m.scores.padding, {b, past + lk});
    }
    if (m.scores.scoreBias)
      mask = m.scores.scoreBias;
    if (m.scores.keyMask)
      mask = buildKeyMask(rw, loc, *m.scores.keyMask, b, past + lk);
    MaskKind kind = mask
                        ? (m.scores.causal ? MaskKind::padding_causal
                                           : MaskKind::padding)
                        : (m.scores.causal ? MaskKind::causal : MaskKind::none);
    auto f32 = rw.getF32Type();
    Type outType = RankedTensorType::get({b, q.l, h * d}, f32);
    SmallVector<Type> presentTypes;
    if (pastV)
      presentTypes.assign(2, RankedTensorType::get({b, h, past + lk, d}, f32));
    auto attn = AttentionOp::create(
        rw, loc, outType, presentTypes, qv, kv, vv, mask, pastK,
        pastV, h, APFloat(float(m.scores.scale)), kind,
        m.scores.maskFill ? rw.getF32FloatAttr(float(*m.scores.maskFill))
                          : FloatAttr());
    rw.replaceOp(m.merge, mergedOutput(rw, loc, attn.getOutput(), m.merge,
                                       m.seqMajorOut));
    if (!pastV)
      return;
    // The concatenated K/V also feed the `present` output: take them from
    // the op. Dominance is restored by the pass's topological sort.
    Value presentK = attn.getPresentKey();
    if (m.k.transposed)
      presentK = untranspose(rw, loc, presentK);
    rw.replaceAllUsesWith(m.k.cat->getResult(0), presentK);
    rw.replaceAllUsesWith(m.v.cat->getResult(0), attn.getPresentValue());
  }

  /// The [B, Lk] bias of a key padding mask; integer flags (nonzero:
  /// padding) become -10000 like BERT's bias, which Softmax maps to 0 as it
  /// does torch's -inf. Null without one.
  static Value keyPaddingBias(PatternRewriter &rw, Location loc,
                              const Scores &s, int64_t b, int64_t lk) {
    if (!s.keyPadding)
      return Value();
    if (!s.keyPaddingFlags)
      return reshapeTo(rw, loc, s.keyPadding, {b, lk});
    auto type = RankedTensorType::get({b, lk}, rw.getF32Type());
    Value flags = CastOp::create(rw, loc, tensorTypeOf(s.keyPadding).clone(
                                              rw.getF32Type()),
                                 s.keyPadding);
    return BinaryOp::create(rw, loc, type, reshapeTo(rw, loc, flags, {b, lk}),
                            scalarConst(rw, loc, -10000.0), BinaryFn::mul);
  }

  /// Swaps the last two dims of a [B,H,X,Y] tensor.
  static Value untranspose(PatternRewriter &rw, Location loc, Value v) {
    auto t = tensorTypeOf(v);
    ArrayRef<int64_t> s = t.getShape();
    return TransposeOp::create(rw, loc, t.clone({s[0], s[1], s[3], s[2]}), v,
                               rw.getDenseI64ArrayAttr({0, 1, 3, 2}));
  }
};

/// The name of the first graph input that `v` is computed from.
std::string graphInputName(Value v, int depth = 0) {
  if (auto arg = dyn_cast<BlockArgument>(v))
    return argName(arg);
  Operation *op = v.getDefiningOp();
  if (!op || depth > 8)
    return "";
  for (Value operand : op->getOperands())
    if (std::string n = graphInputName(operand, depth + 1); !n.empty())
      return n;
  return "";
}

/// Why a mask operand `m` of the score chain is not supported, or "".
std::string explainMask(Value m, ArrayRef<int64_t> scores,
                        ArrayRef<std::string> causalInputs) {
  auto t = tensorTypeOf(m);
  int64_t rank = scores.size(), lq = scores[rank - 2], lk = scores.back();
  if (!t || t.getRank() != rank || lq <= 1 || t.getShape()[rank - 2] != lq)
    return "";
  if (!getConstAttr(m)) {
    std::string input = graphInputName(m);
    if (llvm::is_contained(causalInputs, input))
      return "its mask is taken from the asserted-causal input '" + input +
             "' but not as its rows [Lk-Lq, Lk) and columns [0, Lk) by "
             "unit-step Slices in w*m - 10000*(1-m)";
    return "its run-time attention mask" +
           (input.empty() ? std::string()
                          : " (from graph input '" + input + "')") +
           " is neither an additive bias [B,1,1|Lq,Lk], a 0/1 selector "
           "applied as w*m - c*(1-m) with c >= 10000, nor a mask of two "
           "values over the keys of an integer [B,Lk] tensor";
  }
  auto causal01 = [](double v, bool keep) { return v == (keep ? 1.0 : 0.0); };
  if (isCausalConst(m, lq, lk, causal01) ||
      isCausalConst(m, lq, lk, isCausalBias))
    return "";
  return "its mask constant [.., " + std::to_string(lq) + ", " +
         std::to_string(lk) + "] is not lower-triangular with offset Lk - Lq = " +
         std::to_string(lk - lq) + ", so it is not a causal mask";
}

} // namespace

std::string explainUnliftedAttention(Operation *softmax,
                                     ArrayRef<std::string> causalInputs) {
  Value s = skipNoOps(softmax->getOperand(0));
  if (shapeOf(s).size() != 4 && shapeOf(s).size() != 3)
    return "";
  ArrayRef<int64_t> shape = shapeOf(s);
  for (int depth = 0; depth < 8; ++depth) {
    Operation *op = skipNoOps(s).getDefiningOp();
    if (!op)
      return "";
    if (isOnnx(op, "MatMul"))
      return isWeight(op->getOperand(1))
                 ? ""
                 : "its Q*K^T, scale, mask, Softmax, *V chain and head "
                   "layout do not match a recognised attention form";
    if (isOnnx(op, "Reshape") &&
        isHeadsView(shapeOf(op->getOperand(0)), shape)) {
      s = op->getOperand(0);
      shape = shapeOf(s);
      continue;
    }
    bool where = isOnnx(op, "Where");
    if (!where && !isOnnx(op, "Add") && !isOnnx(op, "Sub") &&
        !isOnnx(op, "Mul") && !isOnnx(op, "Div"))
      return "";
    unsigned first = where ? 1 : 0;
    Value path = op->getOperand(first), other = op->getOperand(first + 1);
    if (path.getType() != op->getResult(0).getType())
      std::swap(path, other);
    Value mask = where ? op->getOperand(0) : other;
    std::optional<double> fill = where ? getScalarConst(other) : std::nullopt;
    if (fill && !(*fill <= kMaskedBias)) {
      std::ostringstream value;
      value << *fill;
      return "its Where fills the masked scores with " + value.str() +
             ", not -10000 or less, so they would not vanish in Softmax";
    }
    if (std::string why = explainMask(mask, shape, causalInputs); !why.empty())
      return why;
    s = path;
  }
  return "";
}

void populateAttentionPatterns(RewritePatternSet &patterns,
                               ArrayRef<std::string> causalInputs) {
  patterns.add<AttentionPattern>(patterns.getContext(), causalInputs);
}

} // namespace spatten::lift

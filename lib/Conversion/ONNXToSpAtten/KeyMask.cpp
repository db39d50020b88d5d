//===- KeyMask.cpp - Padding masks computed from an integer mask ----------===//
//
// Reads a mask chain as a function of one element x of an integer tensor.
// Every step keeps the function exact for all integer x: f32(x) is compared
// only with integers below 2^24 (exactly representable, so f32(x) == t iff
// x == t), at most one constant is added to it before the comparison (one
// rounding, which cannot reach such an integer unless the exact sum is
// it), and the two values a Where selects are computed in f32 as the graph
// computes them.
//
//===----------------------------------------------------------------------===//

#include "KeyMask.h"
#include "IndexArithmetic.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "llvm/ADT/DenseMap.h"

#include <cmath>
#include <limits>

namespace spatten::lift {
namespace {

constexpr double kExactInt = 16777216.0; // 2^24
constexpr unsigned kMaxDepth = 32;

/// What a value of the chain is, as a function of the integer x.
struct Sym {
  enum class Kind { Ints, Linear, Pred, Values } kind = Kind::Ints;
  int sign = 1;               ///< Linear: sign * f32(x) + offset
  double offset = 0;          ///< Linear: an integer below 2^24 in magnitude
  bool shifted = false;       ///< Linear: a constant was added (at most one)
  int64_t k = 0;              ///< Pred, Values: the value of x they single out
  bool whenEqual = true;      ///< Pred: true iff (x == k) == whenEqual
  float equal = 0, other = 0; ///< Values: where x == k, and elsewhere
  /// Per dim: which non-unit dim of the integer tensor it runs along, or
  /// -1 for a unit or broadcast dim.
  SmallVector<int, 4> origin;
};

bool isInt(double v, double limit) {
  return std::isfinite(v) && v == std::floor(v) && std::fabs(v) < limit;
}

SmallVector<int64_t, 4> nonUnit(ArrayRef<int64_t> shape) {
  SmallVector<int64_t, 4> out;
  for (int64_t d : shape)
    if (d != 1)
      out.push_back(d);
  return out;
}

/// A chain value or a constant operand of an elementwise op.
struct Operand {
  std::optional<Sym> sym;
  std::optional<double> constant;
  ArrayRef<int64_t> shape;
};

class Reader {
public:
  std::optional<Sym> read(Value v, unsigned depth = 0);
  Value ints; ///< the integer tensor every path of the chain ends at

private:
  std::optional<Sym> compute(Value v, unsigned depth);
  std::optional<Sym> leaf(Value v);
  std::optional<Sym> layout(Operation *op, unsigned depth);
  std::optional<Sym> elementwise(Operation *op, unsigned depth);
  llvm::DenseMap<Value, std::optional<Sym>> memo;
};

std::optional<Sym> Reader::read(Value v, unsigned depth) {
  v = skipNoOps(v);
  if (auto it = memo.find(v); it != memo.end())
    return it->second;
  std::optional<Sym> s = depth > kMaxDepth ? std::nullopt : compute(v, depth);
  memo[v] = s;
  return s;
}

std::optional<Sym> Reader::leaf(Value v) {
  auto t = tensorTypeOf(v);
  if (!t ||
      !(t.getElementType().isInteger(64) || t.getElementType().isInteger(32)) ||
      (ints && ints != v) || getConstAttr(v))
    return std::nullopt;
  ints = v;
  Sym s;
  int next = 0;
  for (int64_t d : t.getShape())
    s.origin.push_back(d == 1 ? -1 : next++);
  return s;
}

std::optional<Sym> Reader::compute(Value v, unsigned depth) {
  Operation *op = v.getDefiningOp();
  if (!op || !isOnnxDialect(op) || !tensorTypeOf(v))
    return leaf(v);
  if (isOnnx(op, "Reshape") || isOnnx(op, "Unsqueeze") ||
      isOnnx(op, "Squeeze") || isOnnx(op, "Expand"))
    return layout(op, depth);
  if (std::optional<Sym> s = elementwise(op, depth))
    return s;
  return leaf(v);
}

/// Layout ops that only add, remove or broadcast unit dims.
std::optional<Sym> Reader::layout(Operation *op, unsigned depth) {
  Value in = op->getOperand(0);
  std::optional<Sym> s = read(in, depth + 1);
  if (!s || !tensorTypeOf(in) || !tensorTypeOf(op->getResult(0)))
    return std::nullopt;
  ArrayRef<int64_t> from = shapeOf(in), to = shapeOf(op->getResult(0));
  SmallVector<int, 4> origin;
  if (isOnnx(op, "Expand")) {
    if (to.size() < from.size())
      return std::nullopt;
    size_t lead = to.size() - from.size();
    for (size_t i = 0; i < to.size(); ++i) {
      bool kept = i >= lead && from[i - lead] != 1;
      if (kept && from[i - lead] != to[i])
        return std::nullopt;
      origin.push_back(kept ? s->origin[i - lead] : -1);
    }
  } else {
    if (nonUnit(from) != nonUnit(to))
      return std::nullopt;
    SmallVector<int, 4> carried;
    for (auto [d, o] : llvm::zip(from, s->origin))
      if (d != 1)
        carried.push_back(o);
    auto next = carried.begin();
    for (int64_t d : to)
      origin.push_back(d == 1 ? -1 : *next++);
  }
  s->origin = std::move(origin);
  return s;
}

/// The origins of an elementwise result of shape `out`, broadcast from
/// the chain operands; false if two disagree.
bool broadcastOrigin(ArrayRef<Operand> ops, ArrayRef<int64_t> out,
                     SmallVectorImpl<int> &origin) {
  origin.assign(out.size(), -1);
  for (const Operand &o : ops) {
    if (!o.sym)
      continue;
    if (o.shape.size() > out.size())
      return false;
    size_t lead = out.size() - o.shape.size();
    for (size_t i = 0; i < o.shape.size(); ++i) {
      int from = o.sym->origin[i];
      int &to = origin[lead + i];
      if (from < 0)
        continue;
      if (to >= 0 && to != from)
        return false;
      to = from;
    }
  }
  return true;
}

std::optional<Sym> castTo(Sym s, Type to) {
  using K = Sym::Kind;
  bool toF32 = to.isF32(), toBool = to.isInteger(1);
  switch (s.kind) {
  case K::Ints:
    if (toF32) {
      s.kind = K::Linear;
      return s;
    }
    if (toBool) {
      s.kind = K::Pred;
      s.k = 0;
      s.whenEqual = false;
      return s;
    }
    if (to.isInteger(64)) // widening keeps every value
      return s;
    return std::nullopt;
  case K::Linear:
    if (!toBool)
      return std::nullopt;
    s.kind = K::Pred;
    s.k = int64_t(-s.sign * s.offset);
    s.whenEqual = false;
    return s;
  case K::Pred:
    if (!toF32)
      return std::nullopt;
    s.kind = K::Values;
    s.equal = s.whenEqual ? 1.0f : 0.0f;
    s.other = s.whenEqual ? 0.0f : 1.0f;
    return s;
  case K::Values:
    if (!toBool || (s.equal != 0) == (s.other != 0))
      return std::nullopt;
    s.kind = K::Pred;
    s.whenEqual = s.equal != 0;
    return s;
  }
  return std::nullopt;
}

/// `s op c` (or `c op s` with `constFirst`) for Add, Sub, Mul, Div.
std::optional<Sym> arith(Sym s, StringRef op, double c, bool constFirst) {
  if (s.kind == Sym::Kind::Values) {
    float cf = float(c);
    auto apply = [&](float x) {
      float a = constFirst ? cf : x, b = constFirst ? x : cf;
      return op == "Add"   ? a + b
             : op == "Sub" ? a - b
             : op == "Mul" ? a * b
                           : a / b;
    };
    s.equal = apply(s.equal);
    s.other = apply(s.other);
    return s;
  }
  if (s.kind != Sym::Kind::Linear)
    return std::nullopt;
  if ((op == "Mul" || op == "Div") && (c == 1 || c == -1)) {
    s.sign *= int(c);
    s.offset *= c;
    return s;
  }
  if ((op != "Add" && op != "Sub") || s.shifted || !isInt(c, kExactInt))
    return std::nullopt;
  bool negate = op == "Sub" && constFirst;
  double add = op == "Sub" && !constFirst ? -c : c;
  s.sign = negate ? -s.sign : s.sign;
  s.offset = (negate ? -s.offset : s.offset) + add;
  s.shifted = true;
  return isInt(s.offset, kExactInt) ? std::optional<Sym>(s) : std::nullopt;
}

std::optional<Sym> equalTo(Sym s, double c) {
  using K = Sym::Kind;
  switch (s.kind) {
  case K::Ints:
    if (!isInt(c, 9007199254740992.0)) // 2^53: c is an exact integer
      return std::nullopt;
    s.k = int64_t(c);
    break;
  case K::Linear: {
    double t = s.sign * (c - s.offset);
    if (!isInt(c, kExactInt) || !isInt(t, kExactInt))
      return std::nullopt;
    s.k = int64_t(t);
    break;
  }
  case K::Pred:
    if (c != 0 && c != 1)
      return std::nullopt;
    s.whenEqual = (c == 1) == s.whenEqual;
    return s;
  case K::Values:
    if ((s.equal == c) == (s.other == c))
      return std::nullopt;
    s.whenEqual = s.equal == c;
    s.kind = K::Pred;
    return s;
  }
  s.kind = K::Pred;
  s.whenEqual = true;
  return s;
}

/// The value of `o` where x == k (`atEqual`) or where x != k; `o` must
/// be constant there.
std::optional<float> valueAt(const Operand &o, int64_t k, bool atEqual) {
  if (o.constant)
    return float(*o.constant);
  const Sym &s = *o.sym;
  if (s.kind == Sym::Kind::Values && s.k == k)
    return atEqual ? s.equal : s.other;
  if (s.kind == Sym::Kind::Linear && atEqual)
    return float(s.sign * double(k) + s.offset);
  return std::nullopt;
}

std::optional<Sym> Reader::elementwise(Operation *op, unsigned depth) {
  static constexpr StringRef kOps[] = {"Cast", "Add",   "Sub", "Mul",
                                       "Div",  "Equal", "Not", "Where"};
  if (!llvm::any_of(kOps, [&](StringRef t) { return isOnnx(op, t); }))
    return std::nullopt;
  SmallVector<Operand, 3> ops;
  for (Value v : op->getOperands()) {
    if (!tensorTypeOf(v))
      return std::nullopt;
    Operand o{std::nullopt, getScalarConst(v), shapeOf(v)};
    if (!o.constant && !(o.sym = read(v, depth + 1)))
      return std::nullopt;
    ops.push_back(o);
  }
  Value result = op->getResult(0);
  SmallVector<int, 4> origin;
  if (!broadcastOrigin(ops, shapeOf(result), origin))
    return std::nullopt;
  std::optional<Sym> s;
  if (isOnnx(op, "Cast") || isOnnx(op, "Not")) {
    if (ops[0].sym)
      s = isOnnx(op, "Cast")
              ? castTo(*ops[0].sym, tensorTypeOf(result).getElementType())
              : equalTo(*ops[0].sym, 0);
  } else if (isOnnx(op, "Where")) {
    const std::optional<Sym> &cond = ops[0].sym;
    if (cond && cond->kind == Sym::Kind::Pred && isF32Tensor(result)) {
      const Operand &atK = cond->whenEqual ? ops[1] : ops[2];
      const Operand &elsewhere = cond->whenEqual ? ops[2] : ops[1];
      std::optional<float> e = valueAt(atK, cond->k, true);
      std::optional<float> o = valueAt(elsewhere, cond->k, false);
      if (e && o) {
        s = *cond;
        s->kind = Sym::Kind::Values;
        s->equal = *e;
        s->other = *o;
      }
    }
  } else if (ops.size() == 2 && bool(ops[0].sym) != bool(ops[1].sym)) {
    bool constFirst = !ops[0].sym;
    const Sym &in = *ops[constFirst ? 1 : 0].sym;
    double c = *ops[constFirst ? 0 : 1].constant;
    s = isOnnx(op, "Equal")
            ? equalTo(in, c)
            : arith(in, op->getName().getStringRef().drop_front(5), c,
                    constFirst);
  }
  if (s)
    s->origin = std::move(origin);
  return s;
}

/// The key mask's layout: `m` broadcasts to `scores` [B, H, Lq, Lk] and
/// reads the integer tensor as [B, Lk] (or [Lk] when B is 1).
bool readsKeys(const Sym &s, Value m, Value ints, ArrayRef<int64_t> scores) {
  ArrayRef<int64_t> shape = shapeOf(m);
  if (scores.size() != 4 || shape.size() > 4 || scores.back() < 2)
    return false;
  SmallVector<int64_t, 4> keys = nonUnit(shapeOf(ints));
  if (keys.empty() || keys.size() > 2 || keys.back() != scores.back() ||
      (keys.size() == 2 ? keys[0] != scores[0] : scores[0] != 1))
    return false;
  size_t lead = 4 - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t want = scores[lead + i];
    if (shape[i] != 1 && shape[i] != want)
      return false;
    int o = s.origin[i];
    if (o < 0)
      continue;
    bool isKey = o == int(keys.size()) - 1;
    if ((isKey && lead + i != 3) || (!isKey && lead + i != 0))
      return false;
  }
  return true;
}

/// -inf (torch's `masked_fill(mask, -inf)`) as the lowest finite f32: a
/// padded key's probability is 0 either way, and `0 * fill` stays 0.
float finite(float v) {
  return std::max(v, std::numeric_limits<float>::lowest());
}

} // namespace

std::optional<KeyMask> matchKeyMask(Value m, ArrayRef<int64_t> scores) {
  Reader r;
  std::optional<Sym> s = r.read(m);
  if (!s || s->kind != Sym::Kind::Values || !isF32Tensor(m) ||
      std::isnan(s->equal) || std::isnan(s->other) ||
      (s->equal != 0 && s->other != 0) || !readsKeys(*s, m, r.ints, scores))
    return std::nullopt;
  return KeyMask{r.ints, s->k, finite(s->equal), finite(s->other)};
}

std::optional<KeyMask> matchKeyCondition(Value cond, ArrayRef<int64_t> scores) {
  Reader r;
  std::optional<Sym> s = r.read(cond);
  if (!s || s->kind != Sym::Kind::Pred || !readsKeys(*s, cond, r.ints, scores))
    return std::nullopt;
  return KeyMask{r.ints, s->k, s->whenEqual ? 1.0f : 0.0f,
                 s->whenEqual ? 0.0f : 1.0f};
}

std::optional<FilledKeys> matchFilledKeys(Operation *where,
                                          ArrayRef<int64_t> scores,
                                          double maxFill,
                                          llvm::function_ref<bool(Value)> isY) {
  for (unsigned fillAt : {1u, 2u}) {
    std::optional<double> fill = getScalarConst(where->getOperand(fillAt));
    Value y = where->getOperand(3 - fillAt);
    if (!fill || !(*fill <= maxFill) || !isY(y))
      continue;
    std::optional<KeyMask> padded =
        matchKeyCondition(where->getOperand(0), scores);
    if (!padded)
      return std::nullopt;
    if (fillAt == 2) // the fill where the condition is false
      std::swap(padded->equal, padded->other);
    return FilledKeys{*padded, finite(float(*fill)), y};
  }
  return std::nullopt;
}

Value buildKeyMask(OpBuilder &rw, Location loc, const KeyMask &mask, int64_t b,
                   int64_t lk) {
  auto type = RankedTensorType::get({b, lk}, rw.getF32Type());
  auto binary = [&](Value x, Value y, BinaryFn fn) -> Value {
    return BinaryOp::create(rw, loc, type, x, y, fn);
  };
  auto c = [&](double v) { return scalarConst(rw, loc, v); };
  Value x = CastOp::create(
      rw, loc, tensorTypeOf(mask.ints).clone(rw.getF32Type()), mask.ints);
  Value d = reshapeTo(rw, loc, x, {b, lk});
  if (mask.k != 0)
    d = binary(d, c(double(mask.k)), BinaryFn::sub);
  Value other = nonZeroIndicator(rw, loc, d); // 0 where x == k, else 1
  if (mask.equal == 0)
    return mask.other == 1 ? other
                           : binary(other, c(mask.other), BinaryFn::mul);
  // (other - 1) * -equal: equal where x == k, else 0.
  return binary(binary(other, c(1), BinaryFn::sub), c(-double(mask.equal)),
                BinaryFn::mul);
}

} // namespace spatten::lift

//===- IndexArithmetic.cpp - Integer indices computed on the vector unit --===//
//
// Two walks over the chain: `read` proves every value an integer in a known
// interval inside (-2^24, 2^24), naming the first node that is not; only
// then `build` emits the spatten ops, so a failed read leaves no IR behind.
//
//===----------------------------------------------------------------------===//

#include "IndexArithmetic.h"

#include "spatten/Dialect/SpAtten/IR/InputAttrs.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>

namespace spatten::lift {
namespace {

constexpr double kExactInt = 16777216.0; // 2^24: fp32 holds every integer below
constexpr unsigned kMaxDepth = 64;
/// The ONNX ops an index chain may use (the error below names them).
constexpr StringLiteral kIndexOps[] = {
    "Equal",   "Not",       "And",     "Or",     "Where", "Cast",
    "Add",     "Sub",       "Mul",     "Max",    "Min",   "CumSum",
    "Reshape", "Unsqueeze", "Squeeze", "Flatten"};

/// What the read knows of a value of the chain.
struct Info {
  /// Set for a graph's integer input, possibly reshaped or widened: any
  /// value (raw).
  Value leaf;
  double lo = 0, hi = 0; ///< otherwise every element is an integer in [lo, hi]
  bool raw() const { return bool(leaf); }
};

Info interval(double lo, double hi) { return Info{Value(), lo, hi}; }

bool isIntegerTensor(Value v) {
  auto t = tensorTypeOf(v);
  return t && isa<IntegerType>(t.getElementType());
}

class IndexReader {
public:
  std::optional<Info> read(Value v, unsigned depth = 0);
  /// The spatten value of `v` (fp32, or the raw integer input), after a
  /// successful read of a chain that contains `v`.
  Value build(OpBuilder &rw, Location loc, Value v);
  std::string why;

private:
  std::optional<Info> compute(Value v, unsigned depth);
  std::optional<Info> fail(Operation *op, const Twine &what);
  std::optional<Info> checked(Operation *op, Info info);
  std::optional<Info> constant(Value v, ElementsAttr attr);
  std::optional<Info> castTo(Operation *op, const Info &in);
  std::optional<Info> combine(Operation *op, ArrayRef<Info> in);
  std::optional<Info> assumeRange(Operation *op, const Info &raw);
  Value emit(OpBuilder &rw, Location loc, Operation *op);
  Value asF32(OpBuilder &rw, Location loc, Value v);
  llvm::DenseMap<Value, std::optional<Info>> infos;
  llvm::DenseMap<Value, Value> built, casts;

public:
  /// Graph inputs computed with as numbers, assumed to be 0/1 masks.
  llvm::SmallSetVector<BlockArgument, 2> masks;
};

/// The fewest rows of the tables `v` indexes as a lookup's ids, lifted
/// already or not, if any.
std::optional<int64_t> lookupRows(Value v) {
  std::optional<int64_t> rows;
  for (Operation *user : v.getUsers()) {
    auto lifted = dyn_cast<EmbeddingOp>(user);
    Value table = lifted && lifted.getIndices() == v ? lifted.getTable()
                  : isTableLookup(user) && user->getOperand(1) == v
                      ? user->getOperand(0)
                      : Value();
    if (table)
      rows = std::min(rows.value_or(INT64_MAX), shapeOf(table)[0]);
  }
  return rows;
}

/// An integer input that the chain computes with as a number: token ids
/// that index a table are in [0, rows), which the host checks
/// (binary::TensorInfo::indexWraps); any other input is taken for a 0/1
/// mask, which the host checks too (kValueRangeAttrName).
std::optional<Info> IndexReader::assumeRange(Operation *op, const Info &raw) {
  auto arg = dyn_cast<BlockArgument>(raw.leaf);
  if (!arg)
    return fail(op, "computes with an integer value of unknown range");
  if (std::optional<int64_t> rows = lookupRows(arg))
    return interval(0, double(*rows - 1));
  masks.insert(arg);
  return interval(0, 1);
}

std::optional<Info> IndexReader::fail(Operation *op, const Twine &what) {
  if (why.empty())
    why = ("the " + op->getName().stripDialect() + " at node '" + nodeName(op) +
           "' " + what)
              .str();
  return std::nullopt;
}

std::optional<Info> IndexReader::checked(Operation *op, Info info) {
  if (std::max(std::fabs(info.lo), std::fabs(info.hi)) >= kExactInt)
    return fail(op, llvm::formatv("may reach {0:e2}, beyond the 2^24 up to "
                                  "which fp32 holds every integer",
                                  std::fabs(info.lo) > std::fabs(info.hi)
                                      ? info.lo
                                      : info.hi));
  return info;
}

std::optional<Info> IndexReader::read(Value v, unsigned depth) {
  v = skipNoOps(v);
  if (auto it = infos.find(v); it != infos.end())
    return it->second;
  std::optional<Info> info;
  if (depth > kMaxDepth)
    why = "the index chain is too deep";
  else
    info = compute(v, depth);
  infos[v] = info;
  return info;
}

std::optional<Info> IndexReader::constant(Value v, ElementsAttr attr) {
  std::optional<SmallVector<double>> values = readValues(attr);
  bool exact = values.has_value();
  for (double x : values ? *values : SmallVector<double>())
    exact &= std::isfinite(x) && x == std::floor(x) && std::fabs(x) < kExactInt;
  if (!exact) {
    if (Operation *op = v.getDefiningOp())
      return fail(op, "holds a value that is not an integer below 2^24");
    why = "a constant holds a value that is not an integer below 2^24";
    return std::nullopt;
  }
  if (values->empty())
    return interval(0, 0);
  return interval(*llvm::min_element(*values), *llvm::max_element(*values));
}

std::optional<Info> IndexReader::compute(Value v, unsigned depth) {
  if (!isIntegerTensor(v)) {
    if (Operation *op = v.getDefiningOp())
      return fail(op, "computes a non-integer value inside integer indices");
    why = "integer indices are computed from a non-integer graph input";
    return std::nullopt;
  }
  if (ElementsAttr attr = getConstAttr(v))
    return constant(v, attr);
  Operation *op = v.getDefiningOp();
  if (!op || !isOnnxDialect(op)) {
    Type t = tensorTypeOf(v).getElementType();
    if (t.isSignlessInteger(64) || t.isSignlessInteger(32))
      return Info{v, 0, 0};
    auto arg = dyn_cast<BlockArgument>(v);
    why =
        (arg ? "graph input '" + argName(arg) + "'" : std::string("a value")) +
        " holds " + std::to_string(cast<IntegerType>(t).getWidth()) +
        "-bit integers; ids are int32 or int64";
    return std::nullopt;
  }
  if (!llvm::is_contained(kIndexOps, op->getName().stripDialect()))
    return fail(op, "is not index arithmetic the vector unit computes exactly "
                    "(Equal, Not, And, Or, Where, Cast, Add, Sub, Mul, Max, "
                    "Min, CumSum and reshapes are)");
  SmallVector<Info, 3> in;
  for (Value operand : op->getOperands()) {
    if (isOnnx(op, "CumSum") && operand == op->getOperand(1))
      break; // the axis
    if ((isOnnx(op, "Reshape") || isOnnx(op, "Unsqueeze") ||
         isOnnx(op, "Squeeze")) &&
        operand != op->getOperand(0))
      break; // the shape or axes
    std::optional<Info> info = read(operand, depth + 1);
    if (!info)
      return std::nullopt;
    in.push_back(*info);
  }
  if (in.empty())
    return fail(op, "has no operands to compute indices from");
  return combine(op, in);
}

std::optional<Info> IndexReader::castTo(Operation *op, const Info &in) {
  auto to = cast<IntegerType>(tensorTypeOf(op->getResult(0)).getElementType());
  if (to.getWidth() == 1)
    return interval(0, 1);
  if (in.raw()) {
    if (to.getWidth() < 64 || to.isUnsigned())
      return fail(op, "narrows an integer input of unknown range");
    return in;
  }
  double lo = to.isUnsigned() ? 0 : -std::ldexp(1.0, to.getWidth() - 1);
  double hi = std::ldexp(1.0, to.getWidth() - (to.isUnsigned() ? 0 : 1));
  if (in.lo < lo || in.hi >= hi)
    return fail(op, "may wrap values around");
  return in;
}

std::optional<Info> IndexReader::combine(Operation *op, ArrayRef<Info> in) {
  if (isOnnx(op, "Reshape") || isOnnx(op, "Unsqueeze") ||
      isOnnx(op, "Squeeze") || isOnnx(op, "Flatten"))
    return in[0];
  if (isOnnx(op, "Cast"))
    return castTo(op, in[0]);
  if (isOnnx(op, "Equal") && in.size() == 2) {
    bool rawSide = in[0].raw() || in[1].raw();
    if (rawSide && (in[0].raw() == in[1].raw() ||
                    !getScalarConst(op->getOperand(in[0].raw() ? 1 : 0))))
      return fail(op, "compares an integer input of unknown range with "
                      "something other than a constant");
    if (!rawSide &&
        !checked(op, interval(in[0].lo - in[1].hi, in[0].hi - in[1].lo)))
      return std::nullopt;
    return interval(0, 1);
  }
  SmallVector<Info, 3> ranged(in);
  for (Info &i : ranged)
    if (i.raw()) {
      std::optional<Info> assumed = assumeRange(op, i);
      if (!assumed)
        return std::nullopt;
      i = *assumed;
    }
  in = ranged;
  auto bounds = [&](double a, double b, double c, double d) {
    return checked(op,
                   interval(std::min({a, b, c, d}), std::max({a, b, c, d})));
  };
  if (isOnnx(op, "Not") || isOnnx(op, "And") || isOnnx(op, "Or"))
    return interval(0, 1);
  if (in.size() == 2 && isOnnx(op, "Add"))
    return checked(op, interval(in[0].lo + in[1].lo, in[0].hi + in[1].hi));
  if (in.size() == 2 && isOnnx(op, "Sub"))
    return checked(op, interval(in[0].lo - in[1].hi, in[0].hi - in[1].lo));
  if (in.size() == 2 && isOnnx(op, "Mul"))
    return bounds(in[0].lo * in[1].lo, in[0].lo * in[1].hi, in[0].hi * in[1].lo,
                  in[0].hi * in[1].hi);
  if (in.size() == 2 && (isOnnx(op, "Max") || isOnnx(op, "Min")))
    return bounds(in[0].lo, in[0].hi, in[1].lo, in[1].hi);
  if (in.size() == 3 && isOnnx(op, "Where")) {
    // Built as y + c * (x - y), so x - y must be exact too.
    if (!checked(op, interval(in[1].lo - in[2].hi, in[1].hi - in[2].lo)))
      return std::nullopt;
    return bounds(in[1].lo, in[1].hi, in[2].lo, in[2].hi);
  }
  if (isOnnx(op, "CumSum")) {
    std::optional<SmallVector<int64_t>> axis = getConstInts(op->getOperand(1));
    ArrayRef<int64_t> shape = shapeOf(op->getResult(0));
    if (!axis || axis->size() != 1 || (*axis)[0] < -int64_t(shape.size()) ||
        (*axis)[0] >= int64_t(shape.size()))
      return fail(op, "has no constant axis inside its rank");
    double n = double(shape[((*axis)[0] + shape.size()) % shape.size()]);
    return bounds(0, n * in[0].lo, n * in[0].hi, 0);
  }
  return fail(op, "has operands of a form the vector unit does not compute");
}

Value IndexReader::asF32(OpBuilder &rw, Location loc, Value v) {
  Value b = build(rw, loc, v);
  if (tensorTypeOf(b).getElementType().isF32())
    return b;
  Value &converted = casts[b]; // one conversion of a raw input per chain
  if (!converted)
    converted =
        CastOp::create(rw, loc, tensorTypeOf(b).clone(rw.getF32Type()), b);
  return converted;
}

Value IndexReader::build(OpBuilder &rw, Location loc, Value v) {
  v = skipNoOps(v);
  if (Value b = built.lookup(v))
    return b;
  Value b;
  if (ElementsAttr attr = getConstAttr(v)) {
    // The interval pass read every constant of the chain (`constant`).
    std::optional<SmallVector<double>> read = readValues(attr);
    SmallVector<float> values;
    for (double x : read ? *read : SmallVector<double>())
      values.push_back(float(x));
    auto type = tensorTypeOf(v).clone(rw.getF32Type());
    b = arith::ConstantOp::create(
        rw, loc, DenseElementsAttr::get(type, ArrayRef<float>(values)));
  } else if (Operation *op = v.getDefiningOp(); op && isOnnxDialect(op)) {
    b = emit(rw, loc, op);
  } else {
    b = v;
  }
  built[v] = b;
  return b;
}

Value IndexReader::emit(OpBuilder &rw, Location loc, Operation *op) {
  Value out = op->getResult(0);
  auto binary = [&](Value x, Value y, BinaryFn fn) -> Value {
    return *broadcastBinary(rw, loc, fn, x, y); // the read checked the shapes
  };
  auto f32 = [&](unsigned i) { return asF32(rw, loc, op->getOperand(i)); };
  auto one = [&] { return scalarConst(rw, loc, 1.0); };
  if (isOnnx(op, "Reshape") || isOnnx(op, "Unsqueeze") ||
      isOnnx(op, "Squeeze") || isOnnx(op, "Flatten"))
    return reshapeTo(rw, loc, build(rw, loc, op->getOperand(0)), shapeOf(out));
  if (isOnnx(op, "Cast"))
    return tensorTypeOf(out).getElementType().isInteger(1)
               ? nonZeroIndicator(rw, loc, f32(0))
               : build(rw, loc, op->getOperand(0));
  auto complement = [&](Value x) -> Value { // 1 - x, folding 1 - (1 - y)
    auto sub = x.getDefiningOp<BinaryOp>();
    if (sub && sub.getFn() == BinaryFn::sub &&
        getScalarConst(sub.getLhs()) == 1.0)
      return sub.getRhs();
    return binary(one(), x, BinaryFn::sub);
  };
  if (isOnnx(op, "Equal")) {
    Value d = getScalarConst(op->getOperand(1)) == 0.0 ? f32(0)
              : getScalarConst(op->getOperand(0)) == 0.0
                  ? f32(1)
                  : binary(f32(0), f32(1), BinaryFn::sub);
    return complement(nonZeroIndicator(rw, loc, d));
  }
  if (isOnnx(op, "Not"))
    return complement(f32(0));
  if (isOnnx(op, "Where")) { // y + c * (x - y)
    Value y = f32(2);
    return binary(
        y, binary(f32(0), binary(f32(1), y, BinaryFn::sub), BinaryFn::mul),
        BinaryFn::add);
  }
  if (isOnnx(op, "CumSum")) {
    int64_t rank = shapeOf(out).size();
    int64_t axis = ((*getConstInts(op->getOperand(1)))[0] + rank) % rank;
    SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
    std::swap(perm[axis], perm.back());
    Value x = permute(rw, loc, f32(0), perm);
    auto sums = CumSumOp::create(rw, loc, x.getType(), x);
    sums.setExclusive(getIntAttr(op, "exclusive").value_or(0) != 0);
    sums.setReverse(getIntAttr(op, "reverse").value_or(0) != 0);
    return permute(rw, loc, sums, perm); // a swap is its own inverse
  }
  BinaryFn fn = isOnnx(op, "Add")                        ? BinaryFn::add
                : isOnnx(op, "Sub")                      ? BinaryFn::sub
                : isOnnx(op, "Mul") || isOnnx(op, "And") ? BinaryFn::mul
                : isOnnx(op, "Min")                      ? BinaryFn::min
                                                         : BinaryFn::max;
  return binary(f32(0), f32(1), fn); // Max, Or: max
}

} // namespace

Value nonZeroIndicator(OpBuilder &rw, Location loc, Value d) {
  Type type = d.getType();
  Value square = BinaryOp::create(rw, loc, type, d, d, BinaryFn::mul);
  return BinaryOp::create(rw, loc, type, square, scalarConst(rw, loc, 1.0),
                          BinaryFn::min);
}

bool isTableLookup(Operation *gather) {
  if (!isOnnx(gather, "Gather") || gather->getNumOperands() != 2)
    return false;
  Value table = gather->getOperand(0), ids = gather->getOperand(1);
  return getIntAttr(gather, "axis").value_or(0) == 0 && isF32Tensor(table) &&
         shapeOf(table).size() == 2 && isWeight(table) && !getConstAttr(ids) &&
         isIntegerTensor(ids);
}

llvm::SmallPtrSet<Operation *, 16> indexChainOf(Operation *gather) {
  llvm::SmallPtrSet<Operation *, 16> chain;
  SmallVector<Value> work{gather->getOperand(1)};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    Operation *op = v.getDefiningOp();
    if (op && isOnnxDialect(op) && isIntegerTensor(v) && !getConstAttr(v) &&
        chain.insert(op).second)
      llvm::append_range(work, op->getOperands());
  }
  // Drop the ops with a use outside the chain, until none is left.
  for (bool dropped = true; dropped;) {
    dropped = false;
    for (Operation *op : SmallVector<Operation *>(chain.begin(), chain.end()))
      if (llvm::any_of(op->getUsers(), [&](Operation *user) {
            return user != gather && !chain.contains(user);
          })) {
        chain.erase(op);
        dropped = true;
      }
  }
  return chain;
}

/// Reads the whole chain and checks the indices against the table.
static std::optional<Info> readIndices(IndexReader &reader, Value indices,
                                       int64_t rows) {
  std::optional<Info> info = reader.read(indices);
  if (!info) {
    if (reader.why.empty())
      reader.why = "the indices are not index arithmetic";
    return std::nullopt;
  }
  if (!info->raw() && (info->lo < 0 || info->hi >= double(rows)))
    reader.why = llvm::formatv("the indices may reach [{0}, {1}], outside the "
                               "table's {2} rows",
                               int64_t(info->lo), int64_t(info->hi), rows)
                     .str();
  if (!reader.why.empty())
    return std::nullopt;
  return info;
}

FailureOr<Value> liftIndexArithmetic(RewriterBase &rw, Location loc,
                                     Value indices, int64_t rows,
                                     std::string &why) {
  IndexReader reader;
  std::optional<Info> info = readIndices(reader, indices, rows);
  if (!info) {
    why = reader.why;
    return failure();
  }
  for (BlockArgument mask : reader.masks) {
    auto func = cast<FunctionOpInterface>(mask.getOwner()->getParentOp());
    rw.modifyOpInPlace(func, [&] {
      func.setArgAttr(mask.getArgNumber(), kValueRangeAttrName,
                      rw.getDenseI64ArrayAttr({0, 1}));
    });
  }
  Value built = reader.build(rw, loc, indices);
  if (info->raw())
    return built;
  return Value(CastOp::create(
      rw, loc, tensorTypeOf(built).clone(rw.getI32Type()), built));
}

std::string explainIndexArithmetic(Value indices, int64_t rows) {
  IndexReader reader;
  (void)readIndices(reader, indices, rows);
  return reader.why;
}

} // namespace spatten::lift

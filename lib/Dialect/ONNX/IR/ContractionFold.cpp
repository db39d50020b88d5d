//===- ContractionFold.cpp - Einsum: equation, verifier, folder ------------===//
//
// Einsum (ONNX Einsum-12, numpy.einsum semantics) and the MatMul folder,
// which is the Einsum `...ij,...jk->...ik`. Exporters use Einsum for the
// outer product of positions and inverse frequencies in rotary tables; once
// its inputs are constants it is evaluated here, in double like the other
// math folders.
//
//===----------------------------------------------------------------------===//

#include "FoldUtils.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/StringExtras.h"

#include <map>

using namespace mlir;
using namespace spatten::onnx;

namespace {

/// Multiply-adds a fold may spend on one Einsum (the product of all its
/// index sizes), so that a constant subgraph never stalls compilation.
constexpr int64_t kEinsumWorkLimit = 1 << 26;

/// One side of an equation: its letters, and where `...` sits among them
/// (-1: no ellipsis).
struct Term {
  std::string letters;
  int64_t ellipsisAt = -1;
};

struct Equation {
  SmallVector<Term> inputs;
  std::optional<Term> output; // nullopt: implicit output
};

FailureOr<Term> parseTerm(StringRef text, const std::function<InFlightDiagnostic()> &error) {
  Term term;
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i).starts_with("...")) {
      if (term.ellipsisAt >= 0)
        return error() << "term '" << text << "' has more than one '...'";
      term.ellipsisAt = term.letters.size();
      i += 3;
    } else if (llvm::isAlpha(text[i])) {
      term.letters.push_back(text[i++]);
    } else {
      return error() << "term '" << text << "' has '" << text[i]
                     << "'; only letters and one '...' are allowed";
    }
  }
  return term;
}

FailureOr<Equation> parseEquation(StringRef text,
                                  const std::function<InFlightDiagnostic()> &error) {
  std::string compact;
  for (char c : text)
    if (c != ' ')
      compact.push_back(c);
  StringRef eq(compact);
  auto [lhs, rhs] = eq.split("->");
  Equation equation;
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  for (StringRef t : terms) {
    auto term = parseTerm(t, error);
    if (failed(term))
      return failure();
    equation.inputs.push_back(*term);
  }
  if (eq.contains("->")) {
    auto term = parseTerm(rhs, error);
    if (failed(term))
      return failure();
    llvm::SmallDenseSet<char> seen;
    for (char c : term->letters) {
      if (!seen.insert(c).second)
        return error() << "output letter '" << c << "' is repeated";
      if (!lhs.contains(c))
        return error() << "output letter '" << c << "' is not in any input";
    }
    equation.output = *term;
  }
  return equation;
}

/// An equation bound to its operand shapes: every dim of every operand and of
/// the output is one loop index. Indices 0..ellipsisRank-1 are the broadcast
/// dims of `...`, then one per letter.
struct Contraction {
  int64_t ellipsisRank = 0;
  SmallVector<int64_t> sizes;                  // per index (dynamic allowed)
  SmallVector<SmallVector<int64_t>> inputDims; // per operand dim: its index
  SmallVector<int64_t> outputDims;             // per output dim: its index
};

/// Dims of `term` for an operand of rank `rank`: their indices.
FailureOr<SmallVector<int64_t>>
bindTerm(const Term &term, int64_t rank, int64_t ellipsisRank,
         const std::string &letters,
         const std::function<InFlightDiagnostic()> &error) {
  int64_t extra = rank - (int64_t)term.letters.size();
  if (extra < 0 || (term.ellipsisAt < 0 && extra != 0))
    return error() << "term '" << term.letters << "' does not fit an operand of rank "
                   << rank;
  SmallVector<int64_t> dims;
  for (int64_t i = 0; i <= (int64_t)term.letters.size(); ++i) {
    if (i == term.ellipsisAt)
      for (int64_t e = 0; e < extra; ++e)
        dims.push_back(ellipsisRank - extra + e);
    if (i < (int64_t)term.letters.size())
      dims.push_back(ellipsisRank + letters.find(term.letters[i]));
  }
  return dims;
}

/// Sets `c.sizes`: a letter's dims must agree, a `...` dim broadcasts (1 or
/// one size); an index whose dims are all dynamic stays dynamic.
LogicalResult unifySizes(Contraction &c, ArrayRef<RankedTensorType> operands,
                         StringRef letters,
                         const std::function<InFlightDiagnostic()> &error) {
  SmallVector<bool> sized(c.sizes.size(), false), dynamic(c.sizes.size(), false);
  for (auto [dims, type] : llvm::zip(c.inputDims, operands)) {
    for (auto [index, size] : llvm::zip(dims, type.getShape())) {
      bool broadcast = index < c.ellipsisRank;
      dynamic[index] = dynamic[index] || ShapedType::isDynamic(size);
      if (ShapedType::isDynamic(size) || (broadcast && size == 1))
        continue;
      if (sized[index] && c.sizes[index] != size)
        return error() << "dim of size " << size << " does not match "
                       << c.sizes[index] << " for "
                       << (broadcast ? std::string("'...'")
                                     : "letter '" +
                                           std::string(1, letters[index - c.ellipsisRank]) +
                                           "'");
      c.sizes[index] = size;
      sized[index] = true;
    }
  }
  for (size_t i = 0; i < c.sizes.size(); ++i)
    if (dynamic[i] && !sized[i])
      c.sizes[i] = ShapedType::kDynamic;
  return success();
}

FailureOr<Contraction>
bindEquation(const Equation &eq, ArrayRef<RankedTensorType> operands,
             const std::function<InFlightDiagnostic()> &error) {
  if (eq.inputs.size() != operands.size())
    return error() << "equation has " << eq.inputs.size() << " input terms for "
                   << operands.size() << " inputs";
  Contraction c;
  std::string letters; // in order of first appearance
  std::map<char, int64_t> uses;
  for (auto [term, type] : llvm::zip(eq.inputs, operands)) {
    c.ellipsisRank = std::max<int64_t>(
        c.ellipsisRank, type.getRank() - (int64_t)term.letters.size());
    for (char l : term.letters) {
      if (letters.find(l) == std::string::npos)
        letters.push_back(l);
      ++uses[l];
    }
  }
  c.sizes.assign(c.ellipsisRank + letters.size(), 1);
  for (auto [term, type] : llvm::zip(eq.inputs, operands)) {
    auto dims = bindTerm(term, type.getRank(), c.ellipsisRank, letters, error);
    if (failed(dims))
      return failure();
    c.inputDims.push_back(*dims);
  }
  if (failed(unifySizes(c, operands, letters, error)))
    return failure();
  // The implicit output is `...` then the letters used once, alphabetically.
  Term output;
  if (eq.output) {
    output = *eq.output;
  } else {
    output.ellipsisAt = 0;
    for (auto [l, n] : uses) // std::map: ASCII order
      if (n == 1)
        output.letters.push_back(l);
  }
  int64_t outRank = output.letters.size() +
                    (output.ellipsisAt >= 0 ? c.ellipsisRank : 0);
  auto dims = bindTerm(output, outRank, c.ellipsisRank, letters, error);
  if (failed(dims))
    return failure();
  c.outputDims = *dims;
  return c;
}

/// Σ over every index not in the output of Π operand elements, in double.
/// Returns nothing when the work or the result is above the fold limits.
std::optional<ElementsAttr> evaluate(const Contraction &c,
                                     ArrayRef<ConstTensor> operands,
                                     RankedTensorType resultType) {
  int64_t work = 1;
  for (int64_t size : c.sizes) {
    if (size > 0 && work > kEinsumWorkLimit / size)
      return std::nullopt;
    work *= size;
  }
  if (resultType.getNumElements() > kMathLimit)
    return std::nullopt;
  int64_t numIndices = c.sizes.size();
  // Stride of each operand (and the output) along each index; a repeated
  // letter adds its strides (the diagonal), a broadcast dim of size 1 has 0.
  SmallVector<SmallVector<int64_t>> strides;
  for (auto [dims, t] : llvm::zip(c.inputDims, operands)) {
    SmallVector<int64_t> s(numIndices, 0), own = stridesOf(t.shape());
    for (auto [d, index] : llvm::enumerate(dims))
      if (t.shape()[d] != 1 || c.sizes[index] == 1)
        s[index] += own[d];
    strides.push_back(s);
  }
  SmallVector<int64_t> outStrides(numIndices, 0);
  SmallVector<int64_t> own = stridesOf(resultType.getShape());
  for (auto [d, index] : llvm::enumerate(c.outputDims))
    outStrides[index] = own[d];

  std::vector<double> acc(resultType.getNumElements(), 0.0);
  SmallVector<int64_t> idx(numIndices, 0), offset(operands.size() + 1, 0);
  for (int64_t step = 0; step < work; ++step) {
    double product = 1.0;
    for (size_t k = 0; k < operands.size(); ++k)
      product *= operands[k].getDouble(offset[k]);
    acc[offset.back()] += product;
    for (int64_t i = numIndices - 1; i >= 0; --i) { // odometer
      for (size_t k = 0; k < operands.size(); ++k)
        offset[k] += strides[k][i];
      offset.back() += outStrides[i];
      if (++idx[i] < c.sizes[i])
        break;
      for (size_t k = 0; k < operands.size(); ++k)
        offset[k] -= strides[k][i] * idx[i];
      offset.back() -= outStrides[i] * idx[i];
      idx[i] = 0;
    }
  }
  Type et = resultType.getElementType();
  std::vector<char> bytes(acc.size() * elementBytes(et));
  for (size_t o = 0; o < acc.size(); ++o)
    storeDouble(et, bytes.data(), o, acc[o]);
  return makeElements(resultType, bytes);
}

/// The result shape a contraction gives (dynamic where an index is).
SmallVector<int64_t> resultShape(const Contraction &c) {
  return llvm::map_to_vector(c.outputDims,
                             [&](int64_t index) { return c.sizes[index]; });
}

/// Parses and binds an equation the verifier has accepted (so errors, which
/// it reported, only make the caller decline).
FailureOr<Contraction> bindQuietly(StringRef equation,
                                   ArrayRef<RankedTensorType> types) {
  auto quiet = [] { return InFlightDiagnostic(); };
  auto eq = parseEquation(equation, quiet);
  if (failed(eq))
    return failure();
  return bindEquation(*eq, types, quiet);
}

OpFoldResult foldContraction(Operation *op, StringRef equation,
                             ArrayRef<Attribute> operandAttrs) {
  auto type = staticType(op->getResult(0));
  if (!type || !elementBytes(type.getElementType()))
    return {};
  auto operands = constsOf(operandAttrs);
  if (!operands)
    return {};
  auto types = llvm::map_to_vector(*operands, [](auto &t) { return t.type; });
  auto c = bindQuietly(equation, types);
  if (failed(c) || resultShape(*c) != type.getShape())
    return {};
  if (auto result = evaluate(*c, *operands, type))
    return *result;
  return {};
}

} // namespace

LogicalResult EinsumOp::verify() {
  auto error = [&] { return emitOpError() << "equation '" << getEquation() << "': "; };
  auto eq = parseEquation(getEquation(), error);
  if (failed(eq))
    return failure();
  SmallVector<RankedTensorType> types;
  for (Value v : getInputs()) {
    if (!rankedType(v))
      return success(); // ranks not known yet
    types.push_back(rankedType(v));
  }
  auto c = bindEquation(*eq, types, error);
  if (failed(c))
    return failure();
  auto result = rankedType(getOutput());
  if (result && failed(verifyCompatibleShape(result.getShape(), resultShape(*c))))
    return emitOpError() << "result type " << result
                         << " does not match the equation's shape";
  return success();
}

/// Static result dims from the equation once the operands' dims are static.
LogicalResult EinsumOp::canonicalize(EinsumOp op, PatternRewriter &rewriter) {
  auto current = dyn_cast<TensorType>(op.getType());
  if (staticType(op.getOutput()))
    return failure();
  SmallVector<RankedTensorType> types;
  for (Value v : op.getInputs()) {
    if (!staticType(v))
      return failure();
    types.push_back(staticType(v));
  }
  auto c = bindQuietly(op.getEquation(), types);
  if (failed(c))
    return failure();
  auto refined = RankedTensorType::get(resultShape(*c), current.getElementType());
  if (failed(verifyCompatibleShape(refined, current)))
    return failure();
  rewriter.modifyOpInPlace(op, [&] { op.getOutput().setType(refined); });
  for (Operation *user : op.getOutput().getUsers()) // their types may refine
    rewriter.modifyOpInPlace(user, [] {});
  return success();
}

OpFoldResult EinsumOp::fold(FoldAdaptor a) {
  return foldContraction(*this, getEquation(), a.getInputs());
}

/// numpy matmul: a 1-D operand is a row (A) or column (B) vector whose dim
/// does not appear in the result.
OpFoldResult MatMulOp::fold(FoldAdaptor a) {
  auto lhs = rankedType(getA()), rhs = rankedType(getB());
  if (!lhs || !rhs)
    return {};
  StringRef left = lhs.getRank() == 1 ? "j" : "...ij";
  StringRef right = rhs.getRank() == 1 ? "j" : "...jk";
  std::string out = std::string(lhs.getRank() == 1 && rhs.getRank() == 1 ? "" : "...") +
                    (lhs.getRank() == 1 ? "" : "i") + (rhs.getRank() == 1 ? "" : "k");
  return foldContraction(*this, (left + "," + right + "->" + out).str(),
                         a.getOperands());
}

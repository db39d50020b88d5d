//===- Common.h - Matchers shared by the ONNX lifting patterns --*- C++ -*-===//
//
// The lifting patterns look at `onnx` ops by name (`onnx.<OpType>`) and read
// operands in ONNX input order and attributes by their ONNX names, so they
// depend only on the ONNX operator spec (onnx.ai/onnx/operators), not on the
// C++ classes of the onnx dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_COMMON_H
#define SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_COMMON_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

#include <cstdint>
#include <optional>
#include <string>

namespace spatten {
enum class BinaryFn : uint32_t; // SpAttenOps.td
} // namespace spatten

namespace spatten::lift {
using namespace mlir;

/// True if `op` is the ONNX node `onnx.<type>`.
bool isOnnx(Operation *op, StringRef type);
/// True if `op` belongs to the onnx dialect (registered or not).
bool isOnnxDialect(Operation *op);
/// The ONNX node name that the importer stores as a NameLoc, or "<unnamed>".
std::string nodeName(Operation *op);

/// The ONNX name of a graph input (`onnx.name`), or `#<argument number>`.
std::string argName(BlockArgument arg);

/// Skips ops that do not change the value: Identity, Dropout (inference) and
/// a Cast whose result type equals its input type (PyTorch's `.float()`).
Value skipNoOps(Value v);
/// The defining op of `skipNoOps(v)` if it is `onnx.<type>`, else null.
Operation *defOnnx(Value v, StringRef type);

/// ONNX input `index` of an op whose optional inputs are recorded in
/// operandSegmentSizes (e.g. Slice); null when absent.
Value getOnnxInput(Operation *op, unsigned index);

std::optional<int64_t> getIntAttr(Operation *op, StringRef name);
std::optional<SmallVector<int64_t>> getIntsAttr(Operation *op, StringRef name);
std::optional<double> getFloatAttr(Operation *op, StringRef name);

/// The ElementsAttr of a constant (arith.constant or any ConstantLike op, or
/// `onnx.Constant` with a `value` attribute), else null.
ElementsAttr getConstAttr(Value v);
/// Element values of a dense or resource constant (float, integer or bool
/// elements), in row-major order; nullopt for other encodings.
std::optional<SmallVector<double>> readValues(ElementsAttr attr);
/// Integer values of a constant (e.g. Slice starts, Gather indices).
std::optional<SmallVector<int64_t>> getConstInts(Value v);
/// The value of a constant whose elements are all equal (a scalar or splat).
std::optional<double> getScalarConst(Value v);
/// Relative comparison for constants that exporters store in fp32.
bool approxEq(double a, double b, double rel = 1e-3);

RankedTensorType tensorTypeOf(Value v);
ArrayRef<int64_t> shapeOf(Value v);
bool isF32Tensor(Value v);
/// The only user of `v`, or null when it has none or several.
Operation *soleUser(Value v);
/// A weight is a constant or a graph input: not computed by the graph.
bool isWeight(Value v);
/// `v` viewed with `shape` through spatten.reshape (no-op if equal).
Value reshapeTo(OpBuilder &rw, Location loc, Value v,
                ArrayRef<int64_t> shape);
/// `v` with dims permuted by `perm` through spatten.transpose (no-op for
/// the identity).
Value permute(OpBuilder &rw, Location loc, Value v, ArrayRef<int64_t> perm);
/// spatten.binary `fn` of `lhs` and `rhs` with the shape they broadcast to
/// (ONNX multidirectional broadcasting); failure when they do not.
FailureOr<Value> broadcastBinary(OpBuilder &rw, Location loc, BinaryFn fn,
                                 Value lhs, Value rhs);
/// A rank-0 fp32 arith.constant.
Value scalarConst(OpBuilder &rw, Location loc, double v);
/// `shape` normalised to `[N]` when all leading dims are 1, else nullopt.
std::optional<int64_t> vectorLength(Value v);

/// Multi-head attention (Q·K^T, scale, mask, Softmax, ·V). `causalInputs`
/// names graph inputs that the caller guarantees hold a causal 0/1 mask.
void populateAttentionPatterns(RewritePatternSet &patterns,
                               ArrayRef<std::string> causalInputs);
/// Why the attention subgraph ending at a Softmax left unlifted was not
/// recognised (e.g. a run-time per-query mask), or "" when the Softmax does
/// not look like attention.
std::string explainUnliftedAttention(Operation *softmax,
                                     ArrayRef<std::string> causalInputs);
/// LayerNorm (decomposed forms, LayerNormalization), RMSNorm, SiLU and GELU.
void populateNormActPatterns(RewritePatternSet &patterns);
/// Why the LayerNorm rooted at `op` (an Add/Sub left after the fusions, or
/// a LayerNormalization) was not lifted, e.g. "the centring Sub has (mean,
/// x) where (x, mean) was expected"; "" when `op` does not root a near-miss.
std::string explainUnliftedNorm(Operation *op);
/// Rotary position embeddings on attention heads (Hugging Face LLaMA's
/// `q * cos + rotate_half(q) * sin`, and GPT-NeoX's on the first columns of
/// each head) to spatten.rotary_embedding.
void populateRotaryPatterns(RewritePatternSet &patterns);
/// Why the rotary embedding rooted at the Add `op`, left after the fusions,
/// was not lifted (e.g. run-time cos/sin tables); "" when `op` does not
/// root one.
std::string explainUnliftedRotary(Operation *op);
/// MatMul(+Add) and Gemm to spatten.linear; Gather of a table to embedding.
void populateLinearPatterns(RewritePatternSet &patterns);
/// A patch-embedding Conv (stride = kernel, no padding, dilation or groups,
/// a weight W) to a spatten.linear over the flattened patches.
void populateConvPatterns(RewritePatternSet &patterns);
/// Why the Conv `op` is not a patch embedding (e.g. "has pads [1, 1, 1, 1]
/// (only zero padding)"); "" when `op` is not a Conv or is one.
std::string explainUnliftedConv(Operation *op);

/// Fallbacks for ops left after the fusions (Fallback.cpp): ReduceSum/
/// ReduceMean/ReduceMax over any constant axes, Softmax/LogSoftmax along
/// any axis, MatMul of two computed tensors (GEMM per broadcast batch). On
/// failure `why` says what is unsupported.
LogicalResult convertReduce(Operation *op, RewriterBase &rw, std::string &why);
LogicalResult convertSoftmaxLike(Operation *op, RewriterBase &rw,
                                 std::string &why);
LogicalResult convertComputedMatMul(Operation *op, RewriterBase &rw,
                                    std::string &why);

/// One-to-one lowering of a single ONNX op left after the fusions. On
/// failure `why` says what is unsupported.
LogicalResult convertOneToOne(Operation *op, RewriterBase &rw,
                              std::string &why);

} // namespace spatten::lift

#endif

//===- ONNXOps.td - ONNX operators -------------------------*- tablegen -*-===//
//
// Operand, result and attribute names are those of the ONNX operator spec
// (https://github.com/onnx/onnx/blob/main/docs/Operators.md), opset 13 forms.
// INT attributes are I64Attr, FLOAT are F32Attr, INTS are DenseI64ArrayAttr,
// TENSOR are ElementsAttr (dense or dense_resource).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ONNX_OPS_TD
#define SPATTEN_ONNX_OPS_TD

include "spatten/Dialect/ONNX/IR/ONNXDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

// Operands and results are tensors. They are ranked except where libonnx 1.12
// shape inference could not tell the rank at import (its data propagation
// does not read Constant nodes); -canonicalize then ranks them.
defvar T = AnyTensor;

// Ops whose operands are all present use a compact form:
//   %r = onnx.Add(%a, %b) {attrs} : (tensor<..>, tensor<..>) -> tensor<..>
// Ops with optional inputs keep MLIR's generic form, whose
// operandSegmentSizes property records which optional inputs are present.
class ONNX_CompactOp<string mnemonic, list<Trait> traits = []>
    : ONNX_Op<mnemonic, traits> {
  let assemblyFormat =
      "`(` operands `)` attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class ONNX_UnaryOp<string mnemonic, string inName = "X", string outName = "Y",
                   list<Trait> traits = []>
    : ONNX_CompactOp<mnemonic, traits> {
  let summary = "elementwise " # mnemonic # " (ONNX " # mnemonic # ")";
  let arguments = !dag(ins, [T], [inName]);
  let results = !dag(outs, [T], [outName]);
  let hasVerifier = 1;
}

// Every elementwise op folds on constants: exporters compute rotary tables
// (Cos/Sin of an outer product) and masks with them.
let hasFolder = 1 in {
def ONNX_SqrtOp : ONNX_UnaryOp<"Sqrt">;
def ONNX_ReciprocalOp : ONNX_UnaryOp<"Reciprocal">;
def ONNX_ReluOp : ONNX_UnaryOp<"Relu">;
def ONNX_SigmoidOp : ONNX_UnaryOp<"Sigmoid">;
def ONNX_NegOp : ONNX_UnaryOp<"Neg">;
def ONNX_NotOp : ONNX_UnaryOp<"Not">;
def ONNX_AbsOp : ONNX_UnaryOp<"Abs">;
def ONNX_FloorOp : ONNX_UnaryOp<"Floor">;
def ONNX_CeilOp : ONNX_UnaryOp<"Ceil">;
def ONNX_ErfOp : ONNX_UnaryOp<"Erf", "input", "output">;
def ONNX_TanhOp : ONNX_UnaryOp<"Tanh", "input", "output">;
def ONNX_ExpOp : ONNX_UnaryOp<"Exp", "input", "output">;
def ONNX_LogOp : ONNX_UnaryOp<"Log", "input", "output">;
def ONNX_CosOp : ONNX_UnaryOp<"Cos", "input", "output">;
def ONNX_SinOp : ONNX_UnaryOp<"Sin", "input", "output">;
def ONNX_IsNaNOp : ONNX_UnaryOp<"IsNaN">;
}

def ONNX_IsInfOp : ONNX_CompactOp<"IsInf"> {
  let summary = "elementwise test for +inf (detect_positive) and -inf (detect_negative)";
  let arguments = (ins T:$X, DefaultValuedAttr<I64Attr, "1">:$detect_negative,
                   DefaultValuedAttr<I64Attr, "1">:$detect_positive);
  let results = (outs T:$Y);
  let hasVerifier = 1;
  let hasFolder = 1;
}
def ONNX_IdentityOp : ONNX_UnaryOp<"Identity", "input", "output"> {
  let hasFolder = 1;
}

class ONNX_BinaryOp<string mnemonic, string lhsName = "A",
                    string rhsName = "B", string outName = "C">
    : ONNX_CompactOp<mnemonic> {
  let summary = "elementwise " # mnemonic #
                " with multidirectional (numpy) broadcasting";
  let arguments = !dag(ins, [T, T], [lhsName, rhsName]);
  let results = !dag(outs, [T], [outName]);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_AddOp : ONNX_BinaryOp<"Add">;
def ONNX_SubOp : ONNX_BinaryOp<"Sub">;
def ONNX_MulOp : ONNX_BinaryOp<"Mul">;
def ONNX_DivOp : ONNX_BinaryOp<"Div">;
def ONNX_PowOp : ONNX_BinaryOp<"Pow", "X", "Y", "Z">;
def ONNX_EqualOp : ONNX_BinaryOp<"Equal">;
def ONNX_LessOp : ONNX_BinaryOp<"Less">;
def ONNX_LessOrEqualOp : ONNX_BinaryOp<"LessOrEqual">;
def ONNX_GreaterOp : ONNX_BinaryOp<"Greater">;
def ONNX_GreaterOrEqualOp : ONNX_BinaryOp<"GreaterOrEqual">;
def ONNX_AndOp : ONNX_BinaryOp<"And">;
def ONNX_OrOp : ONNX_BinaryOp<"Or">;

def ONNX_ModOp : ONNX_CompactOp<"Mod"> {
  let summary = "elementwise remainder with broadcasting";
  let description = [{
    With `fmod` = 0 (integers only) the remainder takes the sign of the
    divisor, as Python's `%`; with `fmod` = 1 it takes the sign of the
    dividend, as C's `fmod`.
  }];
  let arguments = (ins T:$A, T:$B, DefaultValuedAttr<I64Attr, "0">:$fmod);
  let results = (outs T:$C);
  let hasVerifier = 1;
  let hasFolder = 1;
}

class ONNX_VariadicOp<string mnemonic, string outName>
    : ONNX_CompactOp<mnemonic> {
  let summary = "elementwise " # mnemonic # " of one or more inputs";
  let arguments = (ins Variadic<T>:$data_0);
  let results = !dag(outs, [T], [outName]);
  let hasVerifier = 1;
  let hasFolder = 1;
}
def ONNX_MaxOp : ONNX_VariadicOp<"Max", "max">;
def ONNX_MinOp : ONNX_VariadicOp<"Min", "min">;
def ONNX_SumOp : ONNX_VariadicOp<"Sum", "sum">;

def ONNX_WhereOp : ONNX_CompactOp<"Where"> {
  let summary = "select X where condition else Y, with broadcasting";
  let arguments = (ins T:$condition, T:$X, T:$Y);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_CastOp : ONNX_CompactOp<"Cast"> {
  let summary = "element type conversion; `to` is an ONNX TensorProto.DataType";
  let arguments = (ins T:$input, I64Attr:$to);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_ClipOp : ONNX_Op<"Clip", [AttrSizedOperandSegments]> {
  let summary = "clamp to [min, max] (absent bounds are unbounded)";
  let arguments = (ins T:$input, Optional<T>:$min, Optional<T>:$max);
  let results = (outs T:$output);
}

//===----------------------------------------------------------------------===//
// Linear algebra and normalization
//===----------------------------------------------------------------------===//

def ONNX_MatMulOp : ONNX_CompactOp<"MatMul"> {
  let summary = "numpy matmul: batched over leading dims, broadcasting";
  let arguments = (ins T:$A, T:$B);
  let results = (outs T:$Y);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_EinsumOp : ONNX_CompactOp<"Einsum"> {
  let summary = "Einstein summation over `equation` (ONNX Einsum-12)";
  let description = [{
    `equation` is `term,term,...[->term]`: one term of letters per input,
    each letter a dim (a letter repeated in one term takes the diagonal), at
    most one `...` per term for broadcast leading dims. Without `->` the
    output is `...` followed by the letters used once, in alphabetical order.
    Letters absent from the output are summed over.
  }];
  let arguments = (ins Variadic<T>:$Inputs, StrAttr:$equation);
  let results = (outs T:$Output);
  let hasVerifier = 1;
  let hasFolder = 1;
  // libonnx 1.12 infers only the rank: the dims come from the equation.
  let hasCanonicalizeMethod = 1;
}

def ONNX_GemmOp : ONNX_Op<"Gemm"> {
  let summary = "Y = alpha * op(A) * op(B) + beta * C";
  let description = [{
    `A` is `[M, K]` (`[K, M]` when `transA`), `B` is `[K, N]` (`[N, K]` when
    `transB`), `C` broadcasts to `[M, N]`.
  }];
  let arguments = (ins T:$A, T:$B, Optional<T>:$C,
                   DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                   DefaultValuedAttr<F32Attr, "1.0">:$beta,
                   DefaultValuedAttr<I64Attr, "0">:$transA,
                   DefaultValuedAttr<I64Attr, "0">:$transB);
  let results = (outs T:$Y);
  let hasVerifier = 1;
}

def ONNX_ConvOp : ONNX_Op<"Conv"> {
  let summary = "N-d convolution (cross-correlation) of `X` by `W`, plus `B`";
  let description = [{
    `X` is `[N, C, D1, ...]`, `W` is `[M, C/group, k1, ...]`, `B` is `[M]`.
    Only the patch-embedding form (stride = kernel, no padding, dilation or
    groups) is lifted; the attributes are kept as imported so the lift can
    name the one that is not supported.
  }];
  let arguments = (ins T:$X, T:$W, Optional<T>:$B,
                   DefaultValuedAttr<StrAttr, "\"NOTSET\"">:$auto_pad,
                   OptionalAttr<DenseI64ArrayAttr>:$dilations,
                   DefaultValuedAttr<I64Attr, "1">:$group,
                   OptionalAttr<DenseI64ArrayAttr>:$kernel_shape,
                   OptionalAttr<DenseI64ArrayAttr>:$pads,
                   OptionalAttr<DenseI64ArrayAttr>:$strides);
  let results = (outs T:$Y);
}

class ONNX_SoftmaxLikeOp<string mnemonic> : ONNX_CompactOp<mnemonic> {
  let summary = mnemonic # " along `axis` (opset 13 semantics)";
  let description = [{
    `coerce_2d` marks opset 1-12 semantics: the input is viewed as 2-D,
    dims [0, axis) by [axis, rank), and normalized along the second. It
    equals the opset-13 definition when `axis` is the last dim; the
    canonicalizer then drops the flag. A flag left over means the old
    semantics really differ, and later passes must reject the op.
  }];
  let arguments = (ins T:$input, DefaultValuedAttr<I64Attr, "-1">:$axis,
                   UnitAttr:$coerce_2d);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasCanonicalizeMethod = 1;
}
def ONNX_SoftmaxOp : ONNX_SoftmaxLikeOp<"Softmax">;
def ONNX_LogSoftmaxOp : ONNX_SoftmaxLikeOp<"LogSoftmax">;

def ONNX_LayerNormalizationOp
    : ONNX_Op<"LayerNormalization", [AttrSizedResultSegments]> {
  let summary = "layer normalization over dims [axis, rank) (opset 17)";
  let arguments = (ins T:$X, T:$Scale, Optional<T>:$B,
                   DefaultValuedAttr<I64Attr, "-1">:$axis,
                   DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                   DefaultValuedAttr<I64Attr, "1">:$stash_type);
  let results = (outs T:$Y, Optional<T>:$Mean, Optional<T>:$InvStdDev);
  let hasVerifier = 1;
}

def ONNX_DropoutOp : ONNX_Op<"Dropout", [AttrSizedOperandSegments]> {
  let summary = "dropout; the identity unless training_mode is true";
  let arguments = (ins T:$data, Optional<T>:$ratio, Optional<T>:$training_mode,
                   OptionalAttr<I64Attr>:$seed);
  let results = (outs T:$output, Optional<T>:$mask);
  let hasCanonicalizeMethod = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class ONNX_ReduceAttrOp<string mnemonic> : ONNX_CompactOp<mnemonic> {
  let summary = mnemonic # " over `axes` (all axes when absent)";
  let arguments = (ins T:$data, OptionalAttr<DenseI64ArrayAttr>:$axes,
                   DefaultValuedAttr<I64Attr, "1">:$keepdims);
  let results = (outs T:$reduced);
  let hasVerifier = 1;
}
def ONNX_ReduceMeanOp : ONNX_ReduceAttrOp<"ReduceMean">;
def ONNX_ReduceMaxOp : ONNX_ReduceAttrOp<"ReduceMax">;
def ONNX_ReduceMinOp : ONNX_ReduceAttrOp<"ReduceMin">;
def ONNX_ReduceProdOp : ONNX_ReduceAttrOp<"ReduceProd"> { let hasFolder = 1; }

def ONNX_CumSumOp : ONNX_CompactOp<"CumSum"> {
  let summary = "cumulative sum along the scalar `axis` input";
  let arguments = (ins T:$x, T:$axis, DefaultValuedAttr<I64Attr, "0">:$exclusive,
                   DefaultValuedAttr<I64Attr, "0">:$reverse);
  let results = (outs T:$y);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_ReduceSumOp : ONNX_Op<"ReduceSum"> {
  let summary = "sum over the `axes` input (opset 13)";
  let arguments = (ins T:$data, Optional<T>:$axes,
                   DefaultValuedAttr<I64Attr, "1">:$keepdims,
                   DefaultValuedAttr<I64Attr, "0">:$noop_with_empty_axes);
  let results = (outs T:$reduced);
}

//===----------------------------------------------------------------------===//
// Shapes and data movement
//===----------------------------------------------------------------------===//

def ONNX_ConstantOp : ONNX_Op<"Constant", [ConstantLike]> {
  let summary = "a constant tensor (ONNX Constant node or initializer)";
  let description = [{
    `value` is a `dense<...>` attribute for small tensors or a
    `dense_resource<...>` blob for initializers and large folded tensors.
    The importer normalizes `value_float`, `value_ints`, ... into `value`.
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs T:$output);
  let assemblyFormat = "attr-dict `:` type($output)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_ConstantOfShapeOp : ONNX_CompactOp<"ConstantOfShape"> {
  let summary = "tensor of shape `input` filled with the one-element `value`";
  let arguments = (ins T:$input, OptionalAttr<ElementsAttr>:$value);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_ShapeOp : ONNX_CompactOp<"Shape"> {
  let summary = "the shape of `data` as a 1-D i64 tensor (dims [start, end))";
  let arguments = (ins T:$data, OptionalAttr<I64Attr>:$start,
                   OptionalAttr<I64Attr>:$end);
  let results = (outs T:$shape);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_SizeOp : ONNX_CompactOp<"Size"> {
  let summary = "the number of elements of `data` as an int64 scalar";
  let arguments = (ins T:$data);
  let results = (outs T:$size);
  let hasFolder = 1;
}

def ONNX_RangeOp : ONNX_CompactOp<"Range"> {
  let summary = "[start, limit) by delta; scalar inputs";
  let arguments = (ins T:$start, T:$limit, T:$delta);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_ReshapeOp : ONNX_CompactOp<"Reshape"> {
  let summary = "reshape to `shape` (0 copies the input dim unless allowzero)";
  let arguments = (ins T:$data, T:$shape,
                   DefaultValuedAttr<I64Attr, "0">:$allowzero);
  let results = (outs T:$reshaped);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_FlattenOp : ONNX_CompactOp<"Flatten"> {
  let summary = "flatten to 2-D: dims [0, axis) and [axis, rank)";
  let arguments = (ins T:$input, DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs T:$output);
  let hasFolder = 1;
}

def ONNX_ExpandOp : ONNX_CompactOp<"Expand"> {
  let summary = "broadcast `input` to `shape` (numpy rules)";
  let arguments = (ins T:$input, T:$shape);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_TileOp : ONNX_CompactOp<"Tile"> {
  let summary = "repeat `input` `repeats[d]` times along each dim d";
  let arguments = (ins T:$input, T:$repeats);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_TriluOp : ONNX_Op<"Trilu"> {
  let summary = "upper or lower triangle of the last two dims (ONNX Trilu-14)";
  let description = [{
    Keeps element (i, j) of each `[N, M]` matrix when `j - i >= k` (`upper`
    = 1) or `j - i <= k` (`upper` = 0) and zeroes the rest; `k` is an
    optional int64 scalar input, 0 when absent.
  }];
  let arguments = (ins T:$input, Optional<T>:$k,
                   DefaultValuedAttr<I64Attr, "1">:$upper);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_UnsqueezeOp : ONNX_CompactOp<"Unsqueeze"> {
  let summary = "insert size-1 dims at `axes` (of the output)";
  let arguments = (ins T:$data, T:$axes);
  let results = (outs T:$expanded);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_SqueezeOp : ONNX_Op<"Squeeze"> {
  let summary = "remove size-1 dims at `axes` (all size-1 dims when absent)";
  let arguments = (ins T:$data, Optional<T>:$axes);
  let results = (outs T:$squeezed);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_TransposeOp : ONNX_CompactOp<"Transpose"> {
  let summary = "permute dims: output dim i is input dim perm[i]";
  let arguments = (ins T:$data, OptionalAttr<DenseI64ArrayAttr>:$perm);
  let results = (outs T:$transposed);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_GatherOp : ONNX_CompactOp<"Gather"> {
  let summary = "take entries of `data` along `axis` at `indices`";
  let arguments = (ins T:$data, T:$indices,
                   DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_ConcatOp : ONNX_CompactOp<"Concat"> {
  let summary = "concatenate along `axis`";
  let arguments = (ins Variadic<T>:$inputs, I64Attr:$axis);
  let results = (outs T:$concat_result);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_SplitOp : ONNX_Op<"Split"> {
  let summary = "split along `axis` into parts of sizes `split` (equal if absent)";
  let arguments = (ins T:$input, Optional<T>:$split,
                   DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Variadic<T>:$outputs);
  let hasVerifier = 1;
  let hasFolder = 1;
}

def ONNX_SliceOp : ONNX_Op<"Slice", [AttrSizedOperandSegments]> {
  let summary = "numpy-style slice by `starts`, `ends`, `axes`, `steps` (opset 13)";
  let arguments = (ins T:$data, T:$starts, T:$ends, Optional<T>:$axes,
                   Optional<T>:$steps);
  let results = (outs T:$output);
  let hasVerifier = 1;
  let hasFolder = 1;
}

#endif // SPATTEN_ONNX_OPS_TD

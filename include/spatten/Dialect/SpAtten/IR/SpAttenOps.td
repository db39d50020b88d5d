//===- SpAttenOps.td - SpAtten transformer ops -------------*- tablegen -*-===//

#ifndef SPATTEN_OPS_TD
#define SPATTEN_OPS_TD

include "spatten/Dialect/SpAtten/IR/SpAttenDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def SpAtten_F32Tensor : RankedTensorOf<[F32]>;
def SpAtten_IndexTensor : RankedTensorOf<[I32, I64]>;

def SpAtten_LinearOp : SpAtten_Op<"linear", [Pure]> {
  let summary = "fully connected layer: y = x * W (+ b)";
  let description = [{
    `x` is `[..., K]` (rows of K features), `weight` is `[K, N]`, or `[N, K]`
    when `transpose_weight` is set (PyTorch nn.Linear / ONNX Gemm transB),
    `bias` is `[N]`. The result is `[..., N]`. Runs on the GEMM unit (hardware
    config `gemm_multipliers`), the whole-model extension of the design.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_F32Tensor:$weight,
                       Optional<SpAtten_F32Tensor>:$bias,
                       UnitAttr:$transpose_weight);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SpAtten_AttentionOp : SpAtten_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "multi-head scaled dot-product attention";
  let description = [{
    `query` is `[B, Lq, H*D]`, `key` and `value` are `[B, Lk, H*D]`, with
    head h in columns `[h*D, (h+1)*D)`. Per batch and head:
    `out = softmax(scale * Q K^T + mask) V` (paper Sec. II, Fig. 2).

    `mask_kind`:
      - `none`: no mask;
      - `padding`: `mask` is an fp32 bias added to the scores, either one
        row per key `[B, Lk]` (BERT exports: `(1 - attention_mask) * -10000`)
        or one row per query `[B, Lq, Lk]`, or one `[Lq, Lk]` block per head
        `[B, H, Lq, Lk]` (a score bias: T5's relative position bias with
        its mask added in). With `mask_fill`, `mask` is a
        0/1 selector m instead and scores become `s*m + mask_fill*(1-m)`
        (Hugging Face GPT-2's `w*b - 1e4*(1-b)` on a run-time mask);
      - `causal`: query i sees keys j <= i + P, P the past length;
      - `padding_causal`: both.

    With a KV cache, `past_key` and `past_value` are `[B, H, P, D]` and are
    placed before the new keys, so Lk counts the past too. `present_key` and
    `present_value` are then `[B, H, P + L, D]`: the cache after this step.
    The result `output` is `[B, Lq, H*D]`.
  }];
  let arguments = (ins SpAtten_F32Tensor:$query, SpAtten_F32Tensor:$key,
                       SpAtten_F32Tensor:$value,
                       Optional<SpAtten_F32Tensor>:$mask,
                       Optional<SpAtten_F32Tensor>:$past_key,
                       Optional<SpAtten_F32Tensor>:$past_value,
                       I64Attr:$num_heads, F32Attr:$scale,
                       SpAtten_MaskKindAttr:$mask_kind,
                       OptionalAttr<F32Attr>:$mask_fill);
  let results = (outs SpAtten_F32Tensor:$output,
                      Variadic<SpAtten_F32Tensor>:$present);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `)`)?
    (`past` `(` $past_key^ `,` $past_value `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getHeadDim() {
      return getQuery().getType().getShape().back() / getNumHeads();
    }
    /// The key/value caches after this step, or null without a KV cache.
    mlir::Value getPresentKey() {
      return getPresent().empty() ? mlir::Value() : getPresent()[0];
    }
    mlir::Value getPresentValue() {
      return getPresent().size() < 2 ? mlir::Value() : getPresent()[1];
    }
  }];
}

def SpAtten_LayerNormOp : SpAtten_Op<"layer_norm", [Pure]> {
  let summary = "layer normalization over the last dimension";
  let description = [{
    `input` is `[..., N]`; `gamma` and `beta` are `[N]`. Each row becomes
    `(x - mean) / sqrt(var + epsilon) * gamma + beta`, with the biased
    variance (ONNX LayerNormalization, axis -1); with
    `epsilon_outside_sqrt`, `(x - mean) / (sqrt(var) + epsilon) * gamma +
    beta` (exporters that add epsilon to the standard deviation). Runs on
    the vector unit.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_F32Tensor:$gamma,
                       SpAtten_F32Tensor:$beta, F32Attr:$epsilon,
                       UnitAttr:$epsilon_outside_sqrt);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SpAtten_RmsNormOp : SpAtten_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalization over the last dimension";
  let description = [{
    `input` is `[..., N]`; `gamma` is `[N]`. Each row becomes
    `x / sqrt(mean(x^2) + epsilon) * gamma` (RMSNorm, Zhang and Sennrich
    2019, as LLaMA exports it: `x * rsqrt(mean(x^2) + eps) * weight`); with
    `epsilon_outside_sqrt`, `x / (sqrt(mean(x^2)) + epsilon) * gamma`. Runs
    on the vector unit.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_F32Tensor:$gamma,
                       F32Attr:$epsilon, UnitAttr:$epsilon_outside_sqrt);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $gamma attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SpAtten_RotaryEmbeddingOp : SpAtten_Op<"rotary_embedding", [Pure]> {
  let summary = "rotary position embedding of every attention head";
  let description = [{
    `input` is `[B, L, H*D]` (the Q or K projection, head h in columns
    `[h*D, (h+1)*D)`), `cos` and `sin` are `[L, R]`: row l holds the table
    row of the position of token l. D is `head_dim`, R when absent. The
    first R columns x of each head's row become
    `x * cos + rotate_half(x) * sin` with `rotate_half(x) = concat(-x[R/2:],
    x[:R/2])`: the rotation of the pairs (i, i + R/2) by the angle of
    position and frequency i mod R/2 (RoFormer, Su et al. 2021, Eq. 34, in
    Hugging Face LLaMA's half-split pairing; the tables are
    `cos(p * theta^(-2i/R))` repeated twice). Columns R to D pass through
    unchanged: GPT-NeoX (Pythia) rotates only `rotary_pct` of each head,
    a partial rotary embedding. R is even and at most D. The result has
    the input's shape. Cascade token pruning gathers the table rows of the
    kept tokens, so a token keeps its original position. Runs on the
    vector unit (`vec rotary`, one instruction per head and row tile).
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_F32Tensor:$cos,
                       SpAtten_F32Tensor:$sin, OptionalAttr<I64Attr>:$head_dim);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $input `,` $cos `,` $sin attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// R: the rotated columns of each head (the tables' width).
    int64_t getRotaryDims() { return getCos().getType().getShape().back(); }
    /// D: the columns of each head.
    int64_t getHeadColumns() { return getHeadDim().value_or(getRotaryDims()); }
  }];
}

def SpAtten_GeluOp : SpAtten_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "GELU activation";
  let description = [{
    `erf`: `0.5 x (1 + erf(x / sqrt 2))` (BERT). `tanh`:
    `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GPT-2). Any shape.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input,
                       SpAtten_GeluApproxAttr:$approximation);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$input $approximation attr-dict `:` type($input)";
}

def SpAtten_EmbeddingOp : SpAtten_Op<"embedding", [Pure]> {
  let summary = "embedding lookup (row gather)";
  let description = [{
    `indices` is any shape `[...]` of int64/int32 token ids, `table` is
    `[V, D]`; the result is `[..., D]` with row `table[indices[...]]`.
    Lowered to an index-gather DMA. Ids outside `[0, V)` are a runtime error
    in the simulator (ONNX Gather semantics without negative indices).
  }];
  let arguments = (ins SpAtten_IndexTensor:$indices, SpAtten_F32Tensor:$table);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $indices `,` $table attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SpAtten_UnaryOp : SpAtten_Op<"unary", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise unary function";
  let description = "Any shape. Runs on the vector unit.";
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_UnaryFnAttr:$fn);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$fn $input attr-dict `:` type($input)";
}

def SpAtten_BinaryOp : SpAtten_Op<"binary", [Pure]> {
  let summary = "elementwise binary function with NumPy broadcasting";
  let description = [{
    Operands broadcast as in ONNX (multidirectional broadcasting); the
    result has the broadcast shape. Runs on the vector unit.
  }];
  let arguments = (ins SpAtten_F32Tensor:$lhs, SpAtten_F32Tensor:$rhs,
                       SpAtten_BinaryFnAttr:$fn);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $fn $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SpAtten_SoftmaxOp : SpAtten_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "softmax over the last dimension";
  let arguments = (ins SpAtten_F32Tensor:$input);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def SpAtten_LogSoftmaxOp : SpAtten_Op<"log_softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "log-softmax over the last dimension";
  let description = [{
    `x - max - log(sum(exp(x - max)))` per row (ONNX LogSoftmax, axis -1).
    Runs on the vector unit.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def SpAtten_ReduceOp : SpAtten_Op<"reduce", [Pure]> {
  let summary = "sum, mean or max over the last dimension";
  let description = [{
    `input` is `[..., N]`, the result `[..., 1]`: one value per row (ONNX
    ReduceSum / ReduceMean / ReduceMax over the last axis with keepdims; the
    lift reshapes for other axes). The sum and mean accumulate in more than
    fp32 precision. Runs on the vector unit.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_ReduceFnAttr:$fn);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $fn $input attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SpAtten_ReshapeOp : SpAtten_Op<"reshape", [Pure]> {
  let summary = "view with another shape";
  let description = [{
    Same element count and row-major order: no data moves.
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def SpAtten_TransposeOp : SpAtten_Op<"transpose", [Pure]> {
  let summary = "permute dimensions";
  let description = [{
    `output.shape[i] = input.shape[permutation[i]]`. Lowered to strided DMA.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$input $permutation attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def SpAtten_ConcatOp : SpAtten_Op<"concat", [Pure]> {
  let summary = "concatenate along an axis";
  let arguments = (ins Variadic<SpAtten_F32Tensor>:$inputs, I64Attr:$axis);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def SpAtten_SliceOp : SpAtten_Op<"slice", [Pure]> {
  let summary = "static strided slice";
  let description = [{
    `output[i...] = input[offsets + i * strides]` per dimension; the result
    shape gives the sizes. Strides are positive.
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, DenseI64ArrayAttr:$offsets,
                       DenseI64ArrayAttr:$strides);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$input $offsets $strides attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def SpAtten_CastOp : SpAtten_Op<"cast", [Pure]> {
  let summary = "convert between integer and fp32 tensors";
  let description = [{
    Same shape. An int64/int32 input (e.g. an attention mask graph input)
    gives fp32; an fp32 input gives int64/int32, truncated toward zero as
    ONNX Cast does (e.g. position ids computed on the vector unit, for an
    embedding lookup). Lowered to DMA copies whose load or store converts
    (docs/ISA.md, "load"); an fp32 value that the integer type cannot hold
    is a runtime error in the simulator.
  }];
  let arguments = (ins AnyTypeOf<[SpAtten_IndexTensor, SpAtten_F32Tensor]>:$input);
  let results = (outs AnyTypeOf<[SpAtten_IndexTensor, SpAtten_F32Tensor]>:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def SpAtten_CumSumOp : SpAtten_Op<"cumsum", [Pure, SameOperandsAndResultType]> {
  let summary = "running sums along the last dimension";
  let description = [{
    `input` and result are `[..., N]`: `output[..., j]` is the sum of
    `input[..., 0..j]` (ONNX CumSum-14 along the last axis; the lift
    transposes other axes there). With `exclusive` the sum stops before
    `j`; with `reverse` it runs from `N - 1` down to `j`. Accumulated in
    more than fp32 precision, so integer-valued inputs whose sums stay below
    2^24 in magnitude give exact integers. Runs on the vector unit
    (`row_cumsum`, docs/ISA.md "vec").
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, UnitAttr:$exclusive,
                       UnitAttr:$reverse);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

include "spatten/Dialect/SpAtten/IR/SpAttenPruningOps.td"
include "spatten/Dialect/SpAtten/IR/SpAttenGenerationOps.td"

#endif // SPATTEN_OPS_TD

//===- SpAttenPruningOps.td - SpAtten algorithm ops --------*- tablegen -*-===//
//
// The decomposed attention form that SpAtten's passes rewrite: probabilities,
// importance scores, top-k, pruning gathers, local value pruning,
// progressive fetch and fixed-point quantization. Exact arithmetic:
// docs/Algorithms.md. Shapes: B batch, H heads, D head width, Lq queries,
// Lk keys; head h owns columns [h*D, (h+1)*D) of a [.., H*D] tensor.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_PRUNING_OPS_TD
#define SPATTEN_PRUNING_OPS_TD

def SpAtten_I64Tensor : RankedTensorOf<[I64]>;

def SpAtten_AttentionProbsOp : SpAtten_Op<"attention_probs", [Pure]> {
  let summary = "per-head attention probabilities softmax(scale Q K^T + mask)";
  let description = [{
    `query` `[B, Lq, H*D]`, `key` `[B, Lk, H*D]`, optional `mask` as for
    `spatten.attention` (`[B, Lk]`, `[B, Lq, Lk]` or a per-head score bias
    `[B, H, Lq, Lk]`, additive, or a 0/1 selector with `mask_fill`). Result `[B, H, Lq, Lk]`, each row summing to
    1 (paper Sec. II, Fig. 2, the Q*K and softmax stages).
  }];
  let arguments = (ins SpAtten_F32Tensor:$query, SpAtten_F32Tensor:$key,
                       Optional<SpAtten_F32Tensor>:$mask,
                       I64Attr:$num_heads, F32Attr:$scale,
                       SpAtten_MaskKindAttr:$mask_kind,
                       OptionalAttr<F32Attr>:$mask_fill);
  let results = (outs SpAtten_F32Tensor:$probs);
  let assemblyFormat = [{
    $query `,` $key (`mask` `(` $mask^ `:` type($mask) `)`)? attr-dict `:`
    type($query) `,` type($key) `->` type($probs)
  }];
  let hasVerifier = 1;
}

def SpAtten_AttentionOutputOp : SpAtten_Op<"attention_output", [Pure]> {
  let summary = "per-head probabilities times values, heads concatenated";
  let description = [{
    `probs` `[B, H, Lq, Lk]` times `value` `[B, Lk, H*D]` per head; result
    `[B, Lq, H*D]` (paper Sec. II, the prob*V stage).
  }];
  let arguments = (ins SpAtten_F32Tensor:$probs, SpAtten_F32Tensor:$value);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $probs `,` $value attr-dict `:` type($probs) `,` type($value) `->` type($output)
  }];
  let hasVerifier = 1;
}

def SpAtten_TokenImportanceOp : SpAtten_Op<"token_importance", [Pure]> {
  let summary = "cumulative token importance";
  let description = [{
    `result[b, j] = importance[b, j] + sum over h and i of probs[b, h, i, j]`
    with `probs` `[B, H, Lq, Lk]` and `importance` `[B, Lk]` (paper
    Sec. III-A, cascade token pruning; accumulated over layers).
  }];
  let arguments = (ins SpAtten_F32Tensor:$probs, SpAtten_F32Tensor:$importance);
  let results = (outs SpAtten_F32Tensor:$result);
  let assemblyFormat = [{
    $probs `,` $importance attr-dict `:` type($probs) `,` type($importance) `->` type($result)
  }];
  let hasVerifier = 1;
}

def SpAtten_HeadImportanceOp : SpAtten_Op<"head_importance", [Pure]> {
  let summary = "cumulative head importance";
  let description = [{
    `result[b, h] = importance[b, h] + sum over i and d of
    |output[b, i, h*D + d]|`, with the attention output before the output
    projection `[B, Lq, H*D]` and `importance` `[B, H]` (paper Sec. III-B,
    cascade head pruning).
  }];
  let arguments = (ins SpAtten_F32Tensor:$output, SpAtten_F32Tensor:$importance,
                       I64Attr:$num_heads);
  let results = (outs SpAtten_F32Tensor:$result);
  let assemblyFormat = [{
    $output `,` $importance attr-dict `:` type($output) `,` type($importance) `->` type($result)
  }];
  let hasVerifier = 1;
}

def SpAtten_TopkOp : SpAtten_Op<"topk", [Pure]> {
  let summary = "indices of the k largest scores, in original order";
  let description = [{
    `scores` `[B, N]`; result `[B, k]` int64: per batch row, the positions
    of the `k` largest scores, ties to the earliest position, sorted
    ascending (the top-k engine, paper Sec. IV-B; docs/Algorithms.md). `k`
    is static, `1 <= k <= N`.
  }];
  let arguments = (ins SpAtten_F32Tensor:$scores, I64Attr:$k);
  let results = (outs SpAtten_I64Tensor:$indices);
  let assemblyFormat = [{
    $scores attr-dict `:` type($scores) `->` type($indices)
  }];
  let hasVerifier = 1;
}

def SpAtten_PruneTokensOp : SpAtten_Op<"prune_tokens", [Pure]> {
  let summary = "keep the token rows named by an index list";
  let description = [{
    Gathers along the token axis `axis` (1 for `[B, L, ...]` activations and
    `[B, L]` masks or importance): `result[b, t, ...] =
    input[b, indices[b, t], ...]`, `indices` `[B, k]` int64 from
    `spatten.topk` (paper Sec. III-A: pruned tokens are gone from every later
    layer). Also applied to the int64 original positions of the kept
    tokens. Lowered to index-gather DMA.
  }];
  let arguments = (ins RankedTensorOf<[F32, I64]>:$input,
                       SpAtten_I64Tensor:$indices,
                       DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs RankedTensorOf<[F32, I64]>:$result);
  let assemblyFormat = [{
    $input `,` $indices attr-dict `:` type($input) `,` type($indices) `->` type($result)
  }];
  let hasVerifier = 1;
}

def SpAtten_MergeTokensOp : SpAtten_Op<"merge_tokens", [Pure,
                                                        AllTypesMatch<["full", "result"]>]> {
  let summary = "write token rows back at their original positions";
  let description = [{
    `full` `[B, L0, ...]`, `rows` `[B, k, ...]`, `positions` `[B, k]` int64
    original positions: `result = full` with `result[b, positions[b, t]] =
    rows[b, t]`. Cascade token pruning builds the graph output with it, so a
    pruned token keeps the last hidden state computed for it (paper
    Sec. III-A; docs/Algorithms.md). Lowered to index-scatter DMA.
  }];
  let arguments = (ins SpAtten_F32Tensor:$full, SpAtten_F32Tensor:$rows,
                       SpAtten_I64Tensor:$positions);
  let results = (outs SpAtten_F32Tensor:$result);
  let assemblyFormat = [{
    $full `,` $rows `,` $positions attr-dict `:` type($full) `,` type($rows) `,`
    type($positions)
  }];
  let hasVerifier = 1;
}

def SpAtten_PruneHeadsOp : SpAtten_Op<"prune_heads", [Pure]> {
  let summary = "keep the heads named by an index list";
  let description = [{
    Dimension `axis` of `input` is `H*D` (head h owns `[h*D, (h+1)*D)`) or,
    for importance vectors, `H`; `indices` `[k]` int64 ascending. The result
    keeps the k heads' slices in order along `axis` (`k*D`, or `k`). Applied
    to Q/K/V projection weights and biases (columns), the output projection
    (rows) and per-head tensors (paper Sec. III-B: a pruned head is gone from
    every later layer).
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, SpAtten_I64Tensor:$indices,
                       I64Attr:$num_heads, I64Attr:$axis);
  let results = (outs SpAtten_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $indices attr-dict `:` type($input) `,` type($indices) `->` type($result)
  }];
  let hasVerifier = 1;
}

def SpAtten_LocalValuePruneOp : SpAtten_Op<"local_value_prune", [Pure,
                                                                SameOperandsAndResultType]> {
  let summary = "per query row, keep the k largest probabilities";
  let description = [{
    `probs` `[B, H, Lq, Lk]`: in each row, the `keep` largest entries (ties to
    the earliest key) stay, the others become 0; no renormalisation. Only
    V rows kept by some query row are fetched (paper Sec. III-C, local
    value pruning). `1 <= keep <= Lk`.
  }];
  let arguments = (ins SpAtten_F32Tensor:$probs, I64Attr:$keep);
  let results = (outs SpAtten_F32Tensor:$result);
  let assemblyFormat = "$probs attr-dict `:` type($probs)";
  let hasVerifier = 1;
}

def SpAtten_ProgressiveFetchOp : SpAtten_Op<"progressive_fetch", [Pure]> {
  let summary = "attention probabilities with MSB-first key fetch";
  let description = [{
    As `spatten.attention_probs`, with keys quantized to
    `msb_bits + lsb_bits` bits per row and fetched as an MSB plane first:
    rows whose maximum probability is below `threshold` are recomputed with
    the LSB plane fetched (paper Sec. III-D, progressive quantization;
    docs/Algorithms.md). `msb_bits` is 6 or 8, `lsb_bits` 4, `threshold` in
    (0, 1). Result `[B, H, Lq, Lk]`.

    With `values`, the `attention_output` that reads these probabilities
    fetches V the same way: the MSB plane of every V row it uses, and the
    LSB plane of those rows for a head that refetched its keys' LSBs
    (`--pq-values`).
  }];
  let arguments = (ins SpAtten_F32Tensor:$query, SpAtten_F32Tensor:$key,
                       Optional<SpAtten_F32Tensor>:$mask,
                       I64Attr:$num_heads, F32Attr:$scale,
                       SpAtten_MaskKindAttr:$mask_kind,
                       OptionalAttr<F32Attr>:$mask_fill,
                       I64Attr:$msb_bits, I64Attr:$lsb_bits, F32Attr:$threshold,
                       UnitAttr:$values);
  let results = (outs SpAtten_F32Tensor:$probs);
  let assemblyFormat = [{
    $query `,` $key (`mask` `(` $mask^ `:` type($mask) `)`)? attr-dict `:`
    type($query) `,` type($key) `->` type($probs)
  }];
  let hasVerifier = 1;
}

def SpAtten_QuantizeOp : SpAtten_Op<"quantize", [Pure]> {
  let summary = "symmetric fixed-point quantization, one scale per row";
  let description = [{
    `input` `[..., D]`: per row, `scale = max |x| / (2^(bits-1) - 1)` and
    `codes = clamp(round_half_even(x / scale), -qmax, qmax)`. Results:
    `codes` (int16, the input's shape) and `scales` (`[..., 1]` fp32). `bits`
    is 4..16 (paper Sec. V-B: a 12-bit fixed-point attention datapath;
    docs/Algorithms.md).
  }];
  let arguments = (ins SpAtten_F32Tensor:$input, I64Attr:$bits);
  let results = (outs RankedTensorOf<[I16]>:$codes, SpAtten_F32Tensor:$scales);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($codes) `,` type($scales)
  }];
  let hasVerifier = 1;
}

def SpAtten_DequantizeOp : SpAtten_Op<"dequantize", [Pure]> {
  let summary = "fixed-point codes back to fp32";
  let description = [{
    `result = codes * scales`, `codes` `[..., D]` int16 and `scales`
    `[..., 1]` fp32 from `spatten.quantize`.
  }];
  let arguments = (ins RankedTensorOf<[I16]>:$codes, SpAtten_F32Tensor:$scales);
  let results = (outs SpAtten_F32Tensor:$result);
  let assemblyFormat = [{
    $codes `,` $scales attr-dict `:` type($codes) `,` type($scales) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // SPATTEN_PRUNING_OPS_TD

//===- SpAttenGenerationOps.td - Ops of the decode step ----*- tablegen -*-===//
//
// The generation stage (paper Sec. III; docs/Generation.md): a `decode`
// function computes one token at a run-time position `p` against a KV
// cache of `max_context` rows per layer that persists in DRAM between
// steps. These ops name that state; they only appear in the function that
// `--spatten-generation-entries` marks `spatten.entry = "decode"`.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_GENERATION_OPS_TD
#define SPATTEN_GENERATION_OPS_TD

def SpAtten_PositionRowOp : SpAtten_Op<"position_row", [Pure]> {
  let summary = "the row of a per-position table at the decode position";
  let description = [{
    `table` is `[C, N]`, one row per position (e.g. GPT-2's learned
    position embeddings, C the maximum context); the result `[1, 1, N]` is
    row `p`, the decode step's run-time position (the `position` register of
    the `decode` entry point, docs/Generation.md). Lowered to one DMA whose
    DRAM address is bound to the register.
  }];
  let arguments = (ins SpAtten_F32Tensor:$table);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = "$table attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def SpAtten_CachedAttentionOp : SpAtten_Op<"cached_attention",
    [AttrSizedOperandSegments]> {
  let summary = "one decode step of causal attention against the KV cache";
  let description = [{
    `query`, `key` and `value` are `[1, 1, H*D]`: the new token at the
    run-time position `p` (head h in columns `[h*D, (h+1)*D)`). The KV cache
    of layer `layer` holds `max_context` rows per head, `[1, H, C, D]`
    head-major, fp32 unless the widths below say otherwise, in DRAM between
    steps (manifest `kv_cache`). The op writes the token's K and V rows to
    row `p` of the cache, then computes
    `output = softmax(scale * q K[0..p]^T) V[0..p]` per head over the `p + 1`
    cached rows (paper Sec. III: one query against the cache, the
    memory-bound generation stage). The result is `[1, 1, H*D]`. Not pure:
    it writes the cache.

    With `kv_heads` = G < H (grouped-query attention, LLaMA's `repeat_kv`),
    `key` and `value` are `[1, 1, G*D]` and query head h attends K/V head
    `h / (H / G)`: the cache holds the G K/V heads, `[1, G, C, D]`, and the
    token's K and V rows are written once per K/V head (0 = H, one K/V head
    per query head).

    With `value_counts` (`[C]` int32, written by
    `--spatten-local-value-pruning`), local value pruning (Sec. III-C): at
    position p each head keeps its `value_counts[p]` largest probabilities
    (ties to the earliest key), and only those V rows of the cache are
    fetched, plus the token's own row, which is written to the cache anyway.

    `key_bits` and `value_bits` (written by `--spatten-quantize`; 0 = fp32)
    are the widths the cache holds K and V at: fixed-point rows of `D`
    codes and an fp32 scale (docs/ISA.md, "Fixed-point DMA"). The token's
    rows are quantized as they are written, so every key and value the
    step attends is the fixed-point one (docs/Algorithms.md, "Generation").

    With `token_counts` (`[C]` int32, written by
    `--spatten-cascade-token-pruning`), cascade token pruning across steps
    (Sec. III-A): the layer attends only the tokens it kept at the step
    before, among those the previous layer kept at this step, plus the new
    token; of those candidates it keeps the `token_counts[p]` with the
    largest cumulative token importance (the positions in `keep_positions`
    and `p` always). Token importance accumulates over heads, layers and
    steps, the prompt's included; a token it prunes is never fetched again
    by it or a later layer. The kept list and importance live in the KV
    cache's token state (docs/Generation.md, "Cascade token pruning").

    With `kv_budget = [S, I, R]` as well (written by the same pass under
    `--kv-budget`), the fixed KV budget instead of the cascade: the
    candidates are the tokens the layer itself kept at the step before,
    plus the new token, whatever the previous layer kept; the first `S`
    positions and the last `max(R, 1)` (the new token among them) are
    always kept, and `token_counts[p]` is `min(p + 1, S + I + max(R, 1))`,
    so the rest are the `I` with the largest cumulative token importance
    (docs/Algorithms.md, "Fixed KV budget"). An evicted token is never
    fetched again by that layer.

    With `kept_heads` (written by `--spatten-cascade-head-pruning`),
    cascade head pruning across steps (Sec. III-B): only `kept_heads` heads
    attend, those the prefill's layer kept (their original indices are in
    the KV cache's head list, written by `record_kept_heads`); the heads'
    set never changes after the prefill (docs/Algorithms.md). The result's
    columns of the other heads are 0. Needs `token_counts` (every token
    kept when token pruning is off).

    With `pq_threshold` (written by `--spatten-progressive-quantization`),
    progressive quantization (Sec. III-D): the cache holds K (and with
    `pq_values` V) at `pq_msb + pq_lsb` bits as an MSB plane and an LSB
    plane; each head computes the query's probabilities with MSB-only keys
    and fetches the LSB plane of its keys only when their maximum is below
    the threshold.
  }];
  let arguments = (ins SpAtten_F32Tensor:$query, SpAtten_F32Tensor:$key,
                       SpAtten_F32Tensor:$value,
                       Optional<RankedTensorOf<[I32]>>:$value_counts,
                       Optional<RankedTensorOf<[I32]>>:$token_counts,
                       I64Attr:$layer, I64Attr:$num_heads, F32Attr:$scale,
                       I64Attr:$max_context,
                       DefaultValuedAttr<I64Attr, "0">:$kv_heads,
                       DefaultValuedAttr<I64Attr, "0">:$key_bits,
                       DefaultValuedAttr<I64Attr, "0">:$value_bits,
                       DefaultValuedAttr<I64Attr, "0">:$pq_msb,
                       DefaultValuedAttr<I64Attr, "0">:$pq_lsb,
                       OptionalAttr<F32Attr>:$pq_threshold,
                       UnitAttr:$pq_values,
                       OptionalAttr<DenseI64ArrayAttr>:$keep_positions,
                       OptionalAttr<I64Attr>:$kept_heads,
                       OptionalAttr<DenseI64ArrayAttr>:$kv_budget);
  let results = (outs SpAtten_F32Tensor:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`value_counts` `(` $value_counts^ `)`)?
    (`token_counts` `(` $token_counts^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getHeadDim() {
      return getQuery().getType().getShape().back() / getNumHeads();
    }
    /// The K/V heads the cache holds (`kv_heads`, else `num_heads`).
    int64_t getCacheHeads() {
      return getKvHeads() ? int64_t(getKvHeads()) : int64_t(getNumHeads());
    }
  }];
}

def SpAtten_RecordKeptTokensOp : SpAtten_Op<"record_kept_tokens", []> {
  let summary = "a prefill layer's tokens and their importance, for decode";
  let description = [{
    In a `prefill` function under cascade token pruning: `positions`
    `[1, n]` i64 are the original positions of the tokens layer `layer`
    attended (its K and V rows are the cache's rows at those positions) and
    `importance` `[1, n]` f32 their cumulative token importance after the
    layer. The op writes them to the KV cache's token state: the layer's
    candidate mask (0 at those positions, `-inf` at the other prompt
    positions) and, at those positions, the importance vector shared by the
    layers, which later layers overwrite with larger sums. The decode step
    continues cascade token pruning from there (docs/Generation.md).
  }];
  let arguments = (ins SpAtten_F32Tensor:$importance,
                       RankedTensorOf<[I64]>:$positions, I64Attr:$layer);
  let assemblyFormat = [{
    $importance `,` $positions attr-dict `:` type($importance) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def SpAtten_RecordKeptHeadsOp : SpAtten_Op<"record_kept_heads", []> {
  let summary = "a prefill layer's heads, for decode";
  let description = [{
    In a `prefill` function under cascade head pruning: `heads` `[1, k]`
    i64 are the original indices of the heads layer `layer` computed, in
    the order of its attention's heads. The op writes them to the KV
    cache's head list of the layer; the prefill's attention writes its K and
    V rows to those heads of the cache, and every decode step attends those
    heads only (docs/Generation.md, "Cascade head pruning").
  }];
  let arguments = (ins RankedTensorOf<[I64]>:$heads, I64Attr:$layer);
  let assemblyFormat = "$heads attr-dict `:` type($heads)";
  let hasVerifier = 1;
}

#endif // SPATTEN_GENERATION_OPS_TD

//===- Passes.td - SpAtten algorithm passes ----------------*- tablegen -*-===//
//
// SpAtten's techniques as rewrites of the spatten dialect. Exact arithmetic:
// docs/Algorithms.md. The passes decompose `spatten.attention` into
// `attention_probs` / `attention_output` where they need the probabilities.
//
// The passes take their settings as options named like spatten-compile's
// flags; they are declared in C++ from Settings.def (SettingsOptions.h), not
// here, so that the table stays their one source.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TRANSFORMS_PASSES_TD
#define SPATTEN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpAttenQuantize : Pass<"spatten-quantize", "mlir::func::FuncOp"> {
  let summary = "Fixed-point quantization of the attention path (Q, K, V)";
  let description = [{
    Quantizes every attention's query, key and value rows (one token of one
    head) to symmetric fixed point with one scale per row
    (`spatten.quantize` + `spatten.dequantize`), each tensor at its own
    width: paper Sec. V-B uses 12 bits for all three, its GPT-2 generation
    workload 16-bit queries, 6-bit values and progressive keys. Keys and
    values that progressive quantization handles are left to it. A decode
    step's `spatten.cached_attention` gets its query quantized and records
    the K and V widths as `key_bits` and `value_bits`: its KV cache holds
    fixed-point rows, quantized as the token's rows are written.

    Options (spatten-compile's flags of the same names): `q-bits`,
    `k-bits`, `v-bits`, the width of one tensor, and `attn-bits`, the width
    of those left at 0; each 4..16. A tensor whose width is 0 stays fp32,
    so the pass does nothing at the defaults.
  }];
  let dependentDialects = ["spatten::SpAttenDialect"];
}

def SpAttenLocalValuePruning
    : Pass<"spatten-local-value-pruning", "mlir::func::FuncOp"> {
  let summary = "Keep the largest probabilities of each query row";
  let description = [{
    Paper Sec. III-C: per query row only the `keep = max(1, floor(Lk *
    value-keep))` largest probabilities stay (`spatten.local_value_prune`),
    so only their V rows are fetched. Not cumulative across layers.

    Option (spatten-compile's flag of the same name): `value-keep`, the
    keep ratio, in (0, 1]; the pass does nothing at its default, 1.
  }];
  let dependentDialects = ["spatten::SpAttenDialect"];
}

def SpAttenProgressiveQuantization
    : Pass<"spatten-progressive-quantization", "mlir::func::FuncOp"> {
  let summary = "Fetch key MSBs first, LSBs only when softmax is not confident";
  let description = [{
    Paper Sec. III-D: attention probabilities come from
    `spatten.progressive_fetch` with keys quantized to `pq-msb + pq-lsb`
    bits and fetched as an MSB plane; rows whose maximum probability is
    below `pq-threshold` are recomputed after fetching the LSB plane. With
    `pq-values`, values are fetched progressively too: MSB planes, and the
    LSB planes of the V rows a head uses when it refetched its keys' LSBs.
    A decode step's `spatten.cached_attention` records `pq_msb`, `pq_lsb`,
    `pq_threshold` (and `pq_values`): its KV cache holds those planes.

    Options (spatten-compile's flags of the same names): `pq-msb` (6 or 8;
    the pass does nothing at its default, 0), `pq-lsb` (4), `pq-threshold`
    (in (0, 1), 0.1), `pq-values`.
  }];
  let dependentDialects = ["spatten::SpAttenDialect"];
}

def SpAttenCascadeTokenPruning
    : Pass<"spatten-cascade-token-pruning", "mlir::func::FuncOp"> {
  let summary = "Prune unimportant tokens after each layer, for good";
  let description = [{
    Paper Sec. III-A. Token importance accumulates the attention
    probabilities of every layer (`spatten.token_importance`); after layer l
    only the top `max(1, floor(L0 * f_l))` tokens stay
    (`spatten.topk` + `spatten.prune_tokens` on the layer output, the
    padding mask, the importance and the original positions), so later
    layers compute fewer Q/K/V, attention, output-projection and FFN rows.
    Graph outputs get every pruned token's last hidden state back at its
    original position (`spatten.merge_tokens`). The layer output is found
    from layer l+1's query by walking back through projections, slices and
    layer norms to the value the residual path also reads; a
    sequence-first layer output `[L, 1, H]` (torch's nn.TransformerEncoder)
    is pruned and restored as the `[1, L, H]` rows it holds.
    Batch 1, encoder or whole-prompt attention (Lq = Lk); schedules and
    formulas in docs/Algorithms.md.

    Each token sequence is its own cascade: a self-attention continues the
    cascade whose last attention's output its query reads (following only
    queries and probabilities through attentions). An encoder-decoder so
    prunes its source tokens over the encoder's layers, restoring the
    encoder's output, and its target tokens over the decoder's. A
    cross-attention (keys not computed from its queries' rows) is in no
    cascade: its queries follow their sequence's kept rows and its keys
    are every token of the other (docs/Algorithms.md, "Encoder-decoder
    models").

    In a generation binary (docs/Generation.md) the `@prefill` function is
    pruned so, with its last position kept at every layer and its layer 0
    dense, and each layer's kept positions and importance are recorded for
    the decode steps (`spatten.record_kept_tokens`). Each
    `spatten.cached_attention` of `@decode` gets `token_counts`, its keep
    count `max(1, floor(n f_l))` for every context length `n` (never fewer
    than the forced tokens), and `keep_positions`; there `f_0 < 1` is
    allowed.

    With `kv-budget=S,I,R`, the fixed KV budget of the authors' LLM policy
    instead of the schedule (docs/Algorithms.md, "Fixed KV budget"): the
    `@prefill` is dense and records every layer's positions and importance;
    each `spatten.cached_attention` of `@decode` gets `kv_budget` and
    `token_counts` `min(n, S + I + max(R, 1))`. Outside a generation binary
    the option is an error.

    Options (spatten-compile's flags of the same names): `token-keep` (mean
    fraction of tokens kept over all layers, in (0, 1]), `token-schedule`
    (`paper` or a comma-separated keep fraction per layer),
    `keep-positions` (original token positions never pruned, e.g. 0 for
    [CLS]), `kv-budget` (three token counts, exclusive with the other
    three). The pass does nothing at the defaults, `token-keep=1` with the
    `paper` schedule and no budget.
  }];
  let dependentDialects = ["spatten::SpAttenDialect", "mlir::arith::ArithDialect"];
}

def SpAttenCascadeHeadPruning
    : Pass<"spatten-cascade-head-pruning", "mlir::func::FuncOp"> {
  let summary = "Prune unimportant heads after each layer, for good";
  let description = [{
    Paper Sec. III-B. Head importance accumulates `sum |head output|` of
    every layer (`spatten.head_importance`); after layer l, past the first
    30% of layers, only the top `max(1, floor(H * f_l))` heads stay
    (`spatten.topk` over the kept heads). Later layers compute the kept
    heads only: a Q/K/V projection read only by the attention becomes a
    linear over the kept heads' weight columns and bias
    (`spatten.prune_heads` of the weight and bias); a fused QKV projection
    split by three slices (GPT-2's `c_attn`) is pruned per third with the
    list `g*H + kept` (gathered from a constant by the kept heads) and its
    slices narrowed; any other Q/K/V form gets `spatten.prune_heads` on its
    result. The output projection reads the kept heads' weight rows. The
    ISA lowering reads every such `prune_heads` in place (index-gather DMA
    from the unpruned tensor), so no compacted copy is written. Run after
    cascade token pruning. Batch 1; schedule formulas in
    docs/Algorithms.md.

    In a generation binary the `@prefill` function is pruned so and each
    layer's heads are recorded for the decode steps
    (`spatten.record_kept_heads`); each `spatten.cached_attention` of
    `@decode` gets `kept_heads`, the count its prefill layer kept (and
    `token_counts` keeping every token when token pruning is off). A kept
    head is addressed through its original index, read at run time, which
    cannot name a grouped-query K/V head: a `cached_attention` with
    `kv_heads` gets its K and V repeated over the query heads again (a
    cache of one K/V head per query head, docs/Generation.md).

    Option (spatten-compile's flag of the same name): `head-keep`, the mean
    fraction of heads kept over all layers, in (0, 1]; the pass does
    nothing at its default, 1.
  }];
  let dependentDialects = ["spatten::SpAttenDialect", "mlir::arith::ArithDialect"];
}

def SpAttenRecordSettings
    : Pass<"spatten-record-settings", "mlir::ModuleOp"> {
  let summary = "Record the SpAtten settings on the module";
  let description = [{
    Sets the module attribute `spatten.settings`: every SpAtten setting
    keyed by its flag name (f64 ratios and threshold, i64 bit widths, the
    schedule string, the kept positions as an array of i64, `pq-values` as
    a bool), defaults included. `spatten-translate --export-binary` copies
    it into the manifest's `settings` record (docs/BinaryFormat.md), so a
    binary tells how it was compiled. `--spatten-compile-pipeline` runs it
    first. Takes every setting as an option (spatten-compile's flags of the
    same names) and fails on an invalid one.
  }];
}

def SpAttenGenerationEntries
    : Pass<"spatten-generation-entries", "mlir::ModuleOp"> {
  let summary = "Split a language model into prefill and decode functions";
  let description = [{
    Text generation (paper Sec. III, the generation stage;
    docs/Generation.md). The module holds one function of a decoder-only
    model imported at its maximum context `C` (module attribute
    `spatten.generation = {max_context = C, prefill_length = L0}`, written by
    the importer for `spatten-compile --max-context`); its first argument is
    the token ids `[1, C]`, and every result is per position, `[1, C, ...]`
    (the logits). An attention's empty KV-cache inputs (the prefill's past)
    and its `present` results, graph outputs possibly reshaped and stacked
    (Megatron's `present_0`), are dropped first, then every other argument
    the function no longer reads (a causal mask the lift made causal
    attention). The pass replaces it with:

    - `@prefill` (`spatten.entry = "prefill"`): the first `L0` positions, the
      prompt, as one sequence. Each causal attention gets
      `spatten.kv_cache_layer = l` and writes its K and V rows to layer `l`'s
      cache.
    - `@decode` (`spatten.entry = "decode"`, `spatten.registers =
      ["position"]`): one token at the run-time position `p`. Each attention
      becomes `spatten.cached_attention` on layer `l`'s cache, and each
      per-position constant (`[.., C, N]`, e.g. the position embeddings
      folded at import, or the cos/sin tables `[C, D]` of a
      `spatten.rotary_embedding`) is read at row `p` (`spatten.position_row`,
      once per table). An attention whose K and V repeat grouped-query
      attention's K/V heads (the lift's Concat of `[1, L, G, 1, D]` copies)
      reads them unrepeated (`kv_heads = G`), so the cache holds the K/V
      heads.

    Every op must treat positions independently (elementwise, layer norm,
    linear layers, embeddings, column slices, reshapes that keep the
    sequence axis) except causal attention without a mask or KV-cache
    inputs; any other op that reads the sequence is an error naming it, and
    so is a graph input other than the token ids that is still read.
    SpAtten's techniques then apply to both functions (docs/Generation.md).
  }];
  let dependentDialects = ["spatten::SpAttenDialect", "mlir::arith::ArithDialect"];
}

#endif // SPATTEN_TRANSFORMS_PASSES_TD

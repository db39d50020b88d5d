//===- Passes.td - SpAtten algorithm passes ----------------*- tablegen -*-===//
//
// SpAtten's techniques as rewrites of the spatten dialect. Exact arithmetic:
// docs/Algorithms.md. The passes decompose `spatten.attention` into
// `attention_probs` / `attention_output` where they need the probabilities.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TRANSFORMS_PASSES_TD
#define SPATTEN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpAttenQuantize : Pass<"spatten-quantize", "mlir::func::FuncOp"> {
  let summary = "Fixed-point quantization of the attention path (Q, K, V)";
  let description = [{
    Quantizes every attention's query, key and value rows (one token of one
    head) to `bits`-bit symmetric fixed point with one scale per row
    (`spatten.quantize` + `spatten.dequantize`; paper Sec. V-B uses 12 bits).
    Keys and values that progressive quantization handles are left to it.
  }];
  let options = [
    Option<"bits", "bits", "int64_t", "12",
           "fixed-point width of Q, K and V in bits (4..16)">,
  ];
  let dependentDialects = ["spatten::SpAttenDialect"];
}

def SpAttenLocalValuePruning
    : Pass<"spatten-local-value-pruning", "mlir::func::FuncOp"> {
  let summary = "Keep the largest probabilities of each query row";
  let description = [{
    Paper Sec. III-C: per query row only the `keep = max(1, floor(Lk *
    keep-ratio))` largest probabilities stay (`spatten.local_value_prune`),
    so only their V rows are fetched. Not cumulative across layers.
  }];
  let options = [
    Option<"keepRatio", "keep-ratio", "double", "1.0",
           "fraction of keys kept per query row, in (0, 1]">,
  ];
  let dependentDialects = ["spatten::SpAttenDialect"];
}

def SpAttenProgressiveQuantization
    : Pass<"spatten-progressive-quantization", "mlir::func::FuncOp"> {
  let summary = "Fetch key MSBs first, LSBs only when softmax is not confident";
  let description = [{
    Paper Sec. III-D: attention probabilities come from
    `spatten.progressive_fetch` with keys quantized to `msb + lsb` bits and
    fetched as an MSB plane; rows whose maximum probability is below
    `threshold` are recomputed after fetching the LSB plane.
  }];
  let options = [
    Option<"msbBits", "msb", "int64_t", "6", "bits of the MSB plane (6 or 8)">,
    Option<"lsbBits", "lsb", "int64_t", "4", "bits of the LSB plane (4)">,
    Option<"threshold", "threshold", "double", "0.1",
           "refetch when the maximum probability of a row is below this">,
    Option<"values", "values", "bool", "false",
           "also fetch values progressively: MSB planes, and the LSB planes "
           "of the V rows a head uses when it refetched its keys' LSBs">,
  ];
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
    layer norms to the value the residual path also reads.
    Batch 1, encoder or whole-prompt attention (Lq = Lk); schedules and
    formulas in docs/Algorithms.md.
  }];
  let options = [
    Option<"keepRatio", "keep-ratio", "double", "1.0",
           "mean fraction of tokens kept over all layers, in (0, 1]">,
    Option<"schedule", "schedule", "std::string", "\"paper\"",
           "'paper' (first 15% of layers dense, then a linear ramp) or a "
           "comma-separated keep fraction per layer">,
    ListOption<"keepPositions", "keep-positions", "int64_t",
               "original token positions that are never pruned (e.g. 0 for [CLS])">,
  ];
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
  }];
  let options = [
    Option<"keepRatio", "keep-ratio", "double", "1.0",
           "mean fraction of heads kept over all layers, in (0, 1]">,
  ];
  let dependentDialects = ["spatten::SpAttenDialect", "mlir::arith::ArithDialect"];
}

#endif // SPATTEN_TRANSFORMS_PASSES_TD

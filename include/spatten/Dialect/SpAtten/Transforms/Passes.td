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
           "also fetch values progressively (not implemented yet)">,
  ];
  let dependentDialects = ["spatten::SpAttenDialect"];
}

#endif // SPATTEN_TRANSFORMS_PASSES_TD

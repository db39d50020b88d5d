// RUN: spatten-opt %s --spatten-cascade-token-pruning='kv-budget=1,2' -verify-diagnostics

// A budget is three token counts: first, important, recent.
// expected-error @+1 {{spatten-cascade-token-pruning: --kv-budget=1,2: expected S,I,R, three token counts (first, important, recent)}}
func.func @decode(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> attributes {spatten.entry = "decode"} {
  return %q : tensor<1x1x8xf32>
}

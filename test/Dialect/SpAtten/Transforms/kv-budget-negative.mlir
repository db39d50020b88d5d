// RUN: spatten-opt %s --spatten-cascade-token-pruning='kv-budget=1,-2,3' -verify-diagnostics

// expected-error @+1 {{spatten-cascade-token-pruning: --kv-budget=1,-2,3: a token count must be >= 0}}
func.func @decode(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> attributes {spatten.entry = "decode"} {
  return %q : tensor<1x1x8xf32>
}

// RUN: spatten-opt %s --spatten-cascade-token-pruning='kv-budget=1,2,0' -split-input-file -verify-diagnostics | FileCheck %s

// The fixed KV budget (docs/Algorithms.md, "Fixed KV budget") on a decode
// step: every cached_attention gets kv_budget and its keep count for every
// context n = 1..C, min(n, S + I + max(R, 1)): with R = 0 the new token is
// still attended, so 1 + 2 + 1 = 4.
// CHECK-LABEL: func.func @decode
// CHECK: %[[COUNTS:.*]] = arith.constant dense<[1, 2, 3, 4, 4, 4]> : tensor<6xi32>
// CHECK: spatten.cached_attention %{{.*}} token_counts(%[[COUNTS]]) {kv_budget = array<i64: 1, 2, 0>, layer = 0 : i64
func.func @decode(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> attributes {spatten.entry = "decode"} {
  %o = spatten.cached_attention %q, %q, %q {layer = 0 : i64, max_context = 6 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

// A whole sequence outside a generation binary has no decode steps.
// expected-error @+1 {{spatten-cascade-token-pruning: --kv-budget is a policy of generation's decode steps; compile a generation binary (--max-context)}}
func.func @summarization(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  return %x : tensor<1x4x8xf32>
}

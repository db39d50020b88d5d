// RUN: spatten-opt %s --spatten-local-value-pruning=value-keep=0.3 -split-input-file -verify-diagnostics | FileCheck %s
// RUN: not spatten-opt %s --spatten-local-value-pruning=value-keep=0 -split-input-file 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not spatten-opt %s --spatten-local-value-pruning=value-keep=1.5 -split-input-file 2>&1 | FileCheck %s --check-prefix=ABOVE

// ZERO: error: spatten-local-value-pruning: --value-keep=0.00: a keep ratio must be in (0, 1]
// ABOVE: error: spatten-local-value-pruning: --value-keep=1.50: a keep ratio must be in (0, 1]

// The attention is decomposed; each query row keeps floor(10 * 0.3) = 3 of
// its 10 probabilities.
// CHECK-LABEL: func @padding
// CHECK: %[[P:.*]] = spatten.attention_probs %arg0, %arg1 mask(%arg3 : tensor<1x10xf32>) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32} : tensor<1x4x8xf32>, tensor<1x10x8xf32> -> tensor<1x2x4x10xf32>
// CHECK-NEXT: %[[K:.*]] = spatten.local_value_prune %[[P]] {keep = 3 : i64} : tensor<1x2x4x10xf32>
// CHECK-NEXT: %[[O:.*]] = spatten.attention_output %[[K]], %arg2 : tensor<1x2x4x10xf32>, tensor<1x10x8xf32> -> tensor<1x4x8xf32>
// CHECK-NEXT: return %[[O]]
func.func @padding(%q: tensor<1x4x8xf32>, %k: tensor<1x10x8xf32>, %v: tensor<1x10x8xf32>, %m: tensor<1x10xf32>) -> tensor<1x4x8xf32> {
  %o = spatten.attention %q, %k, %v mask(%m) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : (tensor<1x4x8xf32>, tensor<1x10x8xf32>, tensor<1x10x8xf32>, tensor<1x10xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// At least one key stays per row.
// CHECK-LABEL: func @one_key
// CHECK: spatten.local_value_prune %{{.*}} {keep = 1 : i64} : tensor<1x1x2x2xf32>
func.func @one_key(%q: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %o = spatten.attention %q, %q, %q {num_heads = 1 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %o : tensor<1x2x4xf32>
}

// -----

func.func @kv_cache(%q: tensor<1x1x8xf32>, %pk: tensor<1x2x2x4xf32>) -> (tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) {
  // expected-error @+1 {{'spatten.attention' op with a KV cache cannot be decomposed for spatten-local-value-pruning (generation mode is not implemented)}}
  %o, %k, %v = spatten.attention %q, %q, %q past(%pk, %pk) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1>} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> (tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o, %k, %v : tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>
}

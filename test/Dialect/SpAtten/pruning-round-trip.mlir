// RUN: spatten-opt %s | spatten-opt | FileCheck %s

// One layer of SpAtten's decomposed attention: probabilities with
// progressive fetch, token and head importance, top-k, local value pruning
// and the token / head gathers.
// CHECK-LABEL: func @layer
func.func @layer(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>,
                 %m: tensor<1x4xf32>, %imp: tensor<1x4xf32>, %himp: tensor<1x2xf32>,
                 %w: tensor<8x8xf32>)
    -> (tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<8x4xf32>, tensor<1x4x8xf32>) {
  // CHECK: spatten.attention_probs %{{.*}}, %{{.*}} mask(%{{.*}} : tensor<1x4xf32>) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  %p = spatten.attention_probs %q, %k mask(%m : tensor<1x4xf32>) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  // CHECK: spatten.progressive_fetch {{.*}} {lsb_bits = 4 : i64, mask_kind = #spatten.mask_kind<causal>, msb_bits = 6 : i64, num_heads = 2 : i64, scale = 5.000000e-01 : f32, threshold = 1.000000e-01 : f32}
  %pq = spatten.progressive_fetch %q, %k {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>, msb_bits = 6 : i64, lsb_bits = 4 : i64, threshold = 0.1 : f32} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  // CHECK: spatten.token_importance
  %imp1 = spatten.token_importance %pq, %imp : tensor<1x2x4x4xf32>, tensor<1x4xf32> -> tensor<1x4xf32>
  // CHECK: spatten.local_value_prune %{{.*}} {keep = 2 : i64} : tensor<1x2x4x4xf32>
  %pv = spatten.local_value_prune %p {keep = 2 : i64} : tensor<1x2x4x4xf32>
  // CHECK: spatten.attention_output
  %o = spatten.attention_output %pv, %v : tensor<1x2x4x4xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  // CHECK: spatten.head_importance {{.*}} {num_heads = 2 : i64}
  %himp1 = spatten.head_importance %o, %himp {num_heads = 2 : i64} : tensor<1x4x8xf32>, tensor<1x2xf32> -> tensor<1x2xf32>
  // CHECK: spatten.topk %{{.*}} {k = 2 : i64} : tensor<1x4xf32> -> tensor<1x2xi64>
  %keep = spatten.topk %imp1 {k = 2 : i64} : tensor<1x4xf32> -> tensor<1x2xi64>
  // CHECK: spatten.prune_tokens %{{.*}}, %{{.*}} : tensor<1x4x8xf32>, tensor<1x2xi64> -> tensor<1x2x8xf32>
  %o2 = spatten.prune_tokens %o, %keep : tensor<1x4x8xf32>, tensor<1x2xi64> -> tensor<1x2x8xf32>
  // CHECK: spatten.prune_tokens {{.*}} : tensor<1x4xf32>, tensor<1x2xi64> -> tensor<1x2xf32>
  %imp2 = spatten.prune_tokens %imp1, %keep : tensor<1x4xf32>, tensor<1x2xi64> -> tensor<1x2xf32>
  // CHECK: spatten.prune_tokens {{.*}} : tensor<1x4xi64>, tensor<1x2xi64> -> tensor<1x2xi64>
  %pos = arith.constant dense<[[0, 1, 2, 3]]> : tensor<1x4xi64>
  %pos2 = spatten.prune_tokens %pos, %keep : tensor<1x4xi64>, tensor<1x2xi64> -> tensor<1x2xi64>
  // CHECK: spatten.merge_tokens {{.*}} : tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2xi64>
  %merged = spatten.merge_tokens %o, %o2, %pos2 : tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2xi64>
  %h = spatten.topk %himp1 {k = 1 : i64} : tensor<1x2xf32> -> tensor<1x1xi64>
  %h1 = spatten.reshape %h : (tensor<1x1xi64>) -> tensor<1xi64>
  // CHECK: spatten.prune_heads {{.*}} {axis = 1 : i64, num_heads = 2 : i64} : tensor<8x8xf32>, tensor<1xi64> -> tensor<8x4xf32>
  %wq = spatten.prune_heads %w, %h1 {num_heads = 2 : i64, axis = 1 : i64} : tensor<8x8xf32>, tensor<1xi64> -> tensor<8x4xf32>
  // CHECK: %[[C:.*]], %[[S:.*]] = spatten.quantize %{{.*}} {bits = 12 : i64} : tensor<1x4x8xf32> -> tensor<1x4x8xi16>, tensor<1x4x1xf32>
  %codes, %scales = spatten.quantize %k {bits = 12 : i64} : tensor<1x4x8xf32> -> tensor<1x4x8xi16>, tensor<1x4x1xf32>
  // CHECK: spatten.dequantize %[[C]], %[[S]]
  %kq = spatten.dequantize %codes, %scales : tensor<1x4x8xi16>, tensor<1x4x1xf32> -> tensor<1x4x8xf32>
  return %o2, %imp2, %wq, %merged : tensor<1x2x8xf32>, tensor<1x2xf32>, tensor<8x4xf32>, tensor<1x4x8xf32>
}

// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json -split-input-file -verify-diagnostics | FileCheck %s

// Six keys with four per fill: per head a statistics pass over each fill
// (flags 16, K loaded), then an apply pass over each (flags 32 with token
// importance 1; K and V loaded again). The second fill starts at key 4,
// so its causal offset is -4 (65532 in 16 bits) and its importance starts
// at element 4 of the importance (4090 in the mask buffer).
// CHECK-LABEL: spatten_isa.program @two_fills
// CHECK: spatten_isa.load {{.*}}rows = 6 : i64, sram_buf = 4 : i64
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.attn {causal_offset = 0 : i64{{.*}}flags = 16 : i64{{.*}}lk = 4 : i64, lq = 6 : i64
// CHECK: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.attn {causal_offset = 65532 : i64{{.*}}flags = 16 : i64{{.*}}lk = 2 : i64, lq = 6 : i64
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 6 : i64
// CHECK: spatten_isa.attn {causal_offset = 0 : i64{{.*}}flags = 33 : i64{{.*}}lk = 4 : i64
// CHECK: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 6 : i64
// CHECK: spatten_isa.attn {causal_offset = 65532 : i64{{.*}}flags = 33 : i64{{.*}}imp_off = 4094 : i64{{.*}}lk = 2 : i64
// CHECK: spatten_isa.store {{.*}}rows = 6 : i64
func.func @two_fills(%q: tensor<1x6x8xf32>, %ti: tensor<1x6xf32>) -> (tensor<1x6x8xf32>, tensor<1x6xf32>) {
  %p = spatten.attention_probs %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : tensor<1x6x8xf32>, tensor<1x6x8xf32> -> tensor<1x2x6x6xf32>
  %t = spatten.token_importance %p, %ti : tensor<1x2x6x6xf32>, tensor<1x6xf32> -> tensor<1x6xf32>
  %o = spatten.attention_output %p, %q : tensor<1x2x6x6xf32>, tensor<1x6x8xf32> -> tensor<1x6x8xf32>
  return %o, %t : tensor<1x6x8xf32>, tensor<1x6xf32>
}

// -----

// Local value pruning's top-k needs a whole row of probabilities.
func.func @value_keep(%q: tensor<1x1x8xf32>, %k: tensor<1x10x8xf32>, %v: tensor<1x10x8xf32>) -> tensor<1x1x8xf32> {
  %p = spatten.attention_probs %q, %k {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : tensor<1x1x8xf32>, tensor<1x10x8xf32> -> tensor<1x2x1x10xf32>
  %pk = spatten.local_value_prune %p {keep = 3 : i64} : tensor<1x2x1x10xf32>
  // expected-error @+1 {{--value-keep with 10 keys in more than one K/V buffer fill (4 keys) is not implemented: local value pruning's top-k needs every probability of a row}}
  %o = spatten.attention_output %pk, %v : tensor<1x2x1x10xf32>, tensor<1x10x8xf32> -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

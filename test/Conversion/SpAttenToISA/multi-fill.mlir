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

// Local value pruning over fills of 4, 4 and 2 keys: every pass carries
// vk = 3 (the statistics passes keep the scores, the first apply pass
// selects on the whole row). One query row keeps few V rows, so each apply
// pass defers prob*V (flags 32|8): the fill's kept V rows are fetched under
// the value-row mask (pred = 2), then a `values` phase (3) writes O for
// the first fill and adds to it (flags 32) for the others.
// CHECK-LABEL: spatten_isa.program @value_keep
// CHECK: spatten_isa.load {{.*}}rows = 1 : i64, sram_buf = 4 : i64
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 4 : i64{{.*}}vk = 3 : i64}
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 4 : i64{{.*}}vk = 3 : i64}
// CHECK: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 2 : i64{{.*}}vk = 3 : i64}
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 40 : i64{{.*}}lk = 4 : i64{{.*}}vk = 3 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 2 : i64, rows = 4 : i64, sram_buf = 6 : i64
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 0 : i64{{.*}}lk = 4 : i64{{.*}}phase = 3 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 40 : i64{{.*}}lk = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 2 : i64, rows = 4 : i64, sram_buf = 6 : i64
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 4 : i64{{.*}}phase = 3 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 40 : i64{{.*}}lk = 2 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 2 : i64, rows = 2 : i64, sram_buf = 6 : i64
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 2 : i64{{.*}}phase = 3 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 1 : i64
func.func @value_keep(%q: tensor<1x1x8xf32>, %k: tensor<1x10x8xf32>, %v: tensor<1x10x8xf32>) -> tensor<1x1x8xf32> {
  %p = spatten.attention_probs %q, %k {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : tensor<1x1x8xf32>, tensor<1x10x8xf32> -> tensor<1x2x1x10xf32>
  %pk = spatten.local_value_prune %p {keep = 3 : i64} : tensor<1x2x1x10xf32>
  %o = spatten.attention_output %pk, %v : tensor<1x2x1x10xf32>, tensor<1x10x8xf32> -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

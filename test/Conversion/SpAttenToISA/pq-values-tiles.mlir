// RUN: spatten-opt %s --spatten-progressive-quantization="pq-msb=8 pq-values=1" --convert-spatten-to-isa=hw=%S/Inputs/small-q.json | FileCheck %s

// With values in planes every row of a refetching head reads full values,
// so across query tiles (20 rows of width 64: tiles of 16 and 4 of the
// 4 KiB Q buffer) the head decides first, then every tile's apply passes
// load the V MSB plane (class 7) and, under the head's predicate, the V
// LSB plane (class 8, pred = 1).
// CHECK-LABEL: spatten_isa.program @pq_values_across_tiles
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lq = 16 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lq = 4 : i64{{.*}}next_tile = 1 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}head_decided = 1 : i64{{.*}}lq = 16 : i64
// CHECK: spatten_isa.load {{.*}}rows = 20 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 7
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 20 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 8
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lq = 16 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}head_decided = 1 : i64{{.*}}lq = 4 : i64
// CHECK: spatten_isa.load {{.*}}rows = 20 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 7
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 20 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 8
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lq = 4 : i64{{.*}}phase = 1 : i64
func.func @pq_values_across_tiles(%q: tensor<1x20x128xf32>) -> tensor<1x20x128xf32> {
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x20x128xf32>, tensor<1x20x128xf32>, tensor<1x20x128xf32>) -> tensor<1x20x128xf32>
  return %o : tensor<1x20x128xf32>
}

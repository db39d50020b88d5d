// RUN: spatten-opt %s --spatten-progressive-quantization=pq-msb=6 --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json | FileCheck %s

// Progressive quantization over fills of 4 and 2 keys, per head: statistics
// passes on the K MSB plane (class 5) in phase decide (flags 16, phase 1),
// which mark the unconfident rows and set the predicate from the
// statistics; statistics with full keys for the unconfident rows (phase 2),
// the MSB and LSB (class 6) planes under the predicate (pred = 1); then per
// fill an apply pass in two parts: decide (flags 32, phase 1) on the MSB
// plane with V (class 4) loaded, and finish (phase 2) after the LSB plane
// under the predicate.
// CHECK-LABEL: spatten_isa.program @pq_over_fills
// CHECK: spatten_isa.load {{.*}}rows = 6 : i64, sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 4 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 2 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 4 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 4 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 4 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 2 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 2 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 2 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 4
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 4 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 4 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 4 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 4
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 2 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 2 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 2 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 6 : i64
func.func @pq_over_fills(%q: tensor<1x6x8xf32>) -> tensor<1x6x8xf32> {
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  return %o : tensor<1x6x8xf32>
}

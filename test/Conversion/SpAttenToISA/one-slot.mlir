// RUN: spatten-opt %s --spatten-progressive-quantization=pq-msb=6 --convert-spatten-to-isa=hw=%S/Inputs/small-q.json -split-input-file -verify-diagnostics | FileCheck %s

// Progressive quantization decides per head, so all 12 query rows share
// one ATTN. 12 rows of width 64 do not fit half of the 4 KiB Q buffer, so
// they take all of it: every head's Q is at offset 0, and head 1's inputs
// are fetched after head 0's ATTNs and store, not during its finish.
// CHECK-LABEL: spatten_isa.program @pq_one_q_slot
// CHECK: spatten_isa.load {{.*}}rows = 12 : i64, sram_buf = 4 : i64, sram_off = 0 : i64
// CHECK: spatten_isa.attn {{.*}}lq = 12 : i64{{.*}}q_off = 0 : i64
// CHECK: spatten_isa.load {{.*}}pred = 1
// CHECK: spatten_isa.attn {{.*}}lq = 12 : i64{{.*}}q_off = 0 : i64
// CHECK-NEXT: spatten_isa.store
// CHECK-NEXT: spatten_isa.load {{.*}}sram_buf = 5
// CHECK: spatten_isa.load {{.*}}rows = 12 : i64, sram_buf = 4 : i64, sram_off = 0 : i64
// CHECK: spatten_isa.attn {{.*}}lq = 12 : i64{{.*}}q_off = 0 : i64
func.func @pq_one_q_slot(%q: tensor<1x12x128xf32>) -> tensor<1x12x128xf32> {
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x12x128xf32>, tensor<1x12x128xf32>, tensor<1x12x128xf32>) -> tensor<1x12x128xf32>
  return %o : tensor<1x12x128xf32>
}

// -----

// 20 rows of width 64 exceed even the whole Q buffer.
func.func @pq_rows_beyond_the_q_buffer(%q: tensor<1x20x128xf32>) -> tensor<1x20x128xf32> {
  // expected-error @+1 {{20 query rows do not fit one ATTN; progressive quantization across query tiles is not implemented}}
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x20x128xf32>, tensor<1x20x128xf32>, tensor<1x20x128xf32>) -> tensor<1x20x128xf32>
  return %o : tensor<1x20x128xf32>
}

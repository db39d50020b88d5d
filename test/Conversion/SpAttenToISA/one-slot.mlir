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

// 20 rows of width 64 exceed even the whole Q buffer: query tiles of 16
// and 4 rows over the one fill of 20 keys. The head decides first: decide
// statistics (flags 16, phase 1) of each tile, the second starting anew
// (next_tile); then per tile decide statistics that only mark its rows
// (head_decided), full-key statistics under the predicate (phase 2) and
// an apply pass in two parts (flags 32); the second tile's apply passes
// merge its refetch decision into the head's (next_tile).
// CHECK-LABEL: spatten_isa.program @pq_rows_beyond_the_q_buffer
// CHECK: spatten_isa.load {{.*}}rows = 16 : i64, sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 20 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lq = 16 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lq = 4 : i64{{.*}}next_tile = 1 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 16 : i64, sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64, head_decided = 1 : i64{{.*}}lq = 16 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}phase = 2 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lq = 16 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 1 : i64, rows = 20 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 16 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64, head_decided = 1 : i64{{.*}}lq = 4 : i64{{.*}}next_tile = 1 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lq = 4 : i64{{.*}}next_tile = 1 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 4 : i64
func.func @pq_rows_beyond_the_q_buffer(%q: tensor<1x20x128xf32>) -> tensor<1x20x128xf32> {
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x20x128xf32>, tensor<1x20x128xf32>, tensor<1x20x128xf32>) -> tensor<1x20x128xf32>
  return %o : tensor<1x20x128xf32>
}

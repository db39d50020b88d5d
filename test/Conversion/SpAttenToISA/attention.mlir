// RUN: spatten-opt %s --convert-spatten-to-isa -split-input-file | FileCheck %s

// Per head: K and V rows are strided loads of that head's columns, Q is
// loaded per query tile, ATTN writes ACC, the head's output is a strided
// store. Causal masks carry the cache length in causal_offset.
// CHECK-LABEL: spatten_isa.program @causal
// CHECK-COUNT-2: spatten_isa.attn {causal_offset = 0 : i64, d = 4 : i64{{.*}}lk = 3 : i64, lq = 3 : i64, mask_buf = 7 : i64, mask_fill = 0.000000e+00 : f32, mask_kind = 2 : i64
// CHECK: spatten_isa.halt
func.func @causal(%q: tensor<1x3x8xf32>, %k: tensor<1x3x8xf32>, %v: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %o = spatten.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  return %o : tensor<1x3x8xf32>
}

// -----

// The padding mask row of each batch is loaded once into the mask buffer;
// the K rows of head 1 start 4 floats into each 8-float row.
// CHECK-LABEL: spatten_isa.program @padding
// CHECK: spatten_isa.load {{.*}}cols = 3 : i64{{.*}}sram_buf = 7 : i64
// CHECK: spatten_isa.load {{.*}}cols = 4 : i64{{.*}}rows = 3 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 3 : i64
// CHECK: spatten_isa.load {{.*}}cols = 4 : i64{{.*}}rows = 3 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 4 : i64
// CHECK: spatten_isa.load {{.*}}rows = 3 : i64, sram_buf = 4 : i64{{.*}}tensor_class = 2 : i64
// CHECK: spatten_isa.attn {{.*}}mask_kind = 1 : i64
// CHECK: spatten_isa.store {{.*}}cols = 4 : i64{{.*}}dram_stride = 32 : i64
// CHECK-COUNT-1: spatten_isa.attn
// CHECK-NOT: spatten_isa.attn
func.func @padding(%q: tensor<1x3x8xf32>, %m: tensor<1x3xf32>) -> tensor<1x3x8xf32> {
  %o = spatten.attention %q, %q, %q mask(%m) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x3xf32>) -> tensor<1x3x8xf32>
  return %o : tensor<1x3x8xf32>
}

// -----

// With a KV cache the past rows are loaded first, the new key after them at
// offset P*D, and the whole buffer is written back as the present cache.
// CHECK-LABEL: spatten_isa.program @cache
// CHECK: spatten_isa.load {{.*}}rows = 2 : i64, sram_buf = 5 : i64, sram_off = 0 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 1 : i64, sram_buf = 5 : i64, sram_off = 8 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 3 : i64, sram_buf = 5 : i64
// CHECK: spatten_isa.attn {causal_offset = 2 : i64, d = 4 : i64{{.*}}lk = 3 : i64, lq = 1 : i64
func.func @cache(%q: tensor<1x1x8xf32>, %pk: tensor<1x2x2x4xf32>) -> (tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) {
  %o, %k, %v = spatten.attention %q, %q, %q past(%pk, %pk) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1>} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> (tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o, %k, %v : tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>
}

// -----

// A per-query selector mask ([B, Lq, Lk], mask_fill) streams with the query
// tile: rows of the mask buffer are Lk apart (mask_stride), and the ATTN
// select flag (2) applies s*m + mask_fill*(1-m).
// CHECK-LABEL: spatten_isa.program @selector
// CHECK: spatten_isa.load {{.*}}cols = 3 : i64{{.*}}rows = 2 : i64, sram_buf = 7 : i64, sram_off = 0 : i64, sram_stride = 3 : i64
// CHECK-NEXT: spatten_isa.attn {{.*}}flags = 2 : i64{{.*}}mask_fill = -1.000000e+04 : f32, mask_kind = 1 : i64, mask_off = 0 : i64, mask_stride = 3 : i64
func.func @selector(%q: tensor<1x2x8xf32>, %k: tensor<1x3x8xf32>, %m: tensor<1x2x3xf32>) -> tensor<1x2x8xf32> {
  %o = spatten.attention %q, %k, %k mask(%m) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>, mask_fill = -10000.0 : f32} : (tensor<1x2x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x2x3xf32>) -> tensor<1x2x8xf32>
  return %o : tensor<1x2x8xf32>
}

// -----

// The decomposed form (as SpAtten's passes leave it) fuses back into ATTN
// instructions: probabilities never reach DRAM, and token importance
// accumulates in the last `keys` elements of the mask buffer (flags 1):
// loaded before the heads, stored after them.
// CHECK-LABEL: spatten_isa.program @decomposed
// CHECK: spatten_isa.load {{.*}}cols = 3 : i64{{.*}}sram_buf = 7 : i64, sram_off = 4093 : i64
// CHECK-COUNT-2: spatten_isa.attn {{.*}}flags = 1 : i64{{.*}}imp_buf = 7 : i64, imp_off = 4093 : i64
// CHECK: spatten_isa.store {{.*}}cols = 3 : i64{{.*}}sram_buf = 7 : i64, sram_off = 4093 : i64
func.func @decomposed(%q: tensor<1x3x8xf32>, %s: tensor<1x3xf32>) -> (tensor<1x3x8xf32>, tensor<1x3xf32>) {
  %p = spatten.attention_probs %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : tensor<1x3x8xf32>, tensor<1x3x8xf32> -> tensor<1x2x3x3xf32>
  %s1 = spatten.token_importance %p, %s : tensor<1x2x3x3xf32>, tensor<1x3xf32> -> tensor<1x3xf32>
  %o = spatten.attention_output %p, %q : tensor<1x2x3x3xf32>, tensor<1x3x8xf32> -> tensor<1x3x8xf32>
  return %o, %s1 : tensor<1x3x8xf32>, tensor<1x3xf32>
}

// -----

// Local value pruning with 4 query rows each keeping 3 of 10 keys: together
// they need about 1 - 0.7^4 = 76% of the V rows, so V is fetched with K
// (tensor_class 4) and one ATTN per head prunes and multiplies (vk = 3,
// no phase attribute: none; no DeferValues); no predicated V fetch follows.
// CHECK-LABEL: spatten_isa.program @value_with_k
// CHECK: spatten_isa.load {{.*}}tensor_class = 4 : i64
// CHECK: spatten_isa.attn {{.*}}flags = 0 : i64{{.*}}o_stride = 4 : i64, q_buf{{.*}}vk = 3 : i64
// CHECK-NOT: pred = 2
// CHECK: spatten_isa.halt
func.func @value_with_k(%q: tensor<1x4x8xf32>, %k: tensor<1x10x8xf32>, %v: tensor<1x10x8xf32>) -> tensor<1x4x8xf32> {
  %p = spatten.attention_probs %q, %k {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : tensor<1x4x8xf32>, tensor<1x10x8xf32> -> tensor<1x2x4x10xf32>
  %pk = spatten.local_value_prune %p {keep = 3 : i64} : tensor<1x2x4x10xf32>
  %o = spatten.attention_output %pk, %v : tensor<1x2x4x10xf32>, tensor<1x10x8xf32> -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// One query row keeping 3 of 10 keys needs 30% of the V rows: V is fetched
// after the top-k, only the kept rows (pred = 2), between a deferring ATTN
// (flags 8) and the values phase (phase 3).
// CHECK-LABEL: spatten_isa.program @value_after_topk
// CHECK: spatten_isa.attn {{.*}}flags = 8 : i64{{.*}}vk = 3 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}pred = 2 : i64{{.*}}tensor_class = 4 : i64
// CHECK: spatten_isa.attn {{.*}}phase = 3 : i64
func.func @value_after_topk(%q: tensor<1x1x8xf32>, %k: tensor<1x10x8xf32>, %v: tensor<1x10x8xf32>) -> tensor<1x1x8xf32> {
  %p = spatten.attention_probs %q, %k {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : tensor<1x1x8xf32>, tensor<1x10x8xf32> -> tensor<1x2x1x10xf32>
  %pk = spatten.local_value_prune %p {keep = 3 : i64} : tensor<1x2x1x10xf32>
  %o = spatten.attention_output %pk, %v : tensor<1x2x1x10xf32>, tensor<1x10x8xf32> -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

// GPT-2 splits its fused QKV projection by column slices: the attention
// reads each head of Q, K and V in place from the [1, 4, 24] tensor (rows
// 96 bytes apart, from columns 0, 8 and 16), and no slice is copied.
// CHECK-LABEL: spatten_isa.program @qkv_slices
// CHECK-NOT: spatten_isa.store
// CHECK: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4128 : i64, dram_stride = 96 : i64{{.*}}sram_buf = 5 : i64
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4160 : i64, dram_stride = 96 : i64{{.*}}sram_buf = 6 : i64
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4096 : i64, dram_stride = 96 : i64{{.*}}sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.attn
func.func @qkv_slices(%qkv: tensor<1x4x24xf32>) -> tensor<1x4x8xf32> {
  %q = spatten.slice %qkv [0, 0, 0] [1, 1, 1] : (tensor<1x4x24xf32>) -> tensor<1x4x8xf32>
  %k = spatten.slice %qkv [0, 0, 8] [1, 1, 1] : (tensor<1x4x24xf32>) -> tensor<1x4x8xf32>
  %v = spatten.slice %qkv [0, 0, 16] [1, 1, 1] : (tensor<1x4x24xf32>) -> tensor<1x4x8xf32>
  %o = spatten.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// A head's K and V each take more than half of their buffer (512 fp32 keys
// of width 64 = 128 KiB of 196 KB): there is room for one head, not two,
// so every head uses offset 0 and the next head's fetch waits for this
// head's ATTNs instead of the attention not fitting.
// CHECK-LABEL: spatten_isa.program @kv_single_slot
// CHECK: spatten_isa.load {{.*}}rows = 512 : i64, sram_buf = 5 : i64, sram_off = 0 : i64
// CHECK: spatten_isa.attn {{.*}}k_off = 0 : i64{{.*}}v_off = 0 : i64
// CHECK: spatten_isa.load {{.*}}rows = 512 : i64, sram_buf = 5 : i64, sram_off = 0 : i64
// CHECK: spatten_isa.attn {{.*}}k_off = 0 : i64{{.*}}v_off = 0 : i64
// CHECK: spatten_isa.halt
func.func @kv_single_slot(%q: tensor<1x512x128xf32>) -> tensor<1x512x128xf32> {
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x512x128xf32>, tensor<1x512x128xf32>, tensor<1x512x128xf32>) -> tensor<1x512x128xf32>
  return %o : tensor<1x512x128xf32>
}

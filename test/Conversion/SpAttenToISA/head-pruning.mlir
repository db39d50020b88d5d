// RUN: spatten-opt %s --convert-spatten-to-isa -split-input-file | FileCheck %s
// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-buffers.json -split-input-file | FileCheck %s --check-prefix=TILED

// Cascade head pruning reads the kept heads in place: a `prune_heads` read
// only as a linear's weight or bias, or as attention Q/K/V, is not lowered
// (no gather + store of a compacted copy). Its readers load the kept-head
// list (int64, 2 entries) into the idx buffer once and gather from the
// unpruned tensor.

// Q/K/V projection with its weight columns and bias pruned (4 heads of 2,
// heads 2 kept): one periodic gather per weight tile takes the kept 2-wide
// blocks of all 4 rows (row r: entry r % 2, one 32-byte row further every
// 2 rows), and one the bias' kept blocks. No store before the GEMM.
// CHECK-LABEL: spatten_isa.program @qkv_columns
// CHECK: spatten_isa.load {{.*}}cols = 2 : i64{{.*}}dtype = 1 : i64{{.*}}sram_buf = 0 : i64{{.*}}tensor_class = 9 : i64
// CHECK-NOT: spatten_isa.store
// CHECK: spatten_isa.gather {bits = 32 : i64, cols = 2 : i64, dram_addr = 0 : i64, dram_stride = 8 : i64{{.*}}idx_off = 0 : i64, idx_period = 2 : i64, period_stride = 32 : i64, rows = 8 : i64, sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 2 : i64, tensor_class = 0 : i64}
// CHECK-NEXT: spatten_isa.gather {bits = 32 : i64, cols = 2 : i64, dram_addr = 128 : i64, dram_stride = 8 : i64{{.*}}idx_period = 2 : i64, period_stride = 32 : i64, rows = 2 : i64, sram_buf = 2 : i64, sram_off = 16 : i64
// CHECK-NEXT: spatten_isa.gemm {{.*}}flags = 2 : i64, k = 4 : i64, m = 3 : i64, n = 4 : i64}
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 3 : i64
// CHECK-NEXT: spatten_isa.sync
// CHECK-NEXT: spatten_isa.halt
func.func @qkv_columns(%x: tensor<1x3x4xf32>, %h: tensor<2xi64>) -> tensor<1x3x4xf32> {
  %w = arith.constant dense<1.0> : tensor<4x8xf32>
  %b = arith.constant dense<0.5> : tensor<8xf32>
  %pw = spatten.prune_heads %w, %h {num_heads = 4 : i64, axis = 1 : i64} : tensor<4x8xf32>, tensor<2xi64> -> tensor<4x4xf32>
  %pb = spatten.prune_heads %b, %h {num_heads = 4 : i64, axis = 0 : i64} : tensor<8xf32>, tensor<2xi64> -> tensor<4xf32>
  %y = spatten.linear %x, %pw, %pb : (tensor<1x3x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// Output projection with its weight rows pruned: one gather per kept head
// (period 1: the head's index names a 2-row, 24-byte block; its rows are
// one 12-byte row apart), side by side in the wgt buffer.
// CHECK-LABEL: spatten_isa.program @output_rows
// CHECK: spatten_isa.load {{.*}}sram_buf = 0 : i64{{.*}}tensor_class = 9 : i64
// CHECK-NOT: spatten_isa.store
// CHECK: spatten_isa.gather {{.*}}cols = 3 : i64, dram_addr = 0 : i64, dram_stride = 24 : i64{{.*}}idx_off = 0 : i64, idx_period = 1 : i64, period_stride = 12 : i64, rows = 2 : i64, sram_buf = 2 : i64, sram_off = 0 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}idx_off = 1 : i64, idx_period = 1 : i64, period_stride = 12 : i64, rows = 2 : i64, sram_buf = 2 : i64, sram_off = 6 : i64
// CHECK-NEXT: spatten_isa.gemm {{.*}}k = 4 : i64, m = 3 : i64, n = 3 : i64}
func.func @output_rows(%x: tensor<1x3x4xf32>, %h: tensor<2xi64>) -> tensor<1x3x3xf32> {
  %w = arith.constant dense<1.0> : tensor<8x3xf32>
  %pw = spatten.prune_heads %w, %h {num_heads = 4 : i64, axis = 0 : i64} : tensor<8x3xf32>, tensor<2xi64> -> tensor<4x3xf32>
  %y = spatten.linear %x, %pw : (tensor<1x3x4xf32>, tensor<4x3xf32>) -> tensor<1x3x3xf32>
  return %y : tensor<1x3x3xf32>
}

// -----

// A transposed weight ([N, K], ONNX Gemm transB) pruned along K: whole kept
// heads are one periodic gather; with small buffers (K tiles of 3 columns,
// not whole heads) one gather per kept head the tile touches, 2 and 1
// columns wide.
// CHECK-LABEL: spatten_isa.program @transposed_k
// CHECK: spatten_isa.gather {{.*}}cols = 2 : i64{{.*}}idx_period = 2 : i64, period_stride = 32 : i64, rows = 16 : i64
// CHECK-NEXT: spatten_isa.gemm {{.*}}flags = 4 : i64, k = 4 : i64
// TILED-LABEL: spatten_isa.program @transposed_k
// TILED: spatten_isa.gather {{.*}}cols = 2 : i64, dram_addr = 0 : i64{{.*}}idx_off = 0 : i64, idx_period = 1 : i64, period_stride = 32 : i64, rows = 8 : i64, sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 3 : i64
// TILED-NEXT: spatten_isa.gather {{.*}}cols = 1 : i64, dram_addr = 0 : i64{{.*}}idx_off = 1 : i64, idx_period = 1 : i64, period_stride = 32 : i64, rows = 8 : i64, sram_buf = 2 : i64, sram_off = 2 : i64, sram_stride = 3 : i64
// TILED-NEXT: spatten_isa.gemm {{.*}}k = 3 : i64
// TILED: spatten_isa.gather {{.*}}cols = 1 : i64, dram_addr = 4 : i64{{.*}}idx_off = 1 : i64, idx_period = 1 : i64{{.*}}rows = 8 : i64
// TILED-NEXT: spatten_isa.gemm {{.*}}k = 1 : i64
func.func @transposed_k(%x: tensor<1x3x4xf32>, %h: tensor<2xi64>) -> tensor<1x3x8xf32> {
  %w = arith.constant dense<1.0> : tensor<8x8xf32>
  %pw = spatten.prune_heads %w, %h {num_heads = 4 : i64, axis = 1 : i64} : tensor<8x8xf32>, tensor<2xi64> -> tensor<8x4xf32>
  %y = spatten.linear %x, %pw {transpose_weight} : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

// -----

// Attention on pruned Q/K/V: each head's K, V and Q rows are one gather
// with period 1 from the unpruned [1, 3, 8] tensors (entry h of the list,
// 8-byte head blocks, rows one 32-byte token row apart); the list is
// loaded once for all three.
// CHECK-LABEL: spatten_isa.program @attention
// CHECK: spatten_isa.load {{.*}}sram_buf = 0 : i64{{.*}}tensor_class = 9 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}cols = 2 : i64, dram_addr = [[K:[0-9]+]] : i64, dram_stride = 8 : i64{{.*}}idx_off = 0 : i64, idx_period = 1 : i64{{.*}}period_stride = 32 : i64, rows = 3 : i64, sram_buf = 5 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}idx_off = 0 : i64, idx_period = 1 : i64{{.*}}period_stride = 32 : i64, rows = 3 : i64, sram_buf = 6 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}idx_off = 0 : i64, idx_period = 1 : i64{{.*}}period_stride = 32 : i64, rows = 3 : i64, sram_buf = 4 : i64
// CHECK-NEXT: spatten_isa.attn {{.*}}d = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 2 : i64{{.*}}dram_stride = 16 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}dram_addr = [[K]] : i64{{.*}}idx_off = 1 : i64, idx_period = 1 : i64{{.*}}sram_buf = 5 : i64
// CHECK-NOT: spatten_isa.load
// CHECK: spatten_isa.halt
func.func @attention(%q: tensor<1x3x8xf32>, %k: tensor<1x3x8xf32>, %v: tensor<1x3x8xf32>, %h: tensor<2xi64>) -> tensor<1x3x4xf32> {
  %pq = spatten.prune_heads %q, %h {num_heads = 4 : i64, axis = 2 : i64} : tensor<1x3x8xf32>, tensor<2xi64> -> tensor<1x3x4xf32>
  %pk = spatten.prune_heads %k, %h {num_heads = 4 : i64, axis = 2 : i64} : tensor<1x3x8xf32>, tensor<2xi64> -> tensor<1x3x4xf32>
  %pv = spatten.prune_heads %v, %h {num_heads = 4 : i64, axis = 2 : i64} : tensor<1x3x8xf32>, tensor<2xi64> -> tensor<1x3x4xf32>
  %p = spatten.attention_probs %pq, %pk {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : tensor<1x3x4xf32>, tensor<1x3x4xf32> -> tensor<1x2x3x3xf32>
  %o = spatten.attention_output %p, %pv : tensor<1x2x3x3xf32>, tensor<1x3x4xf32> -> tensor<1x3x4xf32>
  return %o : tensor<1x3x4xf32>
}

// -----

// A prune_heads with any other reader (here the function result) is still
// a gather + store of the kept heads, and the linear loads that copy.
// CHECK-LABEL: spatten_isa.program @materialized
// CHECK: spatten_isa.gather {{.*}}cols = 6 : i64{{.*}}idx_period = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 6 : i64, dram_addr = [[COPY:[0-9]+]] : i64
// CHECK: spatten_isa.load {{.*}}cols = 3 : i64, dram_addr = [[COPY]] : i64{{.*}}rows = 4 : i64, sram_buf = 2 : i64
// CHECK-NEXT: spatten_isa.gemm
func.func @materialized(%x: tensor<1x3x4xf32>, %h: tensor<2xi64>) -> (tensor<1x3x3xf32>, tensor<4x3xf32>) {
  %w = arith.constant dense<1.0> : tensor<8x3xf32>
  %pw = spatten.prune_heads %w, %h {num_heads = 4 : i64, axis = 0 : i64} : tensor<8x3xf32>, tensor<2xi64> -> tensor<4x3xf32>
  %y = spatten.linear %x, %pw : (tensor<1x3x4xf32>, tensor<4x3xf32>) -> tensor<1x3x3xf32>
  return %y, %pw : tensor<1x3x3xf32>, tensor<4x3xf32>
}

// RUN: spatten-opt %s --convert-spatten-to-isa | FileCheck %s
// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-buffers.json | FileCheck %s --check-prefix=TILED

// A 2x8 * 8x12 + bias linear fits one tile with the paper's buffers: load A,
// load W, load bias, one GEMM with the bias flag, store.
// CHECK-LABEL: spatten_isa.program @linear
// CHECK-SAME: dram_size = 4256
// CHECK-SAME: inputs = [{addr = 4096 : i64, dtype = "float32", name = "input_0", shape = [2, 8]}]
// CHECK-SAME: rodata_size = 432
// CHECK: spatten_isa.segment {addr = 0 : i64
// CHECK: spatten_isa.segment {addr = 384 : i64
// CHECK: spatten_isa.load {bits = 32 : i64, cols = 8 : i64, dram_addr = 4096 : i64, dram_stride = 32 : i64, dtype = 0 : i64, rows = 2 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 8 : i64, tensor_class = 1 : i64}
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 12 : i64, dram_addr = 0 : i64, dram_stride = 48 : i64, dtype = 0 : i64, rows = 8 : i64, sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 12 : i64, tensor_class = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}dram_addr = 384 : i64{{.*}}sram_buf = 2 : i64, sram_off = 96 : i64
// CHECK-NEXT: spatten_isa.gemm {{{.*}}flags = 2 : i64, k = 8 : i64, m = 2 : i64, n = 12 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = 4160 : i64, dram_stride = 48 : i64{{.*}}rows = 2 : i64, sram_buf = 3 : i64
// CHECK-NEXT: spatten_isa.sync
// CHECK-NEXT: spatten_isa.halt

// With a 64-element weight buffer, double-buffered into halves of 32, the
// 12-column tile leaves room for (32 - 12) / 12 = 1 row of W: eight K tiles
// alternating between the halves (act and wgt at offset 0, then 32), the
// first adding the bias (flags 2), the others accumulating (flags 1), then
// one store.
// TILED-LABEL: spatten_isa.program @linear
// TILED: spatten_isa.gemm {a_buf = 1 : i64, a_off = 0 : i64{{.*}}b_off = 0 : i64{{.*}}flags = 2 : i64, k = 1 : i64, m = 2 : i64, n = 12 : i64
// TILED-NOT: spatten_isa.store
// TILED: spatten_isa.gemm {a_buf = 1 : i64, a_off = 32 : i64{{.*}}b_off = 32 : i64{{.*}}flags = 1 : i64, k = 1 : i64
// TILED-COUNT-6: spatten_isa.gemm {{{.*}}flags = 1 : i64, k = 1 : i64
// TILED-NEXT: spatten_isa.store
func.func @linear(%x: tensor<2x8xf32>) -> tensor<2x12xf32> {
  %w = arith.constant dense<0.5> : tensor<8x12xf32>
  %b = arith.constant dense<1.0> : tensor<12xf32>
  %y = spatten.linear %x, %w, %b : (tensor<2x8xf32>, tensor<8x12xf32>, tensor<12xf32>) -> tensor<2x12xf32>
  return %y : tensor<2x12xf32>
}


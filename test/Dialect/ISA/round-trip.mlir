// RUN: spatten-opt %s | spatten-opt | FileCheck %s

// CHECK-LABEL: spatten_isa.program @main
// CHECK-SAME: dram_size = 8192
spatten_isa.program @main attributes {dram_size = 8192 : i64, rodata_size = 64 : i64, hardware = "{}", inputs = [{name = "x", shape = [1, 4], dtype = "float32", addr = 4096 : i64}], outputs = []} {
  // CHECK: spatten_isa.segment {addr = 0 : i64, value = dense<1.000000e+00> : tensor<4xf32>}
  spatten_isa.segment {addr = 0 : i64, value = dense<1.0> : tensor<4xf32>}
  // CHECK: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4096 : i64
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4096 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  // CHECK: spatten_isa.gather
  spatten_isa.gather {tensor_class = 0 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64, idx_off = 0 : i64}
  // CHECK: spatten_isa.gemm
  spatten_isa.gemm {flags = 2 : i64, a_buf = 1 : i64, a_off = 0 : i64, a_stride = 4 : i64, b_buf = 2 : i64, b_off = 0 : i64, b_stride = 4 : i64, c_buf = 3 : i64, c_off = 0 : i64, c_stride = 4 : i64, bias_buf = 2 : i64, bias_off = 16 : i64, bias_stride = 0 : i64, m = 1 : i64, n = 4 : i64, k = 4 : i64}
  // CHECK: spatten_isa.attn {{.*}}scale = 1.250000e-01 : f32
  spatten_isa.attn {mask_kind = 2 : i64, flags = 0 : i64, mask_fill = 0.0 : f32, q_buf = 4 : i64, q_off = 0 : i64, q_stride = 4 : i64, k_buf = 5 : i64, k_off = 0 : i64, k_stride = 4 : i64, v_buf = 6 : i64, v_off = 0 : i64, v_stride = 4 : i64, o_buf = 3 : i64, o_off = 0 : i64, o_stride = 4 : i64, mask_buf = 7 : i64, mask_off = 0 : i64, mask_stride = 0 : i64, lq = 1 : i64, lk = 1 : i64, d = 4 : i64, causal_offset = 0 : i64, imp_buf = 0 : i64, imp_off = 0 : i64, scale = 0.125 : f32}
  // CHECK: spatten_isa.vec {{.*}}dep_wait = 1 : i64{{.*}}func = 19 : i64
  spatten_isa.vec {func = 19 : i64, flags = 0 : i64, x_buf = 1 : i64, x_off = 0 : i64, x_stride = 4 : i64, y_buf = 2 : i64, y_off = 0 : i64, y_stride = 0 : i64, z_buf = 3 : i64, z_off = 0 : i64, z_stride = 4 : i64, w_buf = 2 : i64, w_off = 4 : i64, w_stride = 0 : i64, rows = 1 : i64, cols = 4 : i64, imm = 1.0e-5 : f32, dep_wait = 1 : i64}
  // CHECK: spatten_isa.store
  spatten_isa.store {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4096 : i64, dram_stride = 16 : i64, sram_buf = 3 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  // CHECK: spatten_isa.sync
  spatten_isa.sync
  // CHECK: spatten_isa.halt
  spatten_isa.halt
}

// RUN: spatten-opt %s --spatten-isa-schedule -split-input-file | FileCheck %s

// Two tiles of a GEMM, the second double-buffered (act/wgt at offset 64,
// acc at 32), then a load reading back what the first store wrote.
// CHECK-LABEL: spatten_isa.program @tiles
// CHECK-NOT: spatten_isa.sync
// Tile 0: the GEMM waits for its loads (bit 1), the store for the GEMM (2).
// Attributes print sorted, so a dep_wait would sit between cols and dram_addr.
// CHECK: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4096
// CHECK: spatten_isa.gemm {{{.*}}dep_wait = 1 : i64
// CHECK: spatten_isa.store {{{.*}}dep_wait = 2 : i64
// Tile 1 touches other SRAM: its load waits for nothing, so it overlaps the
// GEMM of tile 0; its GEMM waits for it.
// CHECK: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4352
// CHECK: spatten_isa.gemm {{{.*}}dep_wait = 1 : i64
// CHECK: spatten_isa.store {{{.*}}dep_wait = 2 : i64
// Reading DRAM the first store wrote (RAW through DRAM) waits for the store
// queue; writing the act buffer tile 1's GEMM reads (WAR) waits for compute.
// CHECK: spatten_isa.load {{{.*}}dep_wait = 6 : i64
// CHECK: spatten_isa.halt
spatten_isa.program @tiles attributes {dram_size = 8192 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4096 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 4 : i64, cols = 4 : i64}
  spatten_isa.gemm {flags = 0 : i64, a_buf = 1 : i64, a_off = 0 : i64, a_stride = 4 : i64, b_buf = 2 : i64, b_off = 0 : i64, b_stride = 4 : i64, c_buf = 3 : i64, c_off = 0 : i64, c_stride = 4 : i64, bias_buf = 2 : i64, bias_off = 0 : i64, bias_stride = 0 : i64, m = 4 : i64, n = 4 : i64, k = 4 : i64}
  spatten_isa.store {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 5120 : i64, dram_stride = 16 : i64, sram_buf = 3 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 4 : i64, cols = 4 : i64}
  spatten_isa.sync
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4352 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 64 : i64, sram_stride = 4 : i64, rows = 4 : i64, cols = 4 : i64}
  spatten_isa.gemm {flags = 0 : i64, a_buf = 1 : i64, a_off = 64 : i64, a_stride = 4 : i64, b_buf = 2 : i64, b_off = 0 : i64, b_stride = 4 : i64, c_buf = 3 : i64, c_off = 32 : i64, c_stride = 4 : i64, bias_buf = 2 : i64, bias_off = 0 : i64, bias_stride = 0 : i64, m = 4 : i64, n = 4 : i64, k = 4 : i64}
  spatten_isa.store {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 5376 : i64, dram_stride = 16 : i64, sram_buf = 3 : i64, sram_off = 32 : i64, sram_stride = 4 : i64, rows = 4 : i64, cols = 4 : i64}
  spatten_isa.sync
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 5120 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 64 : i64, sram_stride = 4 : i64, rows = 4 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

// Progressive quantization: the predicated LSB load reads the decision of
// the ATTN decide (attention-unit state) and overwrites the K rows it read,
// so it waits on compute; the finish reads the K rows the load wrote.
// CHECK-LABEL: spatten_isa.program @pq
// CHECK: spatten_isa.attn {{{.*}}phase = 1 : i64
// CHECK: spatten_isa.load {{{.*}}dep_wait = 2 : i64{{.*}}pred = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}dep_wait = 1 : i64{{.*}}phase = 2 : i64
spatten_isa.program @pq attributes {dram_size = 8192 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.attn {mask_kind = 0 : i64, flags = 0 : i64, mask_fill = 0.0 : f32, q_buf = 4 : i64, q_off = 0 : i64, q_stride = 4 : i64, k_buf = 5 : i64, k_off = 0 : i64, k_stride = 4 : i64, v_buf = 6 : i64, v_off = 0 : i64, v_stride = 4 : i64, o_buf = 3 : i64, o_off = 0 : i64, o_stride = 4 : i64, mask_buf = 7 : i64, mask_off = 0 : i64, mask_stride = 0 : i64, lq = 2 : i64, lk = 2 : i64, d = 4 : i64, causal_offset = 0 : i64, imp_buf = 0 : i64, imp_off = 0 : i64, scale = 0.5 : f32, phase = 1 : i64, pq_threshold = 0.1 : f32}
  spatten_isa.load {tensor_class = 6 : i64, dtype = 0 : i64, bits = 10 : i64, plane = 2 : i64, lsb_bits = 4 : i64, pred = 1 : i64, dram_addr = 4096 : i64, dram_stride = 2 : i64, sram_buf = 5 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 2 : i64, cols = 4 : i64}
  spatten_isa.attn {mask_kind = 0 : i64, flags = 0 : i64, mask_fill = 0.0 : f32, q_buf = 4 : i64, q_off = 0 : i64, q_stride = 4 : i64, k_buf = 5 : i64, k_off = 0 : i64, k_stride = 4 : i64, v_buf = 6 : i64, v_off = 0 : i64, v_stride = 4 : i64, o_buf = 3 : i64, o_off = 0 : i64, o_stride = 4 : i64, mask_buf = 7 : i64, mask_off = 0 : i64, mask_stride = 0 : i64, lq = 2 : i64, lk = 2 : i64, d = 4 : i64, causal_offset = 0 : i64, imp_buf = 0 : i64, imp_off = 0 : i64, scale = 0.5 : f32, phase = 2 : i64, pq_threshold = 0.1 : f32}
  spatten_isa.halt
}

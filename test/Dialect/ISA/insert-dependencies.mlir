// RUN: spatten-opt %s --spatten-isa-insert-dependencies -split-input-file | FileCheck %s

// Two tiles of a GEMM, the second double-buffered (act/wgt at offset 64,
// acc at 32), then a load reading back what the first store wrote.
// Attributes print sorted: dep_signal and dep_wait sit between cols and
// dram_addr (DMAs) or c_stride and flags (GEMM).
// CHECK-LABEL: spatten_isa.program @tiles
// CHECK-NOT: spatten_isa.sync
// Tile 0: the load signals compute (2); the GEMM takes that token (waits
// on loads, 1) and signals the store queue (4).
// CHECK: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dep_signal = 2 : i64, dram_addr = 4096
// CHECK-NEXT: spatten_isa.gemm {{{.*}}c_stride = 4 : i64, dep_signal = 4 : i64, dep_wait = 1 : i64, flags
// Tile 1's load touches nothing tile 0's store does, so the store sinks
// below it: the load reaches DRAM first and overlaps the GEMM of tile 0.
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dep_signal = 2 : i64, dram_addr = 4352
// CHECK-NEXT: spatten_isa.store {bits = 32 : i64, cols = 4 : i64, dep_signal = 1 : i64, dep_wait = 2 : i64, dram_addr = 5120
// CHECK-NEXT: spatten_isa.gemm {{{.*}}c_stride = 4 : i64, dep_signal = 5 : i64, dep_wait = 1 : i64, flags
// Reading DRAM the first store wrote (RAW through DRAM) takes that store's
// token; overwriting the act tile that tile 1's GEMM reads (WAR) takes the
// GEMM's: 2 | 4. Tile 1's store sinks below it too.
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dep_wait = 6 : i64, dram_addr = 5120
// CHECK-NEXT: spatten_isa.store {bits = 32 : i64, cols = 4 : i64, dep_wait = 2 : i64, dram_addr = 5376
// CHECK-NEXT: spatten_isa.halt
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
// so it takes the decide's token; the finish reads the K rows the load
// wrote and takes the load's.
// CHECK-LABEL: spatten_isa.program @pq
// CHECK: spatten_isa.attn {{{.*}}dep_signal = 1 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.load {{{.*}}dep_signal = 2 : i64, dep_wait = 2 : i64{{.*}}pred = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}dep_wait = 1 : i64{{.*}}phase = 2 : i64
spatten_isa.program @pq attributes {dram_size = 8192 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.attn {mask_kind = 0 : i64, flags = 0 : i64, mask_fill = 0.0 : f32, q_buf = 4 : i64, q_off = 0 : i64, q_stride = 4 : i64, k_buf = 5 : i64, k_off = 0 : i64, k_stride = 4 : i64, v_buf = 6 : i64, v_off = 0 : i64, v_stride = 4 : i64, o_buf = 3 : i64, o_off = 0 : i64, o_stride = 4 : i64, mask_buf = 7 : i64, mask_off = 0 : i64, mask_stride = 0 : i64, lq = 2 : i64, lk = 2 : i64, d = 4 : i64, causal_offset = 0 : i64, imp_buf = 0 : i64, imp_off = 0 : i64, scale = 0.5 : f32, phase = 1 : i64, pq_threshold = 0.1 : f32}
  spatten_isa.load {tensor_class = 6 : i64, dtype = 0 : i64, bits = 10 : i64, plane = 2 : i64, lsb_bits = 4 : i64, pred = 1 : i64, dram_addr = 4096 : i64, dram_stride = 2 : i64, sram_buf = 5 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 2 : i64, cols = 4 : i64}
  spatten_isa.attn {mask_kind = 0 : i64, flags = 0 : i64, mask_fill = 0.0 : f32, q_buf = 4 : i64, q_off = 0 : i64, q_stride = 4 : i64, k_buf = 5 : i64, k_off = 0 : i64, k_stride = 4 : i64, v_buf = 6 : i64, v_off = 0 : i64, v_stride = 4 : i64, o_buf = 3 : i64, o_off = 0 : i64, o_stride = 4 : i64, mask_buf = 7 : i64, mask_off = 0 : i64, mask_stride = 0 : i64, lq = 2 : i64, lk = 2 : i64, d = 4 : i64, causal_offset = 0 : i64, imp_buf = 0 : i64, imp_off = 0 : i64, scale = 0.5 : f32, phase = 2 : i64, pq_threshold = 0.1 : f32}
  spatten_isa.halt
}

// -----

// A token orders two instructions only: the vec reads what the first load
// wrote, so only that load signals; the second load (another buffer) runs
// on, and the vec does not wait for it.
// CHECK-LABEL: spatten_isa.program @one_token
// CHECK: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dep_signal = 2 : i64, dram_addr = 4096
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 4352
// CHECK-NEXT: spatten_isa.vec {cols = 4 : i64, dep_wait = 1 : i64, flags
spatten_isa.program @one_token attributes {dram_size = 8192 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4096 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4352 : i64, dram_stride = 16 : i64, sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.vec {func = 19 : i64, flags = 1 : i64, x_buf = 1 : i64, x_off = 0 : i64, x_stride = 4 : i64, y_buf = 1 : i64, y_off = 0 : i64, y_stride = 0 : i64, z_buf = 3 : i64, z_off = 0 : i64, z_stride = 4 : i64, w_buf = 1 : i64, w_off = 0 : i64, w_stride = 0 : i64, rows = 1 : i64, cols = 4 : i64, imm = 1.0 : f32}
  spatten_isa.halt
}

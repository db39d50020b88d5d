// RUN: spatten-opt %s --spatten-isa-insert-dependencies | FileCheck %s

// Binds take no tokens and stay directly before their instruction, which
// carries the tokens: the load whose rows come from r2 waits for the TOPK
// that writes r2 (a register RAW, nothing else orders them). The store's
// address may reach 5376 at run time, so the load of 5376 waits for it
// although the encoded address (5120) does not overlap; the store sinks
// below the load of 6000 with its bind.
// CHECK-LABEL: spatten_isa.program @binds
// CHECK: spatten_isa.topk {count_reg = 2 : i64, dep_signal = 1 : i64
// CHECK-NEXT: spatten_isa.bind {add = 0 : i64, field = "rows", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 2 : i64}
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dep_wait = 2 : i64, dram_addr = 4096
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dram_addr = 6000
// CHECK-NEXT: spatten_isa.bind {add = 5120 : i64, field = "dram_addr", hi = 5376 : i64, lo = 5120 : i64, mul = 16 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.store {bits = 32 : i64, cols = 4 : i64, dep_signal = 1 : i64, dram_addr = 5120
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, cols = 4 : i64, dep_wait = 4 : i64, dram_addr = 5376
// CHECK-NEXT: spatten_isa.halt
spatten_isa.program @binds attributes {dram_size = 8192 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.topk {flags = 6 : i64, count_reg = 2 : i64, layer = 0 : i64, s_buf = 1 : i64, s_off = 0 : i64, in_off = 0 : i64, out_off = 0 : i64, n = 4 : i64, k = 2 : i64, seed = 0 : i64}
  spatten_isa.bind {field = "rows", reg = 2 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 4096 : i64, dram_stride = 16 : i64, sram_buf = 4 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 4 : i64, cols = 4 : i64}
  spatten_isa.bind {field = "dram_addr", reg = 0 : i64, mul = 16 : i64, add = 5120 : i64, lo = 5120 : i64, hi = 5376 : i64}
  spatten_isa.store {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 5120 : i64, dram_stride = 16 : i64, sram_buf = 3 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 6000 : i64, dram_stride = 16 : i64, sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 5376 : i64, dram_stride = 16 : i64, sram_buf = 2 : i64, sram_off = 64 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

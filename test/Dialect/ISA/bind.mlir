// RUN: spatten-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// A bind names a field of the next instruction that is not a bind; several
// binds (different fields) may precede one instruction.
// CHECK-LABEL: spatten_isa.program @ok
// CHECK: spatten_isa.bind {add = 1 : i64, field = "rows", hi = 64 : i64, lo = 0 : i64, mul = 1 : i64, reg = 3 : i64}
// CHECK: spatten_isa.bind {add = 0 : i64, field = "dram_addr", hi = 4096 : i64, lo = 0 : i64, mul = 256 : i64, reg = 3 : i64, source = 1 : i64, table = 64 : i64}
// CHECK-NEXT: spatten_isa.load
// CHECK: spatten_isa.topk {count_reg = 2 : i64
spatten_isa.program @ok attributes {dram_size = 8192 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.bind {field = "rows", reg = 3 : i64, mul = 1 : i64, add = 1 : i64, lo = 0 : i64, hi = 64 : i64}
  spatten_isa.bind {field = "dram_addr", source = 1 : i64, table = 64 : i64, reg = 3 : i64, mul = 256 : i64, add = 0 : i64, lo = 0 : i64, hi = 4096 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.topk {flags = 6 : i64, count_reg = 2 : i64, layer = 0 : i64, s_buf = 1 : i64, s_off = 0 : i64, in_off = 0 : i64, out_off = 0 : i64, n = 4 : i64, k = 2 : i64, seed = 0 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @unknown_field attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{field 'lk' is not a field of 'spatten_isa.load'}}
  spatten_isa.bind {field = "lk", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @before_halt attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{precedes 'spatten_isa.halt', which has no field to bind}}
  spatten_isa.bind {field = "rows", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @before_sync attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{precedes 'spatten_isa.sync', which has no field to bind}}
  spatten_isa.bind {field = "rows", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.sync
  spatten_isa.halt
}

// -----

spatten_isa.program @twice attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{binds field 'rows' of the same instruction twice}}
  spatten_isa.bind {field = "rows", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.bind {field = "rows", reg = 1 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @lo_above_hi attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{lo 5 exceeds hi 4}}
  spatten_isa.bind {field = "rows", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 5 : i64, hi = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @range_too_wide attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{[lo, hi] = [0, 65536] does not fit field 'lk' (16 bits)}}
  spatten_isa.bind {field = "lk", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 65536 : i64}
  spatten_isa.attn {mask_kind = 0 : i64, flags = 0 : i64, mask_fill = 0.0 : f32, q_buf = 4 : i64, q_off = 0 : i64, q_stride = 4 : i64, k_buf = 5 : i64, k_off = 0 : i64, k_stride = 4 : i64, v_buf = 6 : i64, v_off = 0 : i64, v_stride = 4 : i64, o_buf = 3 : i64, o_off = 0 : i64, o_stride = 4 : i64, mask_buf = 7 : i64, mask_off = 0 : i64, mask_stride = 0 : i64, lq = 1 : i64, lk = 1 : i64, d = 4 : i64, causal_offset = 0 : i64, imp_buf = 0 : i64, imp_off = 0 : i64, scale = 0.125 : f32}
  spatten_isa.halt
}

// -----

spatten_isa.program @bad_source attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{source 2 is not a bind source (0 register, 1 table)}}
  spatten_isa.bind {field = "rows", source = 2 : i64, reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @bad_reg attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{field 'reg' value 16 does not fit 4 bits}}
  spatten_isa.bind {field = "rows", reg = 16 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @tokens attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{carries no dependency tokens (the instruction it patches does)}}
  spatten_isa.bind {field = "rows", reg = 0 : i64, mul = 1 : i64, add = 0 : i64, lo = 0 : i64, hi = 4 : i64, dep_wait = 1 : i64}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

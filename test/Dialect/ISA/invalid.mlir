// RUN: spatten-opt %s -split-input-file -verify-diagnostics

spatten_isa.program @overflow attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{field 'sram_buf' value 16 does not fit 4 bits}}
  spatten_isa.load {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 16 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

spatten_isa.program @negative attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{field 'rows' value -1 does not fit 24 bits}}
  spatten_isa.store {tensor_class = 1 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = -1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// -----

// expected-error @+1 {{must end with spatten_isa.halt}}
spatten_isa.program @no_halt attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.sync
}

// -----

spatten_isa.program @segment attributes {dram_size = 64 : i64, rodata_size = 8 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{lies outside .rodata (8 bytes)}}
  spatten_isa.segment {addr = 0 : i64, value = dense<1.0> : tensor<4xf32>}
  spatten_isa.halt
}

// -----

spatten_isa.program @missing attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
  // expected-error @+1 {{requires attribute 'idx_off'}}
  spatten_isa.gather {tensor_class = 0 : i64, dtype = 0 : i64, bits = 32 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64, sram_buf = 1 : i64, sram_off = 0 : i64, sram_stride = 4 : i64, rows = 1 : i64, cols = 4 : i64}
  spatten_isa.halt
}

// RUN: not spatten-translate --export-binary %s -split-input-file 2>&1 | FileCheck %s

// CHECK: error: expected a spatten_isa.program, found none
module {}

// -----

// CHECK: error: 'spatten_isa.program' op hardware: {{.*}}unknown_field
spatten_isa.program @bad_hw attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{\22unknown_field\22: 1}", inputs = [], outputs = []} {
  spatten_isa.halt
}

// -----

// CHECK: error: 'spatten_isa.program' op I/O entry needs name, shape, dtype and addr
spatten_isa.program @bad_io attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [{name = "x"}], outputs = []} {
  spatten_isa.halt
}

// -----

// The module's settings must be every setting, each of its type.
// CHECK: error: spatten.settings: expected integer at spatten.settings.pq-msb
module attributes {spatten.settings = {"attn-bits" = 0 : i64, "head-keep" = 1.0 : f64, "k-bits" = 0 : i64, "keep-positions" = [], "pq-lsb" = 4 : i64, "pq-msb" = "six", "pq-threshold" = 0.1 : f64, "pq-values" = false, "q-bits" = 0 : i64, "token-keep" = 1.0 : f64, "token-schedule" = "paper", "v-bits" = 0 : i64, "value-keep" = 1.0 : f64}} {
  spatten_isa.program @bad_settings_type attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
    spatten_isa.halt
  }
}

// -----

// ... and valid.
// CHECK: error: spatten.settings: --pq-msb=5: the ISA encodes MSB planes of 6 or 8 bits
module attributes {spatten.settings = {"attn-bits" = 0 : i64, "head-keep" = 1.0 : f64, "k-bits" = 0 : i64, "keep-positions" = [], "pq-lsb" = 4 : i64, "pq-msb" = 5 : i64, "pq-threshold" = 0.1 : f64, "pq-values" = false, "q-bits" = 0 : i64, "token-keep" = 1.0 : f64, "token-schedule" = "paper", "v-bits" = 0 : i64, "value-keep" = 1.0 : f64}} {
  spatten_isa.program @bad_settings_value attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
    spatten_isa.halt
  }
}

// -----

// Entry points share .rodata ...
// CHECK: error: 'spatten_isa.program' op rodata_size 16 differs from a's 8 (entry points share .rodata)
spatten_isa.program @a attributes {dram_size = 64 : i64, rodata_size = 8 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.halt
}
spatten_isa.program @b attributes {dram_size = 64 : i64, rodata_size = 16 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.halt
}

// -----

// ... so a constant they both place at one address must be the same.
// CHECK: error: 'spatten_isa.segment' op lies outside .rodata or overlaps another segment with different contents
spatten_isa.program @a attributes {dram_size = 64 : i64, rodata_size = 8 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.segment {addr = 0 : i64, value = dense<[1.0, 2.0]> : tensor<2xf32>}
  spatten_isa.halt
}
spatten_isa.program @b attributes {dram_size = 64 : i64, rodata_size = 8 : i64, hardware = "{}", inputs = [], outputs = []} {
  spatten_isa.segment {addr = 0 : i64, value = dense<[1.0, 3.0]> : tensor<2xf32>}
  spatten_isa.halt
}

// -----

// CHECK: error: 'spatten_isa.program' op registers: 'r' is empty or repeated
spatten_isa.program @a attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = [], registers = ["r", "r"]} {
  spatten_isa.halt
}

// -----

// CHECK: error: spatten.kv_cache: manifest field 'kv_cache.max_context': missing
module attributes {spatten.kv_cache = {layers = []}} {
  spatten_isa.program @a attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
    spatten_isa.halt
  }
}

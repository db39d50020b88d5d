// RUN: not spatten-translate --export-binary %s -split-input-file 2>&1 | FileCheck %s

// CHECK: error: expected one spatten_isa.program, found 0
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

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

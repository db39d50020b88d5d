// Two programs become two entry points of one binary: their instructions
// one after another in .text, the constant both repeat at the same address
// stored once, DRAM the larger dram_size, `registers` and the module's
// `spatten.kv_cache` in the manifest (format version 4).
// RUN: spatten-translate --export-binary %s -o %t.spbin
// RUN: spatten-objdump -d %t.spbin | FileCheck %s --check-prefix=DIS
// RUN: spatten-objdump --manifest %t.spbin | FileCheck %s --check-prefix=META
// RUN: llvm-readelf -S %t.spbin | FileCheck %s --check-prefix=ELF

// DIS:      <prefill>:
// DIS-NEXT: 0000: {{.*}} sync
// DIS-NEXT: 0001: {{.*}} halt
// DIS-NEXT: <decode>:
// DIS-NEXT: 0002: {{.*}} halt

// META:      "dram": {
// META-NEXT:   "rodata_base": 0,
// META-NEXT:   "size": 256
// META:      "entries": [
// META:          "entry": 0,
// META:          "name": "prefill",
// META:          "registers": []
// META:          "entry": 2,
// META:          "name": "ids",
// META:          "name": "decode",
// META:          "registers": [
// META-NEXT:       "position"
// META-NEXT:     ]
// META:      "format_version": 4,
// META:      "kv_cache": {
// META:            "addr": 64,
// META:        "max_context": 4
// META:      "num_instructions": 3,

// Eight bytes of .rodata: the shared constant once.
// ELF: .rodata PROGBITS 0000000000000000 {{[0-9a-f]+}} 000008

module attributes {spatten.kv_cache = {max_context = 4 : i64, layers = [
    {k = {addr = 64 : i64, shape = [1, 1, 4, 2], dtype = "float32", row_bytes = 8 : i64},
     v = {addr = 96 : i64, shape = [1, 1, 4, 2], dtype = "float32", row_bytes = 8 : i64}}]}} {
  spatten_isa.program @prefill attributes {dram_size = 128 : i64, rodata_size = 8 : i64, hardware = "{}", inputs = [], outputs = []} {
    spatten_isa.segment {addr = 0 : i64, value = dense<[1.0, 2.0]> : tensor<2xf32>}
    spatten_isa.sync
    spatten_isa.halt
  }
  spatten_isa.program @decode attributes {dram_size = 256 : i64, rodata_size = 8 : i64, hardware = "{}", inputs = [{name = "ids", shape = [1, 1], dtype = "int64", addr = 128 : i64}], outputs = [], registers = ["position"]} {
    spatten_isa.segment {addr = 0 : i64, value = dense<[1.0, 2.0]> : tensor<2xf32>}
    spatten_isa.halt
  }
}

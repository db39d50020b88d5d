// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json -split-input-file | FileCheck %s

// A generation binary (docs/Generation.md): one program per entry point
// sharing DRAM. Context 3 fits one K/V fill (4 keys): prefill writes its K
// and V rows to the cache, decode binds its counts and addresses to the
// `position` register r0: p cached rows, then its own row at SRAM row p,
// stored to cache row p, and one ATTN over p + 1 keys.
// CHECK: module attributes {{{.*}}spatten.kv_cache = {layers = [{k = {addr = [[K:[0-9]+]] : i64, dtype = "float32", row_bytes = 8 : i64, shape = [1, 1, 3, 2]}, v = {addr = [[V:[0-9]+]] : i64, dtype = "float32", row_bytes = 8 : i64, shape = [1, 1, 3, 2]}}], max_context = 3 : i64}}
// CHECK-LABEL: spatten_isa.program @prefill
// CHECK: spatten_isa.store {{.*}}dram_addr = [[K]] : i64, dram_stride = 8 : i64{{.*}}rows = 2 : i64, sram_buf = 5
// CHECK: spatten_isa.store {{.*}}dram_addr = [[V]] : i64, dram_stride = 8 : i64{{.*}}rows = 2 : i64, sram_buf = 6
// CHECK: spatten_isa.attn {{.*}}lk = 2 : i64, lq = 2 : i64
// CHECK-LABEL: spatten_isa.program @decode
// CHECK-SAME: registers = ["position"]
// The position embedding: row p of the table.
// CHECK: spatten_isa.bind {add = [[PE:[0-9]+]] : i64, field = "dram_addr", hi = {{[0-9]+}} : i64, lo = [[PE]] : i64, mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}dram_addr = [[PE]] : i64
// CHECK: spatten_isa.bind {add = 0 : i64, field = "rows", hi = 2 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 2 : i64, sram_buf = 5
// CHECK-NEXT: spatten_isa.bind {add = 0 : i64, field = "sram_off", hi = 4 : i64, lo = 0 : i64, mul = 2 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 1 : i64, sram_buf = 5
// CHECK-NEXT: spatten_isa.bind {add = [[K]] : i64, field = "dram_addr", hi = {{[0-9]+}} : i64, lo = [[K]] : i64, mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.bind {add = 0 : i64, field = "sram_off"
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 1 : i64, sram_buf = 5
// CHECK: spatten_isa.bind {add = 1 : i64, field = "lk", hi = 3 : i64, lo = 1 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.attn {{.*}}flags = 0 : i64{{.*}}lk = 3 : i64, lq = 1 : i64
module attributes {spatten.generation = {max_context = 3 : i64, prefill_length = 2 : i64}} {
  func.func @prefill(%x: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> attributes {spatten.entry = "prefill"} {
    %o = spatten.attention %x, %x, %x {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32, spatten.kv_cache_layer = 0 : i64} : (tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
    return %o : tensor<1x2x2xf32>
  }
  func.func @decode(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %pe = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
    %row = spatten.position_row %pe : (tensor<3x2xf32>) -> tensor<1x1x2xf32>
    %y = spatten.binary <add> %x, %row : (tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
    %o = spatten.cached_attention %y, %y, %y {layer = 0 : i64, max_context = 3 : i64, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
    return %o : tensor<1x1x2xf32>
  }
}

// -----

// Context 9 over fills of 4 keys: a statistics pass, then an apply pass,
// each over the cached rows [0, p) fill by fill (a fill binds its rows and
// lk to p minus its first key, within [0, fill]) and then the token's own
// row as a one-key fill; the apply pass stores that row to cache row p.
// CHECK-LABEL: spatten_isa.program @decode
// CHECK: spatten_isa.bind {add = 0 : i64, field = "rows", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5
// CHECK-NEXT: spatten_isa.bind {add = 0 : i64, field = "lk", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.attn {{.*}}flags = 16 : i64{{.*}}lk = 4 : i64, lq = 1 : i64
// CHECK: spatten_isa.bind {add = -4 : i64, field = "rows", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK: spatten_isa.bind {add = -4 : i64, field = "lk", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.attn {{.*}}flags = 16 : i64{{.*}}lk = 4 : i64, lq = 1 : i64
// CHECK: spatten_isa.attn {{.*}}flags = 16 : i64{{.*}}lk = 1 : i64, lq = 1 : i64
// CHECK: spatten_isa.attn {{.*}}flags = 32 : i64{{.*}}lk = 4 : i64, lq = 1 : i64
// CHECK: spatten_isa.attn {{.*}}flags = 32 : i64{{.*}}lk = 4 : i64, lq = 1 : i64
// CHECK: spatten_isa.attn {{.*}}flags = 32 : i64{{.*}}lk = 1 : i64, lq = 1 : i64
// CHECK-NEXT: spatten_isa.bind {{{.*}}field = "dram_addr"{{.*}}mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 1 : i64, sram_buf = 5
// CHECK-NEXT: spatten_isa.bind {{{.*}}field = "dram_addr"{{.*}}mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 1 : i64, sram_buf = 6
module attributes {spatten.generation = {max_context = 9 : i64, prefill_length = 2 : i64}} {
  func.func @decode(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %o = spatten.cached_attention %x, %x, %x {layer = 0 : i64, max_context = 9 : i64, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
    return %o : tensor<1x1x2xf32>
  }
}

// -----

// Static quantization (docs/Generation.md): the cache holds fixed-point
// rows, K at 8 bits and V at 6 (a 4-byte scale and 2 bytes of codes per
// row of D = 2). The prefill stores its dequantized K and V rows with
// fixed-point stores. Decode loads its 16-bit query row, quantizes the
// token's fp32 K and V rows through the act buffer into cache row p, then
// reads rows [0, p] back at their widths (rows bound to p + 1).
// CHECK: spatten.kv_cache = {layers = [{k = {addr = [[K:[0-9]+]] : i64, bits = 8 : i64, dtype = "float32", row_bytes = 6 : i64, shape = [1, 1, 3, 2]}, v = {addr = [[V:[0-9]+]] : i64, bits = 6 : i64, dtype = "float32", row_bytes = 6 : i64, shape = [1, 1, 3, 2]}}], max_context = 3 : i64}
// CHECK-LABEL: spatten_isa.program @prefill
// CHECK: spatten_isa.store {bits = 8 : i64, {{.*}}dram_addr = [[K]] : i64, dram_stride = 6 : i64{{.*}}rows = 2 : i64, sram_buf = 5
// CHECK: spatten_isa.store {bits = 6 : i64, {{.*}}dram_addr = [[V]] : i64, dram_stride = 6 : i64{{.*}}rows = 2 : i64, sram_buf = 6
// CHECK-LABEL: spatten_isa.program @decode
// CHECK: spatten_isa.load {bits = 16 : i64, {{.*}}sram_buf = 4 : i64{{.*}}tensor_class = 2
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, {{.*}}rows = 1 : i64, sram_buf = 1 : i64{{.*}}tensor_class = 1
// CHECK-NEXT: spatten_isa.bind {add = [[K]] : i64, field = "dram_addr", hi = {{[0-9]+}} : i64, lo = [[K]] : i64, mul = 6 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.store {bits = 8 : i64, {{.*}}dram_addr = [[K]] : i64, dram_stride = 6 : i64{{.*}}rows = 1 : i64, sram_buf = 1
// CHECK-NEXT: spatten_isa.load {bits = 32 : i64, {{.*}}rows = 1 : i64, sram_buf = 1 : i64{{.*}}tensor_class = 1
// CHECK-NEXT: spatten_isa.bind {add = [[V]] : i64, field = "dram_addr", hi = {{[0-9]+}} : i64, lo = [[V]] : i64, mul = 6 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.store {bits = 6 : i64, {{.*}}dram_addr = [[V]] : i64, dram_stride = 6 : i64{{.*}}rows = 1 : i64, sram_buf = 1
// CHECK-NEXT: spatten_isa.bind {add = 1 : i64, field = "rows", hi = 3 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {bits = 8 : i64, {{.*}}dram_addr = [[K]] : i64, dram_stride = 6 : i64{{.*}}rows = 3 : i64, sram_buf = 5{{.*}}tensor_class = 3
// CHECK-NEXT: spatten_isa.bind {add = 1 : i64, field = "rows", hi = 3 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {bits = 6 : i64, {{.*}}dram_addr = [[V]] : i64, dram_stride = 6 : i64{{.*}}rows = 3 : i64, sram_buf = 6{{.*}}tensor_class = 4
// CHECK-NEXT: spatten_isa.bind {add = 1 : i64, field = "lk", hi = 3 : i64, lo = 1 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.attn {{.*}}lk = 3 : i64, lq = 1 : i64
module attributes {spatten.generation = {max_context = 3 : i64, prefill_length = 2 : i64}} {
  func.func @prefill(%x: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> attributes {spatten.entry = "prefill"} {
    %r = spatten.reshape %x : (tensor<1x2x2xf32>) -> tensor<1x2x1x2xf32>
    %kc, %ks = spatten.quantize %r {bits = 8 : i64} : tensor<1x2x1x2xf32> -> tensor<1x2x1x2xi16>, tensor<1x2x1x1xf32>
    %kd = spatten.dequantize %kc, %ks : tensor<1x2x1x2xi16>, tensor<1x2x1x1xf32> -> tensor<1x2x1x2xf32>
    %k = spatten.reshape %kd : (tensor<1x2x1x2xf32>) -> tensor<1x2x2xf32>
    %vc, %vs = spatten.quantize %r {bits = 6 : i64} : tensor<1x2x1x2xf32> -> tensor<1x2x1x2xi16>, tensor<1x2x1x1xf32>
    %vd = spatten.dequantize %vc, %vs : tensor<1x2x1x2xi16>, tensor<1x2x1x1xf32> -> tensor<1x2x1x2xf32>
    %v = spatten.reshape %vd : (tensor<1x2x1x2xf32>) -> tensor<1x2x2xf32>
    %o = spatten.attention %x, %k, %v {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32, spatten.kv_cache_layer = 0 : i64} : (tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
    return %o : tensor<1x2x2xf32>
  }
  func.func @decode(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %r = spatten.reshape %x : (tensor<1x1x2xf32>) -> tensor<1x1x1x2xf32>
    %qc, %qs = spatten.quantize %r {bits = 16 : i64} : tensor<1x1x1x2xf32> -> tensor<1x1x1x2xi16>, tensor<1x1x1x1xf32>
    %qd = spatten.dequantize %qc, %qs : tensor<1x1x1x2xi16>, tensor<1x1x1x1xf32> -> tensor<1x1x1x2xf32>
    %q = spatten.reshape %qd : (tensor<1x1x1x2xf32>) -> tensor<1x1x2xf32>
    %o = spatten.cached_attention %q, %x, %x {layer = 0 : i64, max_context = 3 : i64, num_heads = 1 : i64, scale = 0.5 : f32, key_bits = 8 : i64, value_bits = 6 : i64} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
    return %o : tensor<1x1x2xf32>
  }
}

// -----

// Progressive quantization (the authors' setting: K 6 MSB + 4 LSB bits, V
// at 6 bits): K is cached as an MSB plane (scale + 6-bit codes, 6 bytes)
// and an LSB plane (1 byte); the token's row is stored to both. Rows
// [0, p] of the MSB plane, an ATTN that decides (phase 1), the LSB plane
// under the unconfident predicate (pred = 1), an ATTN that finishes
// (phase 2).
// CHECK: spatten.kv_cache = {layers = [{k = {addr = [[K:[0-9]+]] : i64, bits = 10 : i64, dtype = "float32", lsb_bits = 4 : i64, plane = "msb", row_bytes = 6 : i64, shape = [1, 1, 3, 2]}, k_lsb = {addr = [[KL:[0-9]+]] : i64, bits = 10 : i64, dtype = "float32", lsb_bits = 4 : i64, plane = "lsb", row_bytes = 1 : i64, shape = [1, 1, 3, 2]}, v = {{{.*}}bits = 6 : i64
// CHECK-LABEL: spatten_isa.program @decode
// CHECK: spatten_isa.bind {add = [[K]] : i64, field = "dram_addr"{{.*}}mul = 6 : i64
// CHECK-NEXT: spatten_isa.store {bits = 10 : i64, {{.*}}dram_addr = [[K]] : i64{{.*}}lsb_bits = 4 : i64, plane = 1 : i64, rows = 1 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.bind {add = [[KL]] : i64, field = "dram_addr"{{.*}}mul = 1 : i64
// CHECK-NEXT: spatten_isa.store {bits = 10 : i64, {{.*}}dram_addr = [[KL]] : i64, dram_stride = 1 : i64{{.*}}plane = 2 : i64, rows = 1 : i64{{.*}}tensor_class = 6
// CHECK: spatten_isa.bind {add = 1 : i64, field = "rows", hi = 3 : i64
// CHECK-NEXT: spatten_isa.load {bits = 10 : i64, {{.*}}dram_addr = [[K]] : i64{{.*}}plane = 1 : i64, rows = 3 : i64, sram_buf = 5
// CHECK: spatten_isa.bind {add = 1 : i64, field = "lk", hi = 3 : i64, lo = 1 : i64
// CHECK-NEXT: spatten_isa.attn {{.*}}lk = 3 : i64, lq = 1 : i64{{.*}}phase = 1 : i64, pq_threshold = 5.000000e-02 : f32
// CHECK-NEXT: spatten_isa.bind {add = 1 : i64, field = "rows", hi = 3 : i64
// CHECK-NEXT: spatten_isa.load {bits = 10 : i64, {{.*}}dram_addr = [[KL]] : i64{{.*}}plane = 2 : i64, pred = 1 : i64, rows = 3 : i64, sram_buf = 5
// CHECK-NEXT: spatten_isa.bind {add = 1 : i64, field = "lk", hi = 3 : i64, lo = 1 : i64
// CHECK-NEXT: spatten_isa.attn {{.*}}lk = 3 : i64, lq = 1 : i64{{.*}}phase = 2 : i64, pq_threshold = 5.000000e-02 : f32
module attributes {spatten.generation = {max_context = 3 : i64, prefill_length = 2 : i64}} {
  func.func @decode(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %o = spatten.cached_attention %x, %x, %x {layer = 0 : i64, max_context = 3 : i64, num_heads = 1 : i64, scale = 0.5 : f32, pq_msb = 6 : i64, pq_lsb = 4 : i64, pq_threshold = 0.05 : f32, value_bits = 6 : i64} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
    return %o : tensor<1x1x2xf32>
  }
}

// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json -split-input-file | FileCheck %s

// A LLaMA-style decode step (docs/Generation.md, "The LLaMA family"): the
// rotary tables' rows at the position p (DMA addresses bound to register
// r0, one row of 8 bytes per position), one `vec rotary` (func 28) per head
// of Q and of K, and grouped-query attention over a cache of the one K/V
// head shared by both query heads ([1, 1, 3, 2]). The prefill writes that
// K/V head once (head 1 reads the same rows); in decode both heads read
// cache head 0 and the rotated key's columns 0..1, and only head 0 stores
// the token's rows to cache row p.
// CHECK: spatten.kv_cache = {layers = [{k = {addr = [[K:[0-9]+]] : i64, dtype = "float32", row_bytes = 8 : i64, shape = [1, 1, 3, 2]}, v = {addr = [[V:[0-9]+]] : i64, dtype = "float32", row_bytes = 8 : i64, shape = [1, 1, 3, 2]}}], max_context = 3 : i64}
// CHECK-LABEL: spatten_isa.program @prefill
// CHECK: spatten_isa.store {{.*}}dram_addr = [[K]] : i64, dram_stride = 8 : i64{{.*}}rows = 2 : i64, sram_buf = 5
// CHECK: spatten_isa.store {{.*}}dram_addr = [[V]] : i64, dram_stride = 8 : i64{{.*}}rows = 2 : i64, sram_buf = 6
// CHECK: spatten_isa.attn {{.*}}lk = 2 : i64, lq = 2 : i64
// CHECK-NOT: spatten_isa.store {{.*}}dram_addr = [[K]] : i64
// CHECK: spatten_isa.attn {{.*}}lk = 2 : i64, lq = 2 : i64
// CHECK-LABEL: spatten_isa.program @decode
// CHECK: spatten_isa.bind {add = [[COS:[0-9]+]] : i64, field = "dram_addr", hi = {{[0-9]+}} : i64, lo = [[COS]] : i64, mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}dram_addr = [[COS]] : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = [[COSROW:[0-9]+]] : i64
// CHECK: spatten_isa.bind {add = [[SIN:[0-9]+]] : i64, field = "dram_addr", hi = {{[0-9]+}} : i64, lo = [[SIN]] : i64, mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}dram_addr = [[SIN]] : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = [[SINROW:[0-9]+]] : i64
// The query's two heads.
// CHECK: spatten_isa.load {{.*}}dram_addr = [[COSROW]] : i64
// CHECK-NEXT: spatten_isa.load {{.*}}dram_addr = [[SINROW]] : i64
// CHECK-NEXT: spatten_isa.vec {cols = 2 : i64, {{.*}}func = 28 : i64{{.*}}x_off = 0 : i64, x_stride = 4 : i64
// CHECK-NEXT: spatten_isa.vec {cols = 2 : i64, {{.*}}func = 28 : i64{{.*}}x_off = 2 : i64, x_stride = 4 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = [[QR:[0-9]+]] : i64
// The key's one head.
// CHECK: spatten_isa.vec {cols = 2 : i64, {{.*}}func = 28 : i64{{.*}}x_off = 0 : i64, x_stride = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = [[KR:[0-9]+]] : i64
// Head 0: p cached rows, its own row, stored to cache row p.
// CHECK: spatten_isa.load {{.*}}dram_addr = [[QR]] : i64
// CHECK: spatten_isa.load {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 2 : i64, sram_buf = 5
// CHECK: spatten_isa.load {{.*}}dram_addr = [[KR]] : i64{{.*}}rows = 1 : i64, sram_buf = 5
// CHECK-NEXT: spatten_isa.bind {add = [[K]] : i64, field = "dram_addr"{{.*}}mul = 8 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.bind {{{.*}}field = "sram_off"
// CHECK-NEXT: spatten_isa.store {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 1 : i64, sram_buf = 5
// CHECK: spatten_isa.store {{.*}}dram_addr = [[V]] : i64{{.*}}rows = 1 : i64, sram_buf = 6
// CHECK: spatten_isa.attn {{.*}}lk = 3 : i64, lq = 1 : i64
// Head 1: the same K/V head's rows and the same own row, no cache write.
// CHECK: spatten_isa.load {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 2 : i64, sram_buf = 5
// CHECK: spatten_isa.load {{.*}}dram_addr = [[KR]] : i64{{.*}}rows = 1 : i64, sram_buf = 5
// CHECK-NOT: spatten_isa.store {{.*}}dram_addr = [[K]] : i64
// CHECK: spatten_isa.attn {{.*}}lk = 3 : i64, lq = 1 : i64
// CHECK-NEXT: spatten_isa.store
// CHECK-NEXT: spatten_isa.sync
module attributes {spatten.generation = {max_context = 3 : i64, prefill_length = 2 : i64}} {
  func.func @prefill(%q: tensor<1x2x4xf32>, %k: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> attributes {spatten.entry = "prefill"} {
    %o = spatten.attention %q, %k, %k {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64, scale = 0.5 : f32, spatten.kv_cache_layer = 0 : i64} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
    return %o : tensor<1x2x4xf32>
  }
  func.func @decode(%q: tensor<1x1x4xf32>, %k: tensor<1x1x2xf32>) -> tensor<1x1x4xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %cos = arith.constant dense<[[1.0, 1.0], [0.5, 0.5], [0.25, 0.25]]> : tensor<3x2xf32>
    %sin = arith.constant dense<[[0.0, 0.0], [0.75, 0.75], [0.5, 0.5]]> : tensor<3x2xf32>
    %c = spatten.position_row %cos : (tensor<3x2xf32>) -> tensor<1x1x2xf32>
    %s = spatten.position_row %sin : (tensor<3x2xf32>) -> tensor<1x1x2xf32>
    %c2 = spatten.reshape %c : (tensor<1x1x2xf32>) -> tensor<1x2xf32>
    %s2 = spatten.reshape %s : (tensor<1x1x2xf32>) -> tensor<1x2xf32>
    %qr = spatten.rotary_embedding %q, %c2, %s2 : (tensor<1x1x4xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x4xf32>
    %kr = spatten.rotary_embedding %k, %c2, %s2 : (tensor<1x1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x2xf32>
    %o = spatten.cached_attention %qr, %kr, %k {kv_heads = 1 : i64, layer = 0 : i64, max_context = 3 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x4xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x4xf32>
    return %o : tensor<1x1x4xf32>
  }
}

// -----

// A fixed-point cache (K and V at 8 bits): the group's first head quantizes
// the token's K/V rows into cache row p; both heads then read rows [0, p]
// of that K/V head back (rows bound to p + 1).
// CHECK-LABEL: spatten_isa.program @decode
// CHECK: spatten_isa.store {bits = 8 : i64, {{.*}}dram_addr = [[K:[0-9]+]] : i64{{.*}}rows = 1 : i64, sram_buf = 1
// CHECK: spatten_isa.store {bits = 8 : i64, {{.*}}dram_addr = [[V:[0-9]+]] : i64{{.*}}rows = 1 : i64, sram_buf = 1
// CHECK: spatten_isa.bind {add = 1 : i64, field = "rows"
// CHECK-NEXT: spatten_isa.load {bits = 8 : i64, {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 3 : i64, sram_buf = 5
// CHECK: spatten_isa.attn
// CHECK-NOT: spatten_isa.store {bits = 8
// CHECK: spatten_isa.bind {add = 1 : i64, field = "rows"
// CHECK-NEXT: spatten_isa.load {bits = 8 : i64, {{.*}}dram_addr = [[K]] : i64{{.*}}rows = 3 : i64, sram_buf = 5
// CHECK: spatten_isa.attn
module attributes {spatten.generation = {max_context = 3 : i64, prefill_length = 2 : i64}} {
  func.func @decode(%q: tensor<1x1x4xf32>, %k: tensor<1x1x2xf32>) -> tensor<1x1x4xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %o = spatten.cached_attention %q, %k, %k {kv_heads = 1 : i64, key_bits = 8 : i64, value_bits = 8 : i64, layer = 0 : i64, max_context = 3 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x4xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x4xf32>
    return %o : tensor<1x1x4xf32>
  }
}

// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json | FileCheck %s

// A decode step over fills (context 9, 4 keys per fill) with progressive
// quantization (docs/Algorithms.md, "Attention over several fills"): the
// token's K and V rows go to the cache of planes first; then statistics
// passes in phase decide (flags 16, phase 1) on the K MSB plane (class 5)
// over the cached rows [0, p) in fills bound to the position (`rows` and
// `lk` take p - first) and over the token's own row (cache row p, a fill
// of one key); statistics with full keys (phase 2), the MSB and LSB
// (class 6) planes under the predicate (pred = 1); then per fill the apply
// pass's decide (flags 32, phase 1) with V (class 4) and finish (phase 2)
// after the LSB plane under the predicate.
// CHECK-LABEL: spatten_isa.program @decode
// CHECK: spatten_isa.bind {add = 0 : i64, field = "rows", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.bind {add = 0 : i64, field = "lk", hi = 4 : i64, lo = 0 : i64, mul = 1 : i64, reg = 0 : i64}
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.bind {add = -4 : i64, field = "rows"
// CHECK-NEXT: spatten_isa.load {{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.bind {add = -4 : i64, field = "lk"
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}phase = 1 : i64
// CHECK-NEXT: spatten_isa.bind {{{.*}}field = "dram_addr"
// CHECK-NEXT: spatten_isa.load {{.*}}rows = 1 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 1 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.load {{.*}}pred = 1 : i64, rows = 4 : i64{{.*}}tensor_class = 5
// CHECK: spatten_isa.load {{.*}}pred = 1 : i64, rows = 4 : i64{{.*}}tensor_class = 6
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}phase = 2 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}phase = 2 : i64
// CHECK: spatten_isa.load {{.*}}pred = 1 : i64, rows = 1 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 1 : i64{{.*}}phase = 2 : i64
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 5 : i64{{.*}}tensor_class = 5
// CHECK: spatten_isa.load {{.*}}rows = 4 : i64, sram_buf = 6 : i64{{.*}}tensor_class = 4
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.load {{.*}}pred = 1 : i64, rows = 4 : i64{{.*}}tensor_class = 6
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}phase = 2 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}phase = 2 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 1 : i64{{.*}}phase = 1 : i64
// CHECK: spatten_isa.load {{.*}}pred = 1 : i64, rows = 1 : i64{{.*}}tensor_class = 6
// CHECK-NEXT: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 1 : i64{{.*}}phase = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 1 : i64
module attributes {spatten.generation = {max_context = 9 : i64, prefill_length = 2 : i64}} {
  func.func @decode(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %o = spatten.cached_attention %x, %x, %x {layer = 0 : i64, max_context = 9 : i64, num_heads = 1 : i64, scale = 0.5 : f32, pq_msb = 6 : i64, pq_lsb = 4 : i64, pq_threshold = 0.05 : f32} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
    return %o : tensor<1x1x2xf32>
  }
}

// RUN: spatten-opt %s --spatten-quantize="k-bits=12 v-bits=12" --convert-spatten-to-isa=hw=spatten | FileCheck %s
// RUN: spatten-opt %s --convert-spatten-to-isa=hw=spatten | FileCheck %s --check-prefix=FP32

// The K and V buffers hold each key at the width it is loaded with
// (docs/ISA.md, "SRAM operands"): on the spatten preset, 196 KiB hold 784
// fp32 keys of width 64 but 2090 of 12 bits. So 1024 12-bit keys take one
// fill, and two heads of them one half of each buffer (double buffering:
// the second head at element 133802 / 2 = 66901), while fp32 keys take
// two fills, a statistics and an apply pass over each.
// CHECK-LABEL: spatten_isa.program @keys_1024
// CHECK: spatten_isa.load {{.*}}bits = 12 : i64{{.*}}rows = 1024 : i64, sram_buf = 5 : i64, sram_off = 0 : i64
// CHECK: spatten_isa.load {{.*}}bits = 12 : i64{{.*}}rows = 1024 : i64, sram_buf = 6 : i64, sram_off = 0 : i64
// CHECK: spatten_isa.attn {{{.*}}flags = 0 : i64{{.*}}k_off = 0 : i64{{.*}}lk = 1024 : i64, lq = 1 : i64
// CHECK: spatten_isa.load {{.*}}bits = 12 : i64{{.*}}rows = 1024 : i64, sram_buf = 5 : i64, sram_off = 66901 : i64
// CHECK: spatten_isa.attn {{{.*}}k_off = 66901 : i64{{.*}}lk = 1024 : i64, lq = 1 : i64
// CHECK-NOT: spatten_isa.attn

// FP32-LABEL: spatten_isa.program @keys_1024
// FP32: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 784 : i64
// FP32: spatten_isa.attn {{{.*}}flags = 16 : i64{{.*}}lk = 240 : i64
// FP32: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 784 : i64
// FP32: spatten_isa.attn {{{.*}}flags = 32 : i64{{.*}}lk = 240 : i64
func.func @keys_1024(%q: tensor<1x1x128xf32>, %k: tensor<1x1024x128xf32>, %v: tensor<1x1024x128xf32>) -> tensor<1x1x128xf32> {
  %o = spatten.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x1x128xf32>, tensor<1x1024x128xf32>, tensor<1x1024x128xf32>) -> tensor<1x1x128xf32>
  return %o : tensor<1x1x128xf32>
}

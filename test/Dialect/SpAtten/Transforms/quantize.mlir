// RUN: spatten-opt %s --spatten-quantize=attn-bits=12 | FileCheck %s
// RUN: spatten-opt %s --spatten-quantize=attn-bits=8 | FileCheck %s --check-prefix=BITS8
// RUN: spatten-opt %s --spatten-quantize=attn-bits=12 --spatten-quantize=attn-bits=12 | FileCheck %s --check-prefix=TWICE
// RUN: spatten-opt %s --spatten-quantize | FileCheck %s --check-prefix=OFF
// RUN: not spatten-opt %s --spatten-quantize=attn-bits=3 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: spatten-opt %s --spatten-quantize="q-bits=16 k-bits=8 v-bits=6" | FileCheck %s --check-prefix=EACH
// RUN: spatten-opt %s --spatten-quantize="attn-bits=12 v-bits=6" | FileCheck %s --check-prefix=OVERRIDE
// RUN: spatten-opt %s --spatten-quantize=k-bits=8 | FileCheck %s --check-prefix=KEYS
// RUN: not spatten-opt %s --spatten-quantize=v-bits=17 2>&1 | FileCheck %s --check-prefix=BADV

// Q, K and V are quantized per row of one token of one head: [1, 4, 8] with
// 2 heads becomes rows of 4 with one scale each.
// CHECK-LABEL: func @attention
// CHECK-COUNT-3: spatten.quantize %{{.*}} {bits = 12 : i64} : tensor<1x4x2x4xf32> -> tensor<1x4x2x4xi16>, tensor<1x4x2x1xf32>
// CHECK: %[[O:.*]] = spatten.attention %{{.*}}, %{{.*}}, %{{.*}} {mask_kind
// CHECK-NEXT: return %[[O]]
// BITS8-COUNT-3: {bits = 8 : i64}
// The pass is idempotent.
// TWICE-COUNT-3: spatten.quantize
// TWICE-NOT: spatten.quantize
// At its default, attn-bits=0 (fp32), the pass leaves the IR alone.
// OFF-NOT: spatten.quantize
// BAD: error: spatten-quantize: --attn-bits=3: the ISA encodes 4 to 16 bits

// Q, K and V each take their own width; attn-bits is the width of those
// left at 0, and a tensor of width 0 stays fp32.
// EACH: %[[Q:.*]] = spatten.reshape %arg0
// EACH: spatten.quantize %[[Q]] {bits = 16 : i64}
// EACH: %[[K:.*]] = spatten.reshape %arg1
// EACH: spatten.quantize %[[K]] {bits = 8 : i64}
// EACH: %[[V:.*]] = spatten.reshape %arg2
// EACH: spatten.quantize %[[V]] {bits = 6 : i64}
// OVERRIDE-COUNT-2: {bits = 12 : i64}
// OVERRIDE-NOT: {bits = 12 : i64}
// OVERRIDE: {bits = 6 : i64}
// KEYS: %[[K:.*]] = spatten.reshape %arg1
// KEYS: spatten.quantize %[[K]] {bits = 8 : i64}
// KEYS-NOT: spatten.quantize
// KEYS: spatten.attention %arg0, %{{.*}}, %arg2
// BADV: error: spatten-quantize: --v-bits=17: the ISA encodes 4 to 16 bits
func.func @attention(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %o = spatten.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// RUN: spatten-opt %s --spatten-quantize=attn-bits=12 | FileCheck %s
// RUN: spatten-opt %s --spatten-quantize=attn-bits=8 | FileCheck %s --check-prefix=BITS8
// RUN: spatten-opt %s --spatten-quantize=attn-bits=12 --spatten-quantize=attn-bits=12 | FileCheck %s --check-prefix=TWICE
// RUN: spatten-opt %s --spatten-quantize | FileCheck %s --check-prefix=OFF
// RUN: not spatten-opt %s --spatten-quantize=attn-bits=3 2>&1 | FileCheck %s --check-prefix=BAD

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
func.func @attention(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %o = spatten.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// RUN: spatten-opt %s --spatten-quantize="q-bits=16 k-bits=8 v-bits=6" | FileCheck %s
// RUN: spatten-opt %s --spatten-quantize=k-bits=8 | FileCheck %s --check-prefix=KEYS

// In a decode step the query is fake-quantized per head row like any
// attention's; K and V stay the fp32 projections, and the op records the
// cache's widths: the lowering quantizes the token's rows as it writes them
// to the cache (docs/Generation.md).
// CHECK: %[[Q:.*]] = spatten.reshape %arg0
// CHECK: spatten.quantize %[[Q]] {bits = 16 : i64} : tensor<1x1x2x2xf32>
// CHECK-NOT: spatten.quantize
// CHECK: spatten.cached_attention %{{.*}}, %arg1, %arg2 {key_bits = 8 : i64, {{.*}}value_bits = 6 : i64}
// KEYS-NOT: spatten.quantize
// KEYS: spatten.cached_attention %arg0, %arg1, %arg2 {key_bits = 8 : i64, layer
// KEYS-NOT: value_bits
func.func @decode(%q: tensor<1x1x4xf32>, %k: tensor<1x1x4xf32>, %v: tensor<1x1x4xf32>) -> tensor<1x1x4xf32> {
  %o = spatten.cached_attention %q, %k, %v {layer = 0 : i64, max_context = 8 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x4xf32>, tensor<1x1x4xf32>, tensor<1x1x4xf32>) -> tensor<1x1x4xf32>
  return %o : tensor<1x1x4xf32>
}

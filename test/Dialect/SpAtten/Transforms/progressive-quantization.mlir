// RUN: spatten-opt %s --spatten-progressive-quantization=pq-msb=6 | FileCheck %s
// RUN: spatten-opt %s --spatten-progressive-quantization="pq-msb=8 pq-threshold=0.2" | FileCheck %s --check-prefix=OPTS
// RUN: spatten-opt %s --spatten-quantize=attn-bits=12 --spatten-progressive-quantization=pq-msb=6 --spatten-local-value-pruning=value-keep=0.5 | FileCheck %s --check-prefix=ALL
// RUN: spatten-opt %s --spatten-progressive-quantization | FileCheck %s --check-prefix=OFF
// RUN: not spatten-opt %s --spatten-progressive-quantization=pq-msb=5 2>&1 | FileCheck %s --check-prefix=MSB
// RUN: not spatten-opt %s --spatten-progressive-quantization="pq-msb=6 pq-lsb=3" 2>&1 | FileCheck %s --check-prefix=LSB
// RUN: not spatten-opt %s --spatten-progressive-quantization="pq-msb=6 pq-threshold=1" 2>&1 | FileCheck %s --check-prefix=THR
// RUN: not spatten-opt %s --spatten-progressive-quantization=pq-values=true 2>&1 | FileCheck %s --check-prefix=PQV
// RUN: spatten-opt %s --spatten-quantize=attn-bits=12 --spatten-progressive-quantization="pq-msb=6 pq-values=true" | FileCheck %s --check-prefix=VALUES
// RUN: spatten-opt %s --spatten-quantize="q-bits=16 v-bits=6" --spatten-progressive-quantization="pq-msb=6 pq-threshold=0.05" | FileCheck %s --check-prefix=AUTHORS

// CHECK-LABEL: func @attention
// CHECK: %[[P:.*]] = spatten.progressive_fetch %arg0, %arg1 {lsb_bits = 4 : i64, mask_kind = #spatten.mask_kind<causal>, msb_bits = 6 : i64, num_heads = 2 : i64, scale = 5.000000e-01 : f32, threshold = 1.000000e-01 : f32}
// CHECK-NEXT: spatten.attention_output %[[P]], %arg2
// OPTS: {lsb_bits = 4 : i64, mask_kind = #spatten.mask_kind<causal>, msb_bits = 8 : i64, num_heads = 2 : i64, scale = 5.000000e-01 : f32, threshold = 2.000000e-01 : f32}

// After --spatten-quantize, progressive quantization takes the keys before
// their 12-bit quantization (they get msb + lsb bits instead); queries and
// values stay 12-bit.
// ALL-COUNT-2: spatten.quantize
// ALL-NOT: spatten.quantize
// ALL: %[[P:.*]] = spatten.progressive_fetch %{{.*}}, %arg1 {
// ALL-NEXT: %[[K:.*]] = spatten.local_value_prune %[[P]] {keep = 2 : i64}
// ALL-NEXT: spatten.attention_output %[[K]], %{{.*}}

// The paper's generation setting: keys progressive (6 MSB + 4 LSB bits),
// queries 16-bit, values 6-bit.
// AUTHORS: %[[Q:.*]] = spatten.reshape %arg0
// AUTHORS: spatten.quantize %[[Q]] {bits = 16 : i64}
// AUTHORS: %[[V:.*]] = spatten.reshape %arg2
// AUTHORS: spatten.quantize %[[V]] {bits = 6 : i64}
// AUTHORS-NOT: spatten.quantize
// AUTHORS: %[[P:.*]] = spatten.progressive_fetch %{{.*}}, %arg1 {lsb_bits = 4 : i64, {{.*}}msb_bits = 6 : i64, {{.*}}threshold = 5.000000e-02 : f32}
// AUTHORS-NEXT: spatten.attention_output %[[P]], %{{.*}}

// At its default, pq-msb=0, the pass leaves the IR alone.
// OFF-NOT: spatten.progressive_fetch

// MSB: error: spatten-progressive-quantization: --pq-msb=5: the ISA encodes MSB planes of 6 or 8 bits
// LSB: error: spatten-progressive-quantization: --pq-lsb=3: the ISA encodes 4-bit LSB planes
// THR: error: spatten-progressive-quantization: --pq-threshold=1.00: a probability threshold must be in (0, 1)
// PQV: error: spatten-progressive-quantization: --pq-values needs --pq-msb

// With pq-values, V is also quantized once, at msb + lsb bits, by the
// progressive fetch: only the queries keep their 12-bit quantization.
// VALUES-COUNT-1: spatten.quantize
// VALUES-NOT: spatten.quantize
// VALUES: %[[P:.*]] = spatten.progressive_fetch %{{.*}}, %arg1 {{{.*}}threshold = 1.000000e-01 : f32, values}
// VALUES-NEXT: spatten.attention_output %[[P]], %arg2
func.func @attention(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %o = spatten.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

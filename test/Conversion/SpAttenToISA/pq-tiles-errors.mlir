// RUN: spatten-opt %s --spatten-progressive-quantization=pq-msb=6 --convert-spatten-to-isa=hw=%S/Inputs/small-q.json -verify-diagnostics

// Across query tiles a pass's causal offset (the tile's first row) is a
// signed 16-bit field, so 32768 query rows are refused.
func.func @pq_rows_beyond_the_causal_offset(%q: tensor<1x32768x64xf32>, %k: tensor<1x16x64xf32>) -> tensor<1x32768x64xf32> {
  // expected-error @+1 {{32768 query rows exceed the 16-bit signed causal offset of progressive quantization across query tiles}}
  %o = spatten.attention %q, %k, %k {num_heads = 1 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x32768x64xf32>, tensor<1x16x64xf32>, tensor<1x16x64xf32>) -> tensor<1x32768x64xf32>
  return %o : tensor<1x32768x64xf32>
}

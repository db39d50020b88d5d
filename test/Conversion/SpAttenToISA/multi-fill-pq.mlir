// RUN: spatten-opt %s --spatten-progressive-quantization=pq-msb=6 --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json -verify-diagnostics

// Progressive quantization's refetch decision needs every probability of
// the head, so it refuses keys over more than one fill.
func.func @pq_over_fills(%q: tensor<1x6x8xf32>) -> tensor<1x6x8xf32> {
  // expected-error @+1 {{--pq-msb with 6 keys in more than one K/V buffer fill (4 keys) is not implemented: the per-head refetch decision needs every probability of the head}}
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  return %o : tensor<1x6x8xf32>
}

// RUN: spatten-opt %s --spatten-progressive-quantization="pq-msb=8 pq-values=1" --convert-spatten-to-isa=hw=%S/Inputs/small-q.json -verify-diagnostics

// Query tiles decide on their own rows, but with values in planes every
// row of a refetching head reads full values: 20 query rows of width 64
// take two tiles of the 4 KiB Q buffer, which --pq-values refuses.
func.func @pq_values_across_tiles(%q: tensor<1x20x128xf32>) -> tensor<1x20x128xf32> {
  // expected-error @+1 {{20 query rows in tiles of 16: --pq-values across query tiles is not implemented (every row of a refetching head reads full values)}}
  %o = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x20x128xf32>, tensor<1x20x128xf32>, tensor<1x20x128xf32>) -> tensor<1x20x128xf32>
  return %o : tensor<1x20x128xf32>
}

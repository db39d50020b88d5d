// RUN: spatten-opt %s -split-input-file -verify-diagnostics

func.func @linear_k(%x: tensor<1x4x8xf32>, %w: tensor<7x24xf32>) -> tensor<1x4x24xf32> {
  // expected-error @+1 {{input features 8 do not match weight K 7}}
  %y = spatten.linear %x, %w : (tensor<1x4x8xf32>, tensor<7x24xf32>) -> tensor<1x4x24xf32>
  return %y : tensor<1x4x24xf32>
}

// -----

func.func @heads(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{num_heads 3 must divide width 8}}
  %a = spatten.attention %q, %q, %q {num_heads = 3 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %a : tensor<1x4x8xf32>
}

// -----

func.func @padding_needs_mask(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{a mask operand is required exactly for padding masks}}
  %a = spatten.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %a : tensor<1x4x8xf32>
}

// -----

func.func @dynamic(%x: tensor<?x8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{requires static shapes}}
  %y = spatten.layer_norm %x, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @broadcast(%x: tensor<4x8xf32>, %y: tensor<3x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{operands do not broadcast}}
  %z = spatten.binary <add> %x, %y : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x8xf32>
  return %z : tensor<4x8xf32>
}

// -----

func.func @reshape(%x: tensor<4x8xf32>) -> tensor<5x8xf32> {
  // expected-error @+1 {{must keep element count and type}}
  %z = spatten.reshape %x : (tensor<4x8xf32>) -> tensor<5x8xf32>
  return %z : tensor<5x8xf32>
}

// -----

func.func @perm(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{invalid permutation}}
  %z = spatten.transpose %x [0, 0] : (tensor<4x8xf32>) -> tensor<4x4xf32>
  return %z : tensor<4x4xf32>
}

// -----

func.func @slice(%x: tensor<4x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{slice reads past dim 0}}
  %z = spatten.slice %x [3, 0] [1, 1] : (tensor<4x8xf32>) -> tensor<2x8xf32>
  return %z : tensor<2x8xf32>
}

// -----

func.func @concat(%x: tensor<4x8xf32>) -> tensor<4x17xf32> {
  // expected-error @+1 {{result axis size must be the sum of the inputs'}}
  %z = spatten.concat %x, %x {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x17xf32>
  return %z : tensor<4x17xf32>
}

// -----

func.func @embedding(%i: tensor<4xi64>, %t: tensor<16x8xf32>) -> tensor<4x9xf32> {
  // expected-error @+1 {{result must be indices shape + [D]}}
  %z = spatten.embedding %i, %t : (tensor<4xi64>, tensor<16x8xf32>) -> tensor<4x9xf32>
  return %z : tensor<4x9xf32>
}

// -----

func.func @inf_epsilon(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{epsilon must be finite and >= 0, got INF}}
  %y = spatten.layer_norm %x, %g, %g {epsilon = 0x7F800000 : f32} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

func.func @rms_norm_gamma(%x: tensor<4x8xf32>, %g: tensor<4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{gamma must be [8]}}
  %y = spatten.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @reduce_shape(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{result must be the input's shape with last dim 1}}
  %y = spatten.reduce <sum> %x : (tensor<4x8xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

func.func @rotary_table_rows(%x: tensor<1x4x8xf32>, %t: tensor<3x4xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{cos and sin must be [L, R] with L = 4}}
  %y = spatten.rotary_embedding %x, %t, %t : (tensor<1x4x8xf32>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// -----

func.func @rotary_odd_head(%x: tensor<1x4x9xf32>, %t: tensor<4x3xf32>) -> tensor<1x4x9xf32> {
  // expected-error @+1 {{rotary dims R = 3 must be even, positive and at most the head dim 3}}
  %y = spatten.rotary_embedding %x, %t, %t : (tensor<1x4x9xf32>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<1x4x9xf32>
  return %y : tensor<1x4x9xf32>
}

// -----

func.func @rotary_wider_than_head(%x: tensor<1x4x8xf32>, %t: tensor<4x4xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{rotary dims R = 4 must be even, positive and at most the head dim 2}}
  %y = spatten.rotary_embedding %x, %t, %t {head_dim = 2} : (tensor<1x4x8xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// -----

func.func @rotary_head_not_dividing(%x: tensor<1x4x8xf32>, %t: tensor<4x2xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{head dim D = 6 must divide the input width 8}}
  %y = spatten.rotary_embedding %x, %t, %t {head_dim = 6} : (tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// -----

func.func @cast_f32_to_f32(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{converts between an integer and an fp32 tensor, not 'tensor<2x3xf32>' to 'tensor<2x3xf32>'}}
  %y = spatten.cast %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

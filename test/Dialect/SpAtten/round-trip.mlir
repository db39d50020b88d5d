// RUN: spatten-opt %s | spatten-opt | FileCheck %s

// CHECK-LABEL: func @layer
func.func @layer(%x: tensor<1x4x8xf32>, %w: tensor<8x24xf32>, %b: tensor<24xf32>,
                 %m: tensor<1x4xf32>, %g: tensor<8xf32>) -> tensor<1x4x8xf32> {
  // CHECK: spatten.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x4x8xf32>, tensor<8x24xf32>, tensor<24xf32>) -> tensor<1x4x24xf32>
  %qkv = spatten.linear %x, %w, %b : (tensor<1x4x8xf32>, tensor<8x24xf32>, tensor<24xf32>) -> tensor<1x4x24xf32>
  // CHECK: spatten.slice
  %q = spatten.slice %qkv [0, 0, 0] [1, 1, 1] : (tensor<1x4x24xf32>) -> tensor<1x4x8xf32>
  // CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
  %a = spatten.attention %q, %q, %q mask(%m) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4xf32>) -> tensor<1x4x8xf32>
  // CHECK: spatten.layer_norm
  %n = spatten.layer_norm %a, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  // CHECK: spatten.gelu %{{.*}} <tanh>
  %h = spatten.gelu %n <tanh> : tensor<1x4x8xf32>
  // CHECK: spatten.binary <add>
  %r = spatten.binary <add> %h, %g : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  // CHECK: spatten.unary <tanh>
  %t = spatten.unary <tanh> %r : tensor<1x4x8xf32>
  return %t : tensor<1x4x8xf32>
}

// CHECK-LABEL: func @cache
func.func @cache(%q: tensor<1x1x8xf32>, %pk: tensor<1x2x3x4xf32>) -> (tensor<1x1x8xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  // CHECK: past(%{{.*}}, %{{.*}}) {mask_kind = #spatten.mask_kind<causal>
  %o, %k, %v = spatten.attention %q, %q, %q past(%pk, %pk) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1>} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> (tensor<1x1x8xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>)
  return %o, %k, %v : tensor<1x1x8xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}

// CHECK-LABEL: func @data_movement
func.func @data_movement(%ids: tensor<1x4xi64>, %table: tensor<16x8xf32>) -> tensor<4x1x8xf32> {
  // CHECK: spatten.embedding
  %e = spatten.embedding %ids, %table : (tensor<1x4xi64>, tensor<16x8xf32>) -> tensor<1x4x8xf32>
  // CHECK: spatten.transpose %{{.*}} [1, 0, 2]
  %t = spatten.transpose %e [1, 0, 2] : (tensor<1x4x8xf32>) -> tensor<4x1x8xf32>
  // CHECK: spatten.concat
  %c = spatten.concat %t, %t {axis = 1 : i64} : (tensor<4x1x8xf32>, tensor<4x1x8xf32>) -> tensor<4x2x8xf32>
  // CHECK: spatten.cast
  %f = spatten.cast %ids : (tensor<1x4xi64>) -> tensor<1x4xf32>
  %s = spatten.slice %c [0, 1, 0] [1, 1, 1] : (tensor<4x2x8xf32>) -> tensor<4x1x8xf32>
  return %s : tensor<4x1x8xf32>
}

// CHECK-LABEL: func @norms_and_reductions
func.func @norms_and_reductions(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x1xf32>) {
  // CHECK: spatten.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32, epsilon_outside_sqrt} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %r = spatten.rms_norm %x, %g {epsilon = 1.0e-6 : f32, epsilon_outside_sqrt} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  // CHECK: spatten.layer_norm %{{.*}} {epsilon = 9.99999974E-6 : f32, epsilon_outside_sqrt}
  %n = spatten.layer_norm %r, %g, %g {epsilon = 1.0e-5 : f32, epsilon_outside_sqrt} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  // CHECK: spatten.unary <silu>
  %s = spatten.unary <silu> %n : tensor<2x3x8xf32>
  // CHECK: spatten.log_softmax %{{.*}} : tensor<2x3x8xf32>
  %l = spatten.log_softmax %s : tensor<2x3x8xf32>
  // CHECK: spatten.reduce <max> %{{.*}} : (tensor<2x3x8xf32>) -> tensor<2x3x1xf32>
  %m = spatten.reduce <max> %l : (tensor<2x3x8xf32>) -> tensor<2x3x1xf32>
  return %l, %m : tensor<2x3x8xf32>, tensor<2x3x1xf32>
}

// CHECK-LABEL: func @rotary
// CHECK: spatten.rotary_embedding %arg0, %arg1, %arg2 : (tensor<2x4x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x16xf32>
func.func @rotary(%x: tensor<2x4x16xf32>, %c: tensor<4x8xf32>, %s: tensor<4x8xf32>) -> tensor<2x4x16xf32> {
  %y = spatten.rotary_embedding %x, %c, %s : (tensor<2x4x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

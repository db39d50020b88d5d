// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// PyTorch 1.1/Megatron LayerNorm: two identical Sub nodes, Pow(2), Div, a
// float Cast, gamma first in the Mul.

// CHECK-LABEL: func @layer_norm_torch
// CHECK: %[[N:.*]] = spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999996E-13 : f32} : (tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT: return %[[N]]
func.func @layer_norm_torch(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %two = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %eps = onnx.Constant {value = dense<1.0e-12> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
  %d1 = onnx.Sub(%x, %m) : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
  %d2 = onnx.Sub(%x, %m) : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
  %sq = onnx.Pow(%d1, %two) : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: 2>} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
  %ve = onnx.Add(%var, %eps) : (tensor<2x3x1xf32>, tensor<f32>) -> tensor<2x3x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
  %n = onnx.Div(%d2, %sd) : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
  %nc = onnx.Cast(%n) {to = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %y = onnx.Mul(%g, %nc) : (tensor<4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %z = onnx.Add(%y, %b) : (tensor<2x3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  return %z : tensor<2x3x4xf32>
}

// -----

// Reciprocal variant with d*d: Mul(d, Reciprocal(Sqrt(var + eps))).

// CHECK-LABEL: func @layer_norm_reciprocal
// CHECK: spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32} : (tensor<3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<3x8xf32>
// CHECK-NOT: spatten.unary
func.func @layer_norm_reciprocal(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %eps = onnx.Constant {value = dense<1.0e-5> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<1.5> : tensor<1x8xf32>} : tensor<1x8xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<8xf32>} : tensor<8xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>} : (tensor<3x8xf32>) -> tensor<3x1xf32>
  %d = onnx.Sub(%x, %m) : (tensor<3x8xf32>, tensor<3x1xf32>) -> tensor<3x8xf32>
  %sq = onnx.Mul(%d, %d) : (tensor<3x8xf32>, tensor<3x8xf32>) -> tensor<3x8xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<3x8xf32>) -> tensor<3x1xf32>
  %ve = onnx.Add(%eps, %var) : (tensor<f32>, tensor<3x1xf32>) -> tensor<3x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %inv = onnx.Reciprocal(%sd) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %n = onnx.Mul(%inv, %d) : (tensor<3x1xf32>, tensor<3x8xf32>) -> tensor<3x8xf32>
  %y = onnx.Mul(%n, %g) : (tensor<3x8xf32>, tensor<1x8xf32>) -> tensor<3x8xf32>
  %z = onnx.Add(%b, %y) : (tensor<8xf32>, tensor<3x8xf32>) -> tensor<3x8xf32>
  return %z : tensor<3x8xf32>
}

// -----

// keras2onnx / tf2onnx (tf.nn.batch_normalization): x*g + (beta - mean*g)
// with g = Reciprocal(Sqrt(var + eps)) * gamma.

// CHECK-LABEL: func @layer_norm_tf
// CHECK: %[[N:.*]] = spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 1.000000e-03 : f32} : (tensor<1x2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x2x4xf32>
// CHECK-NEXT: return %[[N]]
func.func @layer_norm_tf(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %eps = onnx.Constant {value = dense<1.0e-3> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<2.0> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: 2>} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %d = onnx.Sub(%x, %m) : (tensor<1x2x4xf32>, tensor<1x2x1xf32>) -> tensor<1x2x4xf32>
  %sq = onnx.Mul(%d, %d) : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: 2>} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %ve = onnx.Add(%var, %eps) : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %inv = onnx.Reciprocal(%sd) : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %gi = onnx.Mul(%inv, %g) : (tensor<1x2x1xf32>, tensor<4xf32>) -> tensor<1x2x4xf32>
  %xg = onnx.Mul(%x, %gi) : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %mg = onnx.Mul(%m, %gi) : (tensor<1x2x1xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %sh = onnx.Sub(%b, %mg) : (tensor<4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %z = onnx.Add(%xg, %sh) : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %z : tensor<1x2x4xf32>
}

// -----

// Opset 17 LayerNormalization, with and without B.

// CHECK-LABEL: func @layer_normalization
// CHECK: %[[Z:.*]] = arith.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK: %[[N:.*]] = spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32}
// CHECK: spatten.layer_norm %[[N]], %{{.*}}, %[[Z]] {epsilon = 1.000000e-01 : f32}
func.func @layer_normalization(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %g = onnx.Constant {value = dense<2.0> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %y = "onnx.LayerNormalization"(%x, %g, %b) {axis = -1 : i64, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %z = "onnx.LayerNormalization"(%y, %g) {epsilon = 0.1 : f32, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %z : tensor<2x4xf32>
}

// -----

// BERT GELU, PyTorch 1.4 order: Mul(x, 0.5) * (Erf(x / sqrt 2) + 1).

// CHECK-LABEL: func @gelu_erf_torch14
// CHECK: %[[G:.*]] = spatten.gelu %arg0 <erf> : tensor<2x5xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_erf_torch14(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %r2 = onnx.Constant {value = dense<1.41421354> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %a = onnx.Mul(%x, %half) : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  %d = onnx.Div(%x, %r2) : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  %e = onnx.Erf(%d) : (tensor<2x5xf32>) -> tensor<2x5xf32>
  %p = onnx.Add(%e, %one) : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  %y = onnx.Mul(%a, %p) : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  return %y : tensor<2x5xf32>
}

// -----

// PyTorch 1.13 order: (x * (1 + erf(x * 0.7071))) * 0.5.

// CHECK-LABEL: func @gelu_erf_torch113
// CHECK: %[[G:.*]] = spatten.gelu %arg0 <erf> : tensor<2x5xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_erf_torch113(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %ir2 = onnx.Constant {value = dense<0.707106769> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %d = onnx.Mul(%x, %ir2) : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  %e = onnx.Erf(%d) : (tensor<2x5xf32>) -> tensor<2x5xf32>
  %p = onnx.Add(%one, %e) : (tensor<f32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  %a = onnx.Mul(%x, %p) : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  %y = onnx.Mul(%a, %half) : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  return %y : tensor<2x5xf32>
}

// -----

// GPT-2 tanh GELU with Pow(x, 3).

// CHECK-LABEL: func @gelu_tanh_pow
// CHECK: %[[G:.*]] = spatten.gelu %arg0 <tanh> : tensor<4xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_tanh_pow(%x: tensor<4xf32>) -> tensor<4xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %three = onnx.Constant {value = dense<3.0> : tensor<f32>} : tensor<f32>
  %c = onnx.Constant {value = dense<0.044715> : tensor<f32>} : tensor<f32>
  %k = onnx.Constant {value = dense<0.797884583> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %a = onnx.Mul(%x, %half) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %p3 = onnx.Pow(%x, %three) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t1 = onnx.Mul(%p3, %c) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t2 = onnx.Add(%x, %t1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %t3 = onnx.Mul(%t2, %k) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %th = onnx.Tanh(%t3) : (tensor<4xf32>) -> tensor<4xf32>
  %t4 = onnx.Add(%th, %one) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %y = onnx.Mul(%a, %t4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Megatron factorisation: x*0.7978846 * (1 + 0.044715*x*x), no Pow.

// CHECK-LABEL: func @gelu_tanh_megatron
// CHECK: %[[G:.*]] = spatten.gelu %arg0 <tanh> : tensor<4xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_tanh_megatron(%x: tensor<4xf32>) -> tensor<4xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %c = onnx.Constant {value = dense<0.044715> : tensor<f32>} : tensor<f32>
  %k = onnx.Constant {value = dense<0.797884583> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %a = onnx.Mul(%x, %half) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %b = onnx.Mul(%x, %k) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %cx = onnx.Mul(%x, %c) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %cxx = onnx.Mul(%cx, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s = onnx.Add(%cxx, %one) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %u = onnx.Mul(%b, %s) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %th = onnx.Tanh(%u) : (tensor<4xf32>) -> tensor<4xf32>
  %t4 = onnx.Add(%th, %one) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %y = onnx.Mul(%a, %t4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Not a GELU: the coefficient of x^3 is wrong, so the ops lower one to one.

// CHECK-LABEL: func @not_gelu
// CHECK-NOT: spatten.gelu
// CHECK: spatten.unary <tanh>
func.func @not_gelu(%x: tensor<4xf32>) -> tensor<4xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %three = onnx.Constant {value = dense<3.0> : tensor<f32>} : tensor<f32>
  %c = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %k = onnx.Constant {value = dense<0.797884583> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %a = onnx.Mul(%x, %half) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %p3 = onnx.Pow(%x, %three) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t1 = onnx.Mul(%p3, %c) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t2 = onnx.Add(%x, %t1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %t3 = onnx.Mul(%t2, %k) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %th = onnx.Tanh(%t3) : (tensor<4xf32>) -> tensor<4xf32>
  %t4 = onnx.Add(%th, %one) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %y = onnx.Mul(%a, %t4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// keras2onnx 1.6.1 (tf.nn.moments + batch_normalization): the variance's
// SquaredDifference is Sub(mean, x), squared by Mul(d, d); then
// x*g + (beta - mean*g) with g = Reciprocal(Sqrt(var + eps)) * gamma.

// CHECK-LABEL: func @keras2onnx
// CHECK: %[[N:.*]] = spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999996E-13 : f32} : (tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT: return %[[N]]
func.func @keras2onnx(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %eps = onnx.Constant {value = dense<1.0e-12> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
  %d = onnx.Sub(%m, %x) : (tensor<2x3x1xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %sq = onnx.Mul(%d, %d) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
  %ve = onnx.Add(%var, %eps) : (tensor<2x3x1xf32>, tensor<f32>) -> tensor<2x3x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
  %inv = onnx.Reciprocal(%sd) : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
  %sc = onnx.Mul(%inv, %g) : (tensor<2x3x1xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  %xg = onnx.Mul(%x, %sc) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %mg = onnx.Mul(%m, %sc) : (tensor<2x3x1xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %bm = onnx.Sub(%b, %mg) : (tensor<4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %y = onnx.Add(%xg, %bm) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}

// -----

// (mean - x) / std is the negated normalized value; beta - n * gamma
// negates it back.

// CHECK-LABEL: func @negated_back
// CHECK: %[[N:.*]] = spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32}
// CHECK-NEXT: return %[[N]]
func.func @negated_back(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %two = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %eps = onnx.Constant {value = dense<1.0e-5> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %d = onnx.Sub(%m, %x) : (tensor<3x1xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %sq = onnx.Pow(%d, %two) : (tensor<3x4xf32>, tensor<f32>) -> tensor<3x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %ve = onnx.Add(%var, %eps) : (tensor<3x1xf32>, tensor<f32>) -> tensor<3x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %n = onnx.Div(%d, %sd) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %ng = onnx.Mul(%n, %g) : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %y = onnx.Sub(%b, %ng) : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Epsilon added to the standard deviation: (x - mean) / (Sqrt(var) + eps).

// CHECK-LABEL: func @eps_outside_sqrt
// CHECK: spatten.layer_norm %arg0, %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32, epsilon_outside_sqrt}
func.func @eps_outside_sqrt(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %eps = onnx.Constant {value = dense<1.0e-5> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<2.0> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: 1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %d = onnx.Sub(%x, %m) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %sq = onnx.Mul(%d, %d) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %sd = onnx.Sqrt(%var) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %se = onnx.Add(%sd, %eps) : (tensor<3x1xf32>, tensor<f32>) -> tensor<3x1xf32>
  %n = onnx.Div(%d, %se) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %ng = onnx.Mul(%g, %n) : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = onnx.Add(%b, %ng) : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// LayerNormalization over the last two dims, scale and bias graph inputs
// of the normalized shape: one row of 12.

// CHECK-LABEL: func @layer_normalization_axis1
// CHECK-DAG: %[[X:.*]] = spatten.reshape %arg0 : (tensor<2x3x4xf32>) -> tensor<2x12xf32>
// CHECK-DAG: %[[G:.*]] = spatten.reshape %arg1 : (tensor<3x4xf32>) -> tensor<12xf32>
// CHECK-DAG: %[[B:.*]] = spatten.reshape %arg2 : (tensor<3x4xf32>) -> tensor<12xf32>
// CHECK: %[[N:.*]] = spatten.layer_norm %[[X]], %[[G]], %[[B]]
// CHECK: spatten.reshape %[[N]] : (tensor<2x12xf32>) -> tensor<2x3x4xf32>
func.func @layer_normalization_axis1(%x: tensor<2x3x4xf32>, %g: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x3x4xf32> {
  %y = "onnx.LayerNormalization"(%x, %g, %b) {axis = 1 : i64, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}

// -----

// LLaMA RMSNorm as PyTorch 1.13 exports it: Pow(x, 2), ReduceMean, Add eps,
// rsqrt as Div(1, Sqrt), Mul(x, .), then weight * (.).

// CHECK-LABEL: func @rms_norm_llama
// CHECK: %[[N:.*]] = spatten.rms_norm %arg0, %{{.*}} {epsilon = 9.99999997E-7 : f32} : (tensor<1x3x4xf32>, tensor<4xf32>) -> tensor<1x3x4xf32>
// CHECK-NEXT: return %[[N]]
func.func @rms_norm_llama(%x: tensor<1x3x4xf32>) -> tensor<1x3x4xf32> {
  %two = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<1xf32>} : tensor<1xf32>
  %eps = onnx.Constant {value = dense<1.0e-6> : tensor<f32>} : tensor<f32>
  %w = onnx.Constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %sq = onnx.Pow(%x, %two) : (tensor<1x3x4xf32>, tensor<f32>) -> tensor<1x3x4xf32>
  %ms = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<1x3x4xf32>) -> tensor<1x3x1xf32>
  %me = onnx.Add(%ms, %eps) : (tensor<1x3x1xf32>, tensor<f32>) -> tensor<1x3x1xf32>
  %s = onnx.Sqrt(%me) : (tensor<1x3x1xf32>) -> tensor<1x3x1xf32>
  %inv = onnx.Div(%one, %s) : (tensor<1xf32>, tensor<1x3x1xf32>) -> tensor<1x3x1xf32>
  %n = onnx.Mul(%x, %inv) : (tensor<1x3x4xf32>, tensor<1x3x1xf32>) -> tensor<1x3x4xf32>
  %y = onnx.Mul(%w, %n) : (tensor<4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// RMSNorm with x*x, Reciprocal, weight a graph input, factors swapped.

// CHECK-LABEL: func @rms_norm_reciprocal
// CHECK: spatten.rms_norm %arg0, %arg1 {epsilon = 9.99999974E-6 : f32} : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
func.func @rms_norm_reciprocal(%x: tensor<3x4xf32>, %w: tensor<4xf32>) -> tensor<3x4xf32> {
  %eps = onnx.Constant {value = dense<1.0e-5> : tensor<f32>} : tensor<f32>
  %sq = onnx.Mul(%x, %x) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %ms = onnx.ReduceMean(%sq) {axes = array<i64: 1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %me = onnx.Add(%eps, %ms) : (tensor<f32>, tensor<3x1xf32>) -> tensor<3x1xf32>
  %s = onnx.Sqrt(%me) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %inv = onnx.Reciprocal(%s) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %n = onnx.Mul(%inv, %x) : (tensor<3x1xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = onnx.Mul(%n, %w) : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// SiLU in either order; SwiGLU = SiLU(a) * b keeps its product.

// CHECK-LABEL: func @silu_swiglu
// CHECK: %[[A:.*]] = spatten.unary <silu> %arg0 : tensor<3x4xf32>
// CHECK: %[[B:.*]] = spatten.unary <silu> %arg0 : tensor<3x4xf32>
// CHECK: %[[G:.*]] = spatten.binary <mul> %[[B]], %arg1
// CHECK: spatten.binary <add> %[[A]], %[[G]]
func.func @silu_swiglu(%a: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %s = onnx.Sigmoid(%a) : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %silu = onnx.Mul(%a, %s) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %silu2 = onnx.Mul(%s, %a) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %glu = onnx.Mul(%silu2, %b) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = onnx.Add(%silu, %glu) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Sigmoid of another value is not SiLU.

// CHECK-LABEL: func @not_silu
// CHECK: spatten.unary <sigmoid> %arg1
// CHECK: spatten.binary <mul>
func.func @not_silu(%a: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %s = onnx.Sigmoid(%b) : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = onnx.Mul(%a, %s) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// (mean - x) / std * gamma + beta is the negated normalized value: not a
// LayerNorm with this gamma, but the RMSNorm of the centred value (its mean
// square is the variance).

// CHECK-LABEL: func @sign_not_negated_back
// CHECK: %[[M:.*]] = spatten.reduce <mean> %arg0
// CHECK: %[[D:.*]] = spatten.binary <sub> %[[M]], %arg0
// CHECK: %[[N:.*]] = spatten.rms_norm %[[D]], %{{.*}} {epsilon = 9.99999974E-6 : f32}
// CHECK: spatten.binary <add> %[[N]]
func.func @sign_not_negated_back(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %two = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %eps = onnx.Constant {value = dense<1.0e-5> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %d = onnx.Sub(%m, %x) : (tensor<3x1xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %sq = onnx.Pow(%d, %two) : (tensor<3x4xf32>, tensor<f32>) -> tensor<3x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %ve = onnx.Add(%var, %eps) : (tensor<3x1xf32>, tensor<f32>) -> tensor<3x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %n = onnx.Div(%d, %sd) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %ng = onnx.Mul(%n, %g) : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %y = onnx.Add(%ng, %b) : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics

// gamma of another width than the rows: not lifted, so it runs op by op,
// with a warning that names what did not match.
func.func @gamma_shape(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %two = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %eps = onnx.Constant {value = dense<1.0e-5> : tensor<f32>} : tensor<f32>
  %g = onnx.Constant {value = dense<2.0> : tensor<3x1xf32>} : tensor<3x1xf32>
  %b = onnx.Constant {value = dense<0.5> : tensor<4xf32>} : tensor<4xf32>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %d = onnx.Sub(%x, %m) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %sq = onnx.Pow(%d, %two) : (tensor<3x4xf32>, tensor<f32>) -> tensor<3x4xf32>
  %var = onnx.ReduceMean(%sq) {axes = array<i64: -1>} : (tensor<3x4xf32>) -> tensor<3x1xf32>
  %ve = onnx.Add(%var, %eps) : (tensor<3x1xf32>, tensor<f32>) -> tensor<3x1xf32>
  %sd = onnx.Sqrt(%ve) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  %n = onnx.Div(%d, %sd) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %ng = onnx.Mul(%n, %g) : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  // expected-warning @+1 {{the LayerNorm at node '<unnamed>' is not lifted: gamma is [3,1] where [4] was expected}}
  %y = onnx.Add(%ng, %b) : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Refusals name the pattern and why.
func.func @layer_normalization_mean_used(%x: tensor<2x4xf32>, %g: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x1xf32>) {
  // expected-error @+1 {{ONNX LayerNormalization node '<unnamed>' is not lifted to spatten.layer_norm: its Mean/InvStdDev outputs are used}}
  %y, %m = "onnx.LayerNormalization"(%x, %g) {resultSegmentSizes = array<i32: 1, 1, 0>} : (tensor<2x4xf32>, tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x1xf32>)
  return %y, %m : tensor<2x4xf32>, tensor<2x1xf32>
}

// -----

func.func @layer_normalization_scale(%x: tensor<2x4xf32>, %g: tensor<3xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{ONNX LayerNormalization node '<unnamed>' is not lifted to spatten.layer_norm: Scale is [3] where 4 elements (the normalized dims) were expected}}
  %y = "onnx.LayerNormalization"(%x, %g) {resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @reduce_runtime_axes(%x: tensor<2x4xf32>, %axes: tensor<1xi64>) -> tensor<2x1xf32> {
  // expected-error @+1 {{ONNX ReduceSum node '<unnamed>' has run-time axes; only constant axes are supported}}
  %s = "onnx.ReduceSum"(%x, %axes) : (tensor<2x4xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  return %s : tensor<2x1xf32>
}

// -----

func.func @gemm_activations(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %r = onnx.Relu(%b) : (tensor<3x4xf32>) -> tensor<3x4xf32>
  // expected-error @+1 {{ONNX Gemm node '<unnamed>' multiplies by a computed tensor}}
  %y = "onnx.Gemm"(%a, %r) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

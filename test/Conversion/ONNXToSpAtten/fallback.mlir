// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// Reductions that no pattern took run as spatten.reduce over the last
// dim: the reduced axes are moved last and merged, the result reshaped to
// ONNX's (keepdims or not).

// CHECK-LABEL: func @reduce_last_axis
// CHECK: %[[M:.*]] = spatten.reduce <mean> %arg0 : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
// CHECK: spatten.reshape %[[M]] : (tensor<2x3x1xf32>) -> tensor<2x3xf32>
// CHECK: spatten.reduce <sum> %arg0 : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
// CHECK: spatten.reduce <max> %arg0 : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
func.func @reduce_last_axis(%x: tensor<2x3x4xf32>) -> (tensor<2x3xf32>, tensor<2x3x1xf32>, tensor<2x3x1xf32>) {
  %axes = onnx.Constant {value = dense<[-1]> : tensor<1xi64>} : tensor<1xi64>
  %m = onnx.ReduceMean(%x) {axes = array<i64: -1>, keepdims = 0 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3xf32>
  %s = "onnx.ReduceSum"(%x, %axes) : (tensor<2x3x4xf32>, tensor<1xi64>) -> tensor<2x3x1xf32>
  %x2 = onnx.ReduceMax(%x) {axes = array<i64: 2>} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
  return %m, %s, %x2 : tensor<2x3xf32>, tensor<2x3x1xf32>, tensor<2x3x1xf32>
}

// -----

// Another axis: transposed last first.

// CHECK-LABEL: func @reduce_middle_axis
// CHECK: %[[T:.*]] = spatten.transpose %arg0 [0, 2, 1] : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
// CHECK: %[[R:.*]] = spatten.reduce <max> %[[T]] : (tensor<2x4x3xf32>) -> tensor<2x4x1xf32>
// CHECK: spatten.reshape %[[R]] : (tensor<2x4x1xf32>) -> tensor<2x1x4xf32>
func.func @reduce_middle_axis(%x: tensor<2x3x4xf32>) -> tensor<2x1x4xf32> {
  %r = onnx.ReduceMax(%x) {axes = array<i64: 1>} : (tensor<2x3x4xf32>) -> tensor<2x1x4xf32>
  return %r : tensor<2x1x4xf32>
}

// -----

// No axes: every axis, one row; ReduceSum's noop_with_empty_axes keeps x.

// CHECK-LABEL: func @reduce_all
// CHECK: %[[F:.*]] = spatten.reshape %arg0 : (tensor<2x3xf32>) -> tensor<6xf32>
// CHECK: %[[S:.*]] = spatten.reduce <sum> %[[F]] : (tensor<6xf32>) -> tensor<1xf32>
// CHECK: spatten.reshape %[[S]] : (tensor<1xf32>) -> tensor<1x1xf32>
// CHECK: return %{{.*}}, %arg0
func.func @reduce_all(%x: tensor<2x3xf32>) -> (tensor<1x1xf32>, tensor<2x3xf32>) {
  %s = "onnx.ReduceSum"(%x) : (tensor<2x3xf32>) -> tensor<1x1xf32>
  %n = "onnx.ReduceSum"(%x) {noop_with_empty_axes = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %s, %n : tensor<1x1xf32>, tensor<2x3xf32>
}

// -----

// LogSoftmax over the last axis; Softmax over another axis, transposed
// there and back.

// CHECK-LABEL: func @softmax_like
// CHECK: spatten.log_softmax %arg0 : tensor<2x3x4xf32>
// CHECK: %[[T:.*]] = spatten.transpose %arg0 [0, 2, 1] : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
// CHECK: %[[S:.*]] = spatten.softmax %[[T]] : tensor<2x4x3xf32>
// CHECK: spatten.transpose %[[S]] [0, 2, 1] : (tensor<2x4x3xf32>) -> tensor<2x3x4xf32>
func.func @softmax_like(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
  %l = onnx.LogSoftmax(%x) {axis = -1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %s = onnx.Softmax(%x) {axis = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %l, %s : tensor<2x3x4xf32>, tensor<2x3x4xf32>
}

// -----

// A MatMul of two activations outside any attention: the second is the
// linear layer's weight.

// CHECK-LABEL: func @matmul_activations
// CHECK: %[[R:.*]] = spatten.unary <relu> %arg1
// CHECK: spatten.linear %arg0, %[[R]] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
func.func @matmul_activations(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %r = onnx.Relu(%b) : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = onnx.MatMul(%a, %r) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// Batched: one linear per broadcast batch, A's batch of 1 broadcast.

// CHECK-LABEL: func @matmul_batched
// CHECK: %[[A0:.*]] = spatten.reshape %arg0 : (tensor<1x2x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[B0S:.*]] = spatten.slice %{{.*}} [0, 0, 0] [1, 1, 1] : (tensor<2x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[B0:.*]] = spatten.reshape %[[B0S]] : (tensor<1x3x4xf32>) -> tensor<3x4xf32>
// CHECK: spatten.linear %[[A0]], %[[B0]]
// CHECK: %[[A1:.*]] = spatten.reshape %arg0
// CHECK: %[[B1S:.*]] = spatten.slice %{{.*}} [1, 0, 0] [1, 1, 1] : (tensor<2x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[B1:.*]] = spatten.reshape %[[B1S]]
// CHECK: spatten.linear %[[A1]], %[[B1]]
// CHECK: spatten.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<2x2x4xf32>
func.func @matmul_batched(%a: tensor<1x2x3xf32>, %b: tensor<2x3x4xf32>) -> tensor<2x2x4xf32> {
  %r = onnx.Relu(%b) : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %y = onnx.MatMul(%a, %r) : (tensor<1x2x3xf32>, tensor<2x3x4xf32>) -> tensor<2x2x4xf32>
  return %y : tensor<2x2x4xf32>
}

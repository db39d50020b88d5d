// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics

// A `--shape` dimension bound to 0 that empties a graph output is refused,
// naming the output and the binding.
module attributes {onnx.shape_bindings = {batch = 0 : i64, seq = 3 : i64}} {
  // expected-error @+1 {{graph output 'y' is empty ('tensor<0x3x4xf32>') with --shape batch=0: a program with an empty result computes nothing}}
  func.func @empty_output(%x: tensor<0x3x4xf32> {onnx.name = "x"}) -> (tensor<0x3x4xf32> {onnx.name = "y"}) {
    %y = onnx.Relu(%x) : (tensor<0x3x4xf32>) -> tensor<0x3x4xf32>
    return %y : tensor<0x3x4xf32>
  }
}

// -----

// Attention over an empty batch whose result is reduced to a non-empty
// output: the head layout of an empty tensor is not read (its zero sizes
// divided), so the subgraph is reported as not lifted.
func.func @empty_attention(%q: tensor<0x3x2xf32>, %k: tensor<0x3x2xf32>, %v: tensor<0x3x2xf32>) -> tensor<3x2xf32> {
  %s4 = onnx.Constant {value = dense<[0, 3, 1, 2]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[0, 3, 2]> : tensor<3xi64>} : tensor<3xi64>
  %ax0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %qr = onnx.Reshape(%q, %s4) : (tensor<0x3x2xf32>, tensor<4xi64>) -> tensor<0x3x1x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<0x3x2xf32>, tensor<4xi64>) -> tensor<0x3x1x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<0x3x2xf32>, tensor<4xi64>) -> tensor<0x3x1x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<0x3x1x2xf32>) -> tensor<0x1x3x2xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<0x3x1x2xf32>) -> tensor<0x1x2x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<0x3x1x2xf32>) -> tensor<0x1x3x2xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<0x1x3x2xf32>, tensor<0x1x2x3xf32>) -> tensor<0x1x3x3xf32>
  // expected-error @+1 {{ONNX Softmax node '<unnamed>' ends an attention subgraph that cannot be lifted}}
  %p = onnx.Softmax(%s) {axis = -1 : i64} : (tensor<0x1x3x3xf32>) -> tensor<0x1x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<0x1x3x3xf32>, tensor<0x1x3x2xf32>) -> tensor<0x1x3x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<0x1x3x2xf32>) -> tensor<0x3x1x2xf32>
  %or = onnx.Reshape(%ot, %s3) : (tensor<0x3x1x2xf32>, tensor<3xi64>) -> tensor<0x3x2xf32>
  %r = "onnx.ReduceSum"(%or, %ax0) {keepdims = 0 : i64} : (tensor<0x3x2xf32>, tensor<1xi64>) -> tensor<3x2xf32>
  return %r : tensor<3x2xf32>
}

// RUN: spatten-opt %s --convert-onnx-to-spatten | FileCheck %s

// A generation import (spatten-compile --max-context) marks a [B,1,M,M]
// float input `spatten.causal_mask` (docs/Generation.md): the lift takes it
// as assume-causal-inputs takes a named input, so Megatron's sliced
// w*m - 10000*(1-m) becomes causal attention and the input goes unread.
// Lq=2, P=1, Lk=3, H=1, D=2.

// CHECK-LABEL: func @marked_mask
// CHECK-SAME: %arg3: tensor<1x1x4x4xf32> {onnx.name = "mask", spatten.causal_mask}
// CHECK-NOT: %arg3
// CHECK: spatten.attention %arg0, %arg1, %arg2 past(%arg4, %arg5) {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 1.000000e+00 : f32}
// CHECK-NOT: %arg3
func.func @marked_mask(%q: tensor<1x2x2xf32>, %k: tensor<1x2x2xf32>, %v: tensor<1x2x2xf32>, %m: tensor<1x1x4x4xf32> {onnx.name = "mask", spatten.causal_mask}, %pk: tensor<1x1x1x2xf32>, %pv: tensor<1x1x1x2xf32>) -> tensor<1x2x2xf32> {
  %s4 = onnx.Constant {value = dense<[1, 2, 1, 2]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 2, 2]> : tensor<3xi64>} : tensor<3xi64>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %big = onnx.Constant {value = dense<10000.0> : tensor<f32>} : tensor<f32>
  %r0 = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %r1 = onnx.Constant {value = dense<3> : tensor<1xi64>} : tensor<1xi64>
  %ax2 = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %c0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %c1 = onnx.Constant {value = dense<3> : tensor<1xi64>} : tensor<1xi64>
  %ax3 = onnx.Constant {value = dense<3> : tensor<1xi64>} : tensor<1xi64>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %kh = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %kc = onnx.Concat(%pk, %kh) {axis = -2 : i64} : (tensor<1x1x1x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x3x2xf32>
  %vc = onnx.Concat(%pv, %vt) {axis = -2 : i64} : (tensor<1x1x1x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x3x2xf32>
  %kt = onnx.Transpose(%kc) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x2xf32>) -> tensor<1x1x2x3xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<1x1x2x2xf32>, tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %rows = "onnx.Slice"(%m, %r0, %r1, %ax2) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x1x4x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x2x4xf32>
  %mm = "onnx.Slice"(%rows, %c0, %c1, %ax3) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x1x2x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x2x3xf32>
  %wm = onnx.Mul(%s, %mm) : (tensor<1x1x2x3xf32>, tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %inv = onnx.Sub(%one, %mm) : (tensor<f32>, tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %off = onnx.Mul(%inv, %big) : (tensor<1x1x2x3xf32>, tensor<f32>) -> tensor<1x1x2x3xf32>
  %sc = onnx.Sub(%wm, %off) : (tensor<1x1x2x3xf32>, tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %p = onnx.Softmax(%sc) {axis = 3 : i64} : (tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %o = onnx.MatMul(%p, %vc) : (tensor<1x1x2x3xf32>, tensor<1x1x3x2xf32>) -> tensor<1x1x2x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x2x2xf32>) -> tensor<1x2x1x2xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x2x1x2xf32>, tensor<3xi64>) -> tensor<1x2x2xf32>
  return %out : tensor<1x2x2xf32>
}

// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// MatMul with a constant weight, and the bias Add in either operand order.

// CHECK-LABEL: func @matmul_add
// CHECK: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<4x6xf32>
// CHECK: %[[B:.*]] = arith.constant dense<1.000000e-01> : tensor<6xf32>
// CHECK: %[[Y:.*]] = spatten.linear %arg0, %[[W]], %[[B]] : (tensor<2x3x4xf32>, tensor<4x6xf32>, tensor<6xf32>) -> tensor<2x3x6xf32>
// CHECK: %[[Z:.*]] = spatten.linear %arg0, %[[W]] : (tensor<2x3x4xf32>, tensor<4x6xf32>) -> tensor<2x3x6xf32>
// CHECK: spatten.binary <add> %[[Y]], %[[Z]]
func.func @matmul_add(%x: tensor<2x3x4xf32>) -> tensor<2x3x6xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<4x6xf32>} : tensor<4x6xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<6xf32>} : tensor<6xf32>
  %y0 = onnx.MatMul(%x, %w) : (tensor<2x3x4xf32>, tensor<4x6xf32>) -> tensor<2x3x6xf32>
  %y = onnx.Add(%b, %y0) : (tensor<6xf32>, tensor<2x3x6xf32>) -> tensor<2x3x6xf32>
  %z = onnx.MatMul(%x, %w) : (tensor<2x3x4xf32>, tensor<4x6xf32>) -> tensor<2x3x6xf32>
  %r = onnx.Add(%y, %z) : (tensor<2x3x6xf32>, tensor<2x3x6xf32>) -> tensor<2x3x6xf32>
  return %r : tensor<2x3x6xf32>
}

// -----

// Tied decoder (bert_toy): MatMul by Transpose(perm 1,0) of the embedding
// table becomes transpose_weight; a weight that is a graph input is accepted
// (attention_past_state passes its weights as inputs).

// CHECK-LABEL: func @tied_and_input_weights
// CHECK: spatten.linear %arg0, %{{.*}} {transpose_weight} : (tensor<3x4xf32>, tensor<10x4xf32>) -> tensor<3x10xf32>
// CHECK: spatten.linear %arg0, %arg1 : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
func.func @tied_and_input_weights(%x: tensor<3x4xf32>, %w: tensor<4x5xf32>) -> (tensor<3x10xf32>, tensor<3x5xf32>) {
  %t = onnx.Constant {value = dense<0.5> : tensor<10x4xf32>} : tensor<10x4xf32>
  %tt = onnx.Transpose(%t) {perm = array<i64: 1, 0>} : (tensor<10x4xf32>) -> tensor<4x10xf32>
  %y = onnx.MatMul(%x, %tt) : (tensor<3x4xf32>, tensor<4x10xf32>) -> tensor<3x10xf32>
  %z = onnx.MatMul(%x, %w) : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  return %y, %z : tensor<3x10xf32>, tensor<3x5xf32>
}

// -----

// GPT-2 Conv1D: Reshape -> Gemm -> Reshape lifts to one linear on [B,L,K].

// CHECK-LABEL: func @conv1d
// CHECK: %[[Y:.*]] = spatten.linear %arg0, %{{.*}}, %{{.*}} : (tensor<1x2x4xf32>, tensor<4x12xf32>, tensor<12xf32>) -> tensor<1x2x12xf32>
// CHECK-NEXT: return %[[Y]]
func.func @conv1d(%x: tensor<1x2x4xf32>) -> tensor<1x2x12xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<4x12xf32>} : tensor<4x12xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<12xf32>} : tensor<12xf32>
  %s2 = onnx.Constant {value = dense<[2, 4]> : tensor<2xi64>} : tensor<2xi64>
  %s3 = onnx.Constant {value = dense<[1, 2, 12]> : tensor<3xi64>} : tensor<3xi64>
  %x2 = onnx.Reshape(%x, %s2) : (tensor<1x2x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  %g = "onnx.Gemm"(%x2, %w, %b) : (tensor<2x4xf32>, tensor<4x12xf32>, tensor<12xf32>) -> tensor<2x12xf32>
  %y = onnx.Reshape(%g, %s3) : (tensor<2x12xf32>, tensor<3xi64>) -> tensor<1x2x12xf32>
  return %y : tensor<1x2x12xf32>
}

// -----

// BERT pooler/NSP Gemm (transB), and alpha/beta/transA and a [M,N] C as
// extra spatten ops.

// CHECK-LABEL: func @gemm_attrs
// CHECK: spatten.linear %arg0, %{{.*}}, %{{.*}} {transpose_weight} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK: %[[T:.*]] = spatten.transpose %arg1 [1, 0] : (tensor<4x2xf32>) -> tensor<2x4xf32>
// CHECK: %[[L:.*]] = spatten.linear %[[T]], %{{.*}} {transpose_weight} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
// CHECK: %[[A:.*]] = spatten.binary <mul> %[[L]], %{{.*}} : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK: %[[C:.*]] = spatten.binary <mul> %arg2, %{{.*}} : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK: spatten.binary <add> %[[A]], %[[C]] : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @gemm_attrs(%x: tensor<2x4xf32>, %xt: tensor<4x2xf32>, %c: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = onnx.Constant {value = dense<0.5> : tensor<3x4xf32>} : tensor<3x4xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<3xf32>} : tensor<3xf32>
  %y = "onnx.Gemm"(%x, %w, %b) {alpha = 1.0 : f32, beta = 1.0 : f32, transB = 1 : i64} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %z = "onnx.Gemm"(%xt, %w, %c) {alpha = 2.0 : f32, beta = 0.5 : f32, transA = 1 : i64, transB = 1 : i64} : (tensor<4x2xf32>, tensor<3x4xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y, %z : tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Word embedding lookup by run-time ids; a Gather with constant indices on a
// computed tensor is a slice (BERT pooler picks token 0).

// CHECK-LABEL: func @embedding_and_pick
// CHECK: %[[E:.*]] = spatten.embedding %arg0, %{{.*}} : (tensor<2x3xi64>, tensor<10x4xf32>) -> tensor<2x3x4xf32>
// CHECK: %[[S:.*]] = spatten.slice %[[E]] [0, 0, 0] [1, 1, 1] : (tensor<2x3x4xf32>) -> tensor<2x1x4xf32>
// CHECK: %[[R:.*]] = spatten.reshape %[[S]] : (tensor<2x1x4xf32>) -> tensor<2x4xf32>
// CHECK: return %[[E]], %[[R]]
func.func @embedding_and_pick(%ids: tensor<2x3xi64>) -> (tensor<2x3x4xf32>, tensor<2x4xf32>) {
  %t = onnx.Constant {value = dense<0.5> : tensor<10x4xf32>} : tensor<10x4xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %e = onnx.Gather(%t, %ids) : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  %p = onnx.Gather(%e, %zero) {axis = 1 : i64} : (tensor<2x3x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  return %e, %p : tensor<2x3x4xf32>, tensor<2x4xf32>
}

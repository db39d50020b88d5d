// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// A ViT patch embedding: Conv with stride = kernel, no padding, a constant
// weight and bias, lifts to a linear layer over the flattened patches
// ([N, C, H, W] -> [N, Ph*Pw, C*kh*kw]) and back to [N, M, Ph, Pw].

// CHECK-LABEL: func @patch_embedding
// CHECK: %[[X6:.*]] = spatten.reshape %arg0 : (tensor<2x3x4x4xf32>) -> tensor<2x3x2x2x2x2xf32>
// CHECK: %[[XT:.*]] = spatten.transpose %[[X6]] [0, 2, 4, 1, 3, 5] : (tensor<2x3x2x2x2x2xf32>) -> tensor<2x2x2x3x2x2xf32>
// CHECK: %[[ROWS:.*]] = spatten.reshape %[[XT]] : (tensor<2x2x2x3x2x2xf32>) -> tensor<2x4x12xf32>
// CHECK: %[[W:.*]] = spatten.reshape %{{.*}} : (tensor<5x3x2x2xf32>) -> tensor<5x12xf32>
// CHECK: %[[Y:.*]] = spatten.linear %[[ROWS]], %[[W]], %{{.*}} {transpose_weight} : (tensor<2x4x12xf32>, tensor<5x12xf32>, tensor<5xf32>) -> tensor<2x4x5xf32>
// CHECK: %[[YT:.*]] = spatten.transpose %[[Y]] [0, 2, 1] : (tensor<2x4x5xf32>) -> tensor<2x5x4xf32>
// CHECK: spatten.reshape %[[YT]] : (tensor<2x5x4xf32>) -> tensor<2x5x2x2xf32>
// CHECK-NOT: onnx.Conv
func.func @patch_embedding(%x: tensor<2x3x4x4xf32>) -> tensor<2x5x2x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<5xf32>} : tensor<5xf32>
  %y = "onnx.Conv"(%x, %w, %b) <{dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>}> : (tensor<2x3x4x4xf32>, tensor<5x3x2x2xf32>, tensor<5xf32>) -> tensor<2x5x2x2xf32>
  return %y : tensor<2x5x2x2xf32>
}

// -----

// Without a bias and with auto_pad VALID (no padding either).

// CHECK-LABEL: func @no_bias_valid
// CHECK: spatten.linear %{{.*}}, %{{.*}} {transpose_weight} : (tensor<1x2x8xf32>, tensor<3x8xf32>) -> tensor<1x2x3xf32>
// CHECK-NOT: onnx.Conv
func.func @no_bias_valid(%x: tensor<1x2x2x4xf32>) -> tensor<1x3x1x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<3x2x2x2xf32>} : tensor<3x2x2x2xf32>
  %y = "onnx.Conv"(%x, %w) <{auto_pad = "VALID", strides = array<i64: 2, 2>}> : (tensor<1x2x2x4xf32>, tensor<3x2x2x2xf32>) -> tensor<1x3x1x2xf32>
  return %y : tensor<1x3x1x2xf32>
}

// -----

// ViT's flatten(2).transpose(1, 2) after the Conv reads the linear's patch
// rows [N, Ph*Pw, M] directly: no transposes back and forth.

// CHECK-LABEL: func @vit_patch_rows
// CHECK: %[[Y:.*]] = spatten.linear %{{.*}}, %{{.*}}, %{{.*}} {transpose_weight} : (tensor<2x4x12xf32>, tensor<5x12xf32>, tensor<5xf32>) -> tensor<2x4x5xf32>
// CHECK-NEXT: return %[[Y]] : tensor<2x4x5xf32>
func.func @vit_patch_rows(%x: tensor<2x3x4x4xf32>) -> tensor<2x4x5xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<5xf32>} : tensor<5xf32>
  %s = onnx.Constant {value = dense<[2, 5, -1]> : tensor<3xi64>} : tensor<3xi64>
  %y = "onnx.Conv"(%x, %w, %b) <{kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>}> : (tensor<2x3x4x4xf32>, tensor<5x3x2x2xf32>, tensor<5xf32>) -> tensor<2x5x2x2xf32>
  %f = onnx.Reshape(%y, %s) : (tensor<2x5x2x2xf32>, tensor<3xi64>) -> tensor<2x5x4xf32>
  %r = onnx.Transpose(%f) {perm = array<i64: 0, 2, 1>} : (tensor<2x5x4xf32>) -> tensor<2x4x5xf32>
  return %r : tensor<2x4x5xf32>
}

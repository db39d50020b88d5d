// Per-head windows of a fused projection become projections by the window's
// weight columns (GPT-NeoX's fused QKV, viewed [.., H, 3*D]).
// RUN: spatten-opt -canonicalize -split-input-file %s | FileCheck %s

// transformers' current form: view [B, L, H, 3D], transpose, chunk(3) on
// the last axis (three Slices). H = 2, D = 2: Q is columns {0, 1, 6, 7}.
// CHECK-LABEL: func.func @chunks_after_transpose
// CHECK-DAG: %[[WQ:.*]] = onnx.Constant {value = dense<{{\[\[}}0.000000e+00, 1.000000e+00, 6.000000e+00, 7.000000e+00]]> : tensor<1x4xf32>}
// CHECK-DAG: %[[BQ:.*]] = onnx.Constant {value = dense<[1.000000e+02, 1.010000e+02, 1.060000e+02, 1.070000e+02]> : tensor<4xf32>}
// CHECK-DAG: %[[WK:.*]] = onnx.Constant {value = dense<{{\[\[}}2.000000e+00, 3.000000e+00, 8.000000e+00, 9.000000e+00]]> : tensor<1x4xf32>}
// CHECK-DAG: %[[WV:.*]] = onnx.Constant {value = dense<{{\[\[}}4.000000e+00, 5.000000e+00, 1.000000e+01, 1.100000e+01]]> : tensor<1x4xf32>}
// CHECK-DAG: %[[S:.*]] = onnx.Constant {value = dense<[1, 3, 2, 2]> : tensor<4xi64>}
// CHECK-DAG: onnx.MatMul(%arg0, %[[WK]])
// CHECK-DAG: onnx.MatMul(%arg0, %[[WV]])
// CHECK:     %[[MQ:.*]] = onnx.MatMul(%arg0, %[[WQ]]) : (tensor<1x3x1xf32>, tensor<1x4xf32>) -> tensor<1x3x4xf32>
// CHECK:     %[[AQ:.*]] = onnx.Add(%[[MQ]], %[[BQ]])
// CHECK:     %[[RQ:.*]] = onnx.Reshape(%[[AQ]], %[[S]]) : (tensor<1x3x4xf32>, tensor<4xi64>) -> tensor<1x3x2x2xf32>
// CHECK:     %[[Q:.*]] = onnx.Transpose(%[[RQ]]) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x2xf32>) -> tensor<1x2x3x2xf32>
// CHECK-NOT: onnx.Slice
// CHECK:     return %[[Q]],
func.func @chunks_after_transpose(%x: tensor<1x3x1xf32>) -> (tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>) {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]]> : tensor<1x12xf32>} : tensor<1x12xf32>
  %b = onnx.Constant {value = dense<[100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0, 108.0, 109.0, 110.0, 111.0]> : tensor<12xf32>} : tensor<12xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x12xf32>) -> tensor<1x3x12xf32>
  %p = onnx.Add(%b, %mm) : (tensor<12xf32>, tensor<1x3x12xf32>) -> tensor<1x3x12xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 2, 6]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%p, %shape) : (tensor<1x3x12xf32>, tensor<4xi64>) -> tensor<1x3x2x6xf32>
  %t = onnx.Transpose(%v) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x6xf32>) -> tensor<1x2x3x6xf32>
  %axis = onnx.Constant {value = dense<[-1]> : tensor<1xi64>} : tensor<1xi64>
  %c0 = onnx.Constant {value = dense<[0]> : tensor<1xi64>} : tensor<1xi64>
  %c2 = onnx.Constant {value = dense<[2]> : tensor<1xi64>} : tensor<1xi64>
  %c4 = onnx.Constant {value = dense<[4]> : tensor<1xi64>} : tensor<1xi64>
  %c6 = onnx.Constant {value = dense<[6]> : tensor<1xi64>} : tensor<1xi64>
  %q = "onnx.Slice"(%t, %c0, %c2, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x2x3x6xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x3x2xf32>
  %k = "onnx.Slice"(%t, %c2, %c4, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x2x3x6xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x3x2xf32>
  %vv = "onnx.Slice"(%t, %c4, %c6, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x2x3x6xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x3x2xf32>
  return %q, %k, %vv : tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>
}

// -----

// The earlier form: the windows cut before the transpose, and a Split of
// the last axis. No bias.
// CHECK-LABEL: func.func @split_before_transpose
// CHECK-DAG: onnx.Constant {value = dense<{{\[\[}}0.000000e+00, 1.000000e+00, 6.000000e+00, 7.000000e+00]]> : tensor<1x4xf32>}
// CHECK-DAG: onnx.Constant {value = dense<{{\[\[}}2.000000e+00, 3.000000e+00, 8.000000e+00, 9.000000e+00]]> : tensor<1x4xf32>}
// CHECK-DAG: onnx.Constant {value = dense<{{\[\[}}4.000000e+00, 5.000000e+00, 1.000000e+01, 1.100000e+01]]> : tensor<1x4xf32>}
// CHECK-COUNT-3: onnx.MatMul
// CHECK-NOT: onnx.Split
// CHECK-NOT: onnx.Add
func.func @split_before_transpose(%x: tensor<1x3x1xf32>) -> (tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>) {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]]> : tensor<1x12xf32>} : tensor<1x12xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x12xf32>) -> tensor<1x3x12xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 2, 6]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%mm, %shape) : (tensor<1x3x12xf32>, tensor<4xi64>) -> tensor<1x3x2x6xf32>
  %q, %k, %vv = "onnx.Split"(%v) <{axis = 3 : i64}> : (tensor<1x3x2x6xf32>) -> (tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>)
  return %q, %k, %vv : tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>
}

// -----

// A partial rotary embedding cuts each head of Q in two and concatenates
// the halves back: a computation on part of each head, not a split.
// CHECK-LABEL: func.func @window_concatenated_back
// CHECK-COUNT-1: onnx.MatMul
// CHECK-NOT: onnx.MatMul
func.func @window_concatenated_back(%x: tensor<1x3x1xf32>) -> tensor<1x2x3x4xf32> {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]> : tensor<1x8xf32>} : tensor<1x8xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x8xf32>) -> tensor<1x3x8xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%mm, %shape) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %t = onnx.Transpose(%v) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %axis = onnx.Constant {value = dense<[3]> : tensor<1xi64>} : tensor<1xi64>
  %c0 = onnx.Constant {value = dense<[0]> : tensor<1xi64>} : tensor<1xi64>
  %c2 = onnx.Constant {value = dense<[2]> : tensor<1xi64>} : tensor<1xi64>
  %end = onnx.Constant {value = dense<[9223372036854775807]> : tensor<1xi64>} : tensor<1xi64>
  %rot = "onnx.Slice"(%t, %c0, %c2, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x2x3x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x3x2xf32>
  %pass = "onnx.Slice"(%t, %c2, %end, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x2x3x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x3x2xf32>
  %neg = onnx.Neg(%rot) : (tensor<1x2x3x2xf32>) -> tensor<1x2x3x2xf32>
  %cat = onnx.Concat(%neg, %pass) {axis = -1 : i64} : (tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x3x4xf32>
  return %cat : tensor<1x2x3x4xf32>
}

// -----

// A reader that is not a window keeps the projection whole; so do windows
// that are whole heads.
// CHECK-LABEL: func.func @not_only_windows
// CHECK-COUNT-1: onnx.MatMul
// CHECK-NOT: onnx.MatMul
// CHECK-LABEL: func.func @whole_heads
// CHECK-COUNT-1: onnx.MatMul
// CHECK-NOT: onnx.MatMul
func.func @not_only_windows(%x: tensor<1x3x1xf32>) -> (tensor<1x3x2x2xf32>, tensor<1x3x2x4xf32>) {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]> : tensor<1x8xf32>} : tensor<1x8xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x8xf32>) -> tensor<1x3x8xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%mm, %shape) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %axis = onnx.Constant {value = dense<[3]> : tensor<1xi64>} : tensor<1xi64>
  %c0 = onnx.Constant {value = dense<[0]> : tensor<1xi64>} : tensor<1xi64>
  %c2 = onnx.Constant {value = dense<[2]> : tensor<1xi64>} : tensor<1xi64>
  %s = "onnx.Slice"(%v, %c0, %c2, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x3x2x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x3x2x2xf32>
  %sq = onnx.Mul(%v, %v) : (tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32>
  return %s, %sq : tensor<1x3x2x2xf32>, tensor<1x3x2x4xf32>
}

func.func @whole_heads(%x: tensor<1x3x1xf32>) -> tensor<1x3x2x4xf32> {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]> : tensor<1x8xf32>} : tensor<1x8xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x8xf32>) -> tensor<1x3x8xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%mm, %shape) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %s = "onnx.Split"(%v) <{axis = -1 : i64}> : (tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32>
  return %s : tensor<1x3x2x4xf32>
}

// -----

// Falcon's multi-query projection: viewed [B, L, H + 2, D] and cut on the
// head axis into the H query heads (Slice :-2) and one key and one value
// head (Gather [-2], Gather [-1]). H = 2, D = 2: K is columns {4, 5}.
// CHECK-LABEL: func.func @falcon_head_windows
// CHECK-DAG: %[[WQ:.*]] = onnx.Constant {value = dense<{{\[\[}}0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00]]> : tensor<1x4xf32>}
// CHECK-DAG: %[[WK:.*]] = onnx.Constant {value = dense<{{\[\[}}4.000000e+00, 5.000000e+00]]> : tensor<1x2xf32>}
// CHECK-DAG: %[[WV:.*]] = onnx.Constant {value = dense<{{\[\[}}6.000000e+00, 7.000000e+00]]> : tensor<1x2xf32>}
// CHECK-DAG: onnx.MatMul(%arg0, %[[WQ]]) : (tensor<1x3x1xf32>, tensor<1x4xf32>) -> tensor<1x3x4xf32>
// CHECK-DAG: onnx.MatMul(%arg0, %[[WK]]) : (tensor<1x3x1xf32>, tensor<1x2xf32>) -> tensor<1x3x2xf32>
// CHECK-DAG: onnx.MatMul(%arg0, %[[WV]]) : (tensor<1x3x1xf32>, tensor<1x2xf32>) -> tensor<1x3x2xf32>
// CHECK-DAG: onnx.Reshape({{.*}}) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
// CHECK-NOT: onnx.Gather
// CHECK-NOT: onnx.Slice
func.func @falcon_head_windows(%x: tensor<1x3x1xf32>) -> (tensor<1x3x2x2xf32>, tensor<1x3x1x2xf32>, tensor<1x3x1x2xf32>) {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]> : tensor<1x8xf32>} : tensor<1x8xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x8xf32>) -> tensor<1x3x8xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 4, 2]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%mm, %shape) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x4x2xf32>
  %c0 = onnx.Constant {value = dense<[0]> : tensor<1xi64>} : tensor<1xi64>
  %cm2 = onnx.Constant {value = dense<[-2]> : tensor<1xi64>} : tensor<1xi64>
  %cm1 = onnx.Constant {value = dense<[-1]> : tensor<1xi64>} : tensor<1xi64>
  %axis = onnx.Constant {value = dense<[2]> : tensor<1xi64>} : tensor<1xi64>
  %q = "onnx.Slice"(%v, %c0, %cm2, %axis) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x3x4x2xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x3x2x2xf32>
  %k = onnx.Gather(%v, %cm2) {axis = 2 : i64} : (tensor<1x3x4x2xf32>, tensor<1xi64>) -> tensor<1x3x1x2xf32>
  %vv = onnx.Gather(%v, %cm1) {axis = -2 : i64} : (tensor<1x3x4x2xf32>, tensor<1xi64>) -> tensor<1x3x1x2xf32>
  return %q, %k, %vv : tensor<1x3x2x2xf32>, tensor<1x3x1x2xf32>, tensor<1x3x1x2xf32>
}

// -----

// Gathered heads that are not consecutive are no window.
// CHECK-LABEL: func.func @scattered_heads
// CHECK-COUNT-1: onnx.MatMul
// CHECK-NOT: onnx.MatMul
func.func @scattered_heads(%x: tensor<1x3x1xf32>) -> tensor<1x3x2x2xf32> {
  %w = onnx.Constant {value = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]> : tensor<1x8xf32>} : tensor<1x8xf32>
  %mm = onnx.MatMul(%x, %w) : (tensor<1x3x1xf32>, tensor<1x8xf32>) -> tensor<1x3x8xf32>
  %shape = onnx.Constant {value = dense<[1, 3, 4, 2]> : tensor<4xi64>} : tensor<4xi64>
  %v = onnx.Reshape(%mm, %shape) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x4x2xf32>
  %ids = onnx.Constant {value = dense<[0, 2]> : tensor<2xi64>} : tensor<2xi64>
  %g = onnx.Gather(%v, %ids) {axis = 2 : i64} : (tensor<1x3x4x2xf32>, tensor<2xi64>) -> tensor<1x3x2x2xf32>
  return %g : tensor<1x3x2x2xf32>
}

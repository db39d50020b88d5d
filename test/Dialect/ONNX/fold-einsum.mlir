// Einsum and MatMul on constants fold (ContractionFold.cpp): explicit and
// implicit outputs, sums, diagonals and `...` broadcasting.
// RUN: spatten-opt -canonicalize -split-input-file %s | FileCheck %s

// CHECK-LABEL: func.func @transpose
// CHECK: %[[R:.*]] = onnx.Constant {value = dense<{{\[}}[1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>}
// CHECK-NOT: onnx.Einsum
// CHECK: return %[[R]]
func.func @transpose() -> tensor<3x2xf32> {
  %a = onnx.Constant {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : tensor<2x3xf32>
  %t = onnx.Einsum(%a) {equation = "ij->ji"} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}

// -----

// Implicit output: the letters used once (i, k), in alphabetical order.
// CHECK-LABEL: func.func @matmul_implicit
// CHECK: onnx.Constant {value = dense<{{\[}}[1.400000e+01, 3.200000e+01], [3.200000e+01, 7.700000e+01]]> : tensor<2x2xf32>}
// CHECK-NOT: onnx.Einsum
func.func @matmul_implicit() -> tensor<2x2xf32> {
  %a = onnx.Constant {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : tensor<2x3xf32>
  %m = onnx.Einsum(%a, %a) {equation = "ij,kj"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %m : tensor<2x2xf32>
}

// -----

// The rotary table's outer product of positions and inverse frequencies.
// CHECK-LABEL: func.func @outer
// CHECK: onnx.Constant {value = dense<{{\[}}[0.000000e+00, 0.000000e+00], [1.000000e+00, 5.000000e-01], [2.000000e+00, 1.000000e+00]]> : tensor<3x2xf32>}
// CHECK-NOT: onnx.Einsum
func.func @outer() -> tensor<3x2xf32> {
  %t = onnx.Constant {value = dense<[0.0, 1.0, 2.0]> : tensor<3xf32>} : tensor<3xf32>
  %f = onnx.Constant {value = dense<[1.0, 0.5]> : tensor<2xf32>} : tensor<2xf32>
  %o = onnx.Einsum(%t, %f) {equation = "i , j -> i j"} : (tensor<3xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

// Batched matmul: [2,1,2] x [2,2,1].
// CHECK-LABEL: func.func @batch
// CHECK: onnx.Constant {value = dense<{{\[}}{{\[}}[5.000000e+00]], {{\[}}[3.900000e+01]]]> : tensor<2x1x1xf32>}
func.func @batch() -> tensor<2x1x1xf32> {
  %a = onnx.Constant {value = dense<[[[1.0, 2.0]], [[3.0, 4.0]]]> : tensor<2x1x2xf32>} : tensor<2x1x2xf32>
  %b = onnx.Constant {value = dense<[[[1.0], [2.0]], [[5.0], [6.0]]]> : tensor<2x2x1xf32>} : tensor<2x2x1xf32>
  %m = onnx.Einsum(%a, %b) {equation = "bij,bjk->bik"} : (tensor<2x1x2xf32>, tensor<2x2x1xf32>) -> tensor<2x1x1xf32>
  return %m : tensor<2x1x1xf32>
}

// -----

// `...` broadcasts: a [1,3] against a [2,1,3]-shaped leading part; the
// implicit output puts the broadcast dims first.
// CHECK-LABEL: func.func @ellipsis
// CHECK: onnx.Constant {value = dense<{{\[}}[4.000000e+00], [1.000000e+01]]> : tensor<2x1xf32>}
func.func @ellipsis() -> tensor<2x1xf32> {
  %a = onnx.Constant {value = dense<[[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]]> : tensor<2x1x3xf32>} : tensor<2x1x3xf32>
  %c = onnx.Constant {value = dense<[[1.0, 0.0, 1.0]]> : tensor<1x3xf32>} : tensor<1x3xf32>
  %d = onnx.Einsum(%a, %c) {equation = "...j,...j"} : (tensor<2x1x3xf32>, tensor<1x3xf32>) -> tensor<2x1xf32>
  return %d : tensor<2x1xf32>
}

// -----

// A repeated letter reads the diagonal: trace, diagonal, and a full sum.
// CHECK-LABEL: func.func @diagonal
// CHECK-DAG: %[[T:.*]] = onnx.Constant {value = dense<5.000000e+00> : tensor<f32>}
// CHECK-DAG: %[[D:.*]] = onnx.Constant {value = dense<[1.000000e+00, 4.000000e+00]> : tensor<2xf32>}
// CHECK-DAG: %[[S:.*]] = onnx.Constant {value = dense<1.000000e+01> : tensor<f32>}
// CHECK: return %[[T]], %[[D]], %[[S]]
func.func @diagonal() -> (tensor<f32>, tensor<2xf32>, tensor<f32>) {
  %a = onnx.Constant {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %t = onnx.Einsum(%a) {equation = "ii"} : (tensor<2x2xf32>) -> tensor<f32>
  %d = onnx.Einsum(%a) {equation = "ii->i"} : (tensor<2x2xf32>) -> tensor<2xf32>
  %s = onnx.Einsum(%a) {equation = "ij->"} : (tensor<2x2xf32>) -> tensor<f32>
  return %t, %d, %s : tensor<f32>, tensor<2xf32>, tensor<f32>
}

// -----

// Integer operands keep their element type.
// CHECK-LABEL: func.func @int_inner
// CHECK: onnx.Constant {value = dense<11> : tensor<i64>}
func.func @int_inner() -> tensor<i64> {
  %a = onnx.Constant {value = dense<[1, 2, 3]> : tensor<3xi64>} : tensor<3xi64>
  %b = onnx.Constant {value = dense<[2, 0, 3]> : tensor<3xi64>} : tensor<3xi64>
  %i = onnx.Einsum(%a, %b) {equation = "i,i"} : (tensor<3xi64>, tensor<3xi64>) -> tensor<i64>
  return %i : tensor<i64>
}

// -----

// A run-time operand is not folded.
// CHECK-LABEL: func.func @runtime
// CHECK: onnx.Einsum(%arg0, %{{.*}}) {equation = "bhd,d->bh"}
func.func @runtime(%x: tensor<1x2x3xf32>) -> tensor<1x2xf32> {
  %c = onnx.Constant {value = dense<[1.0, 0.0, 1.0]> : tensor<3xf32>} : tensor<3xf32>
  %r = onnx.Einsum(%x, %c) {equation = "bhd,d->bh"} : (tensor<1x2x3xf32>, tensor<3xf32>) -> tensor<1x2xf32>
  return %r : tensor<1x2xf32>
}

// -----

// MatMul folds with numpy semantics: batched with broadcasting, and a 1-D
// right operand as a column.
// CHECK-LABEL: func.func @matmul
// CHECK-DAG: %[[M:.*]] = onnx.Constant {value = dense<{{\[}}{{\[}}[1.000000e+00, 2.000000e+00]], {{\[}}[2.000000e+00, 4.000000e+00]]]> : tensor<2x1x2xf32>}
// CHECK-DAG: %[[V:.*]] = onnx.Constant {value = dense<[5.000000e+00, 1.100000e+01]> : tensor<2xf32>}
// CHECK-NOT: onnx.MatMul
// CHECK: return %[[M]], %[[V]]
func.func @matmul() -> (tensor<2x1x2xf32>, tensor<2xf32>) {
  %a = onnx.Constant {value = dense<[[[1.0]], [[2.0]]]> : tensor<2x1x1xf32>} : tensor<2x1x1xf32>
  %b = onnx.Constant {value = dense<[[1.0, 2.0]]> : tensor<1x2xf32>} : tensor<1x2xf32>
  %m = onnx.MatMul(%a, %b) : (tensor<2x1x1xf32>, tensor<1x2xf32>) -> tensor<2x1x2xf32>
  %c = onnx.Constant {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %v = onnx.Constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>
  %w = onnx.MatMul(%c, %v) : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %m, %w : tensor<2x1x2xf32>, tensor<2xf32>
}

// -----

// libonnx infers only the rank of an Einsum: the dims come from the
// equation, then the folder fires and @main's result type follows.
// CHECK-LABEL: func.func @refine
// CHECK-SAME: -> tensor<2x2xf64>
// CHECK: onnx.Constant {value = dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf64>}
func.func @refine() -> tensor<?x?xf64> {
  %a = onnx.Constant {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf64>} : tensor<2x2xf64>
  %t = onnx.Einsum(%a) {equation = "ij->ji"} : (tensor<2x2xf64>) -> tensor<?x?xf64>
  return %t : tensor<?x?xf64>
}

// -----

// CHECK-LABEL: func.func @refine_runtime
// CHECK: onnx.Einsum(%arg0) {equation = "ij->j"} : (tensor<2x3xf32>) -> tensor<3xf32>
func.func @refine_runtime(%x: tensor<2x3xf32>) -> tensor<?xf32> {
  %t = onnx.Einsum(%x) {equation = "ij->j"} : (tensor<2x3xf32>) -> tensor<?xf32>
  return %t : tensor<?xf32>
}

// Trilu, Tile and CumSum on constants fold (MaskFold.cpp); the newer
// elementwise ops too (ElementwiseFold.cpp).
// RUN: spatten-opt -canonicalize -split-input-file %s | FileCheck %s

// Upper triangle, k absent (0).
// CHECK-LABEL: func.func @triu
// CHECK: onnx.Constant {value = dense<{{\[}}[1, 2, 3], [0, 5, 6], [0, 0, 9]]> : tensor<3x3xi32>}
// CHECK-NOT: onnx.Trilu
func.func @triu() -> tensor<3x3xi32> {
  %a = onnx.Constant {value = dense<[[1, 2, 3], [4, 5, 6], [7, 8, 9]]> : tensor<3x3xi32>} : tensor<3x3xi32>
  %t = "onnx.Trilu"(%a) : (tensor<3x3xi32>) -> tensor<3x3xi32>
  return %t : tensor<3x3xi32>
}

// -----

// Lower triangle.
// CHECK-LABEL: func.func @tril
// CHECK: onnx.Constant {value = dense<{{\[}}[1, 0, 0], [4, 5, 0], [7, 8, 9]]> : tensor<3x3xi32>}
func.func @tril() -> tensor<3x3xi32> {
  %a = onnx.Constant {value = dense<[[1, 2, 3], [4, 5, 6], [7, 8, 9]]> : tensor<3x3xi32>} : tensor<3x3xi32>
  %t = "onnx.Trilu"(%a) {upper = 0 : i64} : (tensor<3x3xi32>) -> tensor<3x3xi32>
  return %t : tensor<3x3xi32>
}

// -----

// k > 0 moves the upper triangle's diagonal right; k < 0 moves the lower
// triangle's down. Non-square.
// CHECK-LABEL: func.func @trilu_k
// CHECK-DAG: %[[U:.*]] = onnx.Constant {value = dense<{{\[}}[0, 2, 3, 4], [0, 0, 7, 8]]> : tensor<2x4xi64>}
// CHECK-DAG: %[[L:.*]] = onnx.Constant {value = dense<{{\[}}[0, 0, 0, 0], [5, 0, 0, 0]]> : tensor<2x4xi64>}
// CHECK: return %[[U]], %[[L]]
func.func @trilu_k() -> (tensor<2x4xi64>, tensor<2x4xi64>) {
  %a = onnx.Constant {value = dense<[[1, 2, 3, 4], [5, 6, 7, 8]]> : tensor<2x4xi64>} : tensor<2x4xi64>
  %one = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %m1 = onnx.Constant {value = dense<-1> : tensor<i64>} : tensor<i64>
  %u = "onnx.Trilu"(%a, %one) : (tensor<2x4xi64>, tensor<i64>) -> tensor<2x4xi64>
  %l = "onnx.Trilu"(%a, %m1) {upper = 0 : i64} : (tensor<2x4xi64>, tensor<i64>) -> tensor<2x4xi64>
  return %u, %l : tensor<2x4xi64>, tensor<2x4xi64>
}

// -----

// Batched: each matrix of the last two dims; a float causal mask.
// CHECK-LABEL: func.func @trilu_batched
// CHECK: onnx.Constant {value = dense<{{\[}}{{\[}}[1.000000e+00, 0.000000e+00], [1.000000e+00, 1.000000e+00]], {{\[}}[1.000000e+00, 0.000000e+00], [1.000000e+00, 1.000000e+00]]]> : tensor<2x2x2xf32>}
func.func @trilu_batched() -> tensor<2x2x2xf32> {
  %a = onnx.Constant {value = dense<1.0> : tensor<2x2x2xf32>} : tensor<2x2x2xf32>
  %t = "onnx.Trilu"(%a) {upper = 0 : i64} : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
  return %t : tensor<2x2x2xf32>
}

// -----

// CHECK-LABEL: func.func @tile_cumsum
// CHECK-DAG: %[[T:.*]] = onnx.Constant {value = dense<{{\[}}[1, 2, 1, 2], [1, 2, 1, 2]]> : tensor<2x4xi64>}
// CHECK-DAG: %[[C:.*]] = onnx.Constant {value = dense<[1, 3, 6]> : tensor<3xi64>}
// CHECK-DAG: %[[E:.*]] = onnx.Constant {value = dense<[5, 3, 0]> : tensor<3xi64>}
// CHECK: return %[[T]], %[[C]], %[[E]]
func.func @tile_cumsum() -> (tensor<2x4xi64>, tensor<3xi64>, tensor<3xi64>) {
  %a = onnx.Constant {value = dense<[[1, 2]]> : tensor<1x2xi64>} : tensor<1x2xi64>
  %r = onnx.Constant {value = dense<[2, 2]> : tensor<2xi64>} : tensor<2xi64>
  %t = onnx.Tile(%a, %r) : (tensor<1x2xi64>, tensor<2xi64>) -> tensor<2x4xi64>
  %v = onnx.Constant {value = dense<[1, 2, 3]> : tensor<3xi64>} : tensor<3xi64>
  %ax = onnx.Constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %c = onnx.CumSum(%v, %ax) : (tensor<3xi64>, tensor<i32>) -> tensor<3xi64>
  %e = onnx.CumSum(%v, %ax) {exclusive = 1 : i64, reverse = 1 : i64} : (tensor<3xi64>, tensor<i32>) -> tensor<3xi64>
  return %t, %c, %e : tensor<2x4xi64>, tensor<3xi64>, tensor<3xi64>
}

// -----

// A rotary table: Cos/Sin of an outer product, Range positions.
// CHECK-LABEL: func.func @rotary
// CHECK-DAG: %[[C:.*]] = onnx.Constant {value = dense<[1.000000e+00, 0.540302277, -0.416146845]> : tensor<3xf32>}
// CHECK-DAG: %[[S:.*]] = onnx.Constant {value = dense<[0.000000e+00, 0.841470957, 0.909297406]> : tensor<3xf32>}
// CHECK: return %[[C]], %[[S]]
func.func @rotary() -> (tensor<3xf32>, tensor<3xf32>) {
  %s = onnx.Constant {value = dense<0.0> : tensor<f32>} : tensor<f32>
  %l = onnx.Constant {value = dense<3.0> : tensor<f32>} : tensor<f32>
  %d = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %p = onnx.Range(%s, %l, %d) : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<3xf32>
  %c = onnx.Cos(%p) : (tensor<3xf32>) -> tensor<3xf32>
  %n = onnx.Sin(%p) : (tensor<3xf32>) -> tensor<3xf32>
  return %c, %n : tensor<3xf32>, tensor<3xf32>
}

// -----

// Mod takes the divisor's sign, fmod the dividend's; IsInf, IsNaN, Abs, Relu.
// CHECK-LABEL: func.func @elementwise
// CHECK-DAG: %[[M:.*]] = onnx.Constant {value = dense<[1, -1]> : tensor<2xi64>}
// CHECK-DAG: %[[F:.*]] = onnx.Constant {value = dense<[-1.000000e+00, 1.000000e+00]> : tensor<2xf32>}
// CHECK-DAG: %[[I:.*]] = onnx.Constant {value = dense<[true, false, false]> : tensor<3xi1>}
// CHECK-DAG: %[[N:.*]] = onnx.Constant {value = dense<[false, false, true]> : tensor<3xi1>}
// CHECK-DAG: %[[A:.*]] = onnx.Constant {value = dense<[2, 3]> : tensor<2xi64>}
// CHECK-DAG: %[[R:.*]] = onnx.Constant {value = dense<[0, 3]> : tensor<2xi64>}
// CHECK: return %[[M]], %[[F]], %[[I]], %[[N]], %[[A]], %[[R]]
func.func @elementwise() -> (tensor<2xi64>, tensor<2xf32>, tensor<3xi1>, tensor<3xi1>, tensor<2xi64>, tensor<2xi64>) {
  %a = onnx.Constant {value = dense<[-3, 3]> : tensor<2xi64>} : tensor<2xi64>
  %b = onnx.Constant {value = dense<[2, -2]> : tensor<2xi64>} : tensor<2xi64>
  %m = onnx.Mod(%a, %b) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %fa = onnx.Constant {value = dense<[-3.0, 3.0]> : tensor<2xf32>} : tensor<2xf32>
  %fb = onnx.Constant {value = dense<[2.0, -2.0]> : tensor<2xf32>} : tensor<2xf32>
  %f = onnx.Mod(%fa, %fb) {fmod = 1 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %x = onnx.Constant {value = dense<[0x7F800000, 0xFF800000, 0x7FC00000]> : tensor<3xf32>} : tensor<3xf32>
  %i = onnx.IsInf(%x) {detect_negative = 0 : i64} : (tensor<3xf32>) -> tensor<3xi1>
  %n = onnx.IsNaN(%x) : (tensor<3xf32>) -> tensor<3xi1>
  %ab = onnx.Constant {value = dense<[-2, 3]> : tensor<2xi64>} : tensor<2xi64>
  %abs = onnx.Abs(%ab) : (tensor<2xi64>) -> tensor<2xi64>
  %r = onnx.Relu(%ab) : (tensor<2xi64>) -> tensor<2xi64>
  return %m, %f, %i, %n, %abs, %r : tensor<2xi64>, tensor<2xf32>, tensor<3xi1>, tensor<3xi1>, tensor<2xi64>, tensor<2xi64>
}

// -----

// A shape whose element count overflows int64 is never folded (nor
// allocated); the op stays for the lowering to refuse by name.
// CHECK-LABEL: func.func @overflow
// CHECK: onnx.ConstantOfShape
func.func @overflow() -> tensor<2147483648x2147483648x2147483648xf32> {
  %s = onnx.Constant {value = dense<[2147483648, 2147483648, 2147483648]> : tensor<3xi64>} : tensor<3xi64>
  %c = onnx.ConstantOfShape(%s) : (tensor<3xi64>) -> tensor<2147483648x2147483648x2147483648xf32>
  return %c : tensor<2147483648x2147483648x2147483648xf32>
}

// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// CHECK-LABEL: func @elementwise
// CHECK: %[[A:.*]] = spatten.binary <add> %arg0, %arg1 : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK: %[[S:.*]] = spatten.binary <sub> %[[A]], %arg1
// CHECK: %[[M:.*]] = spatten.binary <mul> %[[S]], %[[S]]
// CHECK: %[[D:.*]] = spatten.binary <div> %[[M]], %arg1
// CHECK: %[[P:.*]] = spatten.binary <pow> %[[D]], %[[D]]
// CHECK: %[[X1:.*]] = spatten.binary <max> %[[P]], %[[D]]
// CHECK: %[[X2:.*]] = spatten.binary <max> %[[X1]], %arg1
// CHECK: %[[N:.*]] = spatten.binary <min> %[[X2]], %[[D]]
// CHECK: %[[U1:.*]] = spatten.unary <neg> %[[N]]
// CHECK: %[[U2:.*]] = spatten.unary <exp> %[[U1]]
// CHECK: %[[U3:.*]] = spatten.unary <log> %[[U2]]
// CHECK: %[[U4:.*]] = spatten.unary <sqrt> %[[U3]]
// CHECK: %[[U5:.*]] = spatten.unary <reciprocal> %[[U4]]
// CHECK: %[[U6:.*]] = spatten.unary <tanh> %[[U5]]
// CHECK: %[[U7:.*]] = spatten.unary <erf> %[[U6]]
// CHECK: %[[U8:.*]] = spatten.unary <sigmoid> %[[U7]]
// CHECK: %[[U9:.*]] = spatten.unary <relu> %[[U8]]
// CHECK: %[[U10:.*]] = spatten.unary <abs> %[[U9]]
// CHECK: %[[SM:.*]] = spatten.softmax %[[U10]] : tensor<2x3xf32>
// CHECK: return %[[SM]]
func.func @elementwise(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %0 = onnx.Add(%a, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = onnx.Sub(%0, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = onnx.Mul(%1, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = onnx.Div(%2, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %4 = onnx.Pow(%3, %3) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %5 = onnx.Max(%4, %3, %b) : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %6 = onnx.Min(%5, %3) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %7 = onnx.Neg(%6) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %8 = onnx.Exp(%7) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %9 = onnx.Log(%8) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %10 = onnx.Sqrt(%9) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %11 = onnx.Reciprocal(%10) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %12 = onnx.Tanh(%11) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %13 = onnx.Erf(%12) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %14 = onnx.Sigmoid(%13) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %15 = onnx.Relu(%14) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %16 = onnx.Abs(%15) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %17 = onnx.Identity(%16) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %18 = onnx.Cast(%17) {to = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %19 = onnx.Softmax(%18) {axis = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %19 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func @data_movement
// CHECK: %[[T:.*]] = spatten.transpose %arg0 [2, 0, 1] : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
// CHECK: %[[R:.*]] = spatten.reshape %[[T]] : (tensor<4x2x3xf32>) -> tensor<4x6xf32>
// CHECK: %[[C:.*]] = spatten.concat %[[R]], %[[R]] {axis = 1 : i64} : (tensor<4x6xf32>, tensor<4x6xf32>) -> tensor<4x12xf32>
// CHECK: %[[S:.*]] = spatten.slice %[[C]] [1, 2] [1, 3] : (tensor<4x12xf32>) -> tensor<3x4xf32>
// CHECK: %[[P0:.*]] = spatten.slice %[[S]] [0, 0] [1, 1] : (tensor<3x4xf32>) -> tensor<3x1xf32>
// CHECK: %[[P1:.*]] = spatten.slice %[[S]] [0, 1] [1, 1] : (tensor<3x4xf32>) -> tensor<3x3xf32>
// CHECK: %[[G:.*]] = spatten.slice %[[P1]] [0, 0] [1, 2] : (tensor<3x3xf32>) -> tensor<3x2xf32>
// CHECK: %[[F:.*]] = spatten.reshape %[[G]] : (tensor<3x2xf32>) -> tensor<6xf32>
// CHECK: %[[I:.*]] = spatten.cast %arg1 : (tensor<3xi64>) -> tensor<3xf32>
// CHECK: return %[[P0]], %[[F]], %[[I]]
func.func @data_movement(%x: tensor<2x3x4xf32>, %i: tensor<3xi64>) -> (tensor<3x1xf32>, tensor<6xf32>, tensor<3xf32>) {
  %shape = onnx.Constant {value = dense<[4, 6]> : tensor<2xi64>} : tensor<2xi64>
  %starts = onnx.Constant {value = dense<[1, -10]> : tensor<2xi64>} : tensor<2xi64>
  %ends = onnx.Constant {value = dense<[100, 12]> : tensor<2xi64>} : tensor<2xi64>
  %axes = onnx.Constant {value = dense<[0, 1]> : tensor<2xi64>} : tensor<2xi64>
  %steps = onnx.Constant {value = dense<[1, 3]> : tensor<2xi64>} : tensor<2xi64>
  %idx = onnx.Constant {value = dense<[0, 2]> : tensor<2xi64>} : tensor<2xi64>
  %split = onnx.Constant {value = dense<[1, 3]> : tensor<2xi64>} : tensor<2xi64>
  %t = onnx.Transpose(%x) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %r = onnx.Reshape(%t, %shape) : (tensor<4x2x3xf32>, tensor<2xi64>) -> tensor<4x6xf32>
  %c = onnx.Concat(%r, %r) {axis = -1 : i64} : (tensor<4x6xf32>, tensor<4x6xf32>) -> tensor<4x12xf32>
  %s = "onnx.Slice"(%c, %starts, %ends, %axes, %steps) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<4x12xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<3x4xf32>
  %p:2 = "onnx.Split"(%s, %split) {axis = 1 : i64} : (tensor<3x4xf32>, tensor<2xi64>) -> (tensor<3x1xf32>, tensor<3x3xf32>)
  %g = onnx.Gather(%p#1, %idx) {axis = -1 : i64} : (tensor<3x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  %f = onnx.Flatten(%g) {axis = 0 : i64} : (tensor<3x2xf32>) -> tensor<1x6xf32>
  %sq = "onnx.Squeeze"(%f) : (tensor<1x6xf32>) -> tensor<6xf32>
  %ic = onnx.Cast(%i) {to = 1 : i64} : (tensor<3xi64>) -> tensor<3xf32>
  return %p#0, %sq, %ic : tensor<3x1xf32>, tensor<6xf32>, tensor<3xf32>
}

// RUN: not spatten-opt %s --convert-onnx-to-spatten 2>&1 | FileCheck %s

// Errors name the op type and the ONNX node that the importer put in the
// location.

// CHECK: error: {{.*}}ONNX MatMul node 'MatMul_17' multiplies by a computed tensor
func.func @named(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %r = onnx.Relu(%b) : (tensor<3x4xf32>) -> tensor<3x4xf32> loc("Relu_16")
  %y = onnx.MatMul(%a, %r) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32> loc("MatMul_17")
  return %y : tensor<2x4xf32>
}

// RUN: not spatten-opt %s --convert-onnx-to-spatten 2>&1 | FileCheck %s

// Errors name the op type, the ONNX node that the importer put in the
// location, and why the pattern refused it.

// CHECK: error: {{.*}}ONNX LayerNormalization node 'LayerNorm_17' is not lifted to spatten.layer_norm: its Mean/InvStdDev outputs are used
func.func @named(%x: tensor<2x4xf32>, %g: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x1xf32>) {
  %r = onnx.Relu(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("Relu_16")
  %y, %m = "onnx.LayerNormalization"(%r, %g) {resultSegmentSizes = array<i32: 1, 1, 0>} : (tensor<2x4xf32>, tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x1xf32>) loc("LayerNorm_17")
  return %y, %m : tensor<2x4xf32>, tensor<2x1xf32>
}

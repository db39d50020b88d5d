// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics

// Only a patch embedding (stride = kernel, no padding, dilation or groups)
// lifts; any other Conv is refused with the attribute that differs.

func.func @overlapping(%x: tensor<1x3x4x4xf32>) -> tensor<1x5x3x3xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  // expected-error @+1 {{ONNX Conv node '<unnamed>' is not lifted to a linear layer over patches: it has strides [1, 1] that differ from the kernel [2, 2] (only non-overlapping patches: stride = kernel)}}
  %y = "onnx.Conv"(%x, %w) <{kernel_shape = array<i64: 2, 2>}> : (tensor<1x3x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x3x3xf32>
  return %y : tensor<1x5x3x3xf32>
}

// -----

func.func @padded(%x: tensor<1x3x4x4xf32>) -> tensor<1x5x3x3xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  // expected-error @+1 {{has pads [1, 1, 1, 1] (only zero padding)}}
  %y = "onnx.Conv"(%x, %w) <{pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>}> : (tensor<1x3x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x3x3xf32>
  return %y : tensor<1x5x3x3xf32>
}

// -----

func.func @grouped(%x: tensor<1x4x4x4xf32>) -> tensor<1x4x2x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<4x2x2x2xf32>} : tensor<4x2x2x2xf32>
  // expected-error @+1 {{has group 2 (only group 1 is supported)}}
  %y = "onnx.Conv"(%x, %w) <{group = 2 : i64, strides = array<i64: 2, 2>}> : (tensor<1x4x4x4xf32>, tensor<4x2x2x2xf32>) -> tensor<1x4x2x2xf32>
  return %y : tensor<1x4x2x2xf32>
}

// -----

func.func @dilated(%x: tensor<1x3x4x4xf32>) -> tensor<1x5x2x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  // expected-error @+1 {{has dilations [2, 2] (only 1)}}
  %y = "onnx.Conv"(%x, %w) <{dilations = array<i64: 2, 2>, strides = array<i64: 2, 2>}> : (tensor<1x3x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x2x2xf32>
  return %y : tensor<1x5x2x2xf32>
}

// -----

func.func @same_padding(%x: tensor<1x3x4x4xf32>) -> tensor<1x5x2x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  // expected-error @+1 {{has auto_pad SAME_UPPER (only NOTSET or VALID: no padding)}}
  %y = "onnx.Conv"(%x, %w) <{auto_pad = "SAME_UPPER", strides = array<i64: 2, 2>}> : (tensor<1x3x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x2x2xf32>
  return %y : tensor<1x5x2x2xf32>
}

// -----

func.func @computed_weight(%x: tensor<1x3x4x4xf32>, %v: tensor<5x3x2x2xf32>) -> tensor<1x5x2x2xf32> {
  %w = onnx.Relu(%v) : (tensor<5x3x2x2xf32>) -> tensor<5x3x2x2xf32>
  // expected-error @+1 {{has a computed weight W (not a constant or graph input)}}
  %y = "onnx.Conv"(%x, %w) <{strides = array<i64: 2, 2>}> : (tensor<1x3x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x2x2xf32>
  return %y : tensor<1x5x2x2xf32>
}

// -----

func.func @conv1d(%x: tensor<1x3x4xf32>) -> tensor<1x5x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2xf32>} : tensor<5x3x2xf32>
  // expected-error @+1 {{is not a 2-D convolution of f32 tensors}}
  %y = "onnx.Conv"(%x, %w) <{strides = array<i64: 2>}> : (tensor<1x3x4xf32>, tensor<5x3x2xf32>) -> tensor<1x5x2xf32>
  return %y : tensor<1x5x2xf32>
}

// -----

func.func @channel_mismatch(%x: tensor<1x2x4x4xf32>) -> tensor<1x5x2x2xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  // expected-error @+1 {{has X with 2 channels but W with 3}}
  %y = "onnx.Conv"(%x, %w) <{strides = array<i64: 2, 2>}> : (tensor<1x2x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x2x2xf32>
  return %y : tensor<1x5x2x2xf32>
}

// -----

func.func @bad_result(%x: tensor<1x3x4x4xf32>) -> tensor<1x5x4xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<5x3x2x2xf32>} : tensor<5x3x2x2xf32>
  // expected-error @+1 {{has the result shape [1, 5, 4] where [1, 5, 2, 2] was expected}}
  %y = "onnx.Conv"(%x, %w) <{strides = array<i64: 2, 2>}> : (tensor<1x3x4x4xf32>, tensor<5x3x2x2xf32>) -> tensor<1x5x4xf32>
  return %y : tensor<1x5x4xf32>
}

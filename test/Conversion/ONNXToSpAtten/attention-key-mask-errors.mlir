// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics

// Masks computed from an integer tensor that are not masks over keys
// (KeyMask.h) are refused at their Softmax, naming the graph input.

// The integer tensor read as [B, Lq]: a mask over queries, not keys.
func.func @mask_along_queries(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xi64> {onnx.name = "attention_mask"}) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %view = onnx.Constant {value = dense<[2, 1, 3, 1]> : tensor<4xi64>} : tensor<4xi64>
  %shape = onnx.Constant {value = dense<[2, 2, 3, 3]> : tensor<4xi64>} : tensor<4xi64>
  %e = onnx.Equal(%mask, %zero) : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %er = onnx.Reshape(%e, %view) : (tensor<2x3xi1>, tensor<4xi64>) -> tensor<2x1x3x1xi1>
  %ex = onnx.Expand(%er, %shape) : (tensor<2x1x3x1xi1>, tensor<4xi64>) -> tensor<2x2x3x3xi1>
  %q0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %q = onnx.Add(%q0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %k0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %k = onnx.Add(%k0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %v0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %v = onnx.Add(%v0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x4x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<2x2x3x4xf32>, tensor<2x2x4x3xf32>) -> tensor<2x2x3x3xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<2x2x3x3xf32>, tensor<f32>) -> tensor<2x2x3x3xf32>
  %sm = onnx.Where(%ex, %lowest, %sd) : (tensor<2x2x3x3xi1>, tensor<f32>, tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  // expected-error @+1 {{its run-time attention mask (from graph input 'attention_mask') is neither an additive bias [B,1,1|Lq,Lk], a 0/1 selector applied as w*m - c*(1-m) with c >= 10000, nor a mask of two values over the keys of an integer [B,Lk] tensor}}
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

// -----

// A float mask: Equal(mask, 0) of an f32 tensor is not rebuilt exactly by the
// integer form, so it is refused.
func.func @float_mask(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xf32> {onnx.name = "attention_mask"}) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
  %zero = onnx.Constant {value = dense<0.0> : tensor<f32>} : tensor<f32>
  %view = onnx.Constant {value = dense<[2, 1, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %shape = onnx.Constant {value = dense<[2, 2, 3, 3]> : tensor<4xi64>} : tensor<4xi64>
  %e = onnx.Equal(%mask, %zero) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xi1>
  %er = onnx.Reshape(%e, %view) : (tensor<2x3xi1>, tensor<4xi64>) -> tensor<2x1x1x3xi1>
  %ex = onnx.Expand(%er, %shape) : (tensor<2x1x1x3xi1>, tensor<4xi64>) -> tensor<2x2x3x3xi1>
  %q0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %q = onnx.Add(%q0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %k0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %k = onnx.Add(%k0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %v0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %v = onnx.Add(%v0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x4x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<2x2x3x4xf32>, tensor<2x2x4x3xf32>) -> tensor<2x2x3x3xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<2x2x3x3xf32>, tensor<f32>) -> tensor<2x2x3x3xf32>
  %sm = onnx.Where(%ex, %lowest, %sd) : (tensor<2x2x3x3xi1>, tensor<f32>, tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  // expected-error @+1 {{its run-time attention mask (from graph input 'attention_mask') is neither an additive bias [B,1,1|Lq,Lk], a 0/1 selector applied as w*m - c*(1-m) with c >= 10000, nor a mask of two values over the keys of an integer [B,Lk] tensor}}
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

// -----

// A fill of -100 leaves masked keys a share of the probability: no padding
// mask.
func.func @small_fill(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xi64> {onnx.name = "attention_mask"}) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
  %small = onnx.Constant {value = dense<-100.0> : tensor<f32>} : tensor<f32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %view = onnx.Constant {value = dense<[2, 1, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %shape = onnx.Constant {value = dense<[2, 2, 3, 3]> : tensor<4xi64>} : tensor<4xi64>
  %e = onnx.Equal(%mask, %zero) : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %er = onnx.Reshape(%e, %view) : (tensor<2x3xi1>, tensor<4xi64>) -> tensor<2x1x1x3xi1>
  %ex = onnx.Expand(%er, %shape) : (tensor<2x1x1x3xi1>, tensor<4xi64>) -> tensor<2x2x3x3xi1>
  %q0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %q = onnx.Add(%q0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %k0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %k = onnx.Add(%k0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %v0 = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %v = onnx.Add(%v0, %b) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x4x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<2x2x3x4xf32>, tensor<2x2x4x3xf32>) -> tensor<2x2x3x3xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<2x2x3x3xf32>, tensor<f32>) -> tensor<2x2x3x3xf32>
  %sm = onnx.Where(%ex, %small, %sd) : (tensor<2x2x3x3xi1>, tensor<f32>, tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  // expected-error @+1 {{its Where fills the masked scores with -100, not -10000 or less, so they would not vanish in Softmax}}
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

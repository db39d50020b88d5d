// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// Padding masks computed from the int64 attention_mask [B, Lk] that take
// one value where it equals k and another elsewhere (KeyMask.h), rebuilt on
// [B, Lk] with spatten ops. B=2, L=3, H=2, D=4.

// Hugging Face transformers >= 4.36 (_prepare_4d_attention_mask): the mask
// expanded to [B,1,Lq,Lk], inverted, and Where(bool(inv), finfo.min, inv)
// added to the scores: 0 where mask == 1, the lowest f32 elsewhere.

// CHECK-LABEL: func @hf_prepare_4d_mask
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK-DAG: %[[LOWEST:.*]] = arith.constant dense<-3.40282347E+38> : tensor<f32>
// CHECK: %[[X:.*]] = spatten.cast %arg1 : (tensor<2x3xi64>) -> tensor<2x3xf32>
// CHECK: %[[D:.*]] = spatten.binary <sub> %[[X]], %[[ONE]]
// CHECK: %[[SQ:.*]] = spatten.binary <mul> %[[D]], %[[D]]
// CHECK: %[[NE:.*]] = spatten.binary <min> %[[SQ]], %[[ONE]]
// CHECK: %[[BIAS:.*]] = spatten.binary <mul> %[[NE]], %[[LOWEST]] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%[[BIAS]]) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
// CHECK-NOT: onnx.

func.func @hf_prepare_4d_mask(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xi64>) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %ax1 = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %ax2 = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %shape = onnx.Constant {value = dense<[2, 1, 3, 3]> : tensor<4xi64>} : tensor<4xi64>
  %m1 = onnx.Unsqueeze(%mask, %ax1) : (tensor<2x3xi64>, tensor<1xi64>) -> tensor<2x1x3xi64>
  %m2 = onnx.Unsqueeze(%m1, %ax2) : (tensor<2x1x3xi64>, tensor<1xi64>) -> tensor<2x1x1x3xi64>
  %m3 = onnx.Expand(%m2, %shape) : (tensor<2x1x1x3xi64>, tensor<4xi64>) -> tensor<2x1x3x3xi64>
  %m4 = onnx.Cast(%m3) {to = 1 : i64} : (tensor<2x1x3x3xi64>) -> tensor<2x1x3x3xf32>
  %inv = onnx.Sub(%one, %m4) : (tensor<f32>, tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xf32>
  %flag = onnx.Cast(%inv) {to = 9 : i64} : (tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xi1>
  %bias = onnx.Where(%flag, %lowest, %inv) : (tensor<2x1x3x3xi1>, tensor<f32>, tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xf32>
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
  %sm = onnx.Add(%sd, %bias) : (tensor<2x2x3x3xf32>, tensor<2x1x3x3xf32>) -> tensor<2x2x3x3xf32>
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

// -----

// DistilBERT: scores.masked_fill((mask == 0).view(B,1,1,Lk).expand_as(scores),
// finfo.min): a 0/1 selector of the keys where mask != 0, with mask_fill.

// CHECK-LABEL: func @distilbert_masked_fill
// CHECK: %[[X:.*]] = spatten.cast %arg1 : (tensor<2x3xi64>) -> tensor<2x3xf32>
// CHECK: %[[SQ:.*]] = spatten.binary <mul> %[[X]], %[[X]]
// CHECK: %[[KEEP:.*]] = spatten.binary <min> %[[SQ]], %{{.*}}
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%[[KEEP]]) {mask_fill = -3.40282347E+38 : f32, mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
// CHECK-NOT: onnx.

func.func @distilbert_masked_fill(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xi64>) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
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
  %sm = onnx.Where(%ex, %lowest, %sd) : (tensor<2x2x3x3xi1>, tensor<f32>, tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

// -----

// torch: scores.masked_fill(~mask.bool(), -inf): Where(Not(Cast<bool>(mask)),
// -inf, s). The fill becomes the lowest finite f32 (a padded key's
// probability is 0 either way), so that 0 * fill stays 0 in the selector.

// CHECK-LABEL: func @bool_not_masked_fill_ninf
// CHECK: spatten.cast %arg1 : (tensor<2x3xi64>) -> tensor<2x3xf32>
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}}) {mask_fill = -3.40282347E+38 : f32, mask_kind = #spatten.mask_kind<padding>
// CHECK-NOT: onnx.

func.func @bool_not_masked_fill_ninf(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xi64>) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
  %ninf = onnx.Constant {value = dense<0xFF800000> : tensor<f32>} : tensor<f32>
  %view = onnx.Constant {value = dense<[2, 1, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %shape = onnx.Constant {value = dense<[2, 2, 3, 3]> : tensor<4xi64>} : tensor<4xi64>
  %bl = onnx.Cast(%mask) {to = 9 : i64} : (tensor<2x3xi64>) -> tensor<2x3xi1>
  %e = onnx.Not(%bl) : (tensor<2x3xi1>) -> tensor<2x3xi1>
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
  %sm = onnx.Where(%ex, %ninf, %sd) : (tensor<2x2x3x3xi1>, tensor<f32>, tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

// -----

// transformers >= 4.36 with a causal mask (AttentionMaskConverter.to_4d,
// LLaMA with an attention_mask): the causal constant filled with finfo.min
// where the expanded padding mask above is set. Causal, plus the keys' bias.

// CHECK-LABEL: func @hf_causal_padding_mask
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK-DAG: %[[LOWEST:.*]] = arith.constant dense<-3.40282347E+38> : tensor<f32>
// CHECK: %[[X:.*]] = spatten.cast %arg1 : (tensor<2x3xi64>) -> tensor<2x3xf32>
// CHECK: %[[D:.*]] = spatten.binary <sub> %[[X]], %[[ONE]]
// CHECK: %[[SQ:.*]] = spatten.binary <mul> %[[D]], %[[D]]
// CHECK: %[[NE:.*]] = spatten.binary <min> %[[SQ]], %[[ONE]]
// CHECK: %[[BIAS:.*]] = spatten.binary <mul> %[[NE]], %[[LOWEST]]
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%[[BIAS]]) {mask_kind = #spatten.mask_kind<padding_causal>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
// CHECK-NOT: onnx.

func.func @hf_causal_padding_mask(%x: tensor<2x3x8xf32>, %mask: tensor<2x3xi64>) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %lowest = onnx.Constant {value = dense<-3.40282347E+38> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %ax1 = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %ax2 = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %shape = onnx.Constant {value = dense<[2, 1, 3, 3]> : tensor<4xi64>} : tensor<4xi64>
  %m1 = onnx.Unsqueeze(%mask, %ax1) : (tensor<2x3xi64>, tensor<1xi64>) -> tensor<2x1x3xi64>
  %m2 = onnx.Unsqueeze(%m1, %ax2) : (tensor<2x1x3xi64>, tensor<1xi64>) -> tensor<2x1x1x3xi64>
  %m3 = onnx.Expand(%m2, %shape) : (tensor<2x1x1x3xi64>, tensor<4xi64>) -> tensor<2x1x3x3xi64>
  %m4 = onnx.Cast(%m3) {to = 1 : i64} : (tensor<2x1x3x3xi64>) -> tensor<2x1x3x3xf32>
  %inv = onnx.Sub(%one, %m4) : (tensor<f32>, tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xf32>
  %flag = onnx.Cast(%inv) {to = 9 : i64} : (tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xi1>
  %pad = onnx.Where(%flag, %lowest, %inv) : (tensor<2x1x3x3xi1>, tensor<f32>, tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xf32>
  %padded = onnx.Cast(%pad) {to = 9 : i64} : (tensor<2x1x3x3xf32>) -> tensor<2x1x3x3xi1>
  %causal = onnx.Constant {value = dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0]]]]> : tensor<1x1x3x3xf32>} : tensor<1x1x3x3xf32>
  %bias = onnx.Where(%padded, %lowest, %causal) : (tensor<2x1x3x3xi1>, tensor<f32>, tensor<1x1x3x3xf32>) -> tensor<2x1x3x3xf32>
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
  %sm = onnx.Add(%sd, %bias) : (tensor<2x2x3x3xf32>, tensor<2x1x3x3xf32>) -> tensor<2x2x3x3xf32>
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<2x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<2x2x3x3xf32>, tensor<2x2x3x4xf32>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

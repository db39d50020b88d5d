// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// torch.nn.MultiheadAttention (PyTorch 1.13, sequence first): the fused
// in-projection [L,B,E] x [E,3E] split by Slice, heads as
// Transpose(1,0,2)(Reshape(x -> [L,B*H,D])), K^T as Transpose(1,2,0), Q
// divided by sqrt(D) before Q*K^T, no mask; the merge is
// Reshape(Transpose(1,0,2)(P*V) -> [L*B, E]). The [L,B,E] projections are
// transposed to [B,L,E] for the op, and its output back. L=3, B=2, H=2, D=4.

// CHECK-LABEL: func @mha_seq_first
// CHECK: %[[QKV:.*]] = spatten.linear %arg0, {{.*}} -> tensor<3x2x24xf32>
// CHECK-DAG: %[[Q:.*]] = spatten.slice %[[QKV]] [0, 0, 0] [1, 1, 1]
// CHECK-DAG: %[[K:.*]] = spatten.slice %[[QKV]] [0, 0, 8] [1, 1, 1]
// CHECK-DAG: %[[V:.*]] = spatten.slice %[[QKV]] [0, 0, 16] [1, 1, 1]
// CHECK: %[[QB:.*]] = spatten.transpose %[[Q]] [1, 0, 2] : (tensor<3x2x8xf32>) -> tensor<2x3x8xf32>
// CHECK: %[[KB:.*]] = spatten.transpose %[[K]] [1, 0, 2]
// CHECK: %[[VB:.*]] = spatten.transpose %[[V]] [1, 0, 2]
// CHECK: %[[A:.*]] = spatten.attention %[[QB]], %[[KB]], %[[VB]] {mask_kind = #spatten.mask_kind<none>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
// CHECK: %[[AL:.*]] = spatten.transpose %[[A]] [1, 0, 2] : (tensor<2x3x8xf32>) -> tensor<3x2x8xf32>
// CHECK: %[[OUT:.*]] = spatten.reshape %[[AL]] : (tensor<3x2x8xf32>) -> tensor<6x8xf32>
// CHECK: return %[[OUT]]
// CHECK-NOT: onnx.
func.func @mha_seq_first(%x: tensor<3x2x8xf32>) -> tensor<6x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x24xf32>} : tensor<8x24xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<24xf32>} : tensor<24xf32>
  %c0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %c8 = onnx.Constant {value = dense<8> : tensor<1xi64>} : tensor<1xi64>
  %c16 = onnx.Constant {value = dense<16> : tensor<1xi64>} : tensor<1xi64>
  %c24 = onnx.Constant {value = dense<24> : tensor<1xi64>} : tensor<1xi64>
  %ax = onnx.Constant {value = dense<-1> : tensor<1xi64>} : tensor<1xi64>
  %heads = onnx.Constant {value = dense<[3, 4, 4]> : tensor<3xi64>} : tensor<3xi64>
  %flat = onnx.Constant {value = dense<[6, 8]> : tensor<2xi64>} : tensor<2xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %p0 = onnx.MatMul(%x, %w) : (tensor<3x2x8xf32>, tensor<8x24xf32>) -> tensor<3x2x24xf32>
  %p = onnx.Add(%b, %p0) : (tensor<24xf32>, tensor<3x2x24xf32>) -> tensor<3x2x24xf32>
  %q = "onnx.Slice"(%p, %c0, %c8, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<3x2x24xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x2x8xf32>
  %k = "onnx.Slice"(%p, %c8, %c16, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<3x2x24xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x2x8xf32>
  %v = "onnx.Slice"(%p, %c16, %c24, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<3x2x24xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x2x8xf32>
  %qr = onnx.Reshape(%q, %heads) : (tensor<3x2x8xf32>, tensor<3xi64>) -> tensor<3x4x4xf32>
  %kr = onnx.Reshape(%k, %heads) : (tensor<3x2x8xf32>, tensor<3xi64>) -> tensor<3x4x4xf32>
  %vr = onnx.Reshape(%v, %heads) : (tensor<3x2x8xf32>, tensor<3xi64>) -> tensor<3x4x4xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 1, 0, 2>} : (tensor<3x4x4xf32>) -> tensor<4x3x4xf32>
  %vh = onnx.Transpose(%vr) {perm = array<i64: 1, 0, 2>} : (tensor<3x4x4xf32>) -> tensor<4x3x4xf32>
  %qs = onnx.Div(%qh, %sqrtd) : (tensor<4x3x4xf32>, tensor<f32>) -> tensor<4x3x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 1, 2, 0>} : (tensor<3x4x4xf32>) -> tensor<4x4x3xf32>
  %s = onnx.MatMul(%qs, %kt) : (tensor<4x3x4xf32>, tensor<4x4x3xf32>) -> tensor<4x3x3xf32>
  %pr = onnx.Softmax(%s) {axis = -1 : i64} : (tensor<4x3x3xf32>) -> tensor<4x3x3xf32>
  %o = onnx.MatMul(%pr, %vh) : (tensor<4x3x3xf32>, tensor<4x3x4xf32>) -> tensor<4x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 1, 0, 2>} : (tensor<4x3x4xf32>) -> tensor<3x4x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<3x4x4xf32>, tensor<2xi64>) -> tensor<6x8xf32>
  return %out : tensor<6x8xf32>
}

// -----

// The boolean key padding mask (PyTorch 1.13 with src_key_padding_mask =
// mask.bool()): Cast(to bool) of the int64 input, view(B,1,1,Lk),
// expand(-1,H,-1,-1), reshape(B*H,1,Lk), Where(mask, -inf, 0), added by
// baddbmm as Mul(s, 1) + Mul(mask, 1). It becomes a [B, Lk] bias, 1 ->
// -10000. Batch first (B=1: the projections need no transpose).
// L=3, B=1, H=2, D=4.

// CHECK-LABEL: func @mha_bool_key_padding
// CHECK: %[[F:.*]] = spatten.cast %arg1 : (tensor<1x3xi64>) -> tensor<1x3xf32>
// CHECK: %[[BIAS:.*]] = spatten.binary <mul> %[[F]], %{{.*}} : (tensor<1x3xf32>, tensor<f32>) -> tensor<1x3xf32>
// CHECK: %[[A:.*]] = spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%[[BIAS]]) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
// CHECK-NOT: spatten.transpose
// CHECK: return
// CHECK-NOT: onnx.
func.func @mha_bool_key_padding(%x: tensor<3x1x8xf32>, %pad: tensor<1x3xi64>) -> tensor<3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %heads = onnx.Constant {value = dense<[3, 2, 4]> : tensor<3xi64>} : tensor<3xi64>
  %flat = onnx.Constant {value = dense<[3, 8]> : tensor<2xi64>} : tensor<2xi64>
  %s4 = onnx.Constant {value = dense<[1, 1, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %e4 = onnx.Constant {value = dense<[1, 2, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 1, 3]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %ninf = onnx.Constant {value = dense<0xFF800000> : tensor<f32>} : tensor<f32>
  %zeros = onnx.Constant {value = dense<0.0> : tensor<2x1x3xf32>} : tensor<2x1x3xf32>
  %q = onnx.MatMul(%x, %w) : (tensor<3x1x8xf32>, tensor<8x8xf32>) -> tensor<3x1x8xf32>
  %k = onnx.MatMul(%x, %w) : (tensor<3x1x8xf32>, tensor<8x8xf32>) -> tensor<3x1x8xf32>
  %v = onnx.MatMul(%x, %w) : (tensor<3x1x8xf32>, tensor<8x8xf32>) -> tensor<3x1x8xf32>
  %qr = onnx.Reshape(%q, %heads) : (tensor<3x1x8xf32>, tensor<3xi64>) -> tensor<3x2x4xf32>
  %kr = onnx.Reshape(%k, %heads) : (tensor<3x1x8xf32>, tensor<3xi64>) -> tensor<3x2x4xf32>
  %vr = onnx.Reshape(%v, %heads) : (tensor<3x1x8xf32>, tensor<3xi64>) -> tensor<3x2x4xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 1, 0, 2>} : (tensor<3x2x4xf32>) -> tensor<2x3x4xf32>
  %vh = onnx.Transpose(%vr) {perm = array<i64: 1, 0, 2>} : (tensor<3x2x4xf32>) -> tensor<2x3x4xf32>
  %qs = onnx.Div(%qh, %sqrtd) : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 1, 2, 0>} : (tensor<3x2x4xf32>) -> tensor<2x4x3xf32>
  %b0 = onnx.Cast(%pad) {to = 9 : i64} : (tensor<1x3xi64>) -> tensor<1x3xi1>
  %b1 = onnx.Reshape(%b0, %s4) : (tensor<1x3xi1>, tensor<4xi64>) -> tensor<1x1x1x3xi1>
  %b2 = onnx.Expand(%b1, %e4) : (tensor<1x1x1x3xi1>, tensor<4xi64>) -> tensor<1x2x1x3xi1>
  %b3 = onnx.Reshape(%b2, %s3) : (tensor<1x2x1x3xi1>, tensor<3xi64>) -> tensor<2x1x3xi1>
  %b4 = onnx.Cast(%b3) {to = 9 : i64} : (tensor<2x1x3xi1>) -> tensor<2x1x3xi1>
  %bias = onnx.Where(%b4, %ninf, %zeros) : (tensor<2x1x3xi1>, tensor<f32>, tensor<2x1x3xf32>) -> tensor<2x1x3xf32>
  %s0 = onnx.MatMul(%qs, %kt) : (tensor<2x3x4xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
  %s1 = onnx.Mul(%s0, %one) : (tensor<2x3x3xf32>, tensor<f32>) -> tensor<2x3x3xf32>
  %m1 = onnx.Mul(%bias, %one) : (tensor<2x1x3xf32>, tensor<f32>) -> tensor<2x1x3xf32>
  %s = onnx.Add(%s1, %m1) : (tensor<2x3x3xf32>, tensor<2x1x3xf32>) -> tensor<2x3x3xf32>
  %pr = onnx.Softmax(%s) {axis = -1 : i64} : (tensor<2x3x3xf32>) -> tensor<2x3x3xf32>
  %o = onnx.MatMul(%pr, %vh) : (tensor<2x3x3xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 1, 0, 2>} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<3x2x4xf32>, tensor<2xi64>) -> tensor<3x8xf32>
  return %out : tensor<3x8xf32>
}

// -----

// A float key padding mask [B, Lk] is added as it is (additive bias), and
// the batch-first [B*H, L, D] heads need no transpose. B=2, L=3, H=2, D=4.

// CHECK-LABEL: func @mha_float_key_padding
// CHECK: %[[A:.*]] = spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%arg1) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 1.000000e+00 : f32}
// CHECK-NOT: onnx.
func.func @mha_float_key_padding(%x: tensor<2x3x8xf32>, %pad: tensor<2x3xf32>) -> tensor<2x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %heads = onnx.Constant {value = dense<[4, 3, 4]> : tensor<3xi64>} : tensor<3xi64>
  %back = onnx.Constant {value = dense<[2, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %s4 = onnx.Constant {value = dense<[2, 1, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %e4 = onnx.Constant {value = dense<[2, 2, 1, 3]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[4, 1, 3]> : tensor<3xi64>} : tensor<3xi64>
  %h4 = onnx.Constant {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %q = onnx.MatMul(%x, %w) : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %qr = onnx.Reshape(%q, %h4) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32>
  %qh = onnx.Reshape(%qt, %heads) : (tensor<2x2x3x4xf32>, tensor<3xi64>) -> tensor<4x3x4xf32>
  %kt = onnx.Transpose(%qh) {perm = array<i64: 0, 2, 1>} : (tensor<4x3x4xf32>) -> tensor<4x4x3xf32>
  %m1 = onnx.Reshape(%pad, %s4) : (tensor<2x3xf32>, tensor<4xi64>) -> tensor<2x1x1x3xf32>
  %m2 = onnx.Expand(%m1, %e4) : (tensor<2x1x1x3xf32>, tensor<4xi64>) -> tensor<2x2x1x3xf32>
  %m3 = onnx.Reshape(%m2, %s3) : (tensor<2x2x1x3xf32>, tensor<3xi64>) -> tensor<4x1x3xf32>
  %s0 = onnx.MatMul(%qh, %kt) : (tensor<4x3x4xf32>, tensor<4x4x3xf32>) -> tensor<4x3x3xf32>
  %s = onnx.Add(%s0, %m3) : (tensor<4x3x3xf32>, tensor<4x1x3xf32>) -> tensor<4x3x3xf32>
  %pr = onnx.Softmax(%s) {axis = -1 : i64} : (tensor<4x3x3xf32>) -> tensor<4x3x3xf32>
  %o = onnx.MatMul(%pr, %qh) : (tensor<4x3x3xf32>, tensor<4x3x4xf32>) -> tensor<4x3x4xf32>
  %o4 = onnx.Reshape(%o, %h4) : (tensor<4x3x4xf32>, tensor<4xi64>) -> tensor<2x2x3x4xf32>
  %ot = onnx.Transpose(%o4) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x3x4xf32>) -> tensor<2x3x2x4xf32>
  %out = onnx.Reshape(%ot, %back) : (tensor<2x3x2x4xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  return %out : tensor<2x3x8xf32>
}

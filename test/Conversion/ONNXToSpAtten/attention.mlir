// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// Hugging Face BERT (PyTorch 1.13): MatMul+Add projections, K transposed by
// (0,2,3,1), Div by sqrt(d), additive padding bias from the attention_mask
// input. B=1, L=3, H=2, D=4.

// CHECK-LABEL: func @bert_padding
// CHECK: %[[CAST:.*]] = spatten.cast %{{.*}} : (tensor<1x1x1x3xi64>) -> tensor<1x1x1x3xf32>
// CHECK: %[[SUB:.*]] = spatten.binary <sub> %{{.*}}, %[[CAST]]
// CHECK: %[[BIAS:.*]] = spatten.binary <mul> %[[SUB]], %{{.*}} : (tensor<1x1x1x3xf32>, tensor<f32>) -> tensor<1x1x1x3xf32>
// CHECK: %[[Q:.*]] = spatten.linear %arg0, %{{.*}}, %{{.*}} : (tensor<1x3x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<1x3x8xf32>
// CHECK: %[[MASK:.*]] = spatten.reshape %[[BIAS]] : (tensor<1x1x1x3xf32>) -> tensor<1x3xf32>
// CHECK: %[[A:.*]] = spatten.attention %[[Q]], %{{.*}}, %{{.*}} mask(%[[MASK]]) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 5.000000e-01 : f32}
// CHECK-SAME: -> tensor<1x3x8xf32>
// CHECK: return %[[A]]
// CHECK-NOT: onnx.
func.func @bert_padding(%x: tensor<1x3x8xf32>, %mask: tensor<1x3xi64>) -> tensor<1x3x8xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<8x8xf32>} : tensor<8x8xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<8xf32>} : tensor<8xf32>
  %s4 = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[1, 3, 8]> : tensor<3xi64>} : tensor<3xi64>
  %ax1 = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %ax2 = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %big = onnx.Constant {value = dense<-10000.0> : tensor<f32>} : tensor<f32>
  %sqrtd = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %m1 = onnx.Unsqueeze(%mask, %ax1) : (tensor<1x3xi64>, tensor<1xi64>) -> tensor<1x1x3xi64>
  %m2 = onnx.Unsqueeze(%m1, %ax2) : (tensor<1x1x3xi64>, tensor<1xi64>) -> tensor<1x1x1x3xi64>
  %m3 = onnx.Cast(%m2) {to = 1 : i64} : (tensor<1x1x1x3xi64>) -> tensor<1x1x1x3xf32>
  %m4 = onnx.Sub(%one, %m3) : (tensor<f32>, tensor<1x1x1x3xf32>) -> tensor<1x1x1x3xf32>
  %bias = onnx.Mul(%m4, %big) : (tensor<1x1x1x3xf32>, tensor<f32>) -> tensor<1x1x1x3xf32>
  %q0 = onnx.MatMul(%x, %w) : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
  %q = onnx.Add(%q0, %b) : (tensor<1x3x8xf32>, tensor<8xf32>) -> tensor<1x3x8xf32>
  %k0 = onnx.MatMul(%x, %w) : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
  %k = onnx.Add(%b, %k0) : (tensor<8xf32>, tensor<1x3x8xf32>) -> tensor<1x3x8xf32>
  %v0 = onnx.MatMul(%x, %w) : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
  %v = onnx.Add(%v0, %b) : (tensor<1x3x8xf32>, tensor<8xf32>) -> tensor<1x3x8xf32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x4x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %sm = onnx.Add(%sd, %bias) : (tensor<1x2x3x3xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x3x3xf32>
  %p = onnx.Softmax(%sm) {axis = 3 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x3x4xf32>) -> tensor<1x3x2x4xf32>
  %out = onnx.Reshape(%ot, %s3) : (tensor<1x3x2x4xf32>, tensor<3xi64>) -> tensor<1x3x8xf32>
  return %out : tensor<1x3x8xf32>
}

// -----

// GPT-2 (PyTorch 1.4): Conv1D Gemm, fused QKV Split, causal mask as
// w * tril - 10000 * (1 - tril) with both constants folded. B=1, L=2, H=2, D=2.

// CHECK-LABEL: func @gpt2_mul_sub_causal
// CHECK: %[[QKV:.*]] = spatten.linear %arg0, %{{.*}}, %{{.*}} : (tensor<1x2x4xf32>, tensor<4x12xf32>, tensor<12xf32>) -> tensor<1x2x12xf32>
// CHECK-DAG: %[[Q:.*]] = spatten.slice %[[QKV]] [0, 0, 0] [1, 1, 1] : (tensor<1x2x12xf32>) -> tensor<1x2x4xf32>
// CHECK-DAG: %[[K:.*]] = spatten.slice %[[QKV]] [0, 0, 4] [1, 1, 1] : (tensor<1x2x12xf32>) -> tensor<1x2x4xf32>
// CHECK-DAG: %[[V:.*]] = spatten.slice %[[QKV]] [0, 0, 8] [1, 1, 1] : (tensor<1x2x12xf32>) -> tensor<1x2x4xf32>
// CHECK: %[[A:.*]] = spatten.attention %[[Q]], %[[K]], %[[V]] {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64, scale = 0.70710{{[0-9]+}} : f32} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
// CHECK: return %[[A]]
func.func @gpt2_mul_sub_causal(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %w = onnx.Constant {value = dense<0.5> : tensor<4x12xf32>} : tensor<4x12xf32>
  %b = onnx.Constant {value = dense<0.1> : tensor<12xf32>} : tensor<12xf32>
  %s2 = onnx.Constant {value = dense<[2, 4]> : tensor<2xi64>} : tensor<2xi64>
  %s3 = onnx.Constant {value = dense<[1, 2, 12]> : tensor<3xi64>} : tensor<3xi64>
  %s4 = onnx.Constant {value = dense<[1, 2, 2, 2]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 2, 4]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<1.41421354> : tensor<f32>} : tensor<f32>
  %tril = onnx.Constant {value = dense<[[[[1.0, 0.0], [1.0, 1.0]]]]> : tensor<1x1x2x2xf32>} : tensor<1x1x2x2xf32>
  %off = onnx.Constant {value = dense<[[[[0.0, 10000.0], [0.0, 0.0]]]]> : tensor<1x1x2x2xf32>} : tensor<1x1x2x2xf32>
  %x2 = onnx.Reshape(%x, %s2) : (tensor<1x2x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  %g = "onnx.Gemm"(%x2, %w, %b) {alpha = 1.0 : f32, beta = 1.0 : f32} : (tensor<2x4xf32>, tensor<4x12xf32>, tensor<12xf32>) -> tensor<2x12xf32>
  %qkv = onnx.Reshape(%g, %s3) : (tensor<2x12xf32>, tensor<3xi64>) -> tensor<1x2x12xf32>
  %q, %k, %v = "onnx.Split"(%qkv) {axis = 2 : i64} : (tensor<1x2x12xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x2x4xf32>, tensor<4xi64>) -> tensor<1x2x2x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x2x4xf32>, tensor<4xi64>) -> tensor<1x2x2x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x2x4xf32>, tensor<4xi64>) -> tensor<1x2x2x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<1x2x2x2xf32>, tensor<f32>) -> tensor<1x2x2x2xf32>
  %sm = onnx.Mul(%sd, %tril) : (tensor<1x2x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32>
  %sc = onnx.Sub(%sm, %off) : (tensor<1x2x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32>
  %p = onnx.Softmax(%sc) {axis = 3 : i64} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x2x2x2xf32>, tensor<3xi64>) -> tensor<1x2x4xf32>
  return %out : tensor<1x2x4xf32>
}

// -----

// GPT-2 (PyTorch 1.13) and attention_past_state: Where(tril, w, -10000).
// A tril that is not lower-triangular is not a causal mask: no attention is
// lifted and the Q*K^T MatMul is reported (see errors.mlir).

// CHECK-LABEL: func @gpt2_where_causal
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 1.000000e+00 : f32}
// CHECK-NOT: onnx.
func.func @gpt2_where_causal(%q: tensor<1x3x2xf32>, %k: tensor<1x3x2xf32>, %v: tensor<1x3x2xf32>) -> tensor<1x3x2xf32> {
  %s4 = onnx.Constant {value = dense<[1, 3, 1, 2]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 3, 2]> : tensor<3xi64>} : tensor<3xi64>
  %tril = onnx.Constant {value = dense<[[[[true, false, false], [true, true, false], [true, true, true]]]]> : tensor<1x1x3x3xi1>} : tensor<1x1x3x3xi1>
  %fill = onnx.Constant {value = dense<-10000.0> : tensor<f32>} : tensor<f32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x2xf32>) -> tensor<1x1x3x2xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x1x2xf32>) -> tensor<1x1x2x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x2xf32>) -> tensor<1x1x3x2xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<1x1x3x2xf32>, tensor<1x1x2x3xf32>) -> tensor<1x1x3x3xf32>
  %sw = onnx.Where(%tril, %s, %fill) : (tensor<1x1x3x3xi1>, tensor<1x1x3x3xf32>, tensor<f32>) -> tensor<1x1x3x3xf32>
  %p = onnx.Softmax(%sw) {axis = -1 : i64} : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x1x3x3xf32>, tensor<1x1x3x2xf32>) -> tensor<1x1x3x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x3x2xf32>) -> tensor<1x3x1x2xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x3x1x2xf32>, tensor<3xi64>) -> tensor<1x3x2xf32>
  return %out : tensor<1x3x2xf32>
}

// -----

// attention_past_state (PyTorch 1.5): past [2,B,H,P,D] split by Gather, past
// K transposed (0,1,3,2) and concatenated with K^T on the last axis, causal
// Where with offset P, present = Unsqueeze+Concat of the caches.
// B=1, L=2, P=1, H=1, D=2.

// CHECK-LABEL: func @past_state
// CHECK-DAG: %[[PK:.*]] = spatten.slice %arg3 [0, 0, 0, 0, 0] [1, 1, 1, 1, 1] : (tensor<2x1x1x1x2xf32>) -> tensor<1x1x1x1x2xf32>
// CHECK-DAG: %[[PV:.*]] = spatten.slice %arg3 [1, 0, 0, 0, 0] [1, 1, 1, 1, 1] : (tensor<2x1x1x1x2xf32>) -> tensor<1x1x1x1x2xf32>
// CHECK-DAG: %[[PK4:.*]] = spatten.reshape %[[PK]] : (tensor<1x1x1x1x2xf32>) -> tensor<1x1x1x2xf32>
// CHECK-DAG: %[[PV4:.*]] = spatten.reshape %[[PV]] : (tensor<1x1x1x1x2xf32>) -> tensor<1x1x1x2xf32>
// CHECK: %[[A:.*]], %[[PR:.*]]:2 = spatten.attention %arg0, %arg1, %arg2 past(%[[PK4]], %[[PV4]]) {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 5.000000e-01 : f32
// CHECK-SAME: -> (tensor<1x2x2xf32>, tensor<1x1x3x2xf32>, tensor<1x1x3x2xf32>)
// CHECK-DAG: %[[K5:.*]] = spatten.reshape %[[PR]]#0 : (tensor<1x1x3x2xf32>) -> tensor<1x1x1x3x2xf32>
// CHECK-DAG: %[[V5:.*]] = spatten.reshape %[[PR]]#1 : (tensor<1x1x3x2xf32>) -> tensor<1x1x1x3x2xf32>
// CHECK: %[[P:.*]] = spatten.concat %[[K5]], %[[V5]] {axis = 0 : i64}
// CHECK: return %[[A]], %[[P]]
func.func @past_state(%q: tensor<1x2x2xf32>, %k: tensor<1x2x2xf32>, %v: tensor<1x2x2xf32>, %past: tensor<2x1x1x1x2xf32>) -> (tensor<1x2x2xf32>, tensor<2x1x1x3x2xf32>) {
  %s4 = onnx.Constant {value = dense<[1, 2, 1, 2]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 2, 2]> : tensor<3xi64>} : tensor<3xi64>
  %i0 = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %i1 = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %ax0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %tril = onnx.Constant {value = dense<[[[[true, true, false], [true, true, true]]]]> : tensor<1x1x2x3xi1>} : tensor<1x1x2x3xi1>
  %fill = onnx.Constant {value = dense<-10000.0> : tensor<f32>} : tensor<f32>
  %eight = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %pk = onnx.Gather(%past, %i0) {axis = 0 : i64} : (tensor<2x1x1x1x2xf32>, tensor<i64>) -> tensor<1x1x1x2xf32>
  %pkt = onnx.Transpose(%pk) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x1x2xf32>) -> tensor<1x1x2x1xf32>
  %pv = onnx.Gather(%past, %i1) {axis = 0 : i64} : (tensor<2x1x1x1x2xf32>, tensor<i64>) -> tensor<1x1x1x2xf32>
  %kc = onnx.Concat(%pkt, %kt) {axis = -1 : i64} : (tensor<1x1x2x1xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x3xf32>
  %vc = onnx.Concat(%pv, %vt) {axis = -2 : i64} : (tensor<1x1x1x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x3x2xf32>
  %kback = onnx.Transpose(%kc) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x2x3xf32>) -> tensor<1x1x3x2xf32>
  %ku = onnx.Unsqueeze(%kback, %ax0) : (tensor<1x1x3x2xf32>, tensor<1xi64>) -> tensor<1x1x1x3x2xf32>
  %vu = onnx.Unsqueeze(%vc, %ax0) : (tensor<1x1x3x2xf32>, tensor<1xi64>) -> tensor<1x1x1x3x2xf32>
  %present = onnx.Concat(%ku, %vu) {axis = 0 : i64} : (tensor<1x1x1x3x2xf32>, tensor<1x1x1x3x2xf32>) -> tensor<2x1x1x3x2xf32>
  %s = onnx.MatMul(%qt, %kc) : (tensor<1x1x2x2xf32>, tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %sd = onnx.Div(%s, %eight) : (tensor<1x1x2x3xf32>, tensor<f32>) -> tensor<1x1x2x3xf32>
  %sw = onnx.Where(%tril, %sd, %fill) : (tensor<1x1x2x3xi1>, tensor<1x1x2x3xf32>, tensor<f32>) -> tensor<1x1x2x3xf32>
  %p = onnx.Softmax(%sw) {axis = 3 : i64} : (tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %o = onnx.MatMul(%p, %vc) : (tensor<1x1x2x3xf32>, tensor<1x1x3x2xf32>) -> tensor<1x1x2x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x2x2xf32>) -> tensor<1x2x1x2xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x2x1x2xf32>, tensor<3xi64>) -> tensor<1x2x2xf32>
  return %out, %present : tensor<1x2x2xf32>, tensor<2x1x1x3x2xf32>
}

// -----

// gpt2_megatron: Q and K^T each divided by d^(1/4), past concatenated in
// [B,H,L,D] layout on axis -2, then K transposed (0,1,3,2); float Casts are
// no-ops. B=1, L=1, P=2, H=1, D=4: scale = 1/2.

// CHECK-LABEL: func @megatron_scales
// CHECK: %[[A:.*]], %[[PR:.*]]:2 = spatten.attention %arg0, %arg1, %arg2 past(%arg3, %arg4) {mask_kind = #spatten.mask_kind<none>, num_heads = 1 : i64, scale = 5.000000e-01 : f32
// CHECK: return %[[A]], %[[PR]]#0, %[[PR]]#1
func.func @megatron_scales(%q: tensor<1x1x4xf32>, %k: tensor<1x1x4xf32>, %v: tensor<1x1x4xf32>, %pk: tensor<1x1x2x4xf32>, %pv: tensor<1x1x2x4xf32>) -> (tensor<1x1x4xf32>, tensor<1x1x3x4xf32>, tensor<1x1x3x4xf32>) {
  %s4 = onnx.Constant {value = dense<[1, 1, 1, 4]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 1, 4]> : tensor<3xi64>} : tensor<3xi64>
  %r2 = onnx.Constant {value = dense<1.41421354> : tensor<f32>} : tensor<f32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x1x4xf32>, tensor<4xi64>) -> tensor<1x1x1x4xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x1x4xf32>, tensor<4xi64>) -> tensor<1x1x1x4xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x1x4xf32>, tensor<4xi64>) -> tensor<1x1x1x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %kh = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %qs = onnx.Div(%qt, %r2) : (tensor<1x1x1x4xf32>, tensor<f32>) -> tensor<1x1x1x4xf32>
  %kc = onnx.Concat(%pk, %kh) {axis = -2 : i64} : (tensor<1x1x2x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x3x4xf32>
  %vc = onnx.Concat(%pv, %vt) {axis = -2 : i64} : (tensor<1x1x2x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x3x4xf32>
  %kt = onnx.Transpose(%kc) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %ks = onnx.Div(%kt, %r2) : (tensor<1x1x4x3xf32>, tensor<f32>) -> tensor<1x1x4x3xf32>
  %s = onnx.MatMul(%qs, %ks) : (tensor<1x1x1x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x1x3xf32>
  %sc = onnx.Cast(%s) {to = 1 : i64} : (tensor<1x1x1x3xf32>) -> tensor<1x1x1x3xf32>
  %p = onnx.Softmax(%sc) {axis = 3 : i64} : (tensor<1x1x1x3xf32>) -> tensor<1x1x1x3xf32>
  %pc = onnx.Cast(%p) {to = 1 : i64} : (tensor<1x1x1x3xf32>) -> tensor<1x1x1x3xf32>
  %o = onnx.MatMul(%pc, %vc) : (tensor<1x1x1x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x1x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x1x1x4xf32>, tensor<3xi64>) -> tensor<1x1x4xf32>
  return %out, %kc, %vc : tensor<1x1x4xf32>, tensor<1x1x3x4xf32>, tensor<1x1x3x4xf32>
}

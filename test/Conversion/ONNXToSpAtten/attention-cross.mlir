// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics | FileCheck %s

// Hugging Face BART's cross-attention (BartAttention, PyTorch 1.13): queries
// from the decoder's rows, keys and values from the encoder's output, so
// Lq=2 differs from Lk=3. Q is scaled after its projection (Mul by 0.5,
// taken as the op's scale), heads are view(B,L,H,D).transpose(1,2) then
// view(B*H,L,D), scores a 3-D bmm with K transposed (0,2,1), no mask.
// B=1, H=2, D=4.

// CHECK-LABEL: func @bart_cross_attention
// CHECK: %[[A:.*]] = spatten.attention %{{.*}}, %{{.*}}, %{{.*}} {mask_kind = #spatten.mask_kind<none>, num_heads = 2 : i64, scale = 5.000000e-01 : f32} : (tensor<1x2x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>) -> tensor<1x2x8xf32>
// CHECK: return
// CHECK-NOT: onnx.
func.func @bart_cross_attention(%q: tensor<1x2x8xf32>, %k: tensor<1x3x8xf32>, %v: tensor<1x3x8xf32>) -> tensor<1x2x8xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %q4 = onnx.Constant {value = dense<[1, 2, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %k4 = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %q3 = onnx.Constant {value = dense<[2, 2, 4]> : tensor<3xi64>} : tensor<3xi64>
  %k3 = onnx.Constant {value = dense<[2, 3, 4]> : tensor<3xi64>} : tensor<3xi64>
  %flat = onnx.Constant {value = dense<[1, 2, 8]> : tensor<3xi64>} : tensor<3xi64>
  %qs = onnx.Mul(%q, %half) : (tensor<1x2x8xf32>, tensor<f32>) -> tensor<1x2x8xf32>
  %qr = onnx.Reshape(%qs, %q4) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %kr = onnx.Reshape(%k, %k4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %vr = onnx.Reshape(%v, %k4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %qh = onnx.Reshape(%qt, %q3) : (tensor<1x2x2x4xf32>, tensor<3xi64>) -> tensor<2x2x4xf32>
  %kh = onnx.Reshape(%kt, %k3) : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %vh = onnx.Reshape(%vt, %k3) : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %ktt = onnx.Transpose(%kh) {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %s = onnx.MatMul(%qh, %ktt) : (tensor<2x2x4xf32>, tensor<2x4x3xf32>) -> tensor<2x2x3xf32>
  %p = onnx.Softmax(%s) {axis = -1 : i64} : (tensor<2x2x3xf32>) -> tensor<2x2x3xf32>
  %o = onnx.MatMul(%p, %vh) : (tensor<2x2x3xf32>, tensor<2x3x4xf32>) -> tensor<2x2x4xf32>
  %o4 = onnx.Reshape(%o, %q4) : (tensor<2x2x4xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %ot = onnx.Transpose(%o4) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<1x2x2x4xf32>, tensor<3xi64>) -> tensor<1x2x8xf32>
  return %out : tensor<1x2x8xf32>
}

// -----

// BART's decoder self-attention: the causal mask (HF's _make_causal_mask,
// finfo.min above the diagonal, expanded over the batch and folded to
// [B,1,L,L]) is added to the scores viewed as [B,H,L,L] between the 3-D
// bmm and the 3-D Softmax. B=2, L=2, H=2, D=4.

// CHECK-LABEL: func @bart_decoder_self_attention
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64, scale = 5.000000e-01 : f32} : (tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>) -> tensor<2x2x8xf32>
// CHECK-NOT: onnx.
func.func @bart_decoder_self_attention(%q: tensor<2x2x8xf32>, %k: tensor<2x2x8xf32>, %v: tensor<2x2x8xf32>) -> tensor<2x2x8xf32> {
  %half = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %mask = onnx.Constant {value = dense<[[[[0.0, -3.40282347E+38], [0.0, 0.0]]], [[[0.0, -3.40282347E+38], [0.0, 0.0]]]]> : tensor<2x1x2x2xf32>} : tensor<2x1x2x2xf32>
  %h4 = onnx.Constant {value = dense<[2, 2, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %h3 = onnx.Constant {value = dense<[4, 2, 4]> : tensor<3xi64>} : tensor<3xi64>
  %s4 = onnx.Constant {value = dense<[2, 2, 2, 2]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[4, 2, 2]> : tensor<3xi64>} : tensor<3xi64>
  %flat = onnx.Constant {value = dense<[2, 2, 8]> : tensor<3xi64>} : tensor<3xi64>
  %qs = onnx.Mul(%q, %half) : (tensor<2x2x8xf32>, tensor<f32>) -> tensor<2x2x8xf32>
  %qr = onnx.Reshape(%qs, %h4) : (tensor<2x2x8xf32>, tensor<4xi64>) -> tensor<2x2x2x4xf32>
  %kr = onnx.Reshape(%k, %h4) : (tensor<2x2x8xf32>, tensor<4xi64>) -> tensor<2x2x2x4xf32>
  %vr = onnx.Reshape(%v, %h4) : (tensor<2x2x8xf32>, tensor<4xi64>) -> tensor<2x2x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x2x4xf32>) -> tensor<2x2x2x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x2x4xf32>) -> tensor<2x2x2x4xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x2x4xf32>) -> tensor<2x2x2x4xf32>
  %qh = onnx.Reshape(%qt, %h3) : (tensor<2x2x2x4xf32>, tensor<3xi64>) -> tensor<4x2x4xf32>
  %kh = onnx.Reshape(%kt, %h3) : (tensor<2x2x2x4xf32>, tensor<3xi64>) -> tensor<4x2x4xf32>
  %vh = onnx.Reshape(%vt, %h3) : (tensor<2x2x2x4xf32>, tensor<3xi64>) -> tensor<4x2x4xf32>
  %ktt = onnx.Transpose(%kh) {perm = array<i64: 0, 2, 1>} : (tensor<4x2x4xf32>) -> tensor<4x4x2xf32>
  %s = onnx.MatMul(%qh, %ktt) : (tensor<4x2x4xf32>, tensor<4x4x2xf32>) -> tensor<4x2x2xf32>
  %sv = onnx.Reshape(%s, %s4) : (tensor<4x2x2xf32>, tensor<4xi64>) -> tensor<2x2x2x2xf32>
  %sm = onnx.Add(%sv, %mask) : (tensor<2x2x2x2xf32>, tensor<2x1x2x2xf32>) -> tensor<2x2x2x2xf32>
  %s3v = onnx.Reshape(%sm, %s3) : (tensor<2x2x2x2xf32>, tensor<3xi64>) -> tensor<4x2x2xf32>
  %p = onnx.Softmax(%s3v) {axis = -1 : i64} : (tensor<4x2x2xf32>) -> tensor<4x2x2xf32>
  %o = onnx.MatMul(%p, %vh) : (tensor<4x2x2xf32>, tensor<4x2x4xf32>) -> tensor<4x2x4xf32>
  %o4 = onnx.Reshape(%o, %h4) : (tensor<4x2x4xf32>, tensor<4xi64>) -> tensor<2x2x2x4xf32>
  %ot = onnx.Transpose(%o4) {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x2x2x4xf32>) -> tensor<2x2x2x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<2x2x2x4xf32>, tensor<3xi64>) -> tensor<2x2x8xf32>
  return %out : tensor<2x2x8xf32>
}

// -----

// Cross-attention (Lq=2, Lk=3) with a run-time mask per head [B,H,Lq,Lk]
// added to the [B,H,Lq,Lk] view of the scores: the op carries one mask for
// every head, so the attention is refused, naming the mask's input.

func.func @cross_attention_per_head_mask(%q: tensor<1x2x8xf32>, %k: tensor<1x3x8xf32>, %v: tensor<1x3x8xf32>, %mask: tensor<1x2x2x3xf32> {onnx.name = "cross_attention_bias"}) -> tensor<1x2x8xf32> {
  %q4 = onnx.Constant {value = dense<[1, 2, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %k4 = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %q3 = onnx.Constant {value = dense<[2, 2, 4]> : tensor<3xi64>} : tensor<3xi64>
  %k3 = onnx.Constant {value = dense<[2, 3, 4]> : tensor<3xi64>} : tensor<3xi64>
  %s4 = onnx.Constant {value = dense<[1, 2, 2, 3]> : tensor<4xi64>} : tensor<4xi64>
  %s3 = onnx.Constant {value = dense<[2, 2, 3]> : tensor<3xi64>} : tensor<3xi64>
  %flat = onnx.Constant {value = dense<[1, 2, 8]> : tensor<3xi64>} : tensor<3xi64>
  %qr = onnx.Reshape(%q, %q4) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %kr = onnx.Reshape(%k, %k4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %vr = onnx.Reshape(%v, %k4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %qh = onnx.Reshape(%qt, %q3) : (tensor<1x2x2x4xf32>, tensor<3xi64>) -> tensor<2x2x4xf32>
  %kh = onnx.Reshape(%kt, %k3) : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %vh = onnx.Reshape(%vt, %k3) : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %ktt = onnx.Transpose(%kh) {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %s = onnx.MatMul(%qh, %ktt) : (tensor<2x2x4xf32>, tensor<2x4x3xf32>) -> tensor<2x2x3xf32>
  %sv = onnx.Reshape(%s, %s4) : (tensor<2x2x3xf32>, tensor<4xi64>) -> tensor<1x2x2x3xf32>
  %sm = onnx.Add(%sv, %mask) : (tensor<1x2x2x3xf32>, tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  %s3v = onnx.Reshape(%sm, %s3) : (tensor<1x2x2x3xf32>, tensor<3xi64>) -> tensor<2x2x3xf32>
  // expected-error @+1 {{ONNX Softmax node '<unnamed>' ends an attention subgraph that cannot be lifted: its run-time attention mask (from graph input 'cross_attention_bias') is neither an additive bias [B,1,1|Lq,Lk], a 0/1 selector applied as w*m - c*(1-m) with c >= 10000, nor a mask of two values over the keys of an integer [B,Lk] tensor}}
  %p = onnx.Softmax(%s3v) {axis = -1 : i64} : (tensor<2x2x3xf32>) -> tensor<2x2x3xf32>
  %o = onnx.MatMul(%p, %vh) : (tensor<2x2x3xf32>, tensor<2x3x4xf32>) -> tensor<2x2x4xf32>
  %o4 = onnx.Reshape(%o, %q4) : (tensor<2x2x4xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %ot = onnx.Transpose(%o4) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<1x2x2x4xf32>, tensor<3xi64>) -> tensor<1x2x8xf32>
  return %out : tensor<1x2x8xf32>
}

// -----

// T5's self-attention (T5Attention, PyTorch 1.13): bias-free projections
// split into heads by view(B,L,H,D).transpose(1,2), 4-D MatMuls with K
// transposed (0,1,3,2), no scaling, and the position bias (a folded
// constant [B,H,Lq,Lk]: bucketed relative positions looked up per head,
// plus the mask) added to the scores. The op carries it as its per-head
// score bias. B=1, L=2, H=2, D=4.

// CHECK-LABEL: func @t5_score_bias
// CHECK: %[[BIAS:.*]] = arith.constant {{.*}} : tensor<1x2x2x2xf32>
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%[[BIAS]]) {mask_kind = #spatten.mask_kind<padding>, num_heads = 2 : i64, scale = 1.000000e+00 : f32} : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x8xf32>
// CHECK-NOT: onnx.
func.func @t5_score_bias(%q: tensor<1x2x8xf32>, %k: tensor<1x2x8xf32>, %v: tensor<1x2x8xf32>) -> tensor<1x2x8xf32> {
  %bias = onnx.Constant {value = dense<[[[[0.5, -0.25], [0.125, 0.75]], [[-0.5, 0.25], [1.0, 0.0]]]]> : tensor<1x2x2x2xf32>} : tensor<1x2x2x2xf32>
  %h4 = onnx.Constant {value = dense<[1, 2, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %flat = onnx.Constant {value = dense<[1, 2, 8]> : tensor<3xi64>} : tensor<3xi64>
  %qr = onnx.Reshape(%q, %h4) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %kr = onnx.Reshape(%k, %h4) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %vr = onnx.Reshape(%v, %h4) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %ktt = onnx.Transpose(%kt) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x4x2xf32>
  %s = onnx.MatMul(%qt, %ktt) : (tensor<1x2x2x4xf32>, tensor<1x2x4x2xf32>) -> tensor<1x2x2x2xf32>
  %sb = onnx.Add(%s, %bias) : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %p = onnx.Softmax(%sb) {axis = 3 : i64} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x2x2x2xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<1x2x2x4xf32>, tensor<3xi64>) -> tensor<1x2x8xf32>
  return %out : tensor<1x2x8xf32>
}

// -----

// T5's cross-attention: its position bias is zeros (no relative bias, no
// padding), which adds nothing: no mask. Lq=2, Lk=3, B=1, H=2, D=4.

// CHECK-LABEL: func @t5_cross_zero_bias
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} {mask_kind = #spatten.mask_kind<none>, num_heads = 2 : i64, scale = 1.000000e+00 : f32} : (tensor<1x2x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>) -> tensor<1x2x8xf32>
// CHECK-NOT: onnx.
func.func @t5_cross_zero_bias(%q: tensor<1x2x8xf32>, %k: tensor<1x3x8xf32>, %v: tensor<1x3x8xf32>) -> tensor<1x2x8xf32> {
  %zeros = onnx.Constant {value = dense<0.0> : tensor<1x2x2x3xf32>} : tensor<1x2x2x3xf32>
  %q4 = onnx.Constant {value = dense<[1, 2, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %k4 = onnx.Constant {value = dense<[1, 3, 2, 4]> : tensor<4xi64>} : tensor<4xi64>
  %flat = onnx.Constant {value = dense<[1, 2, 8]> : tensor<3xi64>} : tensor<3xi64>
  %qr = onnx.Reshape(%q, %q4) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
  %kr = onnx.Reshape(%k, %k4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %vr = onnx.Reshape(%v, %k4) : (tensor<1x3x8xf32>, tensor<4xi64>) -> tensor<1x3x2x4xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x3x4xf32>
  %ktt = onnx.Transpose(%kt) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x3x4xf32>) -> tensor<1x2x4x3xf32>
  %s = onnx.MatMul(%qt, %ktt) : (tensor<1x2x2x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x2x3xf32>
  %sb = onnx.Add(%s, %zeros) : (tensor<1x2x2x3xf32>, tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  %p = onnx.Softmax(%sb) {axis = 3 : i64} : (tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x2x2x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x2x4xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %out = onnx.Reshape(%ot, %flat) : (tensor<1x2x2x4xf32>, tensor<3xi64>) -> tensor<1x2x8xf32>
  return %out : tensor<1x2x8xf32>
}

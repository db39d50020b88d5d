// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// Hugging Face LLaMA attention: rotary embeddings on the Q and K heads
// (q * cos + rotate_half(q) * sin, rotate_half = Concat(Neg(Slice(D/2:)),
// Slice(:D/2))), then grouped-query attention: one K/V head shared by the
// two query heads through repeat_kv's Unsqueeze, Expand and Reshape, and
// the Trilu causal mask folded to a constant. The rotation lifts to
// spatten.rotary_embedding on the [B, L, H*D] projections (cos first), the
// shared K/V head is repeated by a concat, and the attention is causal.

// CHECK-LABEL: func @llama_gqa
// CHECK-DAG: %[[COS:.*]] = arith.constant dense<5.000000e-01> : tensor<1x1x4x8xf32>
// CHECK-DAG: %[[SIN:.*]] = arith.constant dense<2.500000e-01> : tensor<1x1x4x8xf32>
// CHECK-DAG: %[[C1:.*]] = spatten.reshape %[[COS]] : (tensor<1x1x4x8xf32>) -> tensor<4x8xf32>
// CHECK-DAG: %[[S1:.*]] = spatten.reshape %[[SIN]] : (tensor<1x1x4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[Q:.*]] = spatten.rotary_embedding %arg0, %[[C1]], %[[S1]] : (tensor<1x4x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<1x4x16xf32>
// CHECK: %[[K:.*]] = spatten.rotary_embedding %arg1, %{{.*}}, %{{.*}} : (tensor<1x4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<1x4x8xf32>
// CHECK: %[[KG:.*]] = spatten.reshape %[[K]] : (tensor<1x4x8xf32>) -> tensor<1x4x1x1x8xf32>
// CHECK: %[[KR:.*]] = spatten.concat %[[KG]], %[[KG]] {axis = 3 : i64} : (tensor<1x4x1x1x8xf32>, tensor<1x4x1x1x8xf32>) -> tensor<1x4x1x2x8xf32>
// CHECK: %[[KF:.*]] = spatten.reshape %[[KR]] : (tensor<1x4x1x2x8xf32>) -> tensor<1x4x16xf32>
// CHECK: %[[VG:.*]] = spatten.reshape %arg2 : (tensor<1x4x8xf32>) -> tensor<1x4x1x1x8xf32>
// CHECK: %[[VR:.*]] = spatten.concat %[[VG]], %[[VG]] {axis = 3 : i64}
// CHECK: %[[VF:.*]] = spatten.reshape %[[VR]] : (tensor<1x4x1x2x8xf32>) -> tensor<1x4x16xf32>
// CHECK: %[[O:.*]] = spatten.attention %[[Q]], %[[KF]], %[[VF]] {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64, scale = 0.353553385 : f32}
// CHECK-NEXT: return %[[O]]
// CHECK-NOT: onnx.
func.func @llama_gqa(%q: tensor<1x4x16xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x16xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %skv = onnx.Constant {value = dense<[1, 4, 1, 8]> : tensor<4xi64>} : tensor<4xi64>
  %cos = onnx.Constant {value = dense<0.5> : tensor<1x1x4x8xf32>} : tensor<1x1x4x8xf32>
  %sin = onnx.Constant {value = dense<0.25> : tensor<1x1x4x8xf32>} : tensor<1x1x4x8xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %half = onnx.Constant {value = dense<4> : tensor<1xi64>} : tensor<1xi64>
  %end = onnx.Constant {value = dense<9223372036854775807> : tensor<1xi64>} : tensor<1xi64>
  %last = onnx.Constant {value = dense<3> : tensor<1xi64>} : tensor<1xi64>
  %one = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %two = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %rep = onnx.Constant {value = dense<[1, 1, 2, 4, 8]> : tensor<5xi64>} : tensor<5xi64>
  %sh = onnx.Constant {value = dense<[1, 2, 4, 8]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 4, 16]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.82842708> : tensor<f32>} : tensor<f32>
  %mask = onnx.Constant {value = dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0, 0.0]]]]> : tensor<1x1x4x4xf32>} : tensor<1x1x4x4xf32>
  %qr = onnx.Reshape(%q, %sq) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %kr = onnx.Reshape(%k, %skv) : (tensor<1x4x8xf32>, tensor<4xi64>) -> tensor<1x4x1x8xf32>
  %kh = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x1x8xf32>) -> tensor<1x1x4x8xf32>
  %vr = onnx.Reshape(%v, %skv) : (tensor<1x4x8xf32>, tensor<4xi64>) -> tensor<1x4x1x8xf32>
  %vh = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x1x8xf32>) -> tensor<1x1x4x8xf32>
  %q1 = "onnx.Slice"(%qh, %zero, %half, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %q2 = "onnx.Slice"(%qh, %half, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %qn = onnx.Neg(%q2) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %qrot = onnx.Concat(%qn, %q1) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  %qc = onnx.Mul(%qh, %cos) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %qs = onnx.Mul(%qrot, %sin) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %qe = onnx.Add(%qc, %qs) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %k1 = "onnx.Slice"(%kh, %zero, %half, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x1x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %k2 = "onnx.Slice"(%kh, %half, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x1x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %kn = onnx.Neg(%k2) : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %krot = onnx.Concat(%kn, %k1) {axis = -1 : i64} : (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x4x8xf32>
  %kc = onnx.Mul(%kh, %cos) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %ks = onnx.Mul(%krot, %sin) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %ke = onnx.Add(%kc, %ks) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %ku = onnx.Unsqueeze(%ke, %two) : (tensor<1x1x4x8xf32>, tensor<1xi64>) -> tensor<1x1x1x4x8xf32>
  %kx = onnx.Expand(%ku, %rep) : (tensor<1x1x1x4x8xf32>, tensor<5xi64>) -> tensor<1x1x2x4x8xf32>
  %kg = onnx.Reshape(%kx, %sh) : (tensor<1x1x2x4x8xf32>, tensor<4xi64>) -> tensor<1x2x4x8xf32>
  %vu = onnx.Unsqueeze(%vh, %two) : (tensor<1x1x4x8xf32>, tensor<1xi64>) -> tensor<1x1x1x4x8xf32>
  %vx = onnx.Expand(%vu, %rep) : (tensor<1x1x1x4x8xf32>, tensor<5xi64>) -> tensor<1x1x2x4x8xf32>
  %vg = onnx.Reshape(%vx, %sh) : (tensor<1x1x2x4x8xf32>, tensor<4xi64>) -> tensor<1x2x4x8xf32>
  %kt = onnx.Transpose(%kg) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32>
  %s = onnx.MatMul(%qe, %kt) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
  %sm = onnx.Add(%sd, %mask) : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %p = onnx.Softmax(%sm) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = onnx.MatMul(%p, %vg) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32>
  return %out : tensor<1x4x16xf32>
}

// -----

// One K/V head per query head (no repeat_kv): the rotary embedding lifts
// the same way and K/V are read as they are.

// CHECK-LABEL: func @llama_mha
// CHECK: %[[Q:.*]] = spatten.rotary_embedding %arg0
// CHECK: %[[K:.*]] = spatten.rotary_embedding %arg1
// CHECK-NOT: spatten.concat
// CHECK: spatten.attention %[[Q]], %[[K]], %arg2 {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64

func.func @llama_mha(%q: tensor<1x4x16xf32>, %k: tensor<1x4x16xf32>, %v: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %skv = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %cos = onnx.Constant {value = dense<0.5> : tensor<1x1x4x8xf32>} : tensor<1x1x4x8xf32>
  %sin = onnx.Constant {value = dense<0.25> : tensor<1x1x4x8xf32>} : tensor<1x1x4x8xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %half = onnx.Constant {value = dense<4> : tensor<1xi64>} : tensor<1xi64>
  %end = onnx.Constant {value = dense<9223372036854775807> : tensor<1xi64>} : tensor<1xi64>
  %last = onnx.Constant {value = dense<3> : tensor<1xi64>} : tensor<1xi64>
  %one = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %two = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %rep = onnx.Constant {value = dense<[1, 2, 1, 4, 8]> : tensor<5xi64>} : tensor<5xi64>
  %sh = onnx.Constant {value = dense<[1, 2, 4, 8]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 4, 16]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.82842708> : tensor<f32>} : tensor<f32>
  %mask = onnx.Constant {value = dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0, 0.0]]]]> : tensor<1x1x4x4xf32>} : tensor<1x1x4x4xf32>
  %qr = onnx.Reshape(%q, %sq) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %kr = onnx.Reshape(%k, %skv) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %kh = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %vr = onnx.Reshape(%v, %skv) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %vh = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %q1 = "onnx.Slice"(%qh, %zero, %half, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %q2 = "onnx.Slice"(%qh, %half, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %qn = onnx.Neg(%q2) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %qrot = onnx.Concat(%qn, %q1) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  %qc = onnx.Mul(%qh, %cos) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %qs = onnx.Mul(%qrot, %sin) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %qe = onnx.Add(%qc, %qs) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %k1 = "onnx.Slice"(%kh, %zero, %half, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %k2 = "onnx.Slice"(%kh, %half, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %kn = onnx.Neg(%k2) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %krot = onnx.Concat(%kn, %k1) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  %kc = onnx.Mul(%kh, %cos) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ks = onnx.Mul(%krot, %sin) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ke = onnx.Add(%kc, %ks) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ku = onnx.Unsqueeze(%ke, %two) : (tensor<1x2x4x8xf32>, tensor<1xi64>) -> tensor<1x2x1x4x8xf32>
  %kx = onnx.Expand(%ku, %rep) : (tensor<1x2x1x4x8xf32>, tensor<5xi64>) -> tensor<1x2x1x4x8xf32>
  %kg = onnx.Reshape(%kx, %sh) : (tensor<1x2x1x4x8xf32>, tensor<4xi64>) -> tensor<1x2x4x8xf32>
  %vu = onnx.Unsqueeze(%vh, %two) : (tensor<1x2x4x8xf32>, tensor<1xi64>) -> tensor<1x2x1x4x8xf32>
  %vx = onnx.Expand(%vu, %rep) : (tensor<1x2x1x4x8xf32>, tensor<5xi64>) -> tensor<1x2x1x4x8xf32>
  %vg = onnx.Reshape(%vx, %sh) : (tensor<1x2x1x4x8xf32>, tensor<4xi64>) -> tensor<1x2x4x8xf32>
  %kt = onnx.Transpose(%kg) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32>
  %s = onnx.MatMul(%qe, %kt) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
  %sm = onnx.Add(%sd, %mask) : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %p = onnx.Softmax(%sm) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = onnx.MatMul(%p, %vg) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32>
  return %out : tensor<1x4x16xf32>
}

// -----

// GPT-NeoX's partial rotary embedding: the first R = 4 of each head's
// D = 8 columns are rotated by [1, L, 4] tables, the last 4 pass through
// (Concat of the rotation and the pass-through Slice). It lifts to one
// spatten.rotary_embedding with head_dim 8, on the projection.

// CHECK-LABEL: func @neox_partial_rotary
// CHECK-DAG: %[[C:.*]] = arith.constant dense<5.000000e-01> : tensor<1x1x4x4xf32>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<2.500000e-01> : tensor<1x1x4x4xf32>
// CHECK-DAG: %[[COS:.*]] = spatten.reshape %[[C]] : (tensor<1x1x4x4xf32>) -> tensor<4x4xf32>
// CHECK-DAG: %[[SIN:.*]] = spatten.reshape %[[S]] : (tensor<1x1x4x4xf32>) -> tensor<4x4xf32>
// CHECK: %[[R:.*]] = spatten.rotary_embedding %arg0, %[[COS]], %[[SIN]] {head_dim = 8 : i64} : (tensor<1x4x16xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<1x4x16xf32>
// CHECK: %[[H:.*]] = spatten.reshape %[[R]] : (tensor<1x4x16xf32>) -> tensor<1x4x2x8xf32>
// CHECK: %[[T:.*]] = spatten.transpose %[[H]]
// CHECK-NEXT: return %[[T]]
// CHECK-NOT: onnx.

func.func @neox_partial_rotary(%q: tensor<1x4x16xf32>) -> tensor<1x2x4x8xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %cos = onnx.Constant {value = dense<0.5> : tensor<1x4x4xf32>} : tensor<1x4x4xf32>
  %sin = onnx.Constant {value = dense<0.25> : tensor<1x4x4xf32>} : tensor<1x4x4xf32>
  %c0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %c2 = onnx.Constant {value = dense<2> : tensor<1xi64>} : tensor<1xi64>
  %c4 = onnx.Constant {value = dense<4> : tensor<1xi64>} : tensor<1xi64>
  %end = onnx.Constant {value = dense<9223372036854775807> : tensor<1xi64>} : tensor<1xi64>
  %last = onnx.Constant {value = dense<-1> : tensor<1xi64>} : tensor<1xi64>
  %one = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %qr = onnx.Reshape(%q, %sq) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %rot = "onnx.Slice"(%qh, %c0, %c4, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %pass = "onnx.Slice"(%qh, %c4, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %cos4 = onnx.Unsqueeze(%cos, %one) : (tensor<1x4x4xf32>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %sin4 = onnx.Unsqueeze(%sin, %one) : (tensor<1x4x4xf32>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %x1 = "onnx.Slice"(%rot, %c0, %c2, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x2xf32>
  %x2 = "onnx.Slice"(%rot, %c2, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x2x4x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x2xf32>
  %neg = onnx.Neg(%x2) : (tensor<1x2x4x2xf32>) -> tensor<1x2x4x2xf32>
  %half = onnx.Concat(%neg, %x1) {axis = -1 : i64} : (tensor<1x2x4x2xf32>, tensor<1x2x4x2xf32>) -> tensor<1x2x4x4xf32>
  %rc = onnx.Mul(%rot, %cos4) : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %rs = onnx.Mul(%half, %sin4) : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %re = onnx.Add(%rc, %rs) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %out = onnx.Concat(%re, %pass) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  return %out : tensor<1x2x4x8xf32>
}

// -----

// Falcon's multi-query attention: one K and one V head [1, 1, L, D] that
// the 4-D MatMuls broadcast over the two query heads (no repeat_kv). They
// read as a group of both query heads: repeated by a concat, as repeat_kv's
// are.

// CHECK-LABEL: func @falcon_mqa
// CHECK: %[[KG:.*]] = spatten.reshape %arg1 : (tensor<1x4x8xf32>) -> tensor<1x4x1x1x8xf32>
// CHECK: %[[KR:.*]] = spatten.concat %[[KG]], %[[KG]] {axis = 3 : i64}
// CHECK: %[[KF:.*]] = spatten.reshape %[[KR]] : (tensor<1x4x1x2x8xf32>) -> tensor<1x4x16xf32>
// CHECK: %[[VG:.*]] = spatten.reshape %arg2 : (tensor<1x4x8xf32>) -> tensor<1x4x1x1x8xf32>
// CHECK: %[[VR:.*]] = spatten.concat %[[VG]], %[[VG]] {axis = 3 : i64}
// CHECK: %[[VF:.*]] = spatten.reshape %[[VR]]
// CHECK: spatten.attention %arg0, %[[KF]], %[[VF]] {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64
// CHECK-NOT: onnx.

func.func @falcon_mqa(%q: tensor<1x4x16xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x16xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %skv = onnx.Constant {value = dense<[1, 4, 1, 8]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 4, 16]> : tensor<3xi64>} : tensor<3xi64>
  %sqrtd = onnx.Constant {value = dense<2.82842708> : tensor<f32>} : tensor<f32>
  %mask = onnx.Constant {value = dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0, 0.0]]]]> : tensor<1x1x4x4xf32>} : tensor<1x1x4x4xf32>
  %qr = onnx.Reshape(%q, %sq) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %kr = onnx.Reshape(%k, %skv) : (tensor<1x4x8xf32>, tensor<4xi64>) -> tensor<1x4x1x8xf32>
  %kh = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x1x8xf32>) -> tensor<1x1x4x8xf32>
  %vr = onnx.Reshape(%v, %skv) : (tensor<1x4x8xf32>, tensor<4xi64>) -> tensor<1x4x1x8xf32>
  %vh = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x1x8xf32>) -> tensor<1x1x4x8xf32>
  %kt = onnx.Transpose(%kh) {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x4x8xf32>) -> tensor<1x1x8x4xf32>
  %s = onnx.MatMul(%qh, %kt) : (tensor<1x2x4x8xf32>, tensor<1x1x8x4xf32>) -> tensor<1x2x4x4xf32>
  %sd = onnx.Div(%s, %sqrtd) : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
  %sm = onnx.Add(%sd, %mask) : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %p = onnx.Softmax(%sm) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = onnx.MatMul(%p, %vh) : (tensor<1x2x4x4xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32>
  return %out : tensor<1x4x16xf32>
}

// -----

// The GPT-NeoX form of a rotary embedding on every column (rotary_pct 1):
// the first slice is the whole head (a no-op, folded away) and the
// pass-through is empty. It lifts to a rotary embedding without head_dim,
// and the empty Concat operand goes with it.

// CHECK-LABEL: func @neox_full_rotary
// CHECK: %[[R:.*]] = spatten.rotary_embedding %arg0, %{{.*}}, %{{.*}} : (tensor<1x4x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<1x4x16xf32>
// CHECK: spatten.reshape %[[R]]
// CHECK-NOT: spatten.concat
// CHECK-NOT: onnx.

func.func @neox_full_rotary(%q: tensor<1x4x16xf32>) -> tensor<1x2x4x8xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %cos = onnx.Constant {value = dense<0.5> : tensor<1x1x4x8xf32>} : tensor<1x1x4x8xf32>
  %sin = onnx.Constant {value = dense<0.25> : tensor<1x1x4x8xf32>} : tensor<1x1x4x8xf32>
  %c0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %c4 = onnx.Constant {value = dense<4> : tensor<1xi64>} : tensor<1xi64>
  %c8 = onnx.Constant {value = dense<8> : tensor<1xi64>} : tensor<1xi64>
  %end = onnx.Constant {value = dense<9223372036854775807> : tensor<1xi64>} : tensor<1xi64>
  %last = onnx.Constant {value = dense<-1> : tensor<1xi64>} : tensor<1xi64>
  %qr = onnx.Reshape(%q, %sq) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %pass = "onnx.Slice"(%qh, %c8, %end, %last) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x0xf32>
  %x1 = "onnx.Slice"(%qh, %c0, %c4, %last) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %x2 = "onnx.Slice"(%qh, %c4, %end, %last) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %neg = onnx.Neg(%x2) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %half = onnx.Concat(%neg, %x1) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  %rc = onnx.Mul(%qh, %cos) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %rs = onnx.Mul(%half, %sin) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %re = onnx.Add(%rc, %rs) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %out = onnx.Concat(%re, %pass) {axis = -1 : i64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x0xf32>) -> tensor<1x2x4x8xf32>
  return %out : tensor<1x2x4x8xf32>
}

// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics

// An unbound graph input is reported once, by its ONNX name, and not again
// on every node its dynamic shape reaches.
// expected-error @+1 {{graph input 'input_ids' has the dynamic shape 'tensor<?x4xf32>'; bind its dimensions with --shape NAME=VALUE}}
func.func @dynamic_input(%x: tensor<?x4xf32> {onnx.name = "input_ids"}) -> tensor<?x4xf32> {
  %y = onnx.Relu(%x) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %z = onnx.Relu(%y) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %z : tensor<?x4xf32>
}

// -----

// Static inputs but a shape left dynamic: bind and fold (-canonicalize) first.
func.func @dynamic_result(%x: tensor<2x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{ONNX Relu node '<unnamed>' result #0 has a dynamic shape 'tensor<?x4xf32>'}}
  %y = onnx.Relu(%x) : (tensor<2x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// A Where mask that is not lower-triangular is not a causal mask.
func.func @not_causal(%q: tensor<1x3x2xf32>, %k: tensor<1x3x2xf32>, %v: tensor<1x3x2xf32>) -> tensor<1x3x2xf32> {
  %s4 = onnx.Constant {value = dense<[1, 3, 1, 2]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 3, 2]> : tensor<3xi64>} : tensor<3xi64>
  %tril = onnx.Constant {value = dense<[[[[true, true, false], [true, true, false], [true, true, true]]]]> : tensor<1x1x3x3xi1>} : tensor<1x1x3x3xi1>
  %fill = onnx.Constant {value = dense<-10000.0> : tensor<f32>} : tensor<f32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x3x2xf32>, tensor<4xi64>) -> tensor<1x3x1x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x2xf32>) -> tensor<1x1x3x2xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x1x2xf32>) -> tensor<1x1x2x3xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x2xf32>) -> tensor<1x1x3x2xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<1x1x3x2xf32>, tensor<1x1x2x3xf32>) -> tensor<1x1x3x3xf32>
  %sw = onnx.Where(%tril, %s, %fill) : (tensor<1x1x3x3xi1>, tensor<1x1x3x3xf32>, tensor<f32>) -> tensor<1x1x3x3xf32>
  // expected-error @+1 {{ONNX Softmax node '<unnamed>' ends an attention subgraph that cannot be lifted: its mask constant [.., 3, 3] is not lower-triangular with offset Lk - Lq = 0, so it is not a causal mask}}
  %p = onnx.Softmax(%sw) {axis = -1 : i64} : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x1x3x3xf32>, tensor<1x1x3x2xf32>) -> tensor<1x1x3x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x3x2xf32>) -> tensor<1x3x1x2xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x3x1x2xf32>, tensor<3xi64>) -> tensor<1x3x2xf32>
  return %out : tensor<1x3x2xf32>
}

// -----

// A run-time 0/1 mask applied as w*m - c*(1-m) lifts to a selector mask only
// when c >= 10000 makes masked scores vanish; c = 100 does not.
func.func @runtime_mask(%q: tensor<1x2x2xf32>, %k: tensor<1x2x2xf32>, %v: tensor<1x2x2xf32>, %m: tensor<1x1x2x2xf32> {onnx.name = "attention_mask"}) -> tensor<1x2x2xf32> {
  %s4 = onnx.Constant {value = dense<[1, 2, 1, 2]> : tensor<4xi64>} : tensor<4xi64>
  %so = onnx.Constant {value = dense<[1, 2, 2]> : tensor<3xi64>} : tensor<3xi64>
  %one = onnx.Constant {value = dense<1.0> : tensor<f32>} : tensor<f32>
  %big = onnx.Constant {value = dense<100.0> : tensor<f32>} : tensor<f32>
  %qr = onnx.Reshape(%q, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %kr = onnx.Reshape(%k, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %vr = onnx.Reshape(%v, %s4) : (tensor<1x2x2xf32>, tensor<4xi64>) -> tensor<1x2x1x2xf32>
  %qt = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %kt = onnx.Transpose(%kr) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %vt = onnx.Transpose(%vr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x2xf32>) -> tensor<1x1x2x2xf32>
  %s = onnx.MatMul(%qt, %kt) : (tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %wm = onnx.Mul(%s, %m) : (tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %inv = onnx.Sub(%one, %m) : (tensor<f32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %off = onnx.Mul(%inv, %big) : (tensor<1x1x2x2xf32>, tensor<f32>) -> tensor<1x1x2x2xf32>
  %sc = onnx.Sub(%wm, %off) : (tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  // expected-error @+1 {{its run-time attention mask (from graph input 'attention_mask') is neither an additive bias [B,1,1|Lq,Lk], a 0/1 selector applied as w*m - c*(1-m) with c >= 10000, nor a mask of two values over the keys of an integer [B,Lk] tensor}}
  %p = onnx.Softmax(%sc) {axis = 3 : i64} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %o = onnx.MatMul(%p, %vt) : (tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x2x2xf32>) -> tensor<1x2x1x2xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x2x1x2xf32>, tensor<3xi64>) -> tensor<1x2x2xf32>
  return %out : tensor<1x2x2xf32>
}

// -----

// Ops without a spatten counterpart, and unsupported forms of mapped ops.
func.func @unsupported(%x: tensor<4x6xf32>) -> (tensor<4x6xf32>, tensor<4x2xf32>, tensor<4x3xf32>, tensor<4x6xi64>) {
  %idx = onnx.Constant {value = dense<[3, 1]> : tensor<2xi64>} : tensor<2xi64>
  %starts = onnx.Constant {value = dense<[5]> : tensor<1xi64>} : tensor<1xi64>
  %ends = onnx.Constant {value = dense<[-100]> : tensor<1xi64>} : tensor<1xi64>
  %axes = onnx.Constant {value = dense<[1]> : tensor<1xi64>} : tensor<1xi64>
  %steps = onnx.Constant {value = dense<[-2]> : tensor<1xi64>} : tensor<1xi64>
  // expected-error @+1 {{ONNX Floor node '<unnamed>' has no lowering to the spatten dialect}}
  %f = onnx.Floor(%x) : (tensor<4x6xf32>) -> tensor<4x6xf32>
  // expected-error @+1 {{ONNX Gather node '<unnamed>' has constant indices that are not an increasing progression (not implemented)}}
  %g = onnx.Gather(%x, %idx) {axis = 1 : i64} : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<4x2xf32>
  // expected-error @+1 {{ONNX Slice node '<unnamed>' has an axis out of range or a non-positive step (not implemented)}}
  %s = "onnx.Slice"(%x, %starts, %ends, %axes, %steps) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<4x6xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4x3xf32>
  // expected-error @+1 {{ONNX Cast node '<unnamed>' converts between types other than int32/int64 -> f32}}
  %c = onnx.Cast(%x) {to = 7 : i64} : (tensor<4x6xf32>) -> tensor<4x6xi64>
  return %f, %g, %s, %c : tensor<4x6xf32>, tensor<4x2xf32>, tensor<4x3xf32>, tensor<4x6xi64>
}

// -----

// rotate_half with its halves swapped (Concat(Neg(x[:D/2]), x[D/2:])) is not
// a rotary embedding: the Q heads stay computed, and the attention is
// refused at its Softmax.
func.func @llama_rotate_half_swapped(%q: tensor<1x4x16xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x16xf32> {
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
  %qn = onnx.Neg(%q1) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %qrot = onnx.Concat(%qn, %q2) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  %qc = onnx.Mul(%qh, %cos) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %qs = onnx.Mul(%qrot, %sin) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %qe = onnx.Add(%qc, %qs) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %k1 = "onnx.Slice"(%kh, %zero, %half, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x1x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %k2 = "onnx.Slice"(%kh, %half, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x1x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %kn = onnx.Neg(%k1) : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %krot = onnx.Concat(%kn, %k2) {axis = -1 : i64} : (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x4x8xf32>
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
  // expected-error @+1 {{ends an attention subgraph that cannot be lifted: its Q*K^T, scale, mask, Softmax, *V chain and head layout do not match a recognised attention form}}
  %p = onnx.Softmax(%sm) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = onnx.MatMul(%p, %vg) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32>
  return %out : tensor<1x4x16xf32>
}

// -----

// cos/sin gathered by run-time position ids (graph inputs here): the rotary
// embeddings of Q and K are refused, saying why, and so is their attention.
func.func @llama_runtime_tables(%q: tensor<1x4x16xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>, %cos: tensor<1x1x4x8xf32>, %sin: tensor<1x1x4x8xf32>) -> tensor<1x4x16xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %skv = onnx.Constant {value = dense<[1, 4, 1, 8]> : tensor<4xi64>} : tensor<4xi64>
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
  // expected-error @+1 {{is a rotary embedding that cannot be lifted: its cos and sin are not constant tables [1,..,1,L,R]; position ids from a graph input are known only at run time}}
  %qe = onnx.Add(%qc, %qs) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %k1 = "onnx.Slice"(%kh, %zero, %half, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x1x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %k2 = "onnx.Slice"(%kh, %half, %end, %last, %one) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<1x1x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x1x4x4xf32>
  %kn = onnx.Neg(%k2) : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %krot = onnx.Concat(%kn, %k1) {axis = -1 : i64} : (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x4x8xf32>
  %kc = onnx.Mul(%kh, %cos) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %ks = onnx.Mul(%krot, %sin) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  // expected-error @+1 {{is a rotary embedding that cannot be lifted: its cos and sin are not constant tables [1,..,1,L,R]; position ids from a graph input are known only at run time}}
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
  // expected-error @+1 {{ends an attention subgraph that cannot be lifted: its Q*K^T, scale, mask, Softmax, *V chain and head layout do not match a recognised attention form}}
  %p = onnx.Softmax(%sm) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = onnx.MatMul(%p, %vg) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %ot = onnx.Transpose(%o) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32>
  %out = onnx.Reshape(%ot, %so) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32>
  return %out : tensor<1x4x16xf32>
}

// -----

// A rotary embedding whose tables are graph inputs, its result returned
// directly: reported at its Add, with nothing else to name.
func.func @rotary_returned(%q: tensor<1x4x16xf32>, %cos: tensor<1x1x4x8xf32>, %sin: tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %sq = onnx.Constant {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : tensor<4xi64>
  %c0 = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %c4 = onnx.Constant {value = dense<4> : tensor<1xi64>} : tensor<1xi64>
  %end = onnx.Constant {value = dense<9223372036854775807> : tensor<1xi64>} : tensor<1xi64>
  %last = onnx.Constant {value = dense<-1> : tensor<1xi64>} : tensor<1xi64>
  %qr = onnx.Reshape(%q, %sq) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32>
  %qh = onnx.Transpose(%qr) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32>
  %x1 = "onnx.Slice"(%qh, %c0, %c4, %last) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %x2 = "onnx.Slice"(%qh, %c4, %end, %last) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<1x2x4x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x4x4xf32>
  %neg = onnx.Neg(%x2) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %half = onnx.Concat(%neg, %x1) {axis = -1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32>
  %rc = onnx.Mul(%qh, %cos) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  %rs = onnx.Mul(%half, %sin) : (tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x2x4x8xf32>
  // expected-error @+1 {{is a rotary embedding that cannot be lifted: its cos and sin are not constant tables [1,..,1,L,R]}}
  %re = onnx.Add(%rc, %rs) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %re : tensor<1x2x4x8xf32>
}

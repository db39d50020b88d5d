// Folding of exporter shape arithmetic and result type refinement.
// RUN: spatten-opt -canonicalize -split-input-file %s | FileCheck %s

// Shape -> Gather -> Unsqueeze -> Concat -> Reshape (PyTorch view(b, s, h, d)).
// CHECK-LABEL: func.func @reshape_chain
// CHECK-SAME: -> tensor<1x2x2x4xf32>
// CHECK-NEXT: %[[S:.*]] = onnx.Constant {value = dense<[1, 2, 2, 4]> : tensor<4xi64>}
// CHECK-NEXT: %[[R:.*]] = onnx.Reshape(%arg0, %[[S]]) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<1x2x2x4xf32>
// CHECK-NEXT: return %[[R]] : tensor<1x2x2x4xf32>
func.func @reshape_chain(%x: tensor<1x2x8xf32>) -> tensor<*xf32> {
  %shape = onnx.Shape(%x) : (tensor<1x2x8xf32>) -> tensor<3xi64>
  %i0 = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %i1 = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %b = onnx.Gather(%shape, %i0) : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %s = onnx.Gather(%shape, %i1) : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %ax = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  %ub = onnx.Unsqueeze(%b, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %us = onnx.Unsqueeze(%s, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %hd = onnx.Constant {value = dense<[2, 4]> : tensor<2xi64>} : tensor<2xi64>
  %new = onnx.Concat(%ub, %us, %hd) {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<4xi64>
  %r = onnx.Reshape(%x, %new) : (tensor<1x2x8xf32>, tensor<4xi64>) -> tensor<*xf32>
  return %r : tensor<*xf32>
}

// -----

// GPT-2 position embedding: Gather(wpe, Range(0, seq)) is a constant once seq
// is; wpe is a dense_resource initializer.
// CHECK-LABEL: func.func @position_embedding
// CHECK-SAME: -> tensor<3x2xf32>
// CHECK-NEXT: %[[E:.*]] = onnx.Constant {value = dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>}
// CHECK-NEXT: return %[[E]]
func.func @position_embedding(%ids: tensor<1x3xi64>) -> tensor<?x?xf32> {
  %wpe = onnx.Constant {value = dense_resource<wpe> : tensor<4x2xf32>} : tensor<4x2xf32>
  %shape = onnx.Shape(%ids) : (tensor<1x3xi64>) -> tensor<2xi64>
  %i1 = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %seq = onnx.Gather(%shape, %i1) : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %one = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %pos = onnx.Range(%zero, %seq, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %emb = onnx.Gather(%wpe, %pos) : (tensor<4x2xf32>, tensor<?xi64>) -> tensor<?x?xf32>
  return %emb : tensor<?x?xf32>
}
{-#
  dialect_resources: {
    builtin: {
      wpe: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041"
    }
  }
#-}

// -----

// Causal mask: Slice of a constant, Cast to bool, Where with it.
// CHECK-LABEL: func.func @causal_mask
// CHECK-DAG: %[[NEG:.*]] = onnx.Constant {value = dense<-1.000000e+04> : tensor<f32>}
// CHECK-DAG: %[[M:.*]] = onnx.Constant {value = dense<{{\[\[\[\[}}true, false], [true, true]]]]> : tensor<1x1x2x2xi1>}
// CHECK: onnx.Where(%[[M]], %arg0, %[[NEG]])
// CHECK-NOT: onnx.Slice
// CHECK-NOT: onnx.Cast
func.func @causal_mask(%w: tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32> {
  %bias = onnx.Constant {value = dense<[[[[1, 0, 0], [1, 1, 0], [1, 1, 1]]]]> : tensor<1x1x3x3xui8>} : tensor<1x1x3x3xui8>
  %st = onnx.Constant {value = dense<[0, 0]> : tensor<2xi64>} : tensor<2xi64>
  %en = onnx.Constant {value = dense<[2, 2]> : tensor<2xi64>} : tensor<2xi64>
  %ax = onnx.Constant {value = dense<[2, 3]> : tensor<2xi64>} : tensor<2xi64>
  %m = "onnx.Slice"(%bias, %st, %en, %ax) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (tensor<1x1x3x3xui8>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<1x1x2x2xui8>
  %b = onnx.Cast(%m) {to = 9 : i64} : (tensor<1x1x2x2xui8>) -> tensor<1x1x2x2xi1>
  %neg = onnx.Constant {value = dense<-1.0e4> : tensor<f32>} : tensor<f32>
  %r = onnx.Where(%b, %w, %neg) : (tensor<1x1x2x2xi1>, tensor<1x1x2x2xf32>, tensor<f32>) -> tensor<1x1x2x2xf32>
  return %r : tensor<1x1x2x2xf32>
}

// -----

// Expand(ConstantOfShape) mask building with Equal/Where, and ReduceProd.
// CHECK-LABEL: func.func @mask_arith
// CHECK-DAG: onnx.Constant {value = dense<{{\[}}[8, 9, 10], [8, 9, 10]]> : tensor<2x3xi64>}
// CHECK-DAG: onnx.Constant {value = dense<6> : tensor<i64>}
// CHECK-DAG: onnx.Constant {value = dense<[false, true]> : tensor<2xi1>}
// CHECK-NOT: onnx.Expand
// CHECK: return
func.func @mask_arith() -> (tensor<2x3xi64>, tensor<i64>, tensor<2xi1>) {
  %shape = onnx.Constant {value = dense<[2, 3]> : tensor<2xi64>} : tensor<2xi64>
  %c = onnx.ConstantOfShape(%shape) {value = dense<7> : tensor<1xi64>} : (tensor<2xi64>) -> tensor<2x3xi64>
  %row = onnx.Constant {value = dense<[1, 2, 3]> : tensor<3xi64>} : tensor<3xi64>
  %e = onnx.Expand(%row, %shape) : (tensor<3xi64>, tensor<2xi64>) -> tensor<2x3xi64>
  %sum = onnx.Add(%c, %e) : (tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  %p = onnx.ReduceProd(%shape) {keepdims = 0 : i64} : (tensor<2xi64>) -> tensor<i64>
  %m1 = onnx.Constant {value = dense<[-1, 3]> : tensor<2xi64>} : tensor<2xi64>
  %eq = onnx.Equal(%shape, %m1) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi1>
  return %sum, %p, %eq : tensor<2x3xi64>, tensor<i64>, tensor<2xi1>
}

// -----

// Transpose of a weight initializer folds into a new resource blob; Squeeze,
// Identity and a no-op Reshape disappear.
// CHECK-LABEL: func.func @transpose_weight
// CHECK-DAG: %[[T:.*]] = onnx.Constant {value = dense<{{\[}}[1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>}
// CHECK-DAG: %[[S:.*]] = "onnx.Squeeze"(%arg0
// CHECK-NOT: onnx.Identity
// CHECK-NOT: onnx.Reshape
// CHECK: return %[[T]], %[[S]]
func.func @transpose_weight(%x: tensor<2x1x3xf32>) -> (tensor<3x2xf32>, tensor<2x3xf32>) {
  %w = onnx.Constant {value = dense_resource<w> : tensor<2x3xf32>} : tensor<2x3xf32>
  %t = onnx.Transpose(%w) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %ax = onnx.Constant {value = dense<1> : tensor<1xi64>} : tensor<1xi64>
  %s = "onnx.Squeeze"(%x, %ax) : (tensor<2x1x3xf32>, tensor<1xi64>) -> tensor<2x3xf32>
  %i = onnx.Identity(%s) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %shape = onnx.Constant {value = dense<[2, 3]> : tensor<2xi64>} : tensor<2xi64>
  %r = onnx.Reshape(%i, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  return %t, %r : tensor<3x2xf32>, tensor<2x3xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F0000004000004040000080400000A0400000C040"
    }
  }
#-}

// -----

// Split of a constant; Softmax with opset<13 semantics on the last axis.
// CHECK-LABEL: func.func @split_softmax
// CHECK-DAG: onnx.Constant {value = dense<[4, 5]> : tensor<2xi64>}
// CHECK-DAG: onnx.Constant {value = dense<6> : tensor<1xi64>}
// The rank is unknown, so the opset<13 flag stays.
// CHECK: onnx.Softmax(%arg0) {axis = 1 : i64, coerce_2d}
func.func @split_softmax(%x: tensor<*xf32>) -> (tensor<2xi64>, tensor<1xi64>, tensor<*xf32>) {
  %c = onnx.Constant {value = dense<[4, 5, 6]> : tensor<3xi64>} : tensor<3xi64>
  %sz = onnx.Constant {value = dense<[2, 1]> : tensor<2xi64>} : tensor<2xi64>
  %a:2 = "onnx.Split"(%c, %sz) <{axis = 0 : i64}> : (tensor<3xi64>, tensor<2xi64>) -> (tensor<2xi64>, tensor<1xi64>)
  %s = onnx.Softmax(%x) {axis = 1 : i64, coerce_2d} : (tensor<*xf32>) -> tensor<*xf32>
  return %a#0, %a#1, %s : tensor<2xi64>, tensor<1xi64>, tensor<*xf32>
}

// -----

// Results larger than 64 bytes stay dense_resource blobs.
// CHECK-LABEL: func.func @large_transpose
// CHECK: onnx.Constant {value = dense_resource<onnx_folded> : tensor<5x4xf32>}
// CHECK-NOT: onnx.Transpose
// CHECK: dialect_resources
// CHECK: onnx_folded: "0x08000000000000000000A0400000204100007041000080
func.func @large_transpose() -> tensor<5x4xf32> {
  %w = onnx.Constant {value = dense_resource<big> : tensor<4x5xf32>} : tensor<4x5xf32>
  %t = onnx.Transpose(%w) {perm = array<i64: 1, 0>} : (tensor<4x5xf32>) -> tensor<5x4xf32>
  return %t : tensor<5x4xf32>
}
{-#
  dialect_resources: {
    builtin: {
      big: "0x04000000000000000000803F0000004000004040000080400000A0400000C0400000E040000000410000104100002041000030410000404100005041000060410000704100008041000088410000904100009841"
    }
  }
#-}

// -----

// Once the rank is known, opset<13 Softmax on the last axis is the opset-13
// Softmax; dynamic result dims are refined from the operands.
// CHECK-LABEL: func.func @refine
// CHECK-SAME: -> tensor<2x3xf32>
// CHECK: %[[S:.*]] = onnx.Softmax(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK: onnx.Relu(%[[S]]) : (tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @refine(%x: tensor<2x3xf32>) -> tensor<*xf32> {
  %s = onnx.Softmax(%x) {axis = 1 : i64, coerce_2d} : (tensor<2x3xf32>) -> tensor<?x?xf32>
  %r = onnx.Relu(%s) : (tensor<?x?xf32>) -> tensor<*xf32>
  return %r : tensor<*xf32>
}

// -----

// Axis 0 of a rank-2 input under opset<13 semantics is not a single-axis
// Softmax: the flag stays for later passes to reject.
// CHECK-LABEL: func.func @coerce_not_last
// CHECK: onnx.Softmax(%arg0) {axis = 0 : i64, coerce_2d}
func.func @coerce_not_last(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %s = onnx.Softmax(%x) {axis = 0 : i64, coerce_2d} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}

// -----

// Inference-mode Dropout (no training_mode, or a false one) is the identity.
// CHECK-LABEL: func.func @dropout
// CHECK-NOT: onnx.Dropout
// CHECK: return %arg0, %arg0
func.func @dropout(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %d = "onnx.Dropout"(%x) <{operandSegmentSizes = array<i32: 1, 0, 0>}> : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = onnx.Constant {value = dense<5.000000e-01> : tensor<f32>} : tensor<f32>
  %f = onnx.Constant {value = dense<false> : tensor<i1>} : tensor<i1>
  %e = "onnx.Dropout"(%x, %r, %f) <{operandSegmentSizes = array<i32: 1, 1, 1>}> : (tensor<2x3xf32>, tensor<f32>, tensor<i1>) -> tensor<2x3xf32>
  return %d, %e : tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// ONNX edge semantics: Slice with negative starts/ends/steps (clamped as in
// Slice-13), Gather with a negative index on axis 1, Concat on axis 1, float
// Range, Cast float->int32 truncating, integer Div truncating toward zero.
// Result types start dynamic and are refined by libonnx inference.
// CHECK-LABEL: func.func @edges
// CHECK-SAME: -> (tensor<2x2xi64>, tensor<2x2xi64>, tensor<2x3xi64>, tensor<3xf32>, tensor<3xi32>, tensor<2x1xi64>)
// CHECK-DAG: %[[S:.*]] = onnx.Constant {value = dense<{{\[}}[5, 3], [2, 0]]> : tensor<2x2xi64>}
// CHECK-DAG: %[[G:.*]] = onnx.Constant {value = dense<{{\[}}[2, 0], [5, 3]]> : tensor<2x2xi64>}
// CHECK-DAG: %[[C:.*]] = onnx.Constant {value = dense<{{\[}}[9, 2, 0], [8, 5, 3]]> : tensor<2x3xi64>}
// CHECK-DAG: %[[R:.*]] = onnx.Constant {value = dense<[5.000000e-01, 1.000000e+00, 1.500000e+00]> : tensor<3xf32>}
// CHECK-DAG: %[[I:.*]] = onnx.Constant {value = dense<[-1, 2, 3]> : tensor<3xi32>}
// CHECK-DAG: %[[Q:.*]] = onnx.Constant {value = dense<{{\[}}[3], [-3]]> : tensor<2x1xi64>}
// CHECK: return %[[S]], %[[G]], %[[C]], %[[R]], %[[I]], %[[Q]]
func.func @edges() -> (tensor<?x?xi64>, tensor<?x?xi64>, tensor<?x?xi64>, tensor<?xf32>, tensor<?xi32>, tensor<?x?xi64>) {
  %c = onnx.Constant {value = dense<[[0, 1, 2], [3, 4, 5]]> : tensor<2x3xi64>} : tensor<2x3xi64>
  %st = onnx.Constant {value = dense<[-1, -1]> : tensor<2xi64>} : tensor<2xi64>
  %en = onnx.Constant {value = dense<[-3, -100]> : tensor<2xi64>} : tensor<2xi64>
  %ax = onnx.Constant {value = dense<[0, 1]> : tensor<2xi64>} : tensor<2xi64>
  %sp = onnx.Constant {value = dense<[-1, -2]> : tensor<2xi64>} : tensor<2xi64>
  %s = "onnx.Slice"(%c, %st, %en, %ax, %sp) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}> : (tensor<2x3xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<?x?xi64>
  %idx = onnx.Constant {value = dense<[-1, 0]> : tensor<2xi64>} : tensor<2xi64>
  %g = onnx.Gather(%c, %idx) {axis = 1 : i64} : (tensor<2x3xi64>, tensor<2xi64>) -> tensor<?x?xi64>
  %a = onnx.Constant {value = dense<[[9], [8]]> : tensor<2x1xi64>} : tensor<2x1xi64>
  %cc = onnx.Concat(%a, %g) {axis = 1 : i64} : (tensor<2x1xi64>, tensor<?x?xi64>) -> tensor<?x?xi64>
  %f0 = onnx.Constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %f1 = onnx.Constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %r = onnx.Range(%f0, %f1, %f0) : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>
  %fl = onnx.Constant {value = dense<[-1.7, 2.9, 3.0]> : tensor<3xf32>} : tensor<3xf32>
  %ci = onnx.Cast(%fl) {to = 6 : i64} : (tensor<3xf32>) -> tensor<?xi32>
  %d = onnx.Constant {value = dense<[[7], [-7]]> : tensor<2x1xi64>} : tensor<2x1xi64>
  %two = onnx.Constant {value = dense<2> : tensor<i64>} : tensor<i64>
  %q = onnx.Div(%d, %two) : (tensor<2x1xi64>, tensor<i64>) -> tensor<?x?xi64>
  return %s, %g, %cc, %r, %ci, %q : tensor<?x?xi64>, tensor<?x?xi64>, tensor<?x?xi64>, tensor<?xf32>, tensor<?xi32>, tensor<?x?xi64>
}

// -----

// Size of a static tensor is its element count.
// CHECK-LABEL: func.func @size
// CHECK: %[[S:.*]] = onnx.Constant {value = dense<6> : tensor<i64>}
// CHECK: return %[[S]]
func.func @size(%x: tensor<2x3xf32>) -> tensor<i64> {
  %s = onnx.Size(%x) : (tensor<2x3xf32>) -> tensor<i64>
  return %s : tensor<i64>
}

// -----

// Integer arithmetic folds wrapping in two's complement: INT64_MIN / -1 and
// an overflowing add or multiply do not trap or overflow in the folder.
// CHECK-LABEL: func.func @fold_int64_wraps
// CHECK-DAG: onnx.Constant {value = dense<-9223372036854775808> : tensor<i64>}
// CHECK-DAG: onnx.Constant {value = dense<-9223372036854775807> : tensor<i64>}
// CHECK-DAG: onnx.Constant {value = dense<0> : tensor<i64>}
// CHECK-NOT: onnx.Div
// CHECK-NOT: onnx.Add
// CHECK-NOT: onnx.Mul
func.func @fold_int64_wraps() -> (tensor<i64>, tensor<i64>, tensor<i64>) {
  %min = onnx.Constant {value = dense<-9223372036854775808> : tensor<i64>} : tensor<i64>
  %max = onnx.Constant {value = dense<9223372036854775807> : tensor<i64>} : tensor<i64>
  %m1 = onnx.Constant {value = dense<-1> : tensor<i64>} : tensor<i64>
  %two = onnx.Constant {value = dense<2> : tensor<i64>} : tensor<i64>
  %q = onnx.Div(%min, %m1) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %s = onnx.Add(%max, %two) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %p = onnx.Mul(%min, %two) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  return %q, %s, %p : tensor<i64>, tensor<i64>, tensor<i64>
}

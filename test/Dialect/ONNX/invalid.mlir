// RUN: spatten-opt -split-input-file -verify-diagnostics %s

func.func @transpose_not_permutation(%x: tensor<2x3xf32>) {
  // expected-error @below {{'onnx.Transpose' op perm is not a permutation}}
  %t = onnx.Transpose(%x) {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  // expected-error @below {{'onnx.Concat' op all inputs must have rank 2}}
  %c = onnx.Concat(%a, %b) {axis = 0 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<5x3xf32>
  return
}

// -----

func.func @concat_axis(%a: tensor<2x3xf32>) {
  // expected-error @below {{'onnx.Concat' op axis 2 is out of range for rank 2}}
  %c = onnx.Concat(%a, %a) {axis = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @add_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @below {{'onnx.Add' op operand shapes are not broadcastable}}
  %c = onnx.Add(%a, %b) : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @add_result(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  // expected-error @below {{'onnx.Add' op result type 'tensor<3x3xf32>' does not match the broadcast shape}}
  %c = onnx.Add(%a, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
  return
}

// -----

func.func @matmul_k(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @below {{'onnx.MatMul' op contraction dims differ: 3 vs 4}}
  %c = onnx.MatMul(%a, %b) : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @gemm_rank(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) {
  // expected-error @below {{'onnx.Gemm' op A and B must have rank 2}}
  %c = "onnx.Gemm"(%a, %b) : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @softmax_axis(%a: tensor<2x3xf32>) {
  // expected-error @below {{'onnx.Softmax' op axis 2 is out of range for rank 2}}
  %c = onnx.Softmax(%a) {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @gather_indices(%a: tensor<2x3xf32>, %i: tensor<2xf32>) {
  // expected-error @below {{'onnx.Gather' op indices must be int32 or int64}}
  %c = onnx.Gather(%a, %i) : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>, %s: tensor<2xi64>) {
  // expected-error @below {{'onnx.Reshape' op cannot reshape 'tensor<2x3xf32>' into 'tensor<4x2xf32>'}}
  %c = onnx.Reshape(%a, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<4x2xf32>
  return
}

// -----

func.func @reshape_two_minus_one(%a: tensor<2x3xf32>) {
  %s = onnx.Constant {value = dense<[-1, -1]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Reshape' op 'shape' has more than one -1}}
  %c = onnx.Reshape(%a, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  return
}

// -----

func.func @squeeze_non_unit(%a: tensor<2x3xf32>) {
  %ax = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  // expected-error @below {{'onnx.Squeeze' op cannot squeeze axis 0 of size 2}}
  %c = "onnx.Squeeze"(%a, %ax) : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<3xf32>
  return
}

// -----

func.func @unsqueeze_rank(%a: tensor<2x3xf32>) {
  %ax = onnx.Constant {value = dense<0> : tensor<1xi64>} : tensor<1xi64>
  // expected-error @below {{'onnx.Unsqueeze' op result rank 2 is not input rank + number of axes}}
  %c = onnx.Unsqueeze(%a, %ax) : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x3xf32>
  return
}

// -----

func.func @cast_to(%a: tensor<2xf32>) {
  // expected-error @below {{'onnx.Cast' op result element type must be 'i64'}}
  %c = onnx.Cast(%a) {to = 7 : i64} : (tensor<2xf32>) -> tensor<2xi32>
  return
}

// -----

func.func @cast_unknown(%a: tensor<2xf32>) {
  // expected-error @below {{'onnx.Cast' op 'to' = 8 is not a supported ONNX data type}}
  %c = onnx.Cast(%a) {to = 8 : i64} : (tensor<2xf32>) -> tensor<2xi32>
  return
}

// -----

func.func @constant_type() {
  // expected-error @below {{'onnx.Constant' op value type 'tensor<2xi64>' differs from result type 'tensor<3xi64>'}}
  %c = onnx.Constant {value = dense<[1, 2]> : tensor<2xi64>} : tensor<3xi64>
  return
}

// -----

func.func @reduce_axes(%a: tensor<2x3xf32>) {
  // expected-error @below {{'onnx.ReduceMean' op reduction axis -1 is repeated}}
  %c = onnx.ReduceMean(%a) {axes = array<i64: 1, -1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  return
}

// -----

func.func @split_count(%a: tensor<4xf32>) {
  %s = onnx.Constant {value = dense<[1, 1, 2]> : tensor<3xi64>} : tensor<3xi64>
  // expected-error @below {{'onnx.Split' op 'split' has 3 entries for 2 results}}
  %c:2 = "onnx.Split"(%a, %s) : (tensor<4xf32>, tensor<3xi64>) -> (tensor<2xf32>, tensor<2xf32>)
  return
}

// -----

func.func @split_negative(%a: tensor<4xf32>) {
  %s = onnx.Constant {value = dense<[5, -1]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Split' op 'split' has -1, below the smallest allowed 0}}
  %c:2 = "onnx.Split"(%a, %s) : (tensor<4xf32>, tensor<2xi64>) -> (tensor<*xf32>, tensor<*xf32>)
  return
}

// -----

func.func @split_sum(%a: tensor<4x6xf32>) {
  %s = onnx.Constant {value = dense<[1, 5]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Split' op 'split' sums to 6, not the length 4 of axis 0}}
  %c:2 = "onnx.Split"(%a, %s) : (tensor<4x6xf32>, tensor<2xi64>) -> (tensor<*xf32>, tensor<*xf32>)
  return
}

// -----

func.func @split_sum_overflows(%a: tensor<?xf32>) {
  %s = onnx.Constant {value = dense<[4611686018427387904, 4611686018427387904]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Split' op 'split' sums past the int64 range}}
  %c:2 = "onnx.Split"(%a, %s) : (tensor<?xf32>, tensor<2xi64>) -> (tensor<*xf32>, tensor<*xf32>)
  return
}

// -----

func.func @range_scalars(%a: tensor<1xi64>) {
  // expected-error @below {{'onnx.Range' op start, limit and delta must be scalars}}
  %c = onnx.Range(%a, %a, %a) : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?xi64>
  return
}

// -----

func.func @shape_result(%a: tensor<2x3xf32>) {
  // expected-error @below {{'onnx.Shape' op result must be a 1-D int64 tensor}}
  %c = onnx.Shape(%a) : (tensor<2x3xf32>) -> tensor<2xi32>
  return
}

// -----

func.func @einsum_char(%a: tensor<2x3xf32>) {
  // expected-error @below {{'onnx.Einsum' op equation 'i1->i': term 'i1' has '1'; only letters and one '...' are allowed}}
  %r = onnx.Einsum(%a) {equation = "i1->i"} : (tensor<2x3xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @einsum_terms(%a: tensor<2x3xf32>) {
  // expected-error @below {{equation has 2 input terms for 1 inputs}}
  %r = onnx.Einsum(%a) {equation = "ij,jk->ik"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @einsum_rank(%a: tensor<2x3xf32>) {
  // expected-error @below {{term 'ijk' does not fit an operand of rank 2}}
  %r = onnx.Einsum(%a) {equation = "ijk->i"} : (tensor<2x3xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @einsum_output_letter(%a: tensor<2x3xf32>) {
  // expected-error @below {{output letter 'k' is not in any input}}
  %r = onnx.Einsum(%a) {equation = "ij->k"} : (tensor<2x3xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @einsum_sizes(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @below {{dim of size 4 does not match 3 for letter 'j'}}
  %r = onnx.Einsum(%a, %b) {equation = "ij,jk->ik"} : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @einsum_ellipsis(%a: tensor<2x3xf32>) {
  // expected-error @below {{term '...i...' has more than one '...'}}
  %r = onnx.Einsum(%a) {equation = "...i...->i"} : (tensor<2x3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @einsum_result(%a: tensor<2x3xf32>) {
  // expected-error @below {{result type 'tensor<2x3xf32>' does not match the equation's shape}}
  %r = onnx.Einsum(%a) {equation = "ij->ji"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @constant_of_shape_negative() {
  %s = onnx.Constant {value = dense<[2, -3]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.ConstantOfShape' op 'input' has -3, below the smallest allowed 0}}
  %c = onnx.ConstantOfShape(%s) : (tensor<2xi64>) -> tensor<*xf32>
  return
}

// -----

func.func @expand_negative(%x: tensor<3xf32>) {
  %s = onnx.Constant {value = dense<[-1, 3]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Expand' op 'shape' has -1, below the smallest allowed 0}}
  %c = onnx.Expand(%x, %s) : (tensor<3xf32>, tensor<2xi64>) -> tensor<*xf32>
  return
}

// -----

func.func @tile_negative(%x: tensor<2xf32>) {
  %r = onnx.Constant {value = dense<-2> : tensor<1xi64>} : tensor<1xi64>
  // expected-error @below {{'onnx.Tile' op 'repeats' has -2, below the smallest allowed 0}}
  %t = onnx.Tile(%x, %r) : (tensor<2xf32>, tensor<1xi64>) -> tensor<*xf32>
  return
}

// -----

func.func @tile_repeats(%x: tensor<2xf32>) {
  %r = onnx.Constant {value = dense<[1, 2]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Tile' op 'repeats' has 2 entries for rank 1}}
  %t = onnx.Tile(%x, %r) : (tensor<2xf32>, tensor<2xi64>) -> tensor<*xf32>
  return
}

// -----

func.func @reshape_negative(%x: tensor<6xf32>) {
  %s = onnx.Constant {value = dense<[-2, 3]> : tensor<2xi64>} : tensor<2xi64>
  // expected-error @below {{'onnx.Reshape' op 'shape' has -2, below the smallest allowed -1}}
  %r = onnx.Reshape(%x, %s) : (tensor<6xf32>, tensor<2xi64>) -> tensor<*xf32>
  return
}

// -----

func.func @trilu_rank(%x: tensor<3xf32>) {
  // expected-error @below {{'onnx.Trilu' op input must have rank >= 2, got 1}}
  %t = "onnx.Trilu"(%x) : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @trilu_k(%x: tensor<3x3xf32>, %k: tensor<2xi64>) {
  // expected-error @below {{'onnx.Trilu' op 'k' must be a scalar}}
  %t = "onnx.Trilu"(%x, %k) : (tensor<3x3xf32>, tensor<2xi64>) -> tensor<3x3xf32>
  return
}

// -----

func.func @cumsum_axis(%x: tensor<3xf32>) {
  %a = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  // expected-error @below {{'onnx.CumSum' op axis 1 is out of range for rank 1}}
  %c = onnx.CumSum(%x, %a) : (tensor<3xf32>, tensor<i64>) -> tensor<3xf32>
  return
}

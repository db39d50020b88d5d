// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file -verify-diagnostics

// Computed embedding ids that fp32 cannot hold exactly, or that may leave
// the table, are refused at the lookup, naming the node and the reason
// (IndexArithmetic.h); the ops that only compute them add no errors.

// An input computed with as a number is taken for a 0/1 mask (the host
// checks it); times 2^24 it passes what fp32 holds exactly.
func.func @mask_times_2_24(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %big = onnx.Constant {value = dense<16777215> : tensor<i64>} : tensor<i64>
  %one = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %m = onnx.Mul(%ids, %big) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64>
  %p = onnx.Add(%m, %one) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64> loc("Add_3")
  // expected-error @+1 {{looks up table rows by indices it cannot compute: the Add at node 'Add_3' may reach 1.68e+07, beyond the 2^24 up to which fp32 holds every integer}}
  %y = onnx.Gather(%table, %p) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// A product that may pass 2^24.
func.func @past_2_24(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %big = onnx.Constant {value = dense<8388608> : tensor<i64>} : tensor<i64>
  %axis = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %e = onnx.Equal(%ids, %zero) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi1>
  %m = onnx.Cast(%e) {to = 7 : i64} : (tensor<1x3xi1>) -> tensor<1x3xi64>
  %c = onnx.CumSum(%m, %axis) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64>
  %p = onnx.Mul(%c, %big) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64> loc("Mul_9")
  // expected-error @+1 {{the Mul at node 'Mul_9' may reach 2.52e+07, beyond the 2^24 up to which fp32 holds every integer}}
  %y = onnx.Gather(%table, %p) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// RoBERTa's positions for 8 tokens reach 9: past a table of 8 rows.
func.func @past_the_table(%ids: tensor<1x8xi64>) -> tensor<1x8x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %pad = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %axis = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %e = onnx.Equal(%ids, %pad) : (tensor<1x8xi64>, tensor<i64>) -> tensor<1x8xi1>
  %n = onnx.Not(%e) : (tensor<1x8xi1>) -> tensor<1x8xi1>
  %m = onnx.Cast(%n) {to = 7 : i64} : (tensor<1x8xi1>) -> tensor<1x8xi64>
  %c = onnx.CumSum(%m, %axis) : (tensor<1x8xi64>, tensor<i64>) -> tensor<1x8xi64>
  %cm = onnx.Mul(%c, %m) : (tensor<1x8xi64>, tensor<1x8xi64>) -> tensor<1x8xi64>
  %p = onnx.Add(%cm, %pad) : (tensor<1x8xi64>, tensor<i64>) -> tensor<1x8xi64>
  // expected-error @+1 {{the indices may reach [1, 9], outside the table's 8 rows}}
  %y = onnx.Gather(%table, %p) : (tensor<8x4xf32>, tensor<1x8xi64>) -> tensor<1x8x4xf32>
  return %y : tensor<1x8x4xf32>
}

// -----

// An op the vector unit does not compute exactly (integer division); the
// Equal also feeds the result, so it reports its own refusal.
func.func @integer_division(%ids: tensor<1x3xi64>) -> (tensor<1x3x4xf32>, tensor<1x3xi1>) {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %two = onnx.Constant {value = dense<2> : tensor<i64>} : tensor<i64>
  // expected-error @+1 {{ONNX Equal node '<unnamed>' has no lowering to the spatten dialect}}
  %e = onnx.Equal(%ids, %zero) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi1>
  %m = onnx.Cast(%e) {to = 7 : i64} : (tensor<1x3xi1>) -> tensor<1x3xi64>
  %d = onnx.Div(%m, %two) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64> loc("Div_2")
  // expected-error @+1 {{the Div at node 'Div_2' is not index arithmetic the vector unit computes exactly (Equal, Not, And, Or, Where, Cast, Add, Sub, Mul, Max, Min, CumSum and reshapes are)}}
  %y = onnx.Gather(%table, %d) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %y, %e : tensor<1x3x4xf32>, tensor<1x3xi1>
}

// -----

// Ids widened from a narrow integer input: lookups read int32 or int64.
func.func @narrow_ids(%ids: tensor<1x3xi16> {onnx.name = "ids"}) -> tensor<1x3x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %w = onnx.Cast(%ids) {to = 7 : i64} : (tensor<1x3xi16>) -> tensor<1x3xi64>
  // expected-error @+1 {{looks up table rows by indices it cannot compute: graph input 'ids' holds 16-bit integers; ids are int32 or int64}}
  %y = onnx.Gather(%table, %w) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

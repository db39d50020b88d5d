// RUN: spatten-opt %s --convert-onnx-to-spatten -split-input-file | FileCheck %s

// Embedding indices computed from an integer input are rebuilt in fp32 on
// the vector unit, then cast to int32 for the lookup (IndexArithmetic.h).

// RoBERTa's position ids (torch export of Hugging Face's
// create_position_ids_from_input_ids, padding_idx 1): padding keeps
// position 1, the other tokens count from 2. input_ids != 1 is
// min((x - 1)^2, 1): Not(Equal) complements the Equal's complement away.
// CHECK-LABEL: func @roberta_positions
// CHECK: %[[X:.*]] = spatten.cast %arg0 : (tensor<2x5xi64>) -> tensor<2x5xf32>
// CHECK: %[[D:.*]] = spatten.binary <sub> %[[X]], %{{.*}} : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
// CHECK: %[[SQ:.*]] = spatten.binary <mul> %[[D]], %[[D]]
// CHECK: %[[REAL:.*]] = spatten.binary <min> %[[SQ]], %{{.*}}
// CHECK-NOT: spatten.binary <sub>
// CHECK: %[[SUMS:.*]] = spatten.cumsum %[[REAL]] : tensor<2x5xf32>
// CHECK: %[[M:.*]] = spatten.binary <mul> %[[SUMS]], %[[REAL]]
// CHECK: %[[P:.*]] = spatten.binary <add> %[[M]], %{{.*}}
// CHECK: %[[I:.*]] = spatten.cast %[[P]] : (tensor<2x5xf32>) -> tensor<2x5xi32>
// CHECK: spatten.embedding %[[I]], %{{.*}} : (tensor<2x5xi32>, tensor<8x4xf32>) -> tensor<2x5x4xf32>
// CHECK-NOT: onnx.
func.func @roberta_positions(%ids: tensor<2x5xi64>) -> tensor<2x5x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %pad = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %axis = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %e = onnx.Equal(%ids, %pad) : (tensor<2x5xi64>, tensor<i64>) -> tensor<2x5xi1>
  %n = onnx.Not(%e) : (tensor<2x5xi1>) -> tensor<2x5xi1>
  %m = onnx.Cast(%n) {to = 6 : i64} : (tensor<2x5xi1>) -> tensor<2x5xi32>
  %c = onnx.CumSum(%m, %axis) : (tensor<2x5xi32>, tensor<i64>) -> tensor<2x5xi32>
  %cm = onnx.Mul(%c, %m) : (tensor<2x5xi32>, tensor<2x5xi32>) -> tensor<2x5xi32>
  %l = onnx.Cast(%cm) {to = 7 : i64} : (tensor<2x5xi32>) -> tensor<2x5xi64>
  %p = onnx.Add(%l, %pad) : (tensor<2x5xi64>, tensor<i64>) -> tensor<2x5xi64>
  %y = onnx.Gather(%table, %p) : (tensor<8x4xf32>, tensor<2x5xi64>) -> tensor<2x5x4xf32>
  return %y : tensor<2x5x4xf32>
}

// -----

// CumSum along a leading axis runs along rows after a transpose, and back;
// exclusive and reverse carry over. The bool input counts as 0/1; a
// comparison with 0 needs no subtraction.
// CHECK-LABEL: func @cumsum_leading_axis
// CHECK: %[[X:.*]] = spatten.cast %arg0 : (tensor<3x2xi64>) -> tensor<3x2xf32>
// CHECK: spatten.binary <mul> %[[X]], %[[X]]
// CHECK: %[[T:.*]] = spatten.transpose %{{.*}} [1, 0] : (tensor<3x2xf32>) -> tensor<2x3xf32>
// CHECK: %[[S:.*]] = spatten.cumsum %[[T]] {exclusive, reverse} : tensor<2x3xf32>
// CHECK: spatten.transpose %[[S]] [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK: spatten.cast %{{.*}} : (tensor<3x2xf32>) -> tensor<3x2xi32>
func.func @cumsum_leading_axis(%ids: tensor<3x2xi64>) -> tensor<3x2x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %axis = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %e = onnx.Equal(%ids, %zero) : (tensor<3x2xi64>, tensor<i64>) -> tensor<3x2xi1>
  %m = onnx.Cast(%e) {to = 7 : i64} : (tensor<3x2xi1>) -> tensor<3x2xi64>
  %c = onnx.CumSum(%m, %axis) {exclusive = 1 : i64, reverse = 1 : i64} : (tensor<3x2xi64>, tensor<i64>) -> tensor<3x2xi64>
  %y = onnx.Gather(%table, %c) : (tensor<8x4xf32>, tensor<3x2xi64>) -> tensor<3x2x4xf32>
  return %y : tensor<3x2x4xf32>
}

// -----

// A widened graph input is looked up as it is: every int32 value is an
// int64 value.
// CHECK-LABEL: func @widened_input
// CHECK: spatten.embedding %arg0, %{{.*}} : (tensor<1x3xi32>, tensor<8x4xf32>) -> tensor<1x3x4xf32>
func.func @widened_input(%ids: tensor<1x3xi32>) -> tensor<1x3x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %w = onnx.Cast(%ids) {to = 7 : i64} : (tensor<1x3xi32>) -> tensor<1x3xi64>
  %y = onnx.Gather(%table, %w) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// Where(c, x, y) is y + c * (x - y); Max and Min are the vector unit's.
// CHECK-LABEL: func @where_max
// CHECK: %[[XY:.*]] = spatten.binary <sub> %{{.*}}, %{{.*}} : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK: %[[CXY:.*]] = spatten.binary <mul> %{{.*}}, %[[XY]] : (tensor<1x3xf32>, tensor<f32>) -> tensor<1x3xf32>
// CHECK: %[[W:.*]] = spatten.binary <add> %{{.*}}, %[[CXY]] : (tensor<f32>, tensor<1x3xf32>) -> tensor<1x3xf32>
// CHECK: spatten.binary <max> %[[W]], %{{.*}} : (tensor<1x3xf32>, tensor<f32>) -> tensor<1x3xf32>
func.func @where_max(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %zero = onnx.Constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %three = onnx.Constant {value = dense<3> : tensor<i64>} : tensor<i64>
  %five = onnx.Constant {value = dense<5> : tensor<i64>} : tensor<i64>
  %four = onnx.Constant {value = dense<4> : tensor<i64>} : tensor<i64>
  %e = onnx.Equal(%ids, %zero) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi1>
  %w = onnx.Where(%e, %three, %five) : (tensor<1x3xi1>, tensor<i64>, tensor<i64>) -> tensor<1x3xi64>
  %m = onnx.Max(%w, %four) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64>
  %y = onnx.Gather(%table, %m) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// OPT counts positions from its attention_mask, cumsum(mask) * mask - 1,
// read at row + 2. Computed with as a number, the mask is taken for a 0/1
// mask, which its argument records for the host to check.
// CHECK-LABEL: func @opt_positions
// CHECK-SAME: %arg0: tensor<2x5xi64> {onnx.name = "attention_mask", spatten.value_range = array<i64: 0, 1>}
// CHECK: %[[M:.*]] = spatten.cast %arg0 : (tensor<2x5xi64>) -> tensor<2x5xf32>
// CHECK: %[[S:.*]] = spatten.cumsum %[[M]] : tensor<2x5xf32>
// CHECK: spatten.binary <mul> %[[S]], %[[M]]
// CHECK: spatten.cast %{{.*}} : (tensor<2x5xf32>) -> tensor<2x5xi32>
func.func @opt_positions(%mask: tensor<2x5xi64> {onnx.name = "attention_mask"}) -> tensor<2x5x4xf32> {
  %table = onnx.Constant {value = dense<0.5> : tensor<9x4xf32>} : tensor<9x4xf32>
  %axis = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %one = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %two = onnx.Constant {value = dense<2> : tensor<i64>} : tensor<i64>
  %c = onnx.CumSum(%mask, %axis) : (tensor<2x5xi64>, tensor<i64>) -> tensor<2x5xi64>
  %cm = onnx.Mul(%c, %mask) : (tensor<2x5xi64>, tensor<2x5xi64>) -> tensor<2x5xi64>
  %p = onnx.Sub(%cm, %one) : (tensor<2x5xi64>, tensor<i64>) -> tensor<2x5xi64>
  %r = onnx.Add(%p, %two) : (tensor<2x5xi64>, tensor<i64>) -> tensor<2x5xi64>
  %y = onnx.Gather(%table, %r) : (tensor<9x4xf32>, tensor<2x5xi64>) -> tensor<2x5x4xf32>
  return %y : tensor<2x5x4xf32>
}

// -----

// Ids that also index a table are in [0, rows) (the host checks them), so
// ids + 1 indexes a table one row longer.
// CHECK-LABEL: func @ids_plus_one
// CHECK-NOT: spatten.value_range
// CHECK: spatten.embedding %arg0
// CHECK: spatten.binary <add>
// CHECK: spatten.embedding
func.func @ids_plus_one(%ids: tensor<1x3xi64>) -> (tensor<1x3x4xf32>, tensor<1x3x4xf32>) {
  %words = onnx.Constant {value = dense<0.5> : tensor<8x4xf32>} : tensor<8x4xf32>
  %next = onnx.Constant {value = dense<0.25> : tensor<9x4xf32>} : tensor<9x4xf32>
  %one = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %w = onnx.Gather(%words, %ids) : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %p = onnx.Add(%ids, %one) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64>
  %y = onnx.Gather(%next, %p) : (tensor<9x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %w, %y : tensor<1x3x4xf32>, tensor<1x3x4xf32>
}


// -----

// The same when the word lookup was lifted first: ids indexing a table are
// never taken for a 0/1 mask.
// CHECK-LABEL: func @ids_plus_one_after_the_lookup
// CHECK-NOT: spatten.value_range
// CHECK: spatten.embedding %arg0
// CHECK: spatten.binary <add>
func.func @ids_plus_one_after_the_lookup(%ids: tensor<1x3xi64>) -> (tensor<1x3x4xf32>, tensor<1x3x4xf32>) {
  %words = arith.constant dense<0.5> : tensor<8x4xf32>
  %next = onnx.Constant {value = dense<0.25> : tensor<9x4xf32>} : tensor<9x4xf32>
  %one = onnx.Constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %w = spatten.embedding %ids, %words : (tensor<1x3xi64>, tensor<8x4xf32>) -> tensor<1x3x4xf32>
  %p = onnx.Add(%ids, %one) : (tensor<1x3xi64>, tensor<i64>) -> tensor<1x3xi64>
  %y = onnx.Gather(%next, %p) : (tensor<9x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  return %w, %y : tensor<1x3x4xf32>, tensor<1x3x4xf32>
}

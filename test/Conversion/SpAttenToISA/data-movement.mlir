// RUN: spatten-opt %s --convert-spatten-to-isa -split-input-file | FileCheck %s

// Token ids are loaded (int64) into the index buffer and drive a gather of
// table rows.
// CHECK-LABEL: spatten_isa.program @embedding
// CHECK: spatten_isa.load {{.*}}cols = 3 : i64{{.*}}dtype = 1 : i64{{.*}}sram_buf = 0 : i64{{.*}}tensor_class = 9 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}cols = 4 : i64, dram_addr = 0 : i64, dram_stride = 16 : i64{{.*}}rows = 3 : i64
// CHECK-NEXT: spatten_isa.store
func.func @embedding(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %t = arith.constant dense<2.0> : tensor<10x4xf32>
  %e = spatten.embedding %ids, %t : (tensor<1x3xi64>, tensor<10x4xf32>) -> tensor<1x3x4xf32>
  return %e : tensor<1x3x4xf32>
}

// -----

// A transpose that moves the last dim copies one element per DMA row.
// CHECK-LABEL: spatten_isa.program @transpose
// CHECK: spatten_isa.load {{.*}}cols = 1 : i64, dram_addr = 4096 : i64, dram_stride = 12 : i64{{.*}}rows = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 1 : i64{{.*}}dram_stride = 4 : i64{{.*}}rows = 2 : i64
// CHECK-COUNT-2: spatten_isa.load
// CHECK: spatten_isa.sync
func.func @transpose(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %t = spatten.transpose %x [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}

// -----

// Reshapes alias their input: no instructions, the output is the input.
// CHECK-LABEL: spatten_isa.program @reshape
// CHECK-SAME: outputs = [{addr = 4096 : i64
// CHECK-NEXT: spatten_isa.halt
func.func @reshape(%x: tensor<2x3xf32>) -> tensor<6xf32> {
  %r = spatten.reshape %x : (tensor<2x3xf32>) -> tensor<6xf32>
  return %r : tensor<6xf32>
}

// -----

// Concat writes each input at its offset along the axis; slice reads with
// the slice's offset and strides; cast converts int64 on load, and fp32
// to int32 on store.
// CHECK-LABEL: spatten_isa.program @concat_slice_cast
// CHECK: spatten_isa.store {{.*}}dram_stride = 20 : i64{{.*}}rows = 2 : i64
// CHECK: spatten_isa.store {{.*}}dram_addr = 4300 : i64, dram_stride = 20 : i64
// CHECK: spatten_isa.load {{.*}}dram_addr = 4100 : i64, dram_stride = 24 : i64
// CHECK: spatten_isa.load {{.*}}dtype = 1 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dtype = 0 : i64
// CHECK: spatten_isa.load {{.*}}dtype = 0 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}dtype = 2 : i64
func.func @concat_slice_cast(%x: tensor<2x3xf32>, %y: tensor<2x2xf32>, %i: tensor<2xi64>) -> (tensor<1x4xf32>, tensor<2xf32>, tensor<2x3xi32>) {
  %c = spatten.concat %x, %y {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x2xf32>) -> tensor<2x5xf32>
  %s = spatten.slice %x [0, 1] [2, 1] : (tensor<2x3xf32>) -> tensor<1x2xf32>
  %s2 = spatten.slice %c [0, 1] [1, 1] : (tensor<2x5xf32>) -> tensor<1x4xf32>
  %f = spatten.cast %i : (tensor<2xi64>) -> tensor<2xf32>
  %n = spatten.cast %x : (tensor<2x3xf32>) -> tensor<2x3xi32>
  return %s2, %f, %n : tensor<1x4xf32>, tensor<2xf32>, tensor<2x3xi32>
}

// -----

// Token pruning: the kept indices go to the idx buffer (int64 converted),
// then one index-gather DMA fetches the kept rows.
// CHECK-LABEL: spatten_isa.program @prune_tokens
// CHECK: spatten_isa.load {{.*}}cols = 2 : i64{{.*}}dtype = 1 : i64{{.*}}sram_buf = 0 : i64{{.*}}tensor_class = 9 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}cols = 6 : i64, dram_addr = 4096 : i64, dram_stride = 24 : i64{{.*}}idx_off = 0 : i64, idx_period = 2 : i64{{.*}}period_stride = 120 : i64{{.*}}rows = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 6 : i64{{.*}}rows = 2 : i64
func.func @prune_tokens(%x: tensor<1x5x6xf32>, %i: tensor<1x2xi64>) -> tensor<1x2x6xf32> {
  %p = spatten.prune_tokens %x, %i : tensor<1x5x6xf32>, tensor<1x2xi64> -> tensor<1x2x6xf32>
  return %p : tensor<1x2x6xf32>
}

// -----

// Head pruning of a [K, H*D] weight's columns: one periodic gather takes
// the kept heads' D-wide blocks of all 3 rows: row r reads index entry
// r % 2, one 32-byte matrix row further every 2 rows.
// CHECK-LABEL: spatten_isa.program @prune_head_columns
// CHECK: spatten_isa.load {{.*}}sram_buf = 0 : i64
// CHECK-NEXT: spatten_isa.gather {{.*}}cols = 2 : i64{{.*}}dram_stride = 8 : i64{{.*}}idx_period = 2 : i64{{.*}}period_stride = 32 : i64{{.*}}rows = 6 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}rows = 6 : i64
// CHECK-NOT: spatten_isa.gather
func.func @prune_head_columns(%w: tensor<3x8xf32>, %h: tensor<2xi64>) -> tensor<3x4xf32> {
  %p = spatten.prune_heads %w, %h {num_heads = 4 : i64, axis = 1 : i64} : tensor<3x8xf32>, tensor<2xi64> -> tensor<3x4xf32>
  return %p : tensor<3x4xf32>
}

// -----

// Graph inputs record what the host checks: ids that index tables of 8 and
// 6 rows must be in [0, 6) and are not wrapped (the tables would disagree);
// a mask the program computes with as 0/1 keeps its value_range.
// CHECK-LABEL: spatten_isa.program @input_checks
// CHECK-SAME: inputs = [{addr = {{[0-9]+}} : i64, dtype = "int64", index_rows = 6 : i64, index_wraps = false, name = "ids", shape = [1, 3]}, {addr = {{[0-9]+}} : i64, dtype = "int64", name = "mask", shape = [1, 3], value_range = array<i64: 0, 1>}]
func.func @input_checks(%ids: tensor<1x3xi64> {onnx.name = "ids"}, %mask: tensor<1x3xi64> {onnx.name = "mask", spatten.value_range = array<i64: 0, 1>}) -> (tensor<1x3x4xf32>, tensor<1x3x4xf32>, tensor<1x3xf32>) {
  %a = arith.constant dense<0.5> : tensor<8x4xf32>
  %b = arith.constant dense<0.25> : tensor<6x4xf32>
  %x = spatten.embedding %ids, %a : (tensor<1x3xi64>, tensor<8x4xf32>) -> tensor<1x3x4xf32>
  %y = spatten.embedding %ids, %b : (tensor<1x3xi64>, tensor<6x4xf32>) -> tensor<1x3x4xf32>
  %m = spatten.cast %mask : (tensor<1x3xi64>) -> tensor<1x3xf32>
  return %x, %y, %m : tensor<1x3x4xf32>, tensor<1x3x4xf32>, tensor<1x3xf32>
}

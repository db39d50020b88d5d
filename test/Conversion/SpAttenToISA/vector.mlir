// RUN: spatten-opt %s --convert-spatten-to-isa -split-input-file | FileCheck %s

// Scalar constants become the VEC immediate; `1 - x` swaps the operands.
// CHECK-LABEL: spatten_isa.program @scalar
// CHECK: spatten_isa.vec {{{.*}}flags = 5 : i64, func = 2 : i64{{.*}}imm = 1.000000e+00 : f32
// CHECK: spatten_isa.vec {{{.*}}flags = 1 : i64, func = 3 : i64{{.*}}imm = -1.000000e+04 : f32
func.func @scalar(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %one = arith.constant dense<1.0> : tensor<f32>
  %big = arith.constant dense<-10000.0> : tensor<1xf32>
  %a = spatten.binary <sub> %one, %x : (tensor<f32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %b = spatten.binary <mul> %a, %big : (tensor<2x4xf32>, tensor<1xf32>) -> tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// -----

// A [4] bias broadcast over rows is loaded once and read with stride 0; a
// [2,1] operand is one value per row (flags 2).
// CHECK-LABEL: spatten_isa.program @broadcast
// CHECK: spatten_isa.load {{.*}}rows = 1 : i64, sram_buf = 2 : i64
// CHECK: spatten_isa.vec {{{.*}}flags = 0 : i64, func = 1 : i64{{.*}}rows = 2 : i64{{.*}}y_stride = 0 : i64
// CHECK: spatten_isa.vec {{{.*}}flags = 2 : i64, func = 4 : i64{{.*}}y_stride = 1 : i64
func.func @broadcast(%x: tensor<2x4xf32>, %b: tensor<4xf32>, %r: tensor<2x1xf32>) -> tensor<2x4xf32> {
  %a = spatten.binary <add> %x, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %c = spatten.binary <div> %a, %r : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %c : tensor<2x4xf32>
}

// -----

// A [1,2,4] operand repeats across the batch of a [3,2,4] result: one VEC
// per batch, each reading the same two rows.
// CHECK-LABEL: spatten_isa.program @batch_broadcast
// CHECK-COUNT-3: spatten_isa.vec {{{.*}}func = 1 : i64{{.*}}rows = 2 : i64
func.func @batch_broadcast(%x: tensor<3x2x4xf32>, %p: tensor<1x2x4xf32>) -> tensor<3x2x4xf32> {
  %a = spatten.binary <add> %x, %p : (tensor<3x2x4xf32>, tensor<1x2x4xf32>) -> tensor<3x2x4xf32>
  return %a : tensor<3x2x4xf32>
}

// -----

// CHECK-LABEL: spatten_isa.program @rowwise
// CHECK: spatten_isa.vec {{{.*}}func = 19 : i64{{.*}}imm = 9.99999974E-6 : f32
// CHECK: spatten_isa.vec {{{.*}}func = 17 : i64
// CHECK: spatten_isa.vec {{{.*}}func = 18 : i64
// CHECK: spatten_isa.vec {{{.*}}func = 20 : i64
// CHECK: spatten_isa.vec {{{.*}}func = 13 : i64
func.func @rowwise(%x: tensor<2x4xf32>, %g: tensor<4xf32>) -> tensor<2x4xf32> {
  %n = spatten.layer_norm %x, %g, %g {epsilon = 1.0e-5 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %a = spatten.gelu %n <erf> : tensor<2x4xf32>
  %b = spatten.gelu %a <tanh> : tensor<2x4xf32>
  %c = spatten.softmax %b : tensor<2x4xf32>
  %d = spatten.unary <tanh> %c : tensor<2x4xf32>
  return %d : tensor<2x4xf32>
}

// -----

// A rotary embedding of two heads of width 4 over [2, 3, 8]: per batch the
// token rows stream through act; the cos and sin rows of the three
// positions are loaded once into the weight buffer (one tile holds every
// token), and one `vec rotary` (func 28) per head reads its columns h*4..
// with the row stride 8.
// CHECK-LABEL: spatten_isa.program @rotary
// CHECK: spatten_isa.load {{.*}}cols = 8 : i64{{.*}}rows = 3 : i64, sram_buf = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}cols = 4 : i64{{.*}}sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 4 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}cols = 4 : i64{{.*}}sram_buf = 2 : i64, sram_off = 12 : i64, sram_stride = 4 : i64
// CHECK-NEXT: spatten_isa.vec {cols = 4 : i64, flags = 0 : i64, func = 28 : i64{{.*}}w_buf = 2 : i64, w_off = 12 : i64, w_stride = 4 : i64, x_buf = 1 : i64, x_off = 0 : i64, x_stride = 8 : i64, y_buf = 2 : i64, y_off = 0 : i64, y_stride = 4 : i64, z_buf = 3 : i64, z_off = 0 : i64, z_stride = 8 : i64}
// CHECK-NEXT: spatten_isa.vec {{{.*}}func = 28 : i64{{.*}}x_off = 4 : i64{{.*}}z_off = 4 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 8 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}cols = 8 : i64
// CHECK-NEXT: spatten_isa.vec {{{.*}}func = 28 : i64
// CHECK-NEXT: spatten_isa.vec {{{.*}}func = 28 : i64
// CHECK-NEXT: spatten_isa.store
func.func @rotary(%x: tensor<2x3x8xf32>, %cos: tensor<3x4xf32>, %sin: tensor<3x4xf32>) -> tensor<2x3x8xf32> {
  %r = spatten.rotary_embedding %x, %cos, %sin : (tensor<2x3x8xf32>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<2x3x8xf32>
  return %r : tensor<2x3x8xf32>
}

// -----

// A partial rotary embedding (GPT-NeoX): heads of width 4, of which the
// first 2 columns are rotated by [3, 2] tables. Each head's `vec rotary`
// rotates 2 columns in place in act (z = x), so columns 2..3 pass through,
// and the store reads act.
// CHECK-LABEL: spatten_isa.program @partial_rotary
// CHECK: spatten_isa.load {{.*}}cols = 8 : i64{{.*}}rows = 3 : i64, sram_buf = 1 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}cols = 2 : i64{{.*}}sram_buf = 2 : i64, sram_off = 0 : i64, sram_stride = 2 : i64
// CHECK-NEXT: spatten_isa.load {{.*}}cols = 2 : i64{{.*}}sram_buf = 2 : i64, sram_off = 6 : i64, sram_stride = 2 : i64
// CHECK-NEXT: spatten_isa.vec {cols = 2 : i64, flags = 0 : i64, func = 28 : i64{{.*}}x_buf = 1 : i64, x_off = 0 : i64, x_stride = 8 : i64{{.*}}z_buf = 1 : i64, z_off = 0 : i64, z_stride = 8 : i64}
// CHECK-NEXT: spatten_isa.vec {{{.*}}func = 28 : i64{{.*}}x_buf = 1 : i64, x_off = 4 : i64{{.*}}z_buf = 1 : i64, z_off = 4 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 8 : i64{{.*}}sram_buf = 1 : i64
func.func @partial_rotary(%x: tensor<2x3x8xf32>, %cos: tensor<3x2xf32>, %sin: tensor<3x2xf32>) -> tensor<2x3x8xf32> {
  %r = spatten.rotary_embedding %x, %cos, %sin {head_dim = 4} : (tensor<2x3x8xf32>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<2x3x8xf32>
  return %r : tensor<2x3x8xf32>
}

// -----

// Running sums along each row: one `vec row_cumsum` (func 29) per row
// tile, exclusive and reverse as flag bits 16 and 32.
// CHECK-LABEL: spatten_isa.program @cumsum
// CHECK: spatten_isa.load {{.*}}cols = 5 : i64{{.*}}rows = 2 : i64
// CHECK-NEXT: spatten_isa.vec {cols = 5 : i64, flags = 0 : i64, func = 29 : i64{{.*}}rows = 2 : i64
// CHECK-NEXT: spatten_isa.store {{.*}}cols = 5 : i64
// CHECK: spatten_isa.vec {cols = 5 : i64, flags = 48 : i64, func = 29 : i64
func.func @cumsum(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %a = spatten.cumsum %x : tensor<2x5xf32>
  %b = spatten.cumsum %a {exclusive, reverse} : tensor<2x5xf32>
  return %b : tensor<2x5xf32>
}

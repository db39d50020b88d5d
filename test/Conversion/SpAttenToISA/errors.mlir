// RUN: spatten-opt %s --convert-spatten-to-isa -split-input-file -verify-diagnostics
// RUN: not spatten-opt %s --convert-spatten-to-isa=hw=does-not-exist.json 2>&1 | FileCheck %s --check-prefix=HW

// HW: hardware configuration: {{.*}}does-not-exist.json

func.func @too_many_keys(%q: tensor<1x5000x64xf32>) -> tensor<1x5000x64xf32> {
  // expected-error @+1 {{5000 keys exceed the 4096 elements of the mask buffer, which holds a mask row of every key}}
  %o = spatten.attention %q, %q, %q {num_heads = 1 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : (tensor<1x5000x64xf32>, tensor<1x5000x64xf32>, tensor<1x5000x64xf32>) -> tensor<1x5000x64xf32>
  return %o : tensor<1x5000x64xf32>
}

// -----

func.func @row_too_wide(%x: tensor<1x100000xf32>) -> tensor<1x100000xf32> {
  // expected-error @+1 {{a row of 100000 elements does not fit the act buffer (262144 bytes); tiling a row is not implemented}}
  %s = spatten.softmax %x : tensor<1x100000xf32>
  return %s : tensor<1x100000xf32>
}

// -----

// Several functions must be a generation binary's entry points.
// expected-error @+1 {{expected one func.func to lower, or entry points marked spatten.entry, found 2 functions}}
module {
  func.func @a() { return }
  func.func @b() { return }
}

// -----

// Probabilities that something other than attention_output and
// token_importance reads cannot stay in the fused ATTN instructions.
func.func @probs_escape(%q: tensor<1x3x8xf32>) -> (tensor<1x2x3x3xf32>, tensor<1x3x8xf32>) {
  %p = spatten.attention_probs %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : tensor<1x3x8xf32>, tensor<1x3x8xf32> -> tensor<1x2x3x3xf32>
  %o = spatten.attention_output %p, %q : tensor<1x2x3x3xf32>, tensor<1x3x8xf32> -> tensor<1x3x8xf32>
  // expected-error @+1 {{reads attention probabilities; lowering it to spatten_isa is not implemented}}
  return %p, %o : tensor<1x2x3x3xf32>, tensor<1x3x8xf32>
}

// -----

// The ATTN instructions that accumulate importance run where the attention
// output is computed, so nothing may read the importance earlier.
func.func @importance_read_early(%q: tensor<1x3x8xf32>, %s: tensor<1x3xf32>) -> (tensor<1x3xf32>, tensor<1x3x8xf32>) {
  %p = spatten.attention_probs %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : tensor<1x3x8xf32>, tensor<1x3x8xf32> -> tensor<1x2x3x3xf32>
  %s1 = spatten.token_importance %p, %s : tensor<1x2x3x3xf32>, tensor<1x3xf32> -> tensor<1x3xf32>
  // expected-error @+1 {{reads an importance before its attention output is computed (not implemented)}}
  %s2 = spatten.binary <add> %s1, %s1 : (tensor<1x3xf32>, tensor<1x3xf32>) -> tensor<1x3xf32>
  %o = spatten.attention_output %p, %q : tensor<1x2x3x3xf32>, tensor<1x3x8xf32> -> tensor<1x3x8xf32>
  return %s2, %o : tensor<1x3xf32>, tensor<1x3x8xf32>
}

// -----

func.func @no_output(%q: tensor<1x3x8xf32>, %s: tensor<1x3xf32>) -> tensor<1x3xf32> {
  // expected-error @+1 {{has no attention_output to fuse with (not implemented)}}
  %p = spatten.attention_probs %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>} : tensor<1x3x8xf32>, tensor<1x3x8xf32> -> tensor<1x2x3x3xf32>
  %s1 = spatten.token_importance %p, %s : tensor<1x2x3x3xf32>, tensor<1x3xf32> -> tensor<1x3xf32>
  return %s1 : tensor<1x3xf32>
}

// -----

// Model parameters must be finite: a NaN weight is refused at the op, not
// at the simulator's first quantized row. Masks of -inf are not parameters.
func.func @nan_weight(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 0x7FC00000], [0.0, 1.0]]> : tensor<2x2xf32>
  // expected-error @+1 {{reads a weight holding a non-finite value at element 1 (flat index); model parameters must be finite}}
  %y = spatten.linear %x, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @inf_table(%ids: tensor<1x2xi64>) -> tensor<1x2x2xf32> {
  %t = arith.constant dense<[[1.0, 2.0], [0xFF800000, 1.0], [0.0, 1.0]]> : tensor<3x2xf32>
  // expected-error @+1 {{reads a table holding a non-finite value at element 2 (flat index); model parameters must be finite}}
  %y = spatten.embedding %ids, %t : (tensor<1x2xi64>, tensor<3x2xf32>) -> tensor<1x2x2xf32>
  return %y : tensor<1x2x2xf32>
}

// -----

func.func @nan_gamma(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %g = arith.constant dense<0x7FC00000> : tensor<2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  // expected-error @+1 {{reads a gamma holding a non-finite value at element 0 (flat index); model parameters must be finite}}
  %y = spatten.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

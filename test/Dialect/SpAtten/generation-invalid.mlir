// RUN: spatten-opt %s -split-input-file -verify-diagnostics

// The decode step's ops (docs/Generation.md) and their verifiers.

func.func @row_of_a_table(%t: tensor<4x2xf32>) -> tensor<1x1x3xf32> {
  // expected-error @+1 {{result must be [1, 1, N] for a [C, N] table}}
  %r = spatten.position_row %t : (tensor<4x2xf32>) -> tensor<1x1x3xf32>
  return %r : tensor<1x1x3xf32>
}

// -----

func.func @table_rank(%t: tensor<1x4x2xf32>) -> tensor<1x1x2xf32> {
  // expected-error @+1 {{table must be [C, N] with C >= 1}}
  %r = spatten.position_row %t : (tensor<1x4x2xf32>) -> tensor<1x1x2xf32>
  return %r : tensor<1x1x2xf32>
}

// -----

func.func @one_token(%q: tensor<1x2x8xf32>) -> tensor<1x2x8xf32> {
  // expected-error @+1 {{query must be one token, [1, 1, H*D]}}
  %o = spatten.cached_attention %q, %q, %q {layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  return %o : tensor<1x2x8xf32>
}

// -----

func.func @same_width(%q: tensor<1x1x8xf32>, %k: tensor<1x1x4xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{key and value must be [1, 1, G*D] with G = kv_heads (else num_heads)}}
  %o = spatten.cached_attention %q, %k, %q {layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x4xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

// Grouped-query attention: two query heads share one K/V head of width 4,
// so key and value are [1, 1, 4] and the value must be too.
func.func @kv_heads_width(%q: tensor<1x1x8xf32>, %k: tensor<1x1x4xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{key and value must be [1, 1, G*D] with G = kv_heads (else num_heads)}}
  %o = spatten.cached_attention %q, %k, %q {kv_heads = 1 : i64, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x4xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @kv_heads_divide(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{kv_heads must divide num_heads (0: num_heads)}}
  %o = spatten.cached_attention %q, %q, %q {kv_heads = 3 : i64, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @heads(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{num_heads 3 must divide width 8}}
  %o = spatten.cached_attention %q, %q, %q {layer = 0 : i64, max_context = 4 : i64, num_heads = 3 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @layer(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{layer must be >= 0}}
  %o = spatten.cached_attention %q, %q, %q {layer = -1 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @context(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{max_context must be >= 1}}
  %o = spatten.cached_attention %q, %q, %q {layer = 0 : i64, max_context = 0 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @counts(%q: tensor<1x1x8xf32>, %c: tensor<3xi32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{value_counts must be [max_context]}}
  %o = spatten.cached_attention %q, %q, %q value_counts(%c) {layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<3xi32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @token_counts(%q: tensor<1x1x8xf32>, %c: tensor<3xi32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{token_counts must be [max_context]}}
  %o = spatten.cached_attention %q, %q, %q token_counts(%c) {layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<3xi32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @keep_positions(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{keep_positions needs token_counts}}
  %o = spatten.cached_attention %q, %q, %q {keep_positions = array<i64: 0>, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @keep_position_range(%q: tensor<1x1x8xf32>, %c: tensor<4xi32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{keep position 4 is outside the 4 positions}}
  %o = spatten.cached_attention %q, %q, %q token_counts(%c) {keep_positions = array<i64: 4>, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<4xi32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @record(%i: tensor<1x3xf32>, %p: tensor<1x2xi64>) {
  // expected-error @+1 {{importance and positions must both be [1, n]}}
  spatten.record_kept_tokens %i, %p {layer = 0 : i64} : tensor<1x3xf32>, tensor<1x2xi64>
  return
}

// -----

func.func @record_layer(%i: tensor<1x2xf32>, %p: tensor<1x2xi64>) {
  // expected-error @+1 {{layer must be >= 0}}
  spatten.record_kept_tokens %i, %p {layer = -1 : i64} : tensor<1x2xf32>, tensor<1x2xi64>
  return
}

// -----

func.func @kv_budget_length(%q: tensor<1x1x8xf32>, %c: tensor<4xi32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{kv_budget must be [S, I, R], each >= 0 and not all 0, and needs token_counts without keep_positions}}
  %o = spatten.cached_attention %q, %q, %q token_counts(%c) {kv_budget = array<i64: 1, 2>, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<4xi32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

// -----

func.func @kv_budget_counts(%q: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> {
  // expected-error @+1 {{kv_budget must be [S, I, R], each >= 0 and not all 0, and needs token_counts without keep_positions}}
  %o = spatten.cached_attention %q, %q, %q {kv_budget = array<i64: 1, 2, 2>, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x8xf32>, tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  return %o : tensor<1x1x8xf32>
}

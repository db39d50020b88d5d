// RUN: spatten-opt %s -split-input-file -verify-diagnostics

func.func @probs_shape(%q: tensor<1x4x8xf32>) -> tensor<1x2x4x3xf32> {
  // expected-error @+1 {{result must be [B, H, Lq, Lk]}}
  %p = spatten.attention_probs %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x3xf32>
  return %p : tensor<1x2x4x3xf32>
}

// -----

func.func @probs_mask(%q: tensor<1x4x8xf32>, %m: tensor<1x3xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{padding mask must be [B, P + Lk], [B, Lq, P + Lk] or [B, H, Lq, P + Lk]}}
  %p = spatten.attention_probs %q, %q mask(%m : tensor<1x3xf32>) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  return %p : tensor<1x2x4x4xf32>
}

// -----

// A per-head score bias must have one row block per head of the op.
func.func @probs_score_bias_heads(%q: tensor<1x4x8xf32>, %m: tensor<1x3x4x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{padding mask must be [B, P + Lk], [B, Lq, P + Lk] or [B, H, Lq, P + Lk]}}
  %p = spatten.attention_probs %q, %q mask(%m : tensor<1x3x4x4xf32>) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  return %p : tensor<1x2x4x4xf32>
}

// -----

// A score bias is added, never a 0/1 selector.
func.func @probs_score_bias_fill(%q: tensor<1x4x8xf32>, %m: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{a per-head score bias cannot be a selector mask}}
  %p = spatten.attention_probs %q, %q mask(%m : tensor<1x2x4x4xf32>) {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>, mask_fill = -1.0e4 : f32} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  return %p : tensor<1x2x4x4xf32>
}

// -----

func.func @pq_msb(%q: tensor<1x4x8xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{msb_bits must be 6 or 8, got 5}}
  %p = spatten.progressive_fetch %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>, msb_bits = 5 : i64, lsb_bits = 4 : i64, threshold = 0.1 : f32} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  return %p : tensor<1x2x4x4xf32>
}

// -----

func.func @pq_threshold(%q: tensor<1x4x8xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{threshold must be in (0, 1), got 1.5}}
  %p = spatten.progressive_fetch %q, %q {num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<none>, msb_bits = 8 : i64, lsb_bits = 4 : i64, threshold = 1.5 : f32} : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x4x4xf32>
  return %p : tensor<1x2x4x4xf32>
}

// -----

func.func @output_shape(%p: tensor<1x2x4x4xf32>, %v: tensor<1x5x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{probs [B, H, Lq, Lk] and value [B, Lk, H*D] disagree}}
  %o = spatten.attention_output %p, %v : tensor<1x2x4x4xf32>, tensor<1x5x8xf32> -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

func.func @importance(%p: tensor<1x2x4x4xf32>, %s: tensor<1x3xf32>) -> tensor<1x3xf32> {
  // expected-error @+1 {{importance and result must be [B, Lk] = [1, 4]}}
  %r = spatten.token_importance %p, %s : tensor<1x2x4x4xf32>, tensor<1x3xf32> -> tensor<1x3xf32>
  return %r : tensor<1x3xf32>
}

// -----

func.func @head_importance(%o: tensor<1x4x8xf32>, %s: tensor<1x4xf32>) -> tensor<1x4xf32> {
  // expected-error @+1 {{importance and result must be [B, H]}}
  %r = spatten.head_importance %o, %s {num_heads = 2 : i64} : tensor<1x4x8xf32>, tensor<1x4xf32> -> tensor<1x4xf32>
  return %r : tensor<1x4xf32>
}

// -----

func.func @topk_k(%s: tensor<1x4xf32>) -> tensor<1x5xi64> {
  // expected-error @+1 {{k = 5 must be in [1, 4]}}
  %i = spatten.topk %s {k = 5 : i64} : tensor<1x4xf32> -> tensor<1x5xi64>
  return %i : tensor<1x5xi64>
}

// -----

func.func @prune_tokens(%x: tensor<1x4x8xf32>, %i: tensor<1x2xi64>) -> tensor<1x3x8xf32> {
  // expected-error @+1 {{result must be the input with 2 tokens along axis 1}}
  %r = spatten.prune_tokens %x, %i : tensor<1x4x8xf32>, tensor<1x2xi64> -> tensor<1x3x8xf32>
  return %r : tensor<1x3x8xf32>
}

// -----

func.func @prune_tokens_batch(%x: tensor<1x4x8xf32>, %i: tensor<2x2xi64>) -> tensor<1x2x8xf32> {
  // expected-error @+1 {{indices must be [B, k] with k <= 4}}
  %r = spatten.prune_tokens %x, %i : tensor<1x4x8xf32>, tensor<2x2xi64> -> tensor<1x2x8xf32>
  return %r : tensor<1x2x8xf32>
}

// -----

func.func @prune_tokens_axis(%x: tensor<1x4xf32>, %i: tensor<1x2xi64>) -> tensor<1x4xf32> {
  // expected-error @+1 {{axis 0 must be a token axis in [1, 2)}}
  %r = spatten.prune_tokens %x, %i {axis = 0 : i64} : tensor<1x4xf32>, tensor<1x2xi64> -> tensor<1x4xf32>
  return %r : tensor<1x4xf32>
}

// -----

func.func @prune_heads(%w: tensor<8x8xf32>, %i: tensor<3xi64>) -> tensor<8x12xf32> {
  // expected-error @+1 {{indices must be [k] with 1 <= k <= num_heads}}
  %r = spatten.prune_heads %w, %i {num_heads = 2 : i64, axis = 1 : i64} : tensor<8x8xf32>, tensor<3xi64> -> tensor<8x12xf32>
  return %r : tensor<8x12xf32>
}

// -----

func.func @value_keep(%p: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{keep = 0 must be in [1, 4]}}
  %r = spatten.local_value_prune %p {keep = 0 : i64} : tensor<1x2x4x4xf32>
  return %r : tensor<1x2x4x4xf32>
}

// -----

func.func @quantize_bits(%x: tensor<2x8xf32>) -> tensor<2x8xi16> {
  // expected-error @+1 {{bits must be in [4, 16], got 20}}
  %c, %s = spatten.quantize %x {bits = 20 : i64} : tensor<2x8xf32> -> tensor<2x8xi16>, tensor<2x1xf32>
  return %c : tensor<2x8xi16>
}

// -----

func.func @dequantize_scales(%c: tensor<2x8xi16>, %s: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{scales must be the codes' shape with last dim 1}}
  %r = spatten.dequantize %c, %s : tensor<2x8xi16>, tensor<2x8xf32> -> tensor<2x8xf32>
  return %r : tensor<2x8xf32>
}

// -----

func.func @merge_rows(%f: tensor<1x4x8xf32>, %r: tensor<1x5x8xf32>, %p: tensor<1x5xi64>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{rows must be [B, k, ...] with k <= 4 and full's trailing dims}}
  %m = spatten.merge_tokens %f, %r, %p : tensor<1x4x8xf32>, tensor<1x5x8xf32>, tensor<1x5xi64>
  return %m : tensor<1x4x8xf32>
}

// -----

func.func @merge_positions(%f: tensor<1x4x8xf32>, %r: tensor<1x2x8xf32>, %p: tensor<1x3xi64>) -> tensor<1x4x8xf32> {
  // expected-error @+1 {{positions must be [B, k]}}
  %m = spatten.merge_tokens %f, %r, %p : tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x3xi64>
  return %m : tensor<1x4x8xf32>
}

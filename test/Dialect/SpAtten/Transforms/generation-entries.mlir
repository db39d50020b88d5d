// RUN: spatten-opt %s --spatten-generation-entries -split-input-file -verify-diagnostics | FileCheck %s

// A two-position model at context 4, prompt 2: embedding plus a
// per-position constant, a causal attention on column slices of a fused
// projection, and per-position logits. The prefill gives the last prompt
// position's logits: the LM head computes that row alone.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %{{.*}}: tensor<1x2xi64>) -> tensor<1x1x6xf32>
// CHECK-SAME: spatten.entry = "prefill"
// CHECK: %[[POS:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]]> : tensor<1x2x2xf32>
// CHECK: spatten.binary <add> %{{.*}}, %[[POS]] : (tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
// CHECK: %[[O:.*]] = spatten.attention {{.*}}spatten.kv_cache_layer = 0 : i64{{.*}} -> tensor<1x2x2xf32>
// CHECK: %[[LAST:.*]] = spatten.slice %[[O]] [0, 1, 0] [1, 1, 1] : (tensor<1x2x2xf32>) -> tensor<1x1x2xf32>
// CHECK: spatten.linear %[[LAST]], %{{.*}} : (tensor<1x1x2xf32>, tensor<2x6xf32>) -> tensor<1x1x6xf32>
// CHECK: return %{{.*}} : tensor<1x1x6xf32>
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %{{.*}}: tensor<1x1xi64>) -> tensor<1x1x6xf32>
// CHECK-SAME: spatten.entry = "decode", spatten.registers = ["position"]
// CHECK: %[[TABLE:.*]] = spatten.reshape %{{.*}} : (tensor<1x4x2xf32>) -> tensor<4x2xf32>
// CHECK: %[[ROW:.*]] = spatten.position_row %[[TABLE]] : (tensor<4x2xf32>) -> tensor<1x1x2xf32>
// CHECK: spatten.binary <add> %{{.*}}, %{{.*}} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
// CHECK: spatten.cached_attention %{{.*}}, %{{.*}}, %{{.*}} {layer = 0 : i64, max_context = 4 : i64, num_heads = 1 : i64, scale = 5.000000e-01 : f32} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
// CHECK: return %{{.*}} : tensor<1x1x6xf32>
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x6xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %wpe = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]]> : tensor<1x4x2xf32>
    %w = arith.constant dense<0.25> : tensor<2x6xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    %x = spatten.binary <add> %e, %wpe : (tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
    %qkv = spatten.linear %x, %w : (tensor<1x4x2xf32>, tensor<2x6xf32>) -> tensor<1x4x6xf32>
    %q = spatten.slice %qkv [0, 0, 0] [1, 1, 1] : (tensor<1x4x6xf32>) -> tensor<1x4x2xf32>
    %k = spatten.slice %qkv [0, 0, 2] [1, 1, 1] : (tensor<1x4x6xf32>) -> tensor<1x4x2xf32>
    %v = spatten.slice %qkv [0, 0, 4] [1, 1, 1] : (tensor<1x4x6xf32>) -> tensor<1x4x2xf32>
    %o = spatten.attention %q, %k, %v {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
    %logits = spatten.linear %o, %w : (tensor<1x4x2xf32>, tensor<2x6xf32>) -> tensor<1x4x6xf32>
    return %logits : tensor<1x4x6xf32>
  }
}

// -----

// An op that reads across positions cannot run one position per step.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x2x4xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    // expected-error @+1 {{generation: 'spatten.transpose' mixes sequence positions, so the model cannot run one position per decode step}}
    %t = spatten.transpose %e [0, 2, 1] : (tensor<1x4x2xf32>) -> tensor<1x2x4xf32>
    return %t : tensor<1x2x4xf32>
  }
}

// -----

// A graph input the graph does not read (a causal mask the lift turned
// into causal attention) is dropped: the binary takes the token ids only.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %{{.*}}: tensor<1x2xi64> {onnx.name = "input_ids"}) -> tensor<1x1x6xf32>
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %{{.*}}: tensor<1x1xi64> {onnx.name = "input_ids"}) -> tensor<1x1x6xf32>
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64> {onnx.name = "input_ids"}, %mask: tensor<1x1x4x4xf32> {onnx.name = "attention_mask", spatten.causal_mask}) -> tensor<1x4x6xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %w = arith.constant dense<0.25> : tensor<2x6xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    %o = spatten.attention %e, %e, %e {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
    %logits = spatten.linear %o, %w : (tensor<1x4x2xf32>, tensor<2x6xf32>) -> tensor<1x4x6xf32>
    return %logits : tensor<1x4x6xf32>
  }
}

// -----

// A mask input the lift could not turn into causal attention (here a
// selector mask over other rows than the causal window) is still read: it
// is refused, named.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64> {onnx.name = "input_ids"}, %mask: tensor<1x1x4x4xf32> {onnx.name = "attention_mask", spatten.causal_mask}) -> tensor<1x4x2xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    // expected-error @+1 {{generation: graph input 'attention_mask' is read by 'spatten.reshape'; a generation binary takes the token ids only (position ids and a [B, 1, M, M] causal mask used as w*m - c*(1-m) are bound by the compiler; padding masks and a non-empty KV cache are not supported)}}
    %m = spatten.reshape %mask : (tensor<1x1x4x4xf32>) -> tensor<1x4x4xf32>
    %o = spatten.attention %e, %e, %e mask(%m) {mask_fill = -1.000000e+04 : f32, mask_kind = #spatten.mask_kind<padding>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x4xf32>) -> tensor<1x4x2xf32>
    return %o : tensor<1x4x2xf32>
  }
}

// -----

// Any other input read by the graph is refused, named by its number
// without an ONNX name.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>, %bias: tensor<1x4x2xf32>) -> tensor<1x4x2xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    // expected-error @+1 {{generation: graph input '#1' is read by 'spatten.binary'}}
    %x = spatten.binary <add> %e, %bias : (tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
    return %x : tensor<1x4x2xf32>
  }
}

// -----

// A padding mask makes attention read other inputs than the cache.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x2xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    // expected-error @+1 {{generation: attention must be causal, without a padding mask or KV-cache inputs}}
    %o = spatten.attention %e, %e, %e {mask_kind = #spatten.mask_kind<none>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
    return %o : tensor<1x4x2xf32>
  }
}

// -----

// The context and prompt come from the importer.
// expected-error @+1 {{expected spatten.generation = {max_context = C, prefill_length = L0} with 1 <= L0 <= C}}
module {
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x2xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    return %e : tensor<1x4x2xf32>
  }
}

// -----

// The host picks tokens from the logits: an output over the vocabulary.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  // expected-error @+1 {{generation: the model has no logits output (the output named 'logits', else the first, must be [1, 4, V] with V the 6 rows of the token embedding)}}
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x2xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    %o = spatten.attention %e, %e, %e {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
    return %o : tensor<1x4x2xf32>
  }
}

// -----

// An export with KV-cache inputs, imported with an empty past: the past
// inputs and present outputs go, the binary keeps the cache itself.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %{{.*}}: tensor<1x2xi64>) -> tensor<1x1x6xf32>
// CHECK: spatten.attention %{{.*}}, %{{.*}}, %{{.*}} {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 5.000000e-01 : f32, spatten.kv_cache_layer = 0 : i64} : (tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %{{.*}}: tensor<1x1xi64>) -> tensor<1x1x6xf32>
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>, %pk: tensor<1x1x0x2xf32>, %pv: tensor<1x1x0x2xf32>) -> (tensor<1x4x6xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>) {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %w = arith.constant dense<0.25> : tensor<2x6xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    %o, %present:2 = spatten.attention %e, %e, %e past(%pk, %pv) {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x1x0x2xf32>, tensor<1x1x0x2xf32>) -> (tensor<1x4x2xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>)
    %logits = spatten.linear %o, %w : (tensor<1x4x2xf32>, tensor<2x6xf32>) -> tensor<1x4x6xf32>
    return %logits, %present#0, %present#1 : tensor<1x4x6xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>
  }
}

// -----

// Megatron's stacked KV cache: `past_0` [2, B, H, 0, D] split into K and V,
// `present_0` = Concat(Unsqueeze(K), Unsqueeze(V)). The stacking goes with
// the present outputs, the past's slices with the past.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %{{.*}}: tensor<1x2xi64>) -> tensor<1x1x6xf32>
// CHECK-NOT: spatten.concat
// CHECK: return %{{.*}} : tensor<1x1x6xf32>
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %{{.*}}: tensor<1x1xi64>) -> tensor<1x1x6xf32>
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>, %past: tensor<2x1x1x0x2xf32>) -> (tensor<1x4x6xf32>, tensor<2x1x1x4x2xf32>) {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %w = arith.constant dense<0.25> : tensor<2x6xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    %sk = spatten.slice %past [0, 0, 0, 0, 0] [1, 1, 1, 1, 1] : (tensor<2x1x1x0x2xf32>) -> tensor<1x1x1x0x2xf32>
    %sv = spatten.slice %past [1, 0, 0, 0, 0] [1, 1, 1, 1, 1] : (tensor<2x1x1x0x2xf32>) -> tensor<1x1x1x0x2xf32>
    %pk = spatten.reshape %sk : (tensor<1x1x1x0x2xf32>) -> tensor<1x1x0x2xf32>
    %pv = spatten.reshape %sv : (tensor<1x1x1x0x2xf32>) -> tensor<1x1x0x2xf32>
    %o, %present:2 = spatten.attention %e, %e, %e past(%pk, %pv) {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x1x0x2xf32>, tensor<1x1x0x2xf32>) -> (tensor<1x4x2xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>)
    %logits = spatten.linear %o, %w : (tensor<1x4x2xf32>, tensor<2x6xf32>) -> tensor<1x4x6xf32>
    %k = spatten.reshape %present#0 : (tensor<1x1x4x2xf32>) -> tensor<1x1x1x4x2xf32>
    %v = spatten.reshape %present#1 : (tensor<1x1x4x2xf32>) -> tensor<1x1x1x4x2xf32>
    %kv = spatten.concat %k, %v {axis = 0 : i64} : (tensor<1x1x1x4x2xf32>, tensor<1x1x1x4x2xf32>) -> tensor<2x1x1x4x2xf32>
    return %logits, %kv : tensor<1x4x6xf32>, tensor<2x1x1x4x2xf32>
  }
}

// -----

// A present value that the graph computes with is not a KV-cache output.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>, %pk: tensor<1x1x0x2xf32>, %pv: tensor<1x1x0x2xf32>) -> (tensor<1x4x2xf32>, tensor<1x1x4x2xf32>) {
    %wte = arith.constant dense<0.5> : tensor<6x2xf32>
    %e = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x2xf32>) -> tensor<1x4x2xf32>
    %o, %present:2 = spatten.attention %e, %e, %e past(%pk, %pv) {mask_kind = #spatten.mask_kind<causal>, num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>, tensor<1x1x0x2xf32>, tensor<1x1x0x2xf32>) -> (tensor<1x4x2xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>)
    // expected-error @+1 {{generation: the KV-cache outputs of an attention may only be graph outputs, possibly reshaped and stacked}}
    %twice = spatten.binary <add> %present#0, %present#1 : (tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>) -> tensor<1x1x4x2xf32>
    return %o, %twice : tensor<1x4x2xf32>, tensor<1x1x4x2xf32>
  }
}

// -----

// LLaMA (docs/Generation.md, "The LLaMA family"): rotary tables [C, D]
// (folded, viewed through a reshape) are per-position constants. The
// prefill rotates with their first L0 rows; the decode step reads row p of
// each table once for every rotation, and its cached attention takes
// grouped-query attention's unrepeated K/V head (kv_heads = 1 for two
// query heads).
// CHECK-LABEL: func.func @prefill(
// CHECK: %[[COS:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 1.000000e+00], [5.000000e-01, 5.000000e-01]]> : tensor<2x2xf32>
// CHECK: %[[SIN:.*]] = arith.constant dense<{{\[\[}}0.000000e+00, 0.000000e+00], [7.500000e-01, 7.500000e-01]]> : tensor<2x2xf32>
// CHECK: spatten.rotary_embedding %{{.*}}, %[[COS]], %[[SIN]] : (tensor<1x2x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4xf32>
// CHECK: spatten.attention {{.*}}num_heads = 2 : i64{{.*}}spatten.kv_cache_layer = 0 : i64{{.*}} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
// CHECK-LABEL: func.func @decode(
// CHECK: %[[COSROW:.*]] = spatten.position_row %{{.*}} : (tensor<4x2xf32>) -> tensor<1x1x2xf32>
// CHECK: %[[C:.*]] = spatten.reshape %[[COSROW]] : (tensor<1x1x2xf32>) -> tensor<1x2xf32>
// CHECK: %[[SINROW:.*]] = spatten.position_row %{{.*}} : (tensor<4x2xf32>) -> tensor<1x1x2xf32>
// CHECK: %[[S:.*]] = spatten.reshape %[[SINROW]] : (tensor<1x1x2xf32>) -> tensor<1x2xf32>
// CHECK: %[[Q:.*]] = spatten.rotary_embedding %{{.*}}, %[[C]], %[[S]] : (tensor<1x1x4xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x4xf32>
// CHECK: %[[K:.*]] = spatten.rotary_embedding %{{.*}}, %[[C]], %[[S]] : (tensor<1x1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x2xf32>
// CHECK-NOT: spatten.position_row
// CHECK: spatten.cached_attention %[[Q]], %[[K]], %{{.*}} {kv_heads = 1 : i64, layer = 0 : i64, max_context = 4 : i64, num_heads = 2 : i64, scale = 5.000000e-01 : f32} : (tensor<1x1x4xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x4xf32>
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x6xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x4xf32>
    %wq = arith.constant dense<0.25> : tensor<4x4xf32>
    %wk = arith.constant dense<0.125> : tensor<4x2xf32>
    %w = arith.constant dense<0.25> : tensor<4x6xf32>
    %cos4 = arith.constant dense<[[[[1.0, 1.0], [0.5, 0.5], [0.25, 0.25], [0.125, 0.125]]]]> : tensor<1x1x4x2xf32>
    %sin4 = arith.constant dense<[[[[0.0, 0.0], [0.75, 0.75], [0.5, 0.5], [0.375, 0.375]]]]> : tensor<1x1x4x2xf32>
    %cos = spatten.reshape %cos4 : (tensor<1x1x4x2xf32>) -> tensor<4x2xf32>
    %sin = spatten.reshape %sin4 : (tensor<1x1x4x2xf32>) -> tensor<4x2xf32>
    %x = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x4xf32>) -> tensor<1x4x4xf32>
    %q = spatten.linear %x, %wq : (tensor<1x4x4xf32>, tensor<4x4xf32>) -> tensor<1x4x4xf32>
    %k = spatten.linear %x, %wk : (tensor<1x4x4xf32>, tensor<4x2xf32>) -> tensor<1x4x2xf32>
    %v = spatten.linear %x, %wk : (tensor<1x4x4xf32>, tensor<4x2xf32>) -> tensor<1x4x2xf32>
    %qr = spatten.rotary_embedding %q, %cos, %sin : (tensor<1x4x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<1x4x4xf32>
    %kr = spatten.rotary_embedding %k, %cos, %sin : (tensor<1x4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<1x4x2xf32>
    %k1 = spatten.reshape %kr : (tensor<1x4x2xf32>) -> tensor<1x4x1x1x2xf32>
    %k2 = spatten.concat %k1, %k1 {axis = 3 : i64} : (tensor<1x4x1x1x2xf32>, tensor<1x4x1x1x2xf32>) -> tensor<1x4x1x2x2xf32>
    %krep = spatten.reshape %k2 : (tensor<1x4x1x2x2xf32>) -> tensor<1x4x4xf32>
    %v1 = spatten.reshape %v : (tensor<1x4x2xf32>) -> tensor<1x4x1x1x2xf32>
    %v2 = spatten.concat %v1, %v1 {axis = 3 : i64} : (tensor<1x4x1x1x2xf32>, tensor<1x4x1x1x2xf32>) -> tensor<1x4x1x2x2xf32>
    %vrep = spatten.reshape %v2 : (tensor<1x4x1x2x2xf32>) -> tensor<1x4x4xf32>
    %o = spatten.attention %qr, %krep, %vrep {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %logits = spatten.linear %o, %w : (tensor<1x4x4xf32>, tensor<4x6xf32>) -> tensor<1x4x6xf32>
    return %logits : tensor<1x4x6xf32>
  }
}

// -----

// Rotary tables computed at run time rather than folded to the positions'
// rows cannot be read at the decode position.
module attributes {spatten.generation = {max_context = 4 : i64, prefill_length = 2 : i64}} {
  func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x4xf32> {
    %wte = arith.constant dense<0.5> : tensor<6x4xf32>
    %t = arith.constant dense<0.5> : tensor<4x2xf32>
    %cos = spatten.binary <add> %t, %t : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
    %x = spatten.embedding %ids, %wte : (tensor<1x4xi64>, tensor<6x4xf32>) -> tensor<1x4x4xf32>
    // expected-error @+1 {{generation: the rotary tables must be constants [4, R] (the positions 0 .. 3, which the decode step reads at its position), got 'tensor<4x2xf32>' computed by 'spatten.binary'}}
    %r = spatten.rotary_embedding %x, %cos, %t : (tensor<1x4x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<1x4x4xf32>
    %o = spatten.attention %r, %r, %r {mask_kind = #spatten.mask_kind<causal>, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    return %o : tensor<1x4x4xf32>
  }
}

// RUN: spatten-opt %s --convert-spatten-to-isa=hw=%S/Inputs/small-kv.json -split-input-file -verify-diagnostics

// The op verifier: a width the ISA does not encode, and progressive
// quantization's settings without one another.
func.func @bad_width(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> {
  // expected-error @+1 {{key_bits and value_bits must be 0 (fp32) or 4..16}}
  %o = spatten.cached_attention %x, %x, %x {layer = 0 : i64, max_context = 3 : i64, num_heads = 1 : i64, scale = 0.5 : f32, key_bits = 3 : i64} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  return %o : tensor<1x1x2xf32>
}

// -----

func.func @threshold_alone(%x: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> {
  // expected-error @+1 {{pq_msb, pq_lsb and pq_threshold go together}}
  %o = spatten.cached_attention %x, %x, %x {layer = 0 : i64, max_context = 3 : i64, num_heads = 1 : i64, scale = 0.5 : f32, pq_threshold = 0.05 : f32} : (tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
  return %o : tensor<1x1x2xf32>
}

// -----

// Cascade head pruning addresses a kept head through its original index,
// read at run time; it cannot name the K/V head of a grouped-query cache
// (the head-pruning pass repeats the K/V heads first, docs/Generation.md).
module attributes {spatten.generation = {max_context = 3 : i64, prefill_length = 2 : i64}} {
  func.func @decode(%q: tensor<1x1x4xf32>, %k: tensor<1x1x2xf32>) -> tensor<1x1x4xf32> attributes {spatten.entry = "decode", spatten.registers = ["position"]} {
    %c = arith.constant dense<[1, 2, 3]> : tensor<3xi32>
    // expected-error @+1 {{cascade head pruning needs the kept-token path, the KV cache's head list and one K/V head per query head}}
    %o = spatten.cached_attention %q, %k, %k token_counts(%c) {kept_heads = 1 : i64, kv_heads = 1 : i64, layer = 0 : i64, max_context = 3 : i64, num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<1x1x4xf32>, tensor<1x1x2xf32>, tensor<1x1x2xf32>, tensor<3xi32>) -> tensor<1x1x4xf32>
    return %o : tensor<1x1x4xf32>
  }
}

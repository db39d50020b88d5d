//===- GenerationAttrs.h - Attribute names of generation binaries -*- C++ -*-===//
//
// The discardable attributes that carry a generation binary
// (docs/Generation.md) from the importer through the passes to the binary
// emitter. Plain names, so that the importer needs no dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_DIALECT_SPATTEN_IR_GENERATIONATTRS_H
#define SPATTEN_DIALECT_SPATTEN_IR_GENERATIONATTRS_H

#include "llvm/ADT/StringRef.h"

namespace spatten {

/// Module: `{max_context = C, prefill_length = L0}`, written by the importer
/// for `spatten-compile --max-context`.
inline constexpr llvm::StringLiteral kGenerationAttrName = "spatten.generation";
/// Argument of the imported function: a `[B, 1, M, M]` float input that a
/// generation binary never takes, because generation gives it one meaning,
/// the lower-triangular 0/1 causal mask (Megatron's `attention_mask`). The
/// lift reads it as `assume-causal-inputs` does; a use it cannot turn into
/// causal attention leaves the input used, which the split refuses.
inline constexpr llvm::StringLiteral kCausalMaskAttrName = "spatten.causal_mask";
/// Function: its entry point, `"prefill"` or `"decode"`.
inline constexpr llvm::StringLiteral kEntryAttrName = "spatten.entry";
/// Function: the registers the host sets before the entry runs, in register
/// order (`["position"]` for decode).
inline constexpr llvm::StringLiteral kRegistersAttrName = "spatten.registers";
/// `spatten.attention` of a prefill: the KV cache layer its K and V rows go to.
inline constexpr llvm::StringLiteral kKVCacheLayerAttrName =
    "spatten.kv_cache_layer";

/// Module, after lowering to spatten_isa: `{max_context, layers: [{k, v}]}`,
/// each region `{addr, shape, dtype, row_bytes}`; the manifest's `kv_cache`.
inline constexpr llvm::StringLiteral kKVCacheAttrName = "spatten.kv_cache";

} // namespace spatten

#endif

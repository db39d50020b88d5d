//===- AttentionParts.h - One attention, fused or decomposed ----*- C++ -*-===//

#ifndef SPATTEN_LIB_CONVERSION_SPATTENTOISA_ATTENTIONPARTS_H
#define SPATTEN_LIB_CONVERSION_SPATTENTOISA_ATTENTIONPARTS_H

#include "LoweringCore.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::isa {

/// The DRAM placements of an attention's operands and results other than
/// Q/K/V (which may be read in place); null for an absent value.
struct AttentionTensors {
  const Tensor *mask = nullptr, *pastKey = nullptr, *pastValue = nullptr,
               *presentKey = nullptr, *presentValue = nullptr,
               *output = nullptr, *importanceIn = nullptr,
               *importanceOut = nullptr, *headImportanceIn = nullptr,
               *headImportanceOut = nullptr, *cacheHeads = nullptr;
};

/// One multi-head attention, from a fused `spatten.attention` or from the
/// decomposed form the SpAtten passes build: `attention_probs` or
/// `progressive_fetch`, then `local_value_prune`, `attention_output`, and
/// the `token_importance` / `head_importance` that read them.
struct AttentionParts {
  mlir::Value query, key, value, mask, pastKey, pastValue, presentKey,
      presentValue;
  mlir::Value output;
  mlir::Value importanceIn, importanceOut; ///< [B, keys] token importance
  mlir::Value headImportanceIn, headImportanceOut; ///< [B, H] head importance
  int64_t heads = 0;
  spatten::MaskKind kind = spatten::MaskKind::none;
  std::optional<double> maskFill;
  double scale = 0;
  int64_t valueKeep = 0;             ///< ATTN `vk`; 0 = no local value pruning
  std::optional<double> pqThreshold; ///< set for progressive quantization
  bool pqValues = false;             ///< V in planes too (`--pq-values`)
  /// Local value pruning fetches only the V rows a query tile keeps, after
  /// its top-k, instead of every V row with K (deferValueFetch).
  bool deferValues = false;
  mlir::Operation *source = nullptr; ///< owner of the K/V planes (scratch)
  /// A prefill's KV cache layer (`spatten.kv_cache_layer`), written like
  /// present_key/present_value; -1 for none.
  int64_t kvCacheLayer = -1;
  /// Under cascade token pruning, the original positions ([1, keys] i64)
  /// of the key rows, where they go in the KV cache (the layer's
  /// `record_kept_tokens`); null when row r is position r.
  mlir::Value cachePositions;
  /// Under cascade head pruning, the original indices ([1, heads] i64) of
  /// the heads, the cache's heads their rows go to (the layer's
  /// `record_kept_heads`); null when head h is head h.
  mlir::Value cacheHeads;
  AttentionTensors t;

  /// Looks up `t` in the DRAM plan; a KV cache layer becomes the present
  /// tensors.
  mlir::LogicalResult resolveTensors(const LoweringCore &core);
};

/// Sets `parts` to the attention `op` lowers: a `spatten.attention`, or an
/// `attention_output` with the probabilities and importance it fuses.
/// Leaves it unset for an op emitted with the attention_output it belongs
/// to (attention_probs, progressive_fetch, local_value_prune, the
/// importance ops). Fails with a diagnostic at the op for forms that are
/// not implemented.
mlir::LogicalResult collectAttention(mlir::Operation *op,
                                     std::optional<AttentionParts> &parts);

} // namespace spatten::isa

#endif

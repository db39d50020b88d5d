//===- KeyMask.h - Padding masks computed from an integer mask --*- C++ -*-===//
//
// Hugging Face models compute the padding mask from the int64
// `attention_mask` [B, Lk] (1: attend, 0: padding) in several ways, and
// not all of them are a bias of -10000 per padded key:
//
//   transformers >= 4.36 (`_prepare_4d_attention_mask`, BERT, RoBERTa, ...):
//     inv  = 1 - Cast<f32>(Expand(mask[:, None, None, :], [B, 1, Lq, Lk]))
//     bias = Where(Cast<bool>(inv), finfo.min, inv)       added to the scores
//   DistilBERT (`masked_fill`):
//     s    = Where(Expand(Reshape(Equal(mask, 0))), finfo.min, s)
//   transformers >= 4.36 with a causal mask (LLaMA):
//     bias = Where(Cast<bool>(the 4.36 bias above), finfo.min, causal)
//
// Their key masks are functions of one element of the integer tensor,
// broadcast over heads and queries, that take one value where it equals
// some k and another elsewhere. This file reads such a chain of
// elementwise ops with scalar constants (Cast, Add, Sub, Mul, Div, Equal,
// Not, Where) and layout ops that only add, remove or broadcast unit dims,
// and rebuilds the mask on [B, Lk] with spatten ops exactly for every
// integer value, so the Expand over queries, the bool tensors and Where
// need no lowering of their own.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_KEYMASK_H
#define SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_KEYMASK_H

#include "Common.h"

namespace spatten::lift {

/// A mask over keys: `equal` where the integer tensor `ints` (B * Lk
/// elements, row-major [B, Lk]) equals `k`, `other` elsewhere. One of the
/// two is 0.
struct KeyMask {
  Value ints;
  int64_t k = 0;
  float equal = 0, other = 0;
};

/// Reads `m`, an f32 mask broadcast to the scores `scores` [B, H, Lq, Lk],
/// as a KeyMask; nullopt when it is not one.
std::optional<KeyMask> matchKeyMask(Value m, ArrayRef<int64_t> scores);

/// Reads `cond`, a bool tensor broadcast to `scores` [B, H, Lq, Lk], as a
/// KeyMask of 1 where it is true and 0 where it is false.
std::optional<KeyMask> matchKeyCondition(Value cond, ArrayRef<int64_t> scores);

/// `Where(c, fill, y)` or `Where(c, y, fill)` read as y with the fill at
/// the padded keys: the fill a scalar constant <= `maxFill`, `isY(y)`, and
/// c a condition on an integer [B, Lk] (matchKeyCondition).
struct FilledKeys {
  KeyMask padded; ///< 1 at the keys that take the fill, 0 elsewhere
  float fill;     ///< -inf becomes the lowest finite f32
  Value y;
};
std::optional<FilledKeys> matchFilledKeys(Operation *where,
                                          ArrayRef<int64_t> scores,
                                          double maxFill,
                                          llvm::function_ref<bool(Value)> isY);

/// The mask as f32 [b, lk], computed from `mask.ints` with spatten ops:
/// `(Cast(ints) - k)^2` capped at 1 is 0 where ints == k and 1 elsewhere,
/// exactly for every int32 or int64 value.
Value buildKeyMask(OpBuilder &rw, Location loc, const KeyMask &mask, int64_t b,
                   int64_t lk);

} // namespace spatten::lift

#endif

//===- HeadLayout.h - Where attention heads sit in a tensor -----*- C++ -*-===//
//
// Exporters split and merge attention heads with different chains of
// Reshape and Transpose: Hugging Face views [B, L, H*D] as [B, L, H, D] and
// permutes to [B, H, L, D]; torch.nn.MultiheadAttention views [L, B, H*D] as
// [L, B*H, D] and transposes to [B*H, L, D]. Instead of matching each chain,
// the attention pattern reads what a chain computes: every dimension of a
// value is a list of strided factors (atoms) of a base tensor, and the
// factors tell which are batch, head, sequence and feature.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_HEADLAYOUT_H
#define SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_HEADLAYOUT_H

#include "Common.h"

namespace spatten::lift {

/// One factor of a dimension: `size` indices `stride` elements apart in the
/// base tensor's row-major order (stride 0: broadcast by Expand).
struct Atom {
  int64_t size, stride;
};
using AtomList = SmallVector<Atom, 2>;

/// A value as a strided view of `base`: per dimension its atoms, outermost
/// first; size-1 atoms are dropped.
struct StridedView {
  Value base;
  SmallVector<AtomList, 4> dims;
};

/// Q, K or V of one attention: `base` holds the [B, L, H*D] projection, or
/// [L, B, H*D] when `seqMajor` (torch's sequence-first layout). With
/// grouped-query attention (Hugging Face's `repeat_kv`: Unsqueeze, Expand,
/// Reshape) `group` consecutive heads read one head of `base`, which then
/// holds H/group heads: [B, L, (H/group)*D].
struct Heads {
  Value base;
  int64_t b, l, h, d;
  bool seqMajor = false;
  int64_t group = 1;
};

/// Strips Mul/Div by scalar constants that keep the shape, folding them into
/// `scale`.
Value peelScale(Value v, double &scale);
/// Follows single-use no-op users (float Cast, Identity) forward.
Value forwardNoOps(Value v);

/// The heads that `v` holds: `v` is [B, H, L, D] or [B*H, L, D] (with
/// `keyT`, [.., D, L]) computed from a projection [.., H*D] through any
/// Reshape, Unsqueeze, Squeeze, Transpose and a head-repeating Expand, and
/// with `scale` scalar Mul/Div (folded into `*scale`). The nearest base
/// that splits into more than one head is taken (else the farthest that
/// explains the layout); nullopt when none does. With `chain`, the
/// Reshape/Transpose-like ops from the base to `v` (nearest `v` first).
std::optional<Heads> matchHeadsLayout(Value v, bool keyT, double *scale,
                                      SmallVectorImpl<Operation *> *chain =
                                          nullptr);

/// `heads.base` as [B, L, H*D] (a spatten.transpose for `seqMajor`; the
/// shared heads of a group repeated by a spatten.concat).
Value flatProjection(OpBuilder &rw, Location loc, const Heads &heads);

/// The key padding mask [B, Lk] that `m` broadcasts over heads and queries:
/// `m` is [B*H, Lq, Lk] or [B, H, Lq, Lk] computed from the mask's base
/// through Reshape, Expand and Transpose (torch's
/// `view(B,1,1,Lk).expand(-1,H,-1,-1).reshape(B*H,1,Lk)`). Returns the base,
/// or null.
Value matchKeyPaddingLayout(Value m, ArrayRef<int64_t> scores);

/// The head merge after the ·V MatMul `pv` ([B, H, Lq, D] or [B*H, Lq, D]):
/// an op of its single-use Reshape/Transpose chain whose result is
/// [B, Lq, H*D] (or its [Lq, B, H*D] transpose) reshaped, the first for
/// [B, H, Lq, D] and the last for [B*H, Lq, D] (torch's [Lq*B, H*D] rows
/// of the out-projection). Sets `seqMajor`.
Operation *matchHeadMerge(Operation *pv, int64_t b, int64_t h, bool &seqMajor);

/// Builds the replacement of `merge`'s result from the attention output
/// `out` [B, Lq, H*D].
Value mergedOutput(OpBuilder &rw, Location loc, Value out, Operation *merge,
                   bool seqMajor);

} // namespace spatten::lift

#endif

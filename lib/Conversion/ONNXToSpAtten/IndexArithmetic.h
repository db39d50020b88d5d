//===- IndexArithmetic.h - Integer ids on the vector unit -------*- C++ -*-===//
//
// Some models compute embedding indices at run time from an integer input.
// RoBERTa and its descendants (Hugging Face
// `create_position_ids_from_input_ids`) number each token's position from
// `input_ids`:
//
//   mask      = Cast<int32>(Not(Equal(input_ids, padding_idx)))
//   positions = Cast<int64>(CumSum(mask, 1) * mask) + padding_idx
//
// so padding keeps position padding_idx and the other tokens count from
// padding_idx + 1. OPT counts them from its attention_mask instead,
// `Cast(CumSum(mask, 1) * mask) - 1 + 2`. The accelerator computes in fp32
// only. This file reads such a chain and rebuilds it with spatten ops on
// fp32, where it is exact: an interval is carried through every op, and
// each value must stay an integer below 2^24 in magnitude, which fp32 holds
// exactly. An integer input is compared with constants below 2^24 exactly
// whatever it holds (as in KeyMask.h); one computed with as a number gets
// the range the host checks (liftIndexArithmetic).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_INDEXARITHMETIC_H
#define SPATTEN_LIB_CONVERSION_ONNXTOSPATTEN_INDEXARITHMETIC_H

#include "Common.h"

#include "llvm/ADT/SmallPtrSet.h"

namespace spatten::lift {

/// A Gather (axis 0) of rows of a weight table [V, D] by integer ids that
/// are not constants: an embedding lookup.
bool isTableLookup(Operation *gather);

/// Rebuilds `indices`, an integer tensor computed from graph inputs, as
/// the int32 (or, when it is a graph input read as it is, the original
/// integer) tensor of the same shape, for an embedding lookup into a table
/// of `rows` rows. The chain may use Equal, Not, And, Or, Where, Cast, Add,
/// Sub, Mul, Max, Min, CumSum (constant axis) and Reshape, Unsqueeze,
/// Squeeze, Flatten. An input it computes with as a number (not only
/// compares) is taken to be in [0, rows) when it indexes a table of `rows`
/// rows, else to be a 0/1 mask (OPT counts positions from its
/// attention_mask), which kValueRangeAttrName on the argument tells the
/// host to check. Fails with `why` naming the node when another op
/// computes a value, when a value may leave (-2^24, 2^24), or when the
/// indices may leave [0, rows). Changes nothing on failure.
FailureOr<Value> liftIndexArithmetic(RewriterBase &rw, Location loc,
                                     Value indices, int64_t rows,
                                     std::string &why);

/// Why liftIndexArithmetic refuses `indices`, or "" when it takes them.
std::string explainIndexArithmetic(Value indices, int64_t rows);

/// The integer ONNX ops that compute the ids of the table lookup `gather`
/// and have no other use: what its refusal explains, so their own would
/// only repeat it.
llvm::SmallPtrSet<Operation *, 16> indexChainOf(Operation *gather);

/// 0 where the fp32 tensor `d` is 0 and 1 elsewhere: min(d * d, 1). Exact
/// when d holds integers (or values of magnitude >= 1): d * d is then 0 or
/// at least 1, rounding included.
Value nonZeroIndicator(OpBuilder &rw, Location loc, Value d);

} // namespace spatten::lift

#endif

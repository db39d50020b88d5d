//===- AttentionForms.h - Shared rewrites of SpAtten passes -----*- C++ -*-===//

#ifndef SPATTEN_LIB_DIALECT_SPATTEN_TRANSFORMS_ATTENTIONFORMS_H
#define SPATTEN_LIB_DIALECT_SPATTEN_TRANSFORMS_ATTENTIONFORMS_H

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace spatten {

/// An attention in decomposed form: probabilities (`attention_probs` or
/// `progressive_fetch`) feeding `attention_output`, possibly through
/// `local_value_prune`.
struct DecomposedAttention {
  mlir::Operation *probs;
  AttentionOutputOp output;
};

/// Rewrites every `spatten.attention` of `func` into `attention_probs` +
/// `attention_output` and returns all decomposed attentions in program
/// order. A KV-cache attention cannot be decomposed: diagnostic naming
/// `pass`, failure.
mlir::FailureOr<llvm::SmallVector<DecomposedAttention>>
decomposeAttentions(mlir::func::FuncOp func, llvm::StringRef pass);

/// `dequantize(quantize(x))` per row of `D = width / heads` elements of a
/// `[..., heads*D]` tensor (docs/Algorithms.md, fixed-point quantization).
mlir::Value fakeQuantizeHeads(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::Value x, int64_t heads, int64_t bits);

/// A decode step's table `[max_context]` i32 of `count(n)` for every
/// context length n = 1..max_context, as a constant before `op`.
mlir::Value countsPerContext(CachedAttentionOp op,
                             llvm::function_ref<int64_t(int64_t)> count);

/// Whether `x` already comes from `fakeQuantizeHeads`.
bool isFakeQuantized(mlir::Value x);

} // namespace spatten

#endif

//===- InputAttrs.h - Attribute names of graph inputs -----------*- C++ -*-===//
//
// Discardable argument attributes that carry what the lift assumed of a
// graph input to the binary emitter, whose manifest makes the host check
// it (docs/BinaryFormat.md).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_DIALECT_SPATTEN_IR_INPUTATTRS_H
#define SPATTEN_DIALECT_SPATTEN_IR_INPUTATTRS_H

#include "llvm/ADT/StringRef.h"

namespace spatten {

/// Argument: `array<i64: lo, hi>`, the values an integer input must hold
/// because the program computes with them in fp32 (OPT counts positions
/// from its 0/1 attention_mask): the manifest's `value_range`.
inline constexpr llvm::StringLiteral kValueRangeAttrName =
    "spatten.value_range";

} // namespace spatten

#endif

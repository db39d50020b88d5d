//===- SimError.h - The simulator's plain errors ----------------*- C++ -*-===//
//
// Private to lib/Sim: an llvm::Error carrying a message, for the errors
// that name their instruction, field or entry point in the text itself.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_SIM_SIMERROR_H
#define SPATTEN_LIB_SIM_SIMERROR_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

namespace spatten::sim {

inline llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

} // namespace spatten::sim

#endif // SPATTEN_LIB_SIM_SIMERROR_H

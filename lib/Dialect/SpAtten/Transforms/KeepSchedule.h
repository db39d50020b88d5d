//===- KeepSchedule.h - Keep-fraction schedules of cascade pruning -*- C++ -*-===//
//
// docs/Algorithms.md, "Schedules": f_l per layer, non-increasing, <= 1.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_DIALECT_SPATTEN_TRANSFORMS_KEEPSCHEDULE_H
#define SPATTEN_LIB_DIALECT_SPATTEN_TRANSFORMS_KEEPSCHEDULE_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace spatten {

/// The paper's schedule for `layers` layers: f_l is the fraction of tokens
/// (heads) layer l computes; 1 for the first max(1, floor(untouched *
/// layers)) layers, then a linear ramp whose mean over all layers is `ratio`
/// (clipped at 0).
llvm::SmallVector<double> paperSchedule(int64_t layers, double ratio,
                                        double untouched);

/// `schedule` is "paper" or a comma-separated list of `layers` fractions
/// (parseTokenScheduleList). Errors say what is wrong with the text.
llvm::Expected<llvm::SmallVector<double>>
parseSchedule(llvm::StringRef schedule, int64_t layers, double ratio,
              double untouched);

/// max(1, floor(total * fraction)).
int64_t keptCount(int64_t total, double fraction);

} // namespace spatten

#endif

//===- KeepSchedule.cpp - Keep-fraction schedules of cascade pruning ------===//

#include "KeepSchedule.h"

#include "spatten/Dialect/SpAtten/Transforms/Settings.h"

#include <algorithm>
#include <cmath>

using namespace spatten;

llvm::SmallVector<double> spatten::paperSchedule(int64_t layers, double ratio,
                                                 double untouched) {
  // Layer 0 runs before any importance exists, so it is always dense.
  int64_t first = std::max<int64_t>(1, int64_t(std::floor(untouched * layers)));
  int64_t ramp = layers - first;
  llvm::SmallVector<double> f(layers, 1.0);
  if (ramp <= 0)
    return f;
  double slope = 2.0 * layers * (1.0 - ratio) / double(ramp * (ramp + 1));
  for (int64_t t = 0; t < ramp; ++t)
    f[first + t] = std::max(0.0, 1.0 - slope * double(t + 1));
  return f;
}

llvm::Expected<llvm::SmallVector<double>>
spatten::parseSchedule(llvm::StringRef schedule, int64_t layers, double ratio,
                       double untouched) {
  if (schedule == "paper")
    return paperSchedule(layers, ratio, untouched);
  llvm::Expected<llvm::SmallVector<double>> f =
      parseTokenScheduleList(schedule);
  if (!f)
    return llvm::createStringError("schedule '" + schedule +
                                   "': " + llvm::toString(f.takeError()));
  if (int64_t(f->size()) != layers)
    return llvm::createStringError("schedule '" + schedule + "' lists " +
                                   llvm::Twine(f->size()) + " fractions for " +
                                   llvm::Twine(layers) + " layers");
  return f;
}

int64_t spatten::keptCount(int64_t total, double fraction) {
  return std::max<int64_t>(1, int64_t(std::floor(double(total) * fraction)));
}

//===- KeepSchedule.cpp - Keep-fraction schedules of cascade pruning ------===//

#include "KeepSchedule.h"

#include "llvm/ADT/StringExtras.h"

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
  llvm::SmallVector<llvm::StringRef> parts;
  schedule.split(parts, ',');
  if (int64_t(parts.size()) != layers)
    return llvm::createStringError(
        "schedule '" + schedule + "' lists " + llvm::Twine(parts.size()) +
        " fractions for " + llvm::Twine(layers) + " layers");
  llvm::SmallVector<double> f;
  for (llvm::StringRef part : parts) {
    double v;
    if (part.trim().getAsDouble(v) || !(v > 0 && v <= 1))
      return llvm::createStringError("schedule entry '" + part.trim() +
                                     "' is not a fraction in (0, 1]");
    if (f.empty() && v != 1)
      return llvm::createStringError(
          "schedule entry '" + part.trim() +
          "' for layer 0 must be 1: no importance is known before layer 0");
    if (!f.empty() && v > f.back())
      return llvm::createStringError("schedule '" + schedule +
                                     "' must be non-increasing");
    f.push_back(v);
  }
  return f;
}

int64_t spatten::keptCount(int64_t total, double fraction) {
  return std::max<int64_t>(1, int64_t(std::floor(double(total) * fraction)));
}

//===- Trace.h - Chrome/Perfetto timeline of a run --------------*- C++ -*-===//
//
// The engine's timeline as trace-event JSON (the "Trace Event Format" that
// chrome://tracing and ui.perfetto.dev open): one complete ("X") event per
// instruction on the track of its unit (DMA load, DMA store, GEMM array,
// vector unit, attention pipeline, top-k engine), timestamps in
// microseconds of the accelerator clock.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_TRACE_H
#define SPATTEN_SIM_TIMING_TRACE_H

#include "spatten/Sim/Timing/Engine.h"

#include "llvm/Support/JSON.h"

namespace spatten::sim::timing {

/// {"traceEvents": [...], "displayTimeUnit": "ns"} for `engine`'s events;
/// `clockGHz` converts cycles to microseconds.
llvm::json::Value traceJSON(const Engine &engine, double clockGHz);

/// The trace of several runs one after another on one time axis (text
/// generation: the prefill, then each decode step): each run's events
/// start where the previous run ended, and each run is also a span named
/// after it on a track of its own, "stages".
class RunsTrace {
public:
  /// `clockGHz` converts cycles to microseconds.
  explicit RunsTrace(double clockGHz);
  /// Appends the run `name` whose timeline is `engine`.
  void addRun(llvm::StringRef name, const Engine &engine);
  /// {"traceEvents": [...], "displayTimeUnit": "ns"}.
  llvm::json::Value toJSON() const;

private:
  double usPerCycle;
  uint64_t end = 0; ///< the cycle the last run ended
  llvm::json::Array events;
};

} // namespace spatten::sim::timing

#endif

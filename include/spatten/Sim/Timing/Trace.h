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

} // namespace spatten::sim::timing

#endif

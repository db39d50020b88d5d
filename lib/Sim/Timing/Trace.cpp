//===- Trace.cpp - Chrome/Perfetto timeline of a run ----------------------===//

#include "spatten/Sim/Timing/Trace.h"

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim::timing;

namespace {
/// Track (thread id) and name of the unit that runs `op`.
std::pair<int64_t, const char *> unitOf(Opcode op) {
  switch (op) {
  case Opcode::Load:
  case Opcode::Gather: return {1, "DMA load"};
  case Opcode::Store:
  case Opcode::Scatter: return {2, "DMA store"};
  case Opcode::Gemm: return {3, "GEMM array"};
  case Opcode::Vec: return {4, "vector unit"};
  case Opcode::Attn: return {5, "attention pipeline"};
  case Opcode::Topk: return {6, "top-k engine"};
  case Opcode::Sync:
  case Opcode::Halt:
  case Opcode::Bind: return {0, "control"};
  }
  return {0, "control"};
}
} // namespace

/// The track of the stage spans of a trace of several runs.
constexpr int64_t kStagesTrack = 7;

/// The metadata events naming the process and the unit tracks.
static void appendTrackNames(llvm::json::Array &events) {
  for (Opcode op : {Opcode::Sync, Opcode::Load, Opcode::Store, Opcode::Gemm,
                    Opcode::Vec, Opcode::Attn, Opcode::Topk}) {
    auto [tid, name] = unitOf(op);
    events.push_back(llvm::json::Object{
        {"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", tid},
        {"args", llvm::json::Object{{"name", name}}}});
  }
  events.push_back(llvm::json::Object{
      {"name", "process_name"}, {"ph", "M"}, {"pid", 0},
      {"args", llvm::json::Object{{"name", "SpAtten"}}}});
}

/// One "X" event per instruction of `engine` that took time, `offset`
/// cycles later than its run placed it.
static void appendInstructions(llvm::json::Array &events, const Engine &engine,
                               double usPerCycle, uint64_t offset) {
  for (const Event &e : engine.events()) {
    if (!e.when.cycles())
      continue;
    uint64_t start = e.when.start + offset;
    llvm::json::Object args{{"pc", int64_t(e.pc)},
                            {"start_cycle", int64_t(start)},
                            {"cycles", int64_t(e.when.cycles())}};
    if (e.layer)
      args["layer"] = int64_t(*e.layer);
    events.push_back(llvm::json::Object{
        {"name", std::string(kOpcodeSpecs[unsigned(e.opcode)].mnemonic)},
        {"ph", "X"},
        {"pid", 0},
        {"tid", unitOf(e.opcode).first},
        {"ts", start * usPerCycle},
        {"dur", e.when.cycles() * usPerCycle},
        {"args", std::move(args)}});
  }
}

static llvm::json::Value traceOf(llvm::json::Array events) {
  return llvm::json::Object{{"traceEvents", std::move(events)},
                            {"displayTimeUnit", "ns"}};
}

llvm::json::Value sim::timing::traceJSON(const Engine &engine,
                                         double clockGHz) {
  llvm::json::Array events;
  appendTrackNames(events);
  appendInstructions(events, engine, 1.0 / (clockGHz * 1e3), 0);
  return traceOf(std::move(events));
}

RunsTrace::RunsTrace(double clockGHz) : usPerCycle(1.0 / (clockGHz * 1e3)) {
  appendTrackNames(events);
  events.push_back(llvm::json::Object{
      {"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", kStagesTrack},
      {"args", llvm::json::Object{{"name", "stages"}}}});
}

void RunsTrace::addRun(llvm::StringRef name, const Engine &engine) {
  appendInstructions(events, engine, usPerCycle, end);
  events.push_back(llvm::json::Object{
      {"name", name.str()},
      {"ph", "X"},
      {"pid", 0},
      {"tid", kStagesTrack},
      {"ts", end * usPerCycle},
      {"dur", engine.total() * usPerCycle},
      {"args", llvm::json::Object{{"start_cycle", int64_t(end)},
                                  {"cycles", int64_t(engine.total())}}}});
  end += engine.total();
}

llvm::json::Value RunsTrace::toJSON() const { return traceOf(events); }

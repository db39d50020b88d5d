//===- Engine.cpp - When each instruction runs ----------------------------===//

#include "spatten/Sim/Timing/Engine.h"
#include "spatten/Sim/Timing/Hbm.h"

#include <algorithm>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim::timing;

namespace {
class FirstOrderDram : public DramModel {
public:
  explicit FirstOrderDram(const HardwareConfig &hw) : hw(hw) {}
  uint64_t access(llvm::ArrayRef<DramRow> rows, uint64_t issue) override {
    uint64_t bytes = 0;
    for (const DramRow &r : rows)
      bytes += r.bytes * r.count;
    if (!bytes)
      return issue;
    uint64_t perCycle = std::max<uint64_t>(1, hw.dramBytesPerCycle());
    return issue + hw.dramLatencyCycles + (bytes + perCycle - 1) / perCycle;
  }
  void reset() override {}

private:
  HardwareConfig hw;
};
} // namespace

std::unique_ptr<DramModel> sim::timing::firstOrderDram(const HardwareConfig &hw) {
  return std::make_unique<FirstOrderDram>(hw);
}

namespace {
/// The HBM2 model (docs/Memory.md) with the configuration's channels,
/// banks, address mapping and timings.
class HbmDram : public DramModel {
public:
  explicit HbmDram(const HbmTiming &p) : model(p) {}
  uint64_t access(llvm::ArrayRef<DramRow> rows, uint64_t issue) override {
    return rows.empty() ? issue : model.access(rows, issue);
  }
  void reset() override { model.reset(); }

private:
  HbmModel model;
};
} // namespace

llvm::Expected<std::unique_ptr<DramModel>>
sim::timing::hbmDram(const HardwareConfig &hw) {
  if (llvm::Error e = hw.hbm.validate())
    return std::move(e);
  return std::make_unique<HbmDram>(hw.hbm);
}

Engine::Engine(std::unique_ptr<DramModel> dram)
    : dram(std::move(dram)) {}

void Engine::reset() {
  dram->reset();
  *this = Engine(std::move(dram));
}

/// Takes the tokens `w` waits for: it starts after each was pushed.
llvm::Expected<uint64_t> Engine::startOf(const Work &w, Queue q,
                                         uint64_t queueReady) {
  uint64_t start = std::max(barrier, queueReady);
  for (unsigned from = 0; from < kNumQueues; ++from) {
    if (!(w.depWait & (1u << from)))
      continue;
    std::deque<uint64_t> &fifo = tokens[from][unsigned(q)];
    if (fifo.empty())
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "field 'dep_wait': waits for a token from the " +
              std::string(kQueueNames[from]) +
              " queue, but no earlier instruction of it signals the " +
              std::string(kQueueNames[unsigned(q)]) + " queue (dep_signal)");
    start = std::max(start, fifo.front());
    fifo.pop_front();
  }
  return start;
}

/// An ATTN on the compute queue. Streaming behind the previous ATTN it
/// issues once that one's last row has left Q·K, and each
/// stage takes its rows once the previous rows have left it; its last row
/// still leaves prob·V after theirs, so the queue keeps finishing in order.
llvm::Expected<Interval> Engine::runAttn(const Work &w, PipelineResult &run) {
  unsigned compute = unsigned(Queue::Compute);
  bool streams = w.attn->streams && lastComputeIsAttn;
  Interval when;
  auto start = startOf(w, Queue::Compute,
                       streams ? attnIssueFree : queueFree[compute]);
  if (!start)
    return start.takeError();
  when.start = *start;
  PipelineParams params = w.attn->params;
  for (unsigned s = 0; s < kNumStages; ++s)
    params.freeAt[s] =
        streams && attnStageFree[s] > when.start ? attnStageFree[s] - when.start
                                                 : 0;
  run = runPipeline(w.attn->rows, params);
  when.end = std::max(when.start + run.cycles, queueFree[compute]);
  for (unsigned s = 0; s < kNumStages; ++s)
    attnStageFree[s] = std::max(attnStageFree[s], when.start + run.lastLeave[s]);
  // The next ATTN's first row may start Q·K once this one's last has left
  // it (and the K fetcher before it).
  attnIssueFree = std::max({when.start, attnStageFree[unsigned(Stage::KFetch)],
                            attnStageFree[unsigned(Stage::QK)]});
  return when;
}

llvm::Expected<Interval> Engine::issue(const Work &w,
                                       PipelineResult *pipeline) {
  std::optional<Queue> q = queueOf(w.opcode);
  Interval when;
  if (!q) { // sync and halt: wait for every queue
    if (w.depWait || w.depSignal)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "field 'dep_wait'/'dep_signal': must be 0 on sync and halt, which "
          "belong to no queue");
    uint64_t all = *std::max_element(queueFree.begin(), queueFree.end());
    barrier = std::max(barrier, all);
    when = {barrier, barrier};
  } else {
    uint64_t &free = queueFree[unsigned(*q)];
    PipelineResult run;
    if (*q == Queue::Compute && w.attn) {
      auto attn = runAttn(w, run);
      if (!attn)
        return attn.takeError();
      when = *attn;
    } else {
      auto start = startOf(w, *q, free);
      if (!start)
        return start.takeError();
      when.start = *start;
      if (*q == Queue::Compute)
        when.end = when.start + w.computeCycles;
      else
        when.end = std::max(when.start, dram->access(w.dram, when.start));
    }
    // Only the part after the previous instruction counts as busy time.
    busyCycles[unsigned(*q)] += when.end - std::max(when.start, free);
    free = when.end;
    for (unsigned to = 0; to < kNumQueues; ++to)
      if (w.depSignal & (1u << to))
        tokens[unsigned(*q)][to].push_back(when.end);
    if (*q == Queue::Compute)
      lastComputeIsAttn = w.attn.has_value();
    if (pipeline && w.attn)
      *pipeline = std::move(run);
  }
  finish = std::max(finish, when.end);
  timeline.push_back({w.pc, w.opcode, q, w.layer, when});
  return when;
}

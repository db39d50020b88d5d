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
  uint64_t access(llvm::ArrayRef<DramRow> rows, bool, uint64_t issue) override {
    uint64_t bytes = 0;
    for (const DramRow &r : rows)
      bytes += r.bytes;
    if (!bytes)
      return issue;
    uint64_t perCycle = std::max<uint64_t>(1, hw.dramBytesPerCycle());
    return issue + hw.dramLatencyCycles + (bytes + perCycle - 1) / perCycle;
  }

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
  explicit HbmDram(HbmParams p) : model(p) {}
  uint64_t access(llvm::ArrayRef<DramRow> rows, bool write,
                  uint64_t issue) override {
    requests.clear();
    for (const DramRow &r : rows)
      requests.push_back({r.addr, r.bytes, write});
    return requests.empty() ? issue : model.access(requests, issue);
  }

private:
  HbmModel model;
  std::vector<HbmRequest> requests;
};
} // namespace

HbmParams sim::timing::hbmParams(const HardwareConfig &hw) {
  HbmParams p;
  p.channels = hw.dramChannels;
  p.banksPerChannel = hw.dramBanksPerChannel;
  p.transactionBytes = hw.dramTransactionBytes;
  p.rowBytes = hw.dramRowBytes;
  p.interleaveBytes = hw.dramInterleaveBytes;
  p.tRCD = hw.dramTRCD;
  p.tRP = hw.dramTRP;
  p.tCL = hw.dramTCL;
  p.tRAS = hw.dramTRAS;
  p.tBurst = hw.dramTBurst;
  p.tREFI = hw.dramTREFI;
  p.tRFC = hw.dramTRFC;
  p.schedulerWindow = hw.dramSchedulerWindow;
  return p;
}

llvm::Expected<std::unique_ptr<DramModel>>
sim::timing::hbmDram(const HardwareConfig &hw) {
  HbmParams p = hbmParams(hw);
  if (llvm::Error e = p.validate())
    return std::move(e);
  return std::make_unique<HbmDram>(p);
}

Engine::Engine(std::unique_ptr<DramModel> dram)
    : dram(std::move(dram)) {}

uint64_t Engine::startOf(const Work &w, std::optional<Queue> q) const {
  uint64_t start = barrier;
  if (q)
    start = std::max(start, queueFree[unsigned(*q)]);
  // A queue's instructions finish in order, so its last one finishing
  // means every earlier one has.
  for (unsigned other = 0; other < kNumQueues; ++other)
    if (w.depWait & (1u << other))
      start = std::max(start, queueFree[other]);
  return start;
}

Interval Engine::issue(const Work &w) {
  std::optional<Queue> q = queueOf(w.opcode);
  Interval when;
  if (!q) { // sync and halt: wait for every queue
    uint64_t all = *std::max_element(queueFree.begin(), queueFree.end());
    barrier = std::max(barrier, all);
    when = {barrier, barrier};
  } else {
    when.start = startOf(w, q);
    if (*q == Queue::Compute) {
      when.end = when.start + w.computeCycles;
    } else {
      bool write = *q == Queue::Store;
      when.end = std::max(when.start, dram->access(w.dram, write, when.start));
    }
    queueFree[unsigned(*q)] = when.end;
    busyCycles[unsigned(*q)] += when.cycles();
  }
  finish = std::max(finish, when.end);
  timeline.push_back({w.pc, w.opcode, q, w.layer, when});
  return when;
}

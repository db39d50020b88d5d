//===- Engine.h - When each instruction runs --------------------*- C++ -*-===//
//
// The cycle-level timing of a program (docs/Simulator.md, "Cycle-level
// model"). Instructions go to their queue (load, compute, store: ISA
// `queueOf`); a queue runs one instruction at a time in program order, and
// an instruction starts once its queue is free, it has taken a dependency
// token from each queue its `dep_wait` names (a token is pushed when an
// instruction whose `dep_signal` names this queue finishes), and the last
// `sync` has completed. DMA instructions take the time the DRAM model gives for the
// rows they move; compute instructions take the cycles of their unit
// (GEMM array, vector unit, top-k engine, attention pipeline). Consecutive
// ATTNs stream through the attention pipeline: the next one's rows follow
// the previous one's last row stage by stage, unless it reads what that one
// writes.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_ENGINE_H
#define SPATTEN_SIM_TIMING_ENGINE_H

#include "spatten/ISA/Spec.h"
#include "spatten/Sim/Timing/AttentionPipeline.h"
#include "spatten/Sim/Timing/Hbm.h"
#include "spatten/Support/HardwareConfig.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

namespace spatten::sim::timing {

/// DRAM rows a DMA instruction moves: `count` rows of `bytes`, from byte
/// address `addr` at `stride`, written (a store) or read. The HBM2 model's
/// request, so that a DMA's rows reach it without a copy.
using DramRow = HbmRequest;

/// The DRAM as the engine sees it: a DMA's rows are all issued at cycle
/// `issue`; the result is the cycle the last byte has moved.
class DramModel {
public:
  virtual ~DramModel() = default;
  virtual uint64_t access(llvm::ArrayRef<DramRow> rows, uint64_t issue) = 0;
  /// Back to the state before the first access, at cycle 0. What a model
  /// learned that holds at any cycle (HbmModel's memo) stays.
  virtual void reset() = 0;
};

/// `dram_latency_cycles + ceil(bytes / (channels x transaction bytes))`
/// per instruction, channels not shared between overlapping DMAs: the
/// first-order model (docs/Simulator.md), kept for comparison.
std::unique_ptr<DramModel> firstOrderDram(const HardwareConfig &hw);

/// The HBM2 model (docs/Memory.md) with `hw.hbm`; an error names the field
/// HbmTiming::validate refuses.
llvm::Expected<std::unique_ptr<DramModel>> hbmDram(const HardwareConfig &hw);

/// An ATTN's query rows for the attention pipeline model.
struct AttnWork {
  std::vector<RowWork> rows;
  PipelineParams params; ///< freeAt is set by the engine
  /// The previous compute instruction is an ATTN whose SRAM results this
  /// one does not read: its rows may enter each stage right behind that
  /// ATTN's last row instead of waiting for it to leave prob·V.
  bool streams = false;
};

/// One executed instruction, as the engine needs it.
struct Work {
  uint64_t pc = 0;
  isa::Opcode opcode = isa::Opcode::Halt;
  unsigned depWait = 0;              ///< `dep_wait` bits (isa::DepWait)
  unsigned depSignal = 0;            ///< `dep_signal` bits (isa::DepWait)
  std::optional<unsigned> layer;     ///< report layer, if attributed
  uint64_t computeCycles = 0;        ///< compute queue: the unit's cycles
  std::vector<DramRow> dram;         ///< DMA: the rows it moved
  std::optional<AttnWork> attn;      ///< ATTN: runs in the pipeline model
};

/// When one instruction ran, in cycles from the program start.
struct Interval {
  uint64_t start = 0, end = 0;
  uint64_t cycles() const { return end - start; }
};

/// One instruction on the timeline, for the report and the trace.
struct Event {
  uint64_t pc;
  isa::Opcode opcode;
  std::optional<isa::Queue> queue;
  std::optional<unsigned> layer;
  Interval when;
};

class Engine {
public:
  explicit Engine(std::unique_ptr<DramModel> dram);

  /// Places `w` on the timeline (calls come in program order). An ATTN
  /// runs through the attention pipeline model; its run is stored in
  /// `*pipeline` when given. Errors: a `dep_wait` bit with no token from
  /// that queue to take (field named), and dependency bits on an
  /// instruction of no queue.
  llvm::Expected<Interval> issue(const Work &w,
                                 PipelineResult *pipeline = nullptr);
  /// An empty timeline at cycle 0, on the same DRAM model, reset.
  void reset();

  /// The cycle the last instruction finished.
  uint64_t total() const { return finish; }
  /// Cycles each queue spent running instructions.
  const std::array<uint64_t, isa::kNumQueues> &busy() const { return busyCycles; }
  /// Every instruction, in program order.
  const std::vector<Event> &events() const { return timeline; }

private:
  std::unique_ptr<DramModel> dram;
  std::array<uint64_t, isa::kNumQueues> queueFree{}, busyCycles{};
  uint64_t barrier = 0, finish = 0;
  std::vector<Event> timeline;
  /// The last compute instruction was an ATTN: the cycle its last row left
  /// each pipeline stage, and the cycle a following ATTN may issue.
  bool lastComputeIsAttn = false;
  std::array<uint64_t, kNumStages> attnStageFree{};
  uint64_t attnIssueFree = 0;

  /// Per queue pair [from][to]: the completion cycles of the `from`
  /// instructions that signalled `to`, not yet taken by a wait.
  std::array<std::array<std::deque<uint64_t>, isa::kNumQueues>,
             isa::kNumQueues>
      tokens;

  llvm::Expected<uint64_t> startOf(const Work &w, isa::Queue q,
                                   uint64_t queueReady);
  llvm::Expected<Interval> runAttn(const Work &w, PipelineResult &run);
};

} // namespace spatten::sim::timing

#endif // SPATTEN_SIM_TIMING_ENGINE_H

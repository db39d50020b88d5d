//===- AttentionPipeline.h - Cycle-level SpAtten attention pipeline -*- C++ -*-===//
//
// The attention engine of the paper (Sec. IV, Fig. 8) as eight stages that
// overlap across query rows, joined by finite FIFOs (docs/Simulator.md,
// "Attention pipeline model"). The caller says how many cycles each stage
// needs for each row (rowWork derives them from unit counts); runPipeline
// replays the rows through the stages and returns when the last one leaves
// prob·V, and how each stage spent its time.
//
// All times are cycles of the accelerator clock. Depends only on LLVM
// Support.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_ATTENTIONPIPELINE_H
#define SPATTEN_SIM_TIMING_ATTENTIONPIPELINE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <vector>

namespace spatten::sim::timing {

/// The stages in pipeline order (paper Fig. 8).
enum class Stage : unsigned {
  KFetch,     ///< K fetcher + crossbar, driven by the index list
  QK,         ///< Q·K multiplier array
  Softmax,    ///< softmax units
  PqDecide,   ///< progressive quantization: max prob against the threshold
  Importance, ///< cumulative token/head importance accumulation
  ValueTopk,  ///< local value pruning: top-k over the row's probabilities
  VFetch,     ///< V fetcher for the kept V rows
  PV,         ///< prob·V multiplier array
  Count
};
constexpr unsigned kNumStages = unsigned(Stage::Count);

/// Short name for reports and trace tracks: k_fetch, qk, softmax,
/// pq_decide, importance, value_topk, v_fetch, pv.
llvm::StringRef stageName(Stage s);

/// One query row: the cycles each stage needs for it.
struct RowWork {
  std::array<uint64_t, kNumStages> cycles{}; ///< indexed by Stage
  /// Progressive quantization found the row unconfident: after PqDecide it
  /// goes back to KFetch (LSB planes) and recomputes Q·K and softmax.
  bool refetch = false;
  /// KFetch (LSB planes), QK and Softmax cycles of that recompute.
  std::array<uint64_t, 3> refetchCycles{};
};

struct PipelineParams {
  /// FIFO slots between consecutive stages (each of the 7 links). 0 means
  /// no FIFO: a stage hands its row straight to the next one when that one
  /// is idle.
  unsigned queueDepth = 2;
  /// Units of each stage that serve rows at once (at least 1 each): a row
  /// goes to the first free unit, and finished rows move on oldest first
  /// (a short row may overtake a long one; rows are independent).
  /// ValueTopk has `value_topk_engines`; every other stage has one.
  std::array<unsigned, kNumStages> servers{1, 1, 1, 1, 1, 1, 1, 1};
  /// Cycle (relative to `start`) before which stage s starts no row: the
  /// previous ATTN's rows still occupy it (Engine streams consecutive ATTN
  /// instructions through the pipeline). All 0 for an empty pipeline.
  std::array<uint64_t, kNumStages> freeAt{};
  /// Record every service interval in PipelineResult::intervals.
  bool trace = false;
};

/// How a stage spent the cycles from `freeAt` to the end of the run; the
/// three add up to PipelineResult::cycles - freeAt for every stage. With
/// several units, the stage is busy while any unit serves a row.
struct StageStats {
  uint64_t busy = 0;    ///< serving a row
  uint64_t blocked = 0; ///< done with a row, but the next queue is full
  uint64_t starved = 0; ///< idle: nothing in its input queue
};

/// One row's visit to one stage (absolute cycles, not relative to start).
struct StageInterval {
  uint64_t row;       ///< index into the rows given to runPipeline
  Stage stage;
  bool recompute;     ///< the refetch trip through KFetch..Softmax, and the
                      ///< PqDecide that follows it
  uint64_t begin;     ///< service starts
  uint64_t end;       ///< service done (begin + its cycles)
  uint64_t leave;     ///< handed to the next queue (>= end; > end = blocked)
};

struct PipelineResult {
  /// The cycle the last row leaves PV, relative to `start`; 0 for no rows.
  uint64_t cycles = 0;
  std::array<StageStats, kNumStages> stages{}; ///< indexed by Stage
  /// The cycle (relative to `start`) the last row left each stage: from
  /// then on a following ATTN's rows may use it (PipelineParams::freeAt).
  std::array<uint64_t, kNumStages> lastLeave{};
  /// With PipelineParams::trace, every visit in the order services start.
  std::vector<StageInterval> intervals;
};

/// Runs `rows` through the pipeline from cycle `start`. Semantics:
///  - all rows are waiting in front of KFetch at `start`, in order;
///  - stage s starts no row before `freeAt[s]`;
///  - each unit serves one row at a time, in arrival order (FIFO), except
///    that rows sent back by PqDecide for a refetch enter KFetch ahead of
///    rows that have not started (the LSB recompute is re-injected ahead
///    of new work, so an unconfident row does not wait behind the rest);
///  - blocking after service: a stage that is done holds its row until the
///    queue to the next stage has a free slot, so a slow stage shows up
///    upstream as `blocked` and downstream as `starved`; a slot freed in a
///    cycle can be refilled in the same cycle;
///  - a row with 0 cycles at a stage passes through it in the same cycle
///    (it still occupies the stage while it waits for a slot);
///  - a refetching row, once done at PqDecide, goes back to KFetch (that
///    path is not bounded by queueDepth: it carries only the row index,
///    and bounding it could deadlock the loop), does KFetch, QK and Softmax
///    again with refetchCycles, then PqDecide again with its normal cycles
///    (the stage forwards it; there is no second refetch) and continues.
/// Never fails: every input describes a run that ends (a `servers` entry
/// of 0 counts as 1).
PipelineResult runPipeline(llvm::ArrayRef<RowWork> rows,
                           const PipelineParams &p, uint64_t start = 0);

/// Unit counts of the attention engine (paper Sec. V-A; HardwareConfig
/// supplies them).
struct AttentionUnits {
  unsigned qkMultipliers = 512;  ///< Q·K MACs per cycle
  unsigned pvMultipliers = 512;  ///< prob·V MACs per cycle
  unsigned softmaxUnits = 16;    ///< probabilities per cycle
  unsigned topkComparators = 16; ///< top-k engine comparators
  unsigned crossbarInputs = 32;  ///< crossbar ports on the memory side
  unsigned crossbarOutputs = 16; ///< crossbar ports on the K SRAM side
};

/// Which optional stages do work (the program's SpAtten techniques).
struct AttentionMode {
  bool progressiveQuantization = false; ///< PqDecide runs (1 cycle per row)
  bool importance = false; ///< token/head pruning accumulates importance
};

/// The cycles of one query row attending over `keys` keys of `d` elements:
///  - KFetch: max(kFetchCycles, ceil(keys / min(crossbarInputs,
///    crossbarOutputs))), or 0 when kFetchCycles is 0 (keys already on
///    chip do not cross the crossbar);
///  - QK: ceil(keys * d / qkMultipliers);
///  - Softmax: ceil(keys / softmaxUnits);
///  - PqDecide: 1 with progressive quantization (one compare of the row's
///    max probability, kept by softmax, with the threshold), else 0;
///  - Importance: ceil(keys / softmaxUnits) when accumulating, else 0 (one
///    adder per softmax lane adds each probability to its key's score);
///  - ValueTopk: topkCycles (quickSelect over the row's probabilities; 0
///    without value pruning);
///  - VFetch: vFetchCycles (from the DRAM model);
///  - PV: ceil(keptValues * d / pvMultipliers).
/// Errors name the AttentionUnits field that is 0.
llvm::Expected<RowWork> rowWork(const AttentionUnits &u, uint64_t keys,
                                uint64_t d, uint64_t keptValues,
                                uint64_t topkCycles, uint64_t kFetchCycles,
                                uint64_t vFetchCycles,
                                const AttentionMode &mode);

/// Marks `w` (from rowWork with the same `u`, `keys`) as refetching: the
/// recompute fetches the LSB planes in `lsbFetchCycles` (through the
/// crossbar, bounded as KFetch is) and repeats QK and Softmax at their
/// rowWork cycles (same multipliers, full-precision keys). Errors name the
/// AttentionUnits field that is 0.
llvm::Error setRefetch(RowWork &w, const AttentionUnits &u, uint64_t keys,
                       uint64_t lsbFetchCycles);

} // namespace spatten::sim::timing

#endif // SPATTEN_SIM_TIMING_ATTENTIONPIPELINE_H

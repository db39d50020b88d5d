//===- Report.h - What a simulation run measured ----------------*- C++ -*-===//
//
// Instruction counts by opcode, DRAM traffic by tensor class, the cycles of
// the cycle-level model and of the first-order estimate (docs/Simulator.md,
// "Report"), and the energy estimate. Per-layer SpAtten counters come from
// the `layer` fields of DMA, ATTN and TOPK instructions.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_REPORT_H
#define SPATTEN_SIM_REPORT_H

#include "spatten/ISA/Spec.h"
#include "spatten/Support/HardwareConfig.h"

#include "llvm/Support/JSON.h"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace spatten::sim {

struct OpcodeStats {
  uint64_t count = 0;  ///< instructions executed
  uint64_t cycles = 0; ///< sum of their first-order cycle estimates
};

/// Per-layer SpAtten counters (docs/Simulator.md, "Report"). An instruction
/// is attributed to layer `layer - 1` by its `layer` field; 0 leaves it out
/// of every layer. A counter stays empty (JSON null) until an instruction of
/// the kind that defines it runs in the layer, never guessed.
struct LayerCounters {
  unsigned layer = 0; ///< the field value minus one
  /// DRAM bytes of the layer's DMA instructions, by isa::TensorClass.
  std::array<uint64_t, isa::kNumTensorClasses> dramRead{}, dramWritten{};
  std::optional<uint64_t> keptTokens; ///< largest `lk` of the layer's ATTNs
  /// ATTN instructions that write O: phase none or finish without
  /// AttnDeferValues, and phase values (one per head and query tile).
  std::optional<uint64_t> keptHeads;
  /// K rows moved by LSB-plane DMAs of class k_lsb (0 once a decide ran).
  std::optional<uint64_t> refetchedRows;
  std::optional<uint64_t> unconfidentRows; ///< rows marked by ATTN decides
  /// Per ATTN decide in program order (one per kept head when its queries
  /// fit one instruction): whether a row was unconfident, i.e. whether the
  /// predicated LSB refetch that follows it ran.
  std::vector<bool> refetchDecisions;
  /// V rows kept by at least one query row, summed over ATTNs with vk > 0.
  std::optional<uint64_t> vRowsKept;
  std::optional<uint64_t> topkPasses; ///< quick-select passes of TOPKs
  /// Cycle-level model: when the layer's first instruction started and its
  /// last one finished, and the cycles each queue spent on it.
  uint64_t firstStart = ~uint64_t(0), lastEnd = 0;
  std::array<uint64_t, isa::kNumQueues> queueBusy{};
  /// Busy cycles of each attention pipeline stage (timing::Stage order).
  std::array<uint64_t, 8> stageBusy{};
};

/// One executed TOPK: what it selected, its quick-select passes and
/// charged cycles. The selection is what a reference compares per layer.
struct TopkRecord {
  uint64_t instruction = 0; ///< index in .text
  uint64_t n = 0, k = 0;    ///< candidates and requested k
  uint64_t passes = 0;      ///< partition passes (the compaction pass apart)
  uint64_t cycles = 0;
  std::optional<unsigned> layer; ///< `layer` field - 1; empty when 0
  isa::TopkRole role = isa::TopkRole::Other;
  /// The candidates written to idx[out_off ..], in output (list) order.
  std::vector<int32_t> selected;
};

/// Operations of the compute units, for the energy estimate.
struct OpCounts {
  uint64_t gemmMacs = 0;     ///< fp32 GEMM multiply-accumulates
  uint64_t vectorOps = 0;    ///< vector lane-operations (x function passes)
  uint64_t attnMacs = 0;     ///< Q*K and prob*V multiply-accumulates
  uint64_t softmaxOps = 0;   ///< probabilities through softmax
  uint64_t topkCompares = 0; ///< top-k engine comparisons (local V, TOPK)
};

/// What one run of a generation measured, for report.json's `stages`
/// (docs/Simulator.md, "Generation").
struct RunFigures {
  uint64_t cycles = 0; ///< cycle-level model
  std::array<uint64_t, isa::kNumTensorClasses> dramRead{}, dramWritten{};
  /// Per layer, as in LayerCounters: kept tokens and heads, and how many
  /// of its progressive-quantization decisions refetched LSB planes (empty
  /// when none was taken).
  struct Layer {
    unsigned layer = 0;
    std::optional<uint64_t> keptTokens, keptHeads, refetches;
    /// The candidates of the layer's token top-k (a decode step's kept
    /// positions); empty when it ran none.
    std::vector<int32_t> tokens;
    /// DRAM bytes of the layer's DMAs, by isa::TensorClass.
    std::array<uint64_t, isa::kNumTensorClasses> dramRead{}, dramWritten{};
  };
  std::vector<Layer> layers;
};

/// One decode step of a generation: step `step` (1-based) ran at position
/// `position`.
struct GenerationStep {
  unsigned step = 0;
  uint64_t position = 0;
  RunFigures run;
};

/// A generation's runs: the prefill, then each decode step.
struct GenerationStages {
  RunFigures prefill;
  std::vector<GenerationStep> steps;
};

struct Report {
  OpCounts ops;
  std::array<OpcodeStats, isa::kNumOpcodes> byOpcode{};
  /// DRAM bytes read (LOAD, GATHER) and written (STORE), by isa::TensorClass.
  std::array<uint64_t, isa::kNumTensorClasses> dramRead{}, dramWritten{};
  /// First-order cycle estimate of each executed instruction, in order.
  std::vector<uint64_t> instrCycles;
  std::vector<LayerCounters> layers; ///< sorted by layer
  std::vector<TopkRecord> topk;      ///< in execution order
  /// Cycle-level model (docs/Simulator.md): the cycle the program finished
  /// and the cycles each queue (load, compute, store) was busy.
  uint64_t cycles = 0;
  std::array<uint64_t, isa::kNumQueues> queueBusy{};
  std::array<uint64_t, 8> stageBusy{}; ///< attention pipeline stages

  /// Generation only (docs/Simulator.md, "Generation"): each run's
  /// figures; the fields above are then totals over every run, but for
  /// `layers` and `topk`, which are the prefill's.
  std::optional<GenerationStages> stages;

  /// The counters of layer `fieldValue - 1` (created on first use), or
  /// nullptr when `fieldValue` is 0 (not attributed).
  LayerCounters *layer(uint64_t fieldValue);

  /// This report's cycles, DRAM bytes and per-layer figures, for `stages`.
  RunFigures figures() const;
  /// Adds `run`'s totals, as of a run after this one: instruction counts,
  /// operations, DRAM bytes, cycles (cycle-level and first-order), queue
  /// and attention stage busy cycles. Its `layers` and `topk` are not
  /// added.
  void addTotals(const Report &run);

  uint64_t totalInstructions() const;
  /// Serial sum of instrCycles: the first-order estimate, no overlap
  /// between units and every DMA at the fixed latency.
  uint64_t serialCycles() const;
  /// report.json; `hw` is the configuration the estimate used.
  llvm::json::Value toJSON(const HardwareConfig &hw) const;
};

} // namespace spatten::sim

#endif // SPATTEN_SIM_REPORT_H

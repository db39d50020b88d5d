//===- Report.h - What a simulation run measured ----------------*- C++ -*-===//
//
// Instruction counts by opcode, DRAM traffic by tensor class and a
// first-order cycle estimate (docs/Simulator.md, "Cycle estimate"). The
// cycle-level timing model and the pruning counters arrive in later issues;
// their places are the `layers` vector and `CycleModel`.
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

/// Per-layer SpAtten counters. Filled by the pruning instructions (cascade
/// token/head pruning, progressive quantization) of later issues; a value
/// stays empty (JSON null) until an instruction reports it, never guessed.
struct LayerCounters {
  unsigned layer = 0;
  std::optional<uint64_t> keptTokens;    ///< tokens kept after top-k
  std::optional<uint64_t> keptHeads;     ///< heads kept after top-k
  std::optional<uint64_t> refetchedRows; ///< rows whose LSB plane was fetched
};

struct Report {
  std::array<OpcodeStats, isa::kNumOpcodes> byOpcode{};
  /// DRAM bytes read (LOAD, GATHER) and written (STORE), by isa::TensorClass.
  std::array<uint64_t, isa::kNumTensorClasses> dramRead{}, dramWritten{};
  /// First-order cycle estimate of each executed instruction, in order.
  std::vector<uint64_t> instrCycles;
  std::vector<LayerCounters> layers;

  uint64_t totalInstructions() const;
  /// Serial sum of instrCycles (no overlap between units).
  uint64_t totalCycles() const;
  /// report.json; `hw` is the configuration the estimate used.
  llvm::json::Value toJSON(const HardwareConfig &hw) const;
};

/// First-order cost of one instruction in cycles (docs/Simulator.md):
/// DMA latency + ceil(bytes / dram bytes per cycle), GEMM
/// ceil(m*n*k / gemm_multipliers), ATTN Q*K + softmax + prob*V on their
/// units, VEC ceil(rows*cols / vector_lanes) * per-function passes.
/// `inst` must already be validated.
uint64_t estimateCycles(const isa::Instr &inst, const HardwareConfig &hw);

/// Passes over the data a vector function costs (special functions take
/// more than one lane-cycle per element).
unsigned vecFuncCost(isa::VecFunc f);

} // namespace spatten::sim

#endif // SPATTEN_SIM_REPORT_H

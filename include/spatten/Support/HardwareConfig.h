//===- HardwareConfig.h - SpAtten hardware configuration --------*- C++ -*-===//
//
// Every hardware figure the compiler tiles for and the simulator times with.
// The presets are the JSON files configs/spatten.json (the paper's SpAtten,
// HPCA 2021, Sec. V-A) and configs/spatten-1_8.json (the scaled-down design
// the paper compares with A3 and MNNFast), embedded in the library at build
// time: they are the only place the preset values are written. Configs are
// JSON objects whose keys are the snake_case names below; absent keys keep
// the base preset's value. docs/HardwareConfig.md documents every field with
// its unit and source.
//
// Depends only on LLVM Support (JSON), never on MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SUPPORT_HARDWARECONFIG_H
#define SPATTEN_SUPPORT_HARDWARECONFIG_H

#include "spatten/ISA/Spec.h"
#include "spatten/Support/HbmTiming.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <array>
#include <cstdint>
#include <string>

namespace spatten {

/// One figure of the energy table: picojoules and where the figure comes
/// from (the `source` string is carried into reports).
struct EnergyEntry {
  double pj = 0;
  std::string source;
};

/// Per-access and per-operation energies (JSON object `energy`). Units are
/// in the key names; docs/HardwareConfig.md cites and derives each figure.
struct EnergyTable {
  EnergyEntry dramReadPerByte;  ///< dram_read_pj_per_byte: pJ per byte
  EnergyEntry dramWritePerByte; ///< dram_write_pj_per_byte: pJ per byte
  EnergyEntry sramReadPerByte;  ///< sram_read_pj_per_byte: pJ per byte
  EnergyEntry sramWritePerByte; ///< sram_write_pj_per_byte: pJ per byte
  EnergyEntry attnMac;     ///< attn_mac_pj: one 12-bit Q*K or prob*V MAC
  EnergyEntry softmaxOp;   ///< softmax_op_pj: one key through softmax
  EnergyEntry topkCompare; ///< topk_compare_pj: one top-k comparison
  EnergyEntry gemmMac;     ///< gemm_mac_pj: one fp32 GEMM MAC
  EnergyEntry vectorOp;    ///< vector_op_pj: one fp32 vector-lane op
};

/// All counts are positive; cycles are cycles of the accelerator clock
/// (`clock_ghz`); sizes are bytes. The default-constructed value is the
/// `spatten` preset.
struct HardwareConfig {
  std::string name;
  double clockGHz = 0;             ///< clock_ghz
  // Attention engine (paper Sec. V-A).
  unsigned multipliers = 0;        ///< multipliers: qk + pv
  unsigned qkMultipliers = 0;      ///< qk_multipliers: Q*K MACs per cycle
  unsigned pvMultipliers = 0;      ///< pv_multipliers: prob*V MACs per cycle
  unsigned softmaxUnits = 0;       ///< softmax_units: keys per cycle
  unsigned topkComparators = 0;    ///< topk_comparators: per cycle
  /// value_topk_engines: top-k engines (each topk_comparators wide) that
  /// serve the local value pruning of different query rows at once.
  unsigned valueTopkEngines = 0;
  unsigned maxKeysPerFill = 0;     ///< max_keys_per_fill: keys
  unsigned crossbarInputs = 0;     ///< crossbar_inputs: fetch requests/cycle
  unsigned crossbarOutputs = 0;    ///< crossbar_outputs: = dram_channels
  unsigned pipelineQueueDepth = 0; ///< pipeline_queue_depth: FIFO slots
  /// double_buffered: the K and V SRAMs are split in halves so that the
  /// fetch of the next fill overlaps compute on the current one.
  bool doubleBuffered = false;
  // Whole-model extension (not in the paper; see docs/HardwareConfig.md).
  unsigned gemmMultipliers = 0;    ///< gemm_multipliers: MACs per cycle
  unsigned vectorLanes = 0;        ///< vector_lanes: elements per cycle
  /// Memory (HBM2, paper Sec. V-A): the dram_* keys of the HBM model.
  HbmTiming hbm;
  /// dram_latency_cycles: the first-order DMA latency of the estimate
  /// (docs/Simulator.md); the cycle-level HBM model replaces it.
  unsigned dramLatencyCycles = 0;
  uint64_t dramBytes = 0;           ///< dram_bytes: capacity
  /// SRAM buffer sizes in bytes, indexed by isa::Buffer
  /// (idx_buffer_bytes, act_buffer_bytes, ..., mask_buffer_bytes).
  std::array<uint64_t, isa::kNumBuffers> bufferBytes = {};
  EnergyTable energy; ///< energy

  /// The `spatten` preset (parsed once from the embedded JSON).
  HardwareConfig();

  /// Elements of buffer `b` that hold data `bits` wide: the Q, K and V
  /// buffers hold each element at the width it was loaded with,
  /// floor(bytes * 8 / bits) (paper Sec. V: 196 KB hold 2 x 1024 keys of
  /// 64 x 12 bits); every other buffer holds 32-bit elements, bytes / 4,
  /// whatever `bits` is. `bits` is isa::kWordBits (fp32 and integer data)
  /// or a fixed-point width isa::kMinFixedPointBits..kMaxFixedPointBits
  /// (docs/ISA.md, "SRAM operands").
  uint64_t bufferElems(isa::Buffer b, unsigned bits = isa::kWordBits) const {
    if (!holdsLoadedWidth(b))
      bits = isa::kWordBits;
    return bufferBytes[unsigned(b)] * 8 / bits;
  }
  /// Whether `b` holds elements at the width they were loaded with (the
  /// attention operands Q, K, V) rather than at 32 bits.
  static bool holdsLoadedWidth(isa::Buffer b) {
    return b == isa::Buffer::Q || b == isa::Buffer::K || b == isa::Buffer::V;
  }
  /// Peak DRAM bytes per cycle: channels x transaction bytes.
  uint64_t dramBytesPerCycle() const {
    return uint64_t(hbm.channels) * hbm.transactionBytes;
  }

  /// A named preset ("spatten", "spatten-1/8" or its file-name spelling
  /// "spatten-1_8"), or an error naming the known presets.
  static llvm::Expected<HardwareConfig> preset(llvm::StringRef name);
  /// Parses a JSON object over `base` (or over the preset its "preset" key
  /// names). Unknown keys, wrong types and out-of-range or inconsistent
  /// values (HbmTiming::validate for the dram_* keys) are errors that name
  /// the field (configFieldError).
  static llvm::Expected<HardwareConfig> fromJSON(const llvm::json::Value &v,
                                                 HardwareConfig base);
  /// fromJSON over the default ("spatten") preset.
  static llvm::Expected<HardwareConfig> fromJSON(const llvm::json::Value &v);
  /// A preset name or a path to a JSON file; errors name the file.
  static llvm::Expected<HardwareConfig> load(llvm::StringRef presetOrPath);
  /// The text of a JSON configuration file (parseJson, then fromJSON);
  /// errors name `name`, the file.
  static llvm::Expected<HardwareConfig> parse(llvm::StringRef text,
                                              llvm::StringRef name);
  /// Every field, in the format fromJSON reads.
  llvm::json::Value toJSON() const;

private:
  struct Blank {};
  /// All fields zero: the base a preset file must fill completely.
  explicit HardwareConfig(Blank) {}
  static llvm::Expected<HardwareConfig> parsePreset(llvm::StringRef file,
                                                    llvm::StringRef text);
  static const HardwareConfig &embeddedPreset(unsigned index);
};

} // namespace spatten

#endif // SPATTEN_SUPPORT_HARDWARECONFIG_H

//===- HardwareConfig.h - SpAtten hardware configuration --------*- C++ -*-===//
//
// Every hardware figure the compiler tiles for and the simulator times with.
// Defaults are the paper's SpAtten (HPCA 2021, Sec. V-A / Table II); the
// `spatten-1/8` preset is the scaled-down design the paper compares with A3
// and MNNFast. Configs are JSON objects whose keys are the field names
// below; absent keys keep the preset's value. docs/HardwareConfig.md
// documents every field.
//
// Depends only on LLVM Support (JSON), never on MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SUPPORT_HARDWARECONFIG_H
#define SPATTEN_SUPPORT_HARDWARECONFIG_H

#include "spatten/ISA/Spec.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <array>
#include <cstdint>
#include <string>

namespace spatten {

struct HardwareConfig {
  std::string name = "spatten";
  double clockGHz = 1.0;              ///< clock_ghz
  // Attention engine (paper Sec. V-A).
  unsigned qkMultipliers = 512;       ///< qk_multipliers: Q*K MACs per cycle
  unsigned pvMultipliers = 512;       ///< pv_multipliers: prob*V MACs per cycle
  unsigned softmaxUnits = 8;          ///< softmax_units: keys per cycle
  unsigned topkComparators = 16;      ///< topk_comparators
  unsigned maxKeysPerFill = 1024;     ///< max_keys_per_fill
  // Whole-model extension (not in the paper; see docs/HardwareConfig.md).
  unsigned gemmMultipliers = 1024;    ///< gemm_multipliers: MACs per cycle
  unsigned vectorLanes = 64;          ///< vector_lanes: elements per cycle
  // Memory (HBM2, paper Sec. V-A).
  unsigned dramChannels = 16;         ///< dram_channels
  unsigned dramTransactionBytes = 32; ///< dram_transaction_bytes
  unsigned dramLatencyCycles = 100;   ///< dram_latency_cycles (first-order)
  uint64_t dramBytes = uint64_t(8) << 30; ///< dram_bytes: capacity
  /// SRAM buffer sizes in bytes, indexed by isa::Buffer
  /// (idx_buffer_bytes, act_buffer_bytes, ..., mask_buffer_bytes).
  std::array<uint64_t, isa::kNumBuffers> bufferBytes = {
      16 << 10,  // idx
      256 << 10, // act
      512 << 10, // wgt
      256 << 10, // acc
      196 << 10, // q
      196 << 10, // k (paper: 196 KB key SRAM)
      196 << 10, // v (paper: 196 KB value SRAM)
      16 << 10,  // mask
  };

  uint64_t bufferElems(isa::Buffer b) const {
    return bufferBytes[unsigned(b)] / 4;
  }
  /// Peak DRAM bytes per cycle: channels x transaction bytes.
  uint64_t dramBytesPerCycle() const {
    return uint64_t(dramChannels) * dramTransactionBytes;
  }

  /// A named preset ("spatten", "spatten-1/8"), or an error naming the
  /// known presets.
  static llvm::Expected<HardwareConfig> preset(llvm::StringRef name);
  /// Parses a JSON object over `base`. Unknown keys, wrong types and
  /// out-of-range or inconsistent values are errors that name the field.
  static llvm::Expected<HardwareConfig> fromJSON(const llvm::json::Value &v,
                                                 HardwareConfig base);
  /// fromJSON over the default ("spatten") preset. (A separate overload
  /// because GCC rejects `HardwareConfig base = {}` inside the class: its
  /// default member initializers are not parsed yet.)
  static llvm::Expected<HardwareConfig> fromJSON(const llvm::json::Value &v);
  /// A preset name or a path to a JSON file; errors name the file.
  static llvm::Expected<HardwareConfig> load(llvm::StringRef presetOrPath);
  llvm::json::Value toJSON() const;
};

} // namespace spatten

#endif // SPATTEN_SUPPORT_HARDWARECONFIG_H

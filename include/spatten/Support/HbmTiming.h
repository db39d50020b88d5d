//===- HbmTiming.h - HBM2 geometry and timing -------------------*- C++ -*-===//
//
// The DRAM part of the hardware configuration (its `dram_*` keys): what the
// cycle-level HBM2 model (docs/Memory.md) needs. HardwareConfig owns one; the
// JSON loader and the model check it with the same validate(), so a
// configuration the loader accepts is one the model runs.
//
// Depends only on LLVM Support.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SUPPORT_HBMTIMING_H
#define SPATTEN_SUPPORT_HBMTIMING_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace spatten {

/// HBM2 geometry and timing. Times are cycles of the accelerator clock,
/// sizes bytes. Default-constructed, every field is 0 (invalid); the paper's
/// values are those of the `spatten` preset, `HardwareConfig().hbm`
/// (configs/spatten.json; docs/HardwareConfig.md and docs/Memory.md give
/// each source). Every field is in [1, 2^24].
struct HbmTiming {
  unsigned channels = 0;         ///< dram_channels: power of two, <= 2^20
  unsigned banksPerChannel = 0;  ///< dram_banks_per_channel: likewise
  /// dram_transaction_bytes: bytes per transaction (one burst); power of
  /// two, <= 2^20.
  unsigned transactionBytes = 0;
  /// dram_row_bytes: page (row buffer) bytes per bank; power of two,
  /// >= interleaveBytes, <= 2^20.
  unsigned rowBytes = 0;
  /// dram_interleave_bytes: consecutive blocks of this many bytes go to
  /// consecutive channels; power of two, >= transactionBytes, <= 2^20.
  unsigned interleaveBytes = 0;
  unsigned tRCD = 0; ///< dram_trcd: cycles from ACT to a column command
  unsigned tRP = 0;  ///< dram_trp: cycles from PRE to the next ACT
  unsigned tCL = 0;  ///< dram_tcl: cycles from a column command to its data
  unsigned tRAS = 0; ///< dram_tras: minimum cycles ACT to PRE; >= tRCD
  /// dram_tburst: cycles one transaction holds a channel's data bus.
  unsigned tBurst = 0;
  /// dram_trefi: cycles between all-bank refreshes of a channel; at least
  /// tRFC + tRCD + tCL + tBurst, so that a row miss fits between two.
  unsigned tREFI = 0;
  unsigned tRFC = 0; ///< dram_trfc: cycles a refresh blocks its channel
  /// dram_scheduler_window: transactions of a channel FR-FCFS picks among;
  /// <= 4096.
  unsigned schedulerWindow = 0;

  /// The rules above, plus channels x (banksPerChannel + schedulerWindow)
  /// <= 2^20 (the model's per-channel state). The error names the JSON key:
  /// "hardware config field 'dram_trcd': must be positive, got 0".
  llvm::Error validate() const;

  /// A field, its hardware config key and its range [1, max].
  struct FieldSpec {
    llvm::StringLiteral key;
    unsigned HbmTiming::*member;
    unsigned max;
    bool powerOfTwo; ///< the address mapping slices address bits with it
  };
  /// Every field, in declaration order: the loader's key table.
  static llvm::ArrayRef<FieldSpec> fields();
};

/// The error of a bad hardware config field:
/// "hardware config field 'FIELD': MSG".
llvm::Error configFieldError(llvm::StringRef field, const llvm::Twine &msg);

} // namespace spatten

#endif // SPATTEN_SUPPORT_HBMTIMING_H

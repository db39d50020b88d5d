//===- HbmTiming.cpp - HBM2 geometry and timing rules ---------------------===//

#include "spatten/Support/HbmTiming.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace spatten;
using llvm::Error;

namespace {

// Geometry becomes address bit fields; 2^20 keeps per-channel state small.
constexpr unsigned kMaxGeometry = 1u << 20;
constexpr unsigned kMaxWindow = 4096;
constexpr unsigned kMaxTiming = 1u << 24; // the loader's integer range
/// Banks plus window slots over all channels: the model's state.
constexpr uint64_t kMaxChannelState = uint64_t(1) << 20;

using T = HbmTiming;
constexpr T::FieldSpec kFields[] = {
    {"dram_channels", &T::channels, kMaxGeometry, true},
    {"dram_banks_per_channel", &T::banksPerChannel, kMaxGeometry, true},
    {"dram_transaction_bytes", &T::transactionBytes, kMaxGeometry, true},
    {"dram_row_bytes", &T::rowBytes, kMaxGeometry, true},
    {"dram_interleave_bytes", &T::interleaveBytes, kMaxGeometry, true},
    {"dram_trcd", &T::tRCD, kMaxTiming, false},
    {"dram_trp", &T::tRP, kMaxTiming, false},
    {"dram_tcl", &T::tCL, kMaxTiming, false},
    {"dram_tras", &T::tRAS, kMaxTiming, false},
    {"dram_tburst", &T::tBurst, kMaxTiming, false},
    {"dram_trefi", &T::tREFI, kMaxTiming, false},
    {"dram_trfc", &T::tRFC, kMaxTiming, false},
    {"dram_scheduler_window", &T::schedulerWindow, kMaxWindow, false},
};

Error checkRange(const T::FieldSpec &f, unsigned v) {
  if (v == 0)
    return configFieldError(f.key, "must be positive, got 0");
  if (f.powerOfTwo && !llvm::isPowerOf2_32(v))
    return configFieldError(
        f.key, llvm::formatv("{0} is not a power of two (the address mapping "
                             "slices address bits)",
                             v));
  if (v > f.max)
    return configFieldError(
        f.key, llvm::formatv("{0} is out of range (maximum {1})", v, f.max));
  return Error::success();
}

/// A transaction lies in one interleave chunk, which lies in one row.
Error checkMapping(const HbmTiming &t) {
  if (t.interleaveBytes < t.transactionBytes)
    return configFieldError(
        "dram_interleave_bytes",
        llvm::formatv("{0} is smaller than dram_transaction_bytes ({1}): a "
                      "transaction would span channels",
                      t.interleaveBytes, t.transactionBytes));
  if (t.rowBytes < t.interleaveBytes)
    return configFieldError(
        "dram_row_bytes",
        llvm::formatv("{0} is smaller than dram_interleave_bytes ({1}): an "
                      "interleave chunk must lie in one row",
                      t.rowBytes, t.interleaveBytes));
  uint64_t state =
      uint64_t(t.channels) * (uint64_t(t.banksPerChannel) + t.schedulerWindow);
  if (state > kMaxChannelState)
    return configFieldError(
        "dram_channels",
        llvm::formatv("{0} channels x ({1} banks + {2} scheduler slots) "
                      "exceed {3}",
                      t.channels, t.banksPerChannel, t.schedulerWindow,
                      kMaxChannelState));
  return Error::success();
}

Error checkTimings(const HbmTiming &t) {
  if (t.tRAS < t.tRCD)
    return configFieldError(
        "dram_tras", llvm::formatv("{0} is less than dram_trcd ({1}): a row "
                                   "stays open at least until it can be read",
                                   t.tRAS, t.tRCD));
  if (t.tRFC >= t.tREFI)
    return configFieldError(
        "dram_trfc",
        llvm::formatv("{0} is not less than dram_trefi ({1}): refresh would "
                      "leave no time for accesses",
                      t.tRFC, t.tREFI));
  // After a refresh every bank is closed; a row miss must fit before the
  // next one or a transaction could never be scheduled.
  uint64_t miss = uint64_t(t.tRFC) + t.tRCD + t.tCL + t.tBurst;
  if (t.tREFI < miss)
    return configFieldError(
        "dram_trefi",
        llvm::formatv("{0} is less than dram_trfc + dram_trcd + dram_tcl + "
                      "dram_tburst ({1}): a row miss must fit between two "
                      "refreshes",
                      t.tREFI, miss));
  return Error::success();
}

} // namespace

llvm::ArrayRef<HbmTiming::FieldSpec> HbmTiming::fields() { return kFields; }

Error HbmTiming::validate() const {
  for (const FieldSpec &f : kFields)
    if (Error e = checkRange(f, this->*f.member))
      return e;
  if (Error e = checkMapping(*this))
    return e;
  return checkTimings(*this);
}

//===- FuzzSupport.h - What the fuzz targets share ---------------*- C++ -*-===//
//
// The bounds that keep one fuzz input cheap, the check that turns a broken
// invariant into a finding, and the bounded run of a program on the
// simulator that the .spbin and instruction targets share.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TEST_FUZZ_FUZZSUPPORT_H
#define SPATTEN_TEST_FUZZ_FUZZSUPPORT_H

#include "spatten/ISA/Spec.h"
#include "spatten/Sim/Simulator.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>

namespace spatten::fuzz {

/// Simulated DRAM and SRAM a fuzz input may ask for. The tools take what
/// the host gives; a fuzz run must not, or its memory limit reports the
/// allocation instead of a bug. Every byte is allocated and zeroed per
/// input (the SRAM at up to 4 floats a byte, for the narrowest fixed-point
/// loads), which dominated a run at 64 MiB and 16 MiB: the bounds are a
/// little above the seed binaries' DRAM (at most 214 KB) and the presets'
/// SRAM (1.6 MiB), so those still run.
constexpr uint64_t kMaxDramBytes = uint64_t(4) << 20;
constexpr uint64_t kMaxSramBytes = uint64_t(2) << 20;
/// Instructions a target executes from an entry point: a compiled model's
/// program runs long on real work; its first instructions reach every unit.
constexpr uint64_t kMaxSteps = 64;

/// A broken invariant is a finding: print it and abort, which libFuzzer
/// (and the replay) reports with the input.
inline void check(bool holds, const char *what) {
  if (holds)
    return;
  llvm::errs() << "fuzz invariant broken: " << what << "\n";
  std::abort();
}

/// Whether `hw`'s SRAM buffers fit kMaxSramBytes.
inline bool sramFits(const HardwareConfig &hw) {
  uint64_t total = 0;
  for (uint64_t bytes : hw.bufferBytes)
    total += bytes;
  return total <= kMaxSramBytes;
}

/// Executes `text`'s instructions from `entry` on `sim` until a `halt`, an
/// error (consumed: bad programs are expected) or kMaxSteps instructions.
inline void runFirstInstructions(sim::Simulator &sim,
                                 llvm::ArrayRef<uint8_t> text,
                                 uint64_t entry) {
  uint64_t n = text.size() / isa::kInstrBytes;
  for (uint64_t pc = entry; pc < n && pc < entry + kMaxSteps; ++pc) {
    isa::Instr inst = isa::Instr::decode(text.data() + pc * isa::kInstrBytes);
    if (llvm::Error e = sim.step(inst, pc)) {
      llvm::consumeError(std::move(e));
      return;
    }
    if (inst.opcodeByte() == uint8_t(isa::Opcode::Halt))
      return;
  }
}

} // namespace spatten::fuzz

#endif // SPATTEN_TEST_FUZZ_FUZZSUPPORT_H

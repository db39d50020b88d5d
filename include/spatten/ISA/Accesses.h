//===- Accesses.h - What an instruction reads and writes --------*- C++ -*-===//
//
// The storage each instruction reads and writes, from its fields alone:
// SRAM element ranges per buffer, DRAM byte ranges, and the attention unit's
// state (pending probabilities, predicate, value-row mask, fill softmax
// statistics). The compiler's
// scheduling pass derives `dep_wait` from it (two instructions conflict when
// they touch overlapping storage and one of them writes), so that the
// dependencies written into a binary are exactly the hazards of its program.
//
// Ranges are conservative where the fields do not bound them: the DRAM rows
// of `gather`/`scatter` depend on the index list, so they cover all DRAM.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ISA_ACCESSES_H
#define SPATTEN_ISA_ACCESSES_H

#include "spatten/ISA/Spec.h"

#include "llvm/ADT/SmallVector.h"

namespace spatten::isa {

/// Where an access lands: an SRAM buffer (element offsets), DRAM (byte
/// addresses) or the attention unit's pending state (one location).
enum class Space : uint8_t { Sram, Dram, AttnState };

struct Access {
  Space space;
  Buffer buf = Buffer::Idx; ///< for Space::Sram
  uint64_t begin = 0, end = 0; ///< half-open [begin, end)
  bool write = false;

  bool conflicts(const Access &o) const {
    if (space != o.space || (!write && !o.write))
      return false;
    if (space == Space::Sram && buf != o.buf)
      return false;
    return begin < o.end && o.begin < end;
  }
};

/// The storage `inst` reads and writes. `sync` and `halt` access nothing
/// (they order everything instead); an unknown opcode accesses nothing.
llvm::SmallVector<Access, 8> accessesOf(const Instr &inst);

} // namespace spatten::isa

#endif // SPATTEN_ISA_ACCESSES_H

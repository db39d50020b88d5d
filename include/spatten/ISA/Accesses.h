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
// Registers are a storage space of their own: TOPK with TopkWriteCount
// writes one, a `bind` reads one on behalf of the instruction it patches,
// which also accesses what it would with its bound fields anywhere in
// their [lo, hi] range. A bind's table (BindSource::Table) is constant
// data and not an access.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ISA_ACCESSES_H
#define SPATTEN_ISA_ACCESSES_H

#include "spatten/ISA/Spec.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

namespace spatten::isa {

/// Where an access lands: an SRAM buffer (element offsets), DRAM (byte
/// addresses), the attention unit's pending state (one location) or the
/// control unit's registers (register numbers).
enum class Space : uint8_t { Sram, Dram, AttnState, Register };

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

/// The storage `inst` reads and writes. `sync`, `halt` and `bind` access
/// nothing (the first two order everything instead, a bind's reads are its
/// instruction's); an unknown opcode accesses nothing.
llvm::SmallVector<Access, 8> accessesOf(const Instr &inst);

/// The storage `inst` accesses when `binds` (the `bind`s directly before
/// it, program order) patch it: what it accesses as encoded, the registers
/// the binds read, and each access hulled over the corners of the bound
/// fields' [lo, hi] box (addresses and counts are monotone in each field,
/// so the corners bound every value between; past 8 bound fields, each
/// storage touched is taken whole). A bind whose field index is out of
/// range is ignored (the verifier and simulator reject it).
llvm::SmallVector<Access, 8> accessesOf(const Instr &inst,
                                        llvm::ArrayRef<Instr> binds);

} // namespace spatten::isa

#endif // SPATTEN_ISA_ACCESSES_H

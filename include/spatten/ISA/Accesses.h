//===- Accesses.h - What an instruction reads and writes --------*- C++ -*-===//
//
// The storage each instruction reads and writes, from its fields alone:
// SRAM element ranges per buffer, DRAM byte ranges, and the attention unit's
// state (pending probabilities, predicate, value-row mask). The compiler's
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

#include <limits>

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

namespace detail {

inline uint64_t fieldValue(const Instr &inst, const OpcodeSpec &spec,
                           std::string_view name) {
  const Field *f = lookupField(spec, name);
  return f ? inst.get(*f) : 0;
}

/// Elements `rows` x `cols` of SRAM operand `prefix` span.
inline void addOperand(llvm::SmallVectorImpl<Access> &out, const Instr &inst,
                       const OpcodeSpec &spec, std::string prefix,
                       uint64_t rows, uint64_t cols, bool write) {
  if (!rows || !cols)
    return;
  auto f = [&](const char *suffix) {
    return fieldValue(inst, spec, prefix + suffix);
  };
  uint64_t off = f("_off");
  out.push_back({Space::Sram, Buffer(f("_buf") % kNumBuffers), off,
                 off + (rows - 1) * f("_stride") + cols, write});
}

inline void addDma(llvm::SmallVectorImpl<Access> &out, const Instr &inst,
                   const OpcodeSpec &spec, bool toSram, bool indexed) {
  auto f = [&](std::string_view n) { return fieldValue(inst, spec, n); };
  uint64_t rows = f("rows"), cols = f("cols");
  if (!rows || !cols)
    return;
  addOperand(out, inst, spec, "sram", rows, cols, /*write=*/toSram);
  if (indexed) {
    uint64_t period = f("idx_period");
    uint64_t entries = period ? std::min(period, rows) : rows;
    out.push_back({Space::Sram, Buffer::Idx, f("idx_off"),
                   f("idx_off") + entries, false});
    out.push_back({Space::Dram, Buffer::Idx, 0,
                   std::numeric_limits<uint64_t>::max(), !toSram});
  } else {
    uint64_t addr = f("dram_addr");
    out.push_back({Space::Dram, Buffer::Idx, addr,
                   addr + (rows - 1) * f("dram_stride") +
                       isa::dmaRowBytes(inst),
                   !toSram});
  }
  if (f("pred"))
    out.push_back({Space::AttnState, Buffer::Idx, 0, 1, false});
}

inline void addAttn(llvm::SmallVectorImpl<Access> &out, const Instr &inst,
                    const OpcodeSpec &spec) {
  auto f = [&](std::string_view n) { return fieldValue(inst, spec, n); };
  uint64_t lq = f("lq"), lk = f("lk"), d = f("d"), flags = f("flags");
  auto phase = AttnPhase(f("phase"));
  bool values = phase == AttnPhase::Values;
  bool pv = values || (phase != AttnPhase::Decide && !(flags & AttnDeferValues));
  out.push_back({Space::AttnState, Buffer::Idx, 0, 1, true});
  if (!values) {
    addOperand(out, inst, spec, "q", lq, d, false);
    addOperand(out, inst, spec, "k", lk, d, false);
    if (MaskKind(f("mask_kind")) == MaskKind::Padding ||
        MaskKind(f("mask_kind")) == MaskKind::PaddingCausal)
      addOperand(out, inst, spec, "mask", lq, lk, false);
  }
  if (pv) {
    addOperand(out, inst, spec, "v", lk, d, false);
    addOperand(out, inst, spec, "o", lq, d, true);
  }
  if (phase != AttnPhase::Decide && !values &&
      (flags & AttnAccumulateImportance)) {
    uint64_t off = f("imp_off");
    Buffer b = Buffer(f("imp_buf") % kNumBuffers);
    out.push_back({Space::Sram, b, off, off + lk, true});
  }
  if (pv && (flags & AttnHeadImportance)) {
    uint64_t off = f("head_imp_off");
    Buffer b = Buffer(f("head_imp_buf") % kNumBuffers);
    out.push_back({Space::Sram, b, off, off + 1, true});
  }
}

inline void addVec(llvm::SmallVectorImpl<Access> &out, const Instr &inst,
                   const OpcodeSpec &spec) {
  auto f = [&](std::string_view n) { return fieldValue(inst, spec, n); };
  uint64_t rows = f("rows"), cols = f("cols"), flags = f("flags");
  auto fn = VecFunc(f("func"));
  addOperand(out, inst, spec, "x", rows, cols, false);
  if (fn == VecFunc::LayerNorm) {
    addOperand(out, inst, spec, "y", 1, cols, false);
    addOperand(out, inst, spec, "w", 1, cols, false);
  } else if (vecFuncIsBinary(fn) && !(flags & VecYImm)) {
    addOperand(out, inst, spec, "y", rows, (flags & VecYPerRow) ? 1 : cols,
               false);
  }
  addOperand(out, inst, spec, "z", rows, cols, true);
}

inline void addTopk(llvm::SmallVectorImpl<Access> &out, const Instr &inst,
                    const OpcodeSpec &spec) {
  auto f = [&](std::string_view n) { return fieldValue(inst, spec, n); };
  uint64_t n = f("n"), k = std::min(f("k"), n), flags = f("flags");
  uint64_t sOff = f("s_off");
  Buffer sBuf = Buffer(f("s_buf") % kNumBuffers);
  if (flags & TopkScoresByIndex) // indexed by candidate values: any element
    out.push_back({Space::Sram, sBuf, sOff,
                   std::numeric_limits<uint64_t>::max(), false});
  else if (n)
    out.push_back({Space::Sram, sBuf, sOff, sOff + n, false});
  if (!(flags & TopkIota) && n)
    out.push_back({Space::Sram, Buffer::Idx, f("in_off"), f("in_off") + n,
                   false});
  if (k)
    out.push_back({Space::Sram, Buffer::Idx, f("out_off"), f("out_off") + k,
                   true});
}

} // namespace detail

/// The storage `inst` reads and writes. `sync` and `halt` access nothing
/// (they order everything instead); an unknown opcode accesses nothing.
inline llvm::SmallVector<Access, 8> accessesOf(const Instr &inst) {
  llvm::SmallVector<Access, 8> out;
  const OpcodeSpec *spec = lookupOpcode(inst.opcodeByte());
  if (!spec)
    return out;
  auto f = [&](std::string_view n) { return detail::fieldValue(inst, *spec, n); };
  switch (spec->opcode) {
  case Opcode::Load: detail::addDma(out, inst, *spec, true, false); break;
  case Opcode::Gather: detail::addDma(out, inst, *spec, true, true); break;
  case Opcode::Store: detail::addDma(out, inst, *spec, false, false); break;
  case Opcode::Scatter: detail::addDma(out, inst, *spec, false, true); break;
  case Opcode::Gemm: {
    uint64_t m = f("m"), n = f("n"), k = f("k"), flags = f("flags");
    bool transB = flags & GemmTransposeB;
    detail::addOperand(out, inst, *spec, "a", m, k, false);
    detail::addOperand(out, inst, *spec, "b", transB ? n : k, transB ? k : n,
                       false);
    if (flags & GemmBias)
      detail::addOperand(out, inst, *spec, "bias", 1, n, false);
    if (flags & GemmAccumulate)
      detail::addOperand(out, inst, *spec, "c", m, n, false);
    detail::addOperand(out, inst, *spec, "c", m, n, true);
    break;
  }
  case Opcode::Attn: detail::addAttn(out, inst, *spec); break;
  case Opcode::Vec: detail::addVec(out, inst, *spec); break;
  case Opcode::Topk: detail::addTopk(out, inst, *spec); break;
  case Opcode::Halt:
  case Opcode::Sync: break;
  }
  return out;
}

} // namespace spatten::isa

#endif // SPATTEN_ISA_ACCESSES_H

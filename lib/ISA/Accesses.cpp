//===- Accesses.cpp - What an instruction reads and writes ----------------===//

#include "spatten/ISA/Accesses.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <vector>

using namespace spatten::isa;

namespace {

using Accesses = llvm::SmallVectorImpl<Access>;
constexpr uint64_t kAll = std::numeric_limits<uint64_t>::max();

Buffer bufferOf(const Instr &inst, const Field &f) {
  return Buffer(inst.get(f) % kNumBuffers);
}

/// The elements `rows` x `cols` of SRAM operand `op` span.
void addOperand(Accesses &out, const Instr &inst, const OperandFields &op,
                uint64_t rows, uint64_t cols, bool write) {
  if (!rows || !cols)
    return;
  uint64_t off = inst.get(op.off);
  out.push_back({Space::Sram, bufferOf(inst, op.buf), off,
                 off + (rows - 1) * inst.get(op.stride) + cols, write});
}

void addDma(Accesses &out, const Instr &inst, bool toSram, bool indexed) {
  using F = fields::Gather; // load and store share its first fields (Dma)
  uint64_t rows = inst.get(F::rows), cols = inst.get(F::cols);
  if (!rows || !cols)
    return;
  addOperand(out, inst, F::sram, rows, cols, /*write=*/toSram);
  if (indexed) {
    uint64_t period = inst.get(F::idxPeriod), idxOff = inst.get(F::idxOff);
    uint64_t entries = period ? std::min(period, rows) : rows;
    out.push_back({Space::Sram, Buffer::Idx, idxOff, idxOff + entries, false});
    out.push_back({Space::Dram, Buffer::Idx, 0, kAll, !toSram});
  } else {
    uint64_t addr = inst.get(F::dramAddr);
    out.push_back({Space::Dram, Buffer::Idx, addr,
                   addr + (rows - 1) * inst.get(F::dramStride) +
                       dmaRowBytes(inst),
                   !toSram});
  }
  if (inst.get(F::pred))
    out.push_back({Space::AttnState, Buffer::Idx, 0, 1, false});
}

void addGemm(Accesses &out, const Instr &inst) {
  using F = fields::Gemm;
  uint64_t m = inst.get(F::m), n = inst.get(F::n), k = inst.get(F::k);
  uint64_t flags = inst.get(F::flags);
  bool transB = flags & GemmTransposeB;
  addOperand(out, inst, F::a, m, k, false);
  addOperand(out, inst, F::b, transB ? n : k, transB ? k : n, false);
  if (flags & GemmBias)
    addOperand(out, inst, F::bias, 1, n, false);
  if (flags & GemmAccumulate)
    addOperand(out, inst, F::c, m, n, false);
  addOperand(out, inst, F::c, m, n, true);
}

void addAttn(Accesses &out, const Instr &inst) {
  using F = fields::Attn;
  uint64_t lq = inst.get(F::lq), lk = inst.get(F::lk), d = inst.get(F::d);
  uint64_t flags = inst.get(F::flags);
  auto phase = AttnPhase(inst.get(F::phase));
  auto mask = MaskKind(inst.get(F::maskKind));
  bool values = phase == AttnPhase::Values;
  bool pv = values || (phase != AttnPhase::Decide &&
                       !(flags & (AttnDeferValues | AttnFillStats)));
  out.push_back({Space::AttnState, Buffer::Idx, 0, 1, true});
  if (!values) {
    addOperand(out, inst, F::q, lq, d, false);
    addOperand(out, inst, F::k, lk, d, false);
    if (mask == MaskKind::Padding || mask == MaskKind::PaddingCausal)
      addOperand(out, inst, F::mask, lq, lk, false);
  }
  if (pv) {
    addOperand(out, inst, F::v, lk, d, false);
    if (flags & AttnFillApply) // O += P V over the fills
      addOperand(out, inst, F::o, lq, d, false);
    addOperand(out, inst, F::o, lq, d, true);
  }
  if (phase != AttnPhase::Decide && !values &&
      (flags & AttnAccumulateImportance)) {
    uint64_t off = inst.get(F::impOff);
    out.push_back(
        {Space::Sram, bufferOf(inst, F::impBuf), off, off + lk, true});
  }
  if (pv && (flags & AttnHeadImportance)) {
    uint64_t off = inst.get(F::headImpOff);
    out.push_back(
        {Space::Sram, bufferOf(inst, F::headImpBuf), off, off + 1, true});
  }
}

void addVec(Accesses &out, const Instr &inst) {
  using F = fields::Vec;
  uint64_t rows = inst.get(F::rows), cols = inst.get(F::cols);
  uint64_t flags = inst.get(F::flags);
  auto fn = VecFunc(inst.get(F::func));
  addOperand(out, inst, F::x, rows, cols, false);
  if (vecFuncIsNorm(fn))
    addOperand(out, inst, F::y, 1, cols, false);
  if (fn == VecFunc::LayerNorm) {
    addOperand(out, inst, F::w, 1, cols, false);
  } else if (vecFuncIsBinary(fn) && !(flags & VecYImm)) {
    addOperand(out, inst, F::y, rows, (flags & VecYPerRow) ? 1 : cols, false);
  }
  addOperand(out, inst, F::z, rows, vecFuncReducesRows(fn) ? 1 : cols, true);
}

void addTopk(Accesses &out, const Instr &inst) {
  using F = fields::Topk;
  uint64_t n = inst.get(F::n), k = std::min(inst.get(F::k), n);
  uint64_t flags = inst.get(F::flags), sOff = inst.get(F::sOff);
  uint64_t inOff = inst.get(F::inOff), outOff = inst.get(F::outOff);
  Buffer sBuf = bufferOf(inst, F::sBuf);
  if (flags & TopkScoresByIndex) // indexed by candidate values: any element
    out.push_back({Space::Sram, sBuf, sOff, kAll, false});
  else if (n)
    out.push_back({Space::Sram, sBuf, sOff, sOff + n, false});
  if (!(flags & TopkIota) && n)
    out.push_back({Space::Sram, Buffer::Idx, inOff, inOff + n, false});
  if (k)
    out.push_back({Space::Sram, Buffer::Idx, outOff, outOff + k, true});
  if (flags & TopkWriteCount) {
    uint64_t reg = inst.get(F::countReg);
    out.push_back({Space::Register, Buffer::Idx, reg, reg + 1, true});
  }
}

bool sameStorage(const Access &a, const Access &b) {
  return a.space == b.space && a.buf == b.buf && a.write == b.write;
}

/// `a` widened to cover `b` too.
Access hull(Access a, const Access &b) {
  a.begin = std::min(a.begin, b.begin);
  a.end = std::max(a.end, b.end);
  return a;
}

/// Appends accesses covering every list of `corners`: pairwise hulls
/// when the lists have the same shape, else one hull per storage (a count
/// at 0 drops an access, so positions need not match).
void addHulls(Accesses &out,
              llvm::ArrayRef<llvm::SmallVector<Access, 8>> corners) {
  llvm::ArrayRef<Access> first = corners.front();
  bool paired = llvm::all_of(corners, [&](llvm::ArrayRef<Access> c) {
    return c.size() == first.size() &&
           llvm::all_of(llvm::zip(c, first), [](auto pair) {
             return sameStorage(std::get<0>(pair), std::get<1>(pair));
           });
  });
  llvm::SmallVector<Access, 8> merged;
  for (llvm::ArrayRef<Access> c : corners)
    for (auto [i, a] : llvm::enumerate(c)) {
      auto *it = paired ? merged.begin() + i
                        : llvm::find_if(merged, [&](const Access &m) {
                            return sameStorage(m, a);
                          });
      if (it == merged.end())
        merged.push_back(a);
      else
        *it = hull(*it, a);
    }
  out.append(merged.begin(), merged.end());
}

/// A bind's signed bound clamped into what field `f` can hold.
uint64_t boundValue(const Instr &bind, const Field &bound, const Field &f) {
  int64_t v = int64_t(bind.get(bound));
  return v < 0 ? 0 : std::min(uint64_t(v), fieldMask(f));
}

/// One bound field and its range.
struct BoundRange {
  const Field *field;
  uint64_t lo, hi;
};

/// Beyond this many bound fields, the 2^n corners are not enumerated: each
/// storage the instruction touches at its lowest or highest corner is taken
/// as a whole.
constexpr unsigned kMaxCornerFields = 8;

} // namespace

llvm::SmallVector<Access, 8> spatten::isa::accessesOf(const Instr &inst) {
  llvm::SmallVector<Access, 8> out;
  const OpcodeSpec *spec = lookupOpcode(inst.opcodeByte());
  if (!spec)
    return out;
  switch (spec->opcode) {
  case Opcode::Load: addDma(out, inst, true, false); break;
  case Opcode::Gather: addDma(out, inst, true, true); break;
  case Opcode::Store: addDma(out, inst, false, false); break;
  case Opcode::Scatter: addDma(out, inst, false, true); break;
  case Opcode::Gemm: addGemm(out, inst); break;
  case Opcode::Attn: addAttn(out, inst); break;
  case Opcode::Vec: addVec(out, inst); break;
  case Opcode::Topk: addTopk(out, inst); break;
  case Opcode::Halt:
  case Opcode::Sync:
  case Opcode::Bind: break;
  }
  return out;
}

llvm::SmallVector<Access, 8>
spatten::isa::accessesOf(const Instr &inst, llvm::ArrayRef<Instr> binds) {
  llvm::SmallVector<Access, 8> out = accessesOf(inst);
  const OpcodeSpec *spec = lookupOpcode(inst.opcodeByte());
  if (binds.empty() || !spec)
    return out;
  using B = fields::Bind;
  llvm::SmallVector<BoundRange> ranges;
  for (const Instr &bind : binds) {
    uint64_t index = bind.get(B::field), reg = bind.get(B::reg);
    out.push_back({Space::Register, Buffer::Idx, reg, reg + 1, false});
    if (index >= spec->numFields)
      continue;
    const Field &f = spec->fields[index];
    ranges.push_back(
        {&f, boundValue(bind, B::lo, f), boundValue(bind, B::hi, f)});
  }
  // Every corner of the box: an access's start is least with the offsets
  // at lo and the counts at hi (a count at 0 may drop it), its end greatest
  // with all at hi, so the extremes of one field alone do not suffice.
  bool whole = ranges.size() > kMaxCornerFields;
  unsigned numCorners = whole ? 2 : 1u << ranges.size();
  std::vector<llvm::SmallVector<Access, 8>> corners;
  for (unsigned c = 0; c < numCorners; ++c) {
    Instr corner = inst;
    for (auto [i, r] : llvm::enumerate(ranges))
      corner.set(*r.field, ((whole ? c : c >> i) & 1) ? r.hi : r.lo);
    corners.push_back(accessesOf(corner));
  }
  if (whole)
    for (auto &corner : corners)
      for (Access &a : corner)
        std::tie(a.begin, a.end) = std::pair(uint64_t(0), kAll);
  addHulls(out, corners);
  return out;
}

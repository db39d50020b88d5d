//===- Bind.cpp - bind: run-time values for the next instruction's fields -===//
//
// A `bind` takes no queue slot and no cycles: the control unit decodes it
// with the instruction it patches. The simulator holds each bind until the
// next instruction that is not a bind, then writes every bound field
// before that instruction's unit sees it, so every check of the unit, the
// report and the timeline see the patched instruction (docs/ISA.md,
// "bind").
//
//===----------------------------------------------------------------------===//

#include "Unit.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

using namespace spatten;
using namespace spatten::sim;

namespace {

using B = fields::Bind;

const OpcodeSpec &bindSpec() { return kOpcodeSpecs[unsigned(Opcode::Bind)]; }

/// One pending bind applied to the instruction it patches.
class BindUnit : UnitInstr {
public:
  BindUnit(Machine &machine, const PendingBind &bind, UnitOutput &unused)
      : UnitInstr(machine, bind.inst, bind.pc, bindSpec(), unused) {}

  /// The field of `target` this bind sets; fails when `target` has none
  /// to bind or no field at the index.
  Expected<const Field *> targetField(const OpcodeSpec &target) const;
  /// clamp(add + mul * x, lo, hi), checked to fit `f`.
  Expected<uint64_t> value(const Field &f) const;
  using UnitInstr::error;

private:
  /// x: the register, or the table entry it indexes.
  Expected<uint64_t> source() const;
};

} // namespace

Expected<const Field *> BindUnit::targetField(const OpcodeSpec &target) const {
  uint64_t index = get(B::field);
  if (!isBindable(target.opcode))
    return error(B::field, llvm::formatv("binds field {0} of {1}, which has "
                                         "no field to bind",
                                         index, target.mnemonic));
  if (index >= target.numFields)
    return error(B::field, llvm::formatv("{0} is not a field of {1} (0..{2})",
                                         index, target.mnemonic,
                                         target.numFields - 1));
  return &target.fields[index];
}

Expected<uint64_t> BindUnit::source() const {
  uint64_t x = machine.registers[get(B::reg)];
  uint64_t kind = get(B::source);
  if (kind == uint64_t(BindSource::Register))
    return x;
  if (kind != uint64_t(BindSource::Table))
    return error(B::source, llvm::formatv("{0} is not a bind source (0 "
                                          "register, 1 table)",
                                          kind));
  // 48-bit table + 4 * 32-bit register: no 64-bit overflow.
  uint64_t addr = get(B::table) + 4 * x;
  if (addr + 4 > machine.dram.size())
    return error(B::table, llvm::formatv("entry r{0} = {1} at DRAM {2:x} is "
                                         "past dram.size {3:x}",
                                         get(B::reg), x, addr,
                                         machine.dram.size()));
  const uint8_t *p = machine.dram.forRead(addr, 4);
  return uint64_t(p[0]) | uint64_t(p[1]) << 8 | uint64_t(p[2]) << 16 |
         uint64_t(p[3]) << 24;
}

Expected<uint64_t> BindUnit::value(const Field &f) const {
  int64_t mul = int64_t(get(B::mul)), add = int64_t(get(B::add));
  int64_t lo = int64_t(get(B::lo)), hi = int64_t(get(B::hi));
  if (lo > hi)
    return error(B::lo, llvm::formatv("{0} exceeds hi {1}", lo, hi));
  auto x = source();
  if (!x)
    return x.takeError();
  int64_t product, sum;
  if (llvm::MulOverflow(mul, int64_t(*x), product))
    return error(B::mul, llvm::formatv("{0} * {1} overflows 64 bits", mul,
                                       *x));
  if (llvm::AddOverflow(add, product, sum))
    return error(B::add, llvm::formatv("{0} + {1} overflows 64 bits", add,
                                       product));
  int64_t v = std::clamp(sum, lo, hi);
  if (v < 0 || uint64_t(v) > fieldMask(f))
    return error(B::field, llvm::formatv("value {0} does not fit field '{1}' "
                                         "({2} bits)",
                                         v, f.name, unsigned(f.width)));
  return uint64_t(v);
}

Error sim::holdBind(Machine &machine, const Instr &bind, uint64_t pc) {
  UnitOutput unused;
  UnitInstr instr(machine, bind, pc, bindSpec(), unused);
  for (const Field &dep : {kDepWaitField, kDepSignalField})
    if (bind.get(dep))
      return instr.error(dep, "must be 0 on a bind (the instruction it "
                              "patches carries the tokens)");
  machine.pendingBinds.push_back({bind, pc});
  return Error::success();
}

Expected<Instr> sim::applyBinds(Machine &machine, Instr inst,
                                const OpcodeSpec &spec) {
  std::vector<PendingBind> binds;
  binds.swap(machine.pendingBinds);
  std::vector<const Field *> bound;
  for (const PendingBind &b : binds) {
    UnitOutput unused;
    BindUnit unit(machine, b, unused);
    auto f = unit.targetField(spec);
    if (!f)
      return f.takeError();
    if (llvm::is_contained(bound, *f))
      return unit.error(B::field,
                        llvm::formatv("binds '{0}' of {1} a second time",
                                      (*f)->name, spec.mnemonic));
    bound.push_back(*f);
    auto v = unit.value(**f);
    if (!v)
      return v.takeError();
    inst.set(**f, *v);
  }
  return inst;
}

Error sim::unboundError(Machine &machine) {
  const PendingBind &b = machine.pendingBinds.front();
  UnitOutput unused;
  return UnitInstr(machine, b.inst, b.pc, bindSpec(), unused)
      .error(B::field, "binds no instruction: the program ends after it");
}

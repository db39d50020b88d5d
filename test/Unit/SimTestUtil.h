//===- SimTestUtil.h - Simulators for unit tests ----------------*- C++ -*-===//
//
// A program of one `halt` and `dramSize` bytes of DRAM: the simulator the
// unit tests step instructions on (Simulator::step, or stepText from
// assembler text) and fill directly.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TEST_UNIT_SIMTESTUTIL_H
#define SPATTEN_TEST_UNIT_SIMTESTUTIL_H

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Disasm.h"
#include "spatten/ISA/Spec.h"
#include "spatten/Sim/Simulator.h"

namespace spatten::test {

inline binary::Image haltImage(uint64_t dramSize) {
  binary::Image img;
  img.text.assign(isa::kInstrBytes, 0); // halt
  img.manifest.numInstructions = 1;
  img.manifest.dramSize = dramSize;
  return img;
}

/// Steps `sim` on one instruction in assembler text, as instruction `pc`
/// (which its messages name); a parse error is returned as is.
inline llvm::Error stepText(sim::Simulator &sim, const std::string &text,
                            uint64_t pc) {
  auto instr = isa::parseInstruction(text);
  if (!instr)
    return instr.takeError();
  return sim.step(*instr, pc);
}

} // namespace spatten::test

#endif

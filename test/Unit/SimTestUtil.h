//===- SimTestUtil.h - Simulators for unit tests ----------------*- C++ -*-===//
//
// A program of one `halt` and `dramSize` bytes of DRAM: the simulator the
// unit tests step instructions on (Simulator::step, or stepText from
// assembler text) and fill directly; the fixture of the per-unit tests.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TEST_UNIT_SIMTESTUTIL_H
#define SPATTEN_TEST_UNIT_SIMTESTUTIL_H

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Disasm.h"
#include "spatten/ISA/Spec.h"
#include "spatten/Sim/Simulator.h"

#include "TestUtil.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

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

/// One instruction from assembler text; a parse error fails the test.
inline isa::Instr asmLine(const std::string &text) {
  auto i = isa::parseInstruction(text);
  if (!i) {
    ADD_FAILURE() << text << ": " << llvm::toString(i.takeError());
    return isa::Instr();
  }
  return *i;
}

/// A fresh simulator of `haltImage(4096)` that a test steps single
/// instructions on and whose SRAM and DRAM it fills directly.
class SimTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = sim::Simulator::create(haltImage(4096));
    ASSERT_OK(s);
    sim = std::move(*s);
  }
  /// Executes one instruction as if it were instruction 7 of a program.
  llvm::Error exec(const std::string &text) {
    return sim->step(asmLine(text), 7);
  }
  std::vector<float> &buf(isa::Buffer b) { return sim->buffer(b); }
  template <typename T> void poke(uint64_t addr, std::vector<T> values) {
    std::memcpy(sim->dram().data() + addr, values.data(),
                values.size() * sizeof(T));
  }
  template <typename T> T peek(uint64_t addr) {
    T v;
    std::memcpy(&v, sim->dram().data() + addr, sizeof(T));
    return v;
  }
  /// Writes a rows x cols row-major matrix into `b` at `off`, row stride
  /// `stride`.
  void fill(isa::Buffer b, uint64_t off, uint64_t stride, uint64_t rows,
            uint64_t cols, const std::vector<float> &v) {
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c)
        buf(b)[off + r * stride + c] = v[r * cols + c];
  }
  std::unique_ptr<sim::Simulator> sim;
};

} // namespace spatten::test

#endif

//===- SimTestUtil.h - Simulators for unit tests ----------------*- C++ -*-===//
//
// A program of one `halt` and `dramSize` bytes of DRAM: the simulator the
// unit tests step instructions on (Simulator::step) and fill directly.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TEST_UNIT_SIMTESTUTIL_H
#define SPATTEN_TEST_UNIT_SIMTESTUTIL_H

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Spec.h"

namespace spatten::test {

inline binary::Image haltImage(uint64_t dramSize) {
  binary::Image img;
  img.text.assign(isa::kInstrBytes, 0); // halt
  img.manifest.numInstructions = 1;
  img.manifest.dramSize = dramSize;
  return img;
}

} // namespace spatten::test

#endif

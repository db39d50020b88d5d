//===- SimPipelineTest.cpp - run() on two threads equals step() -----------===//
//
// Simulator::run() executes on the calling thread and retires on a worker
// (docs/Simulator.md, "Two threads"). Its report, timeline and errors must
// be those of executing and retiring one instruction at a time, which is
// what Simulator::step() does on the calling thread.
//
//===----------------------------------------------------------------------===//

#include "spatten/ISA/Disasm.h"
#include "spatten/Sim/Simulator.h"
#include "spatten/Sim/Timing/Trace.h"

#include "TestUtil.h"

#include "llvm/Support/FormatVariadic.h"

#include <string>
#include <vector>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

namespace {

binary::Image program(const std::vector<std::string> &lines) {
  binary::Image img;
  for (const std::string &l : lines) {
    auto inst = parseInstruction(l);
    if (!inst) {
      ADD_FAILURE() << l << ": " << llvm::toString(inst.takeError());
      return img;
    }
    size_t at = img.text.size();
    img.text.resize(at + kInstrBytes);
    inst->encode(img.text.data() + at);
  }
  img.manifest.numInstructions = lines.size();
  img.manifest.dramSize = 4096;
  return img;
}

std::unique_ptr<Simulator> simulatorFor(const std::vector<std::string> &lines) {
  auto s = Simulator::create(program(lines));
  if (!s) {
    ADD_FAILURE() << llvm::toString(s.takeError());
    return nullptr;
  }
  return std::move(*s);
}

std::string reportOf(const Simulator &s) {
  return llvm::formatv("{0:2}", s.report().toJSON(s.timingConfig())).str();
}

std::string traceOf(const Simulator &s) {
  return llvm::formatv("{0:2}", timing::traceJSON(s.timeline(), 1.0)).str();
}

const std::string kAttn = "attn q_buf=q q_stride=2 k_buf=k k_stride=2 "
                          "v_buf=v v_stride=2 o_stride=2 mask_buf=mask "
                          "mask_kind=none lq=3 lk=4 d=2 scale=0.5 ";
const std::string kVec = "vec func=add flags=1 x_buf=act x_stride=2 "
                         "z_buf=act z_stride=2 rows=2 cols=2 imm=1 ";

/// Loads, streamed ATTNs, vector ops and a store over three layers, with
/// dependency tokens: every report counter of both halves is non-trivial.
std::vector<std::string> layeredProgram() {
  std::vector<std::string> p;
  for (int layer = 1; layer <= 3; ++layer) {
    std::string l = "layer=" + std::to_string(layer);
    p.push_back("load dep_signal=2 tensor_class=k dtype=f32 bits=32 "
                "dram_addr=0 dram_stride=8 sram_buf=k sram_stride=2 rows=4 "
                "cols=2 " + l);
    p.push_back(kAttn + "dep_wait=1 o_buf=act o_off=0 " + l);
    p.push_back(kAttn + "o_buf=act o_off=64 " + l); // streams behind it
    p.push_back(kVec + "dep_signal=4 " + l);
    p.push_back("store dep_wait=2 tensor_class=activations dtype=f32 bits=32 "
                "dram_addr=1024 dram_stride=8 sram_buf=act sram_stride=2 "
                "rows=2 cols=2 " + l);
  }
  p.push_back("halt");
  return p;
}

TEST(SimPipeline, RunEqualsSteppingEachInstruction) {
  std::vector<std::string> lines = layeredProgram();
  std::unique_ptr<Simulator> whole = simulatorFor(lines);
  std::unique_ptr<Simulator> stepped = simulatorFor(lines);
  ASSERT_TRUE(whole && stepped);
  ASSERT_NO_ERR(whole->run());
  for (size_t pc = 0; pc < lines.size(); ++pc)
    ASSERT_NO_ERR(stepped->step(*parseInstruction(lines[pc]), pc));
  EXPECT_EQ(reportOf(*whole), reportOf(*stepped));
  EXPECT_EQ(traceOf(*whole), traceOf(*stepped));
  // Both halves' layer counters reached the report.
  const Report &r = whole->report();
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[2].keptHeads, 2u);
  EXPECT_GT(r.layers[2].lastEnd, r.layers[2].firstStart);
  EXPECT_GT(r.layers[2].stageBusy[unsigned(timing::Stage::QK)], 0u);
  EXPECT_EQ(r.instrCycles.size(), lines.size());
  // A second run starts from an empty report and timeline.
  std::string first = reportOf(*whole);
  ASSERT_NO_ERR(whole->run());
  EXPECT_EQ(reportOf(*whole), first);
}

/// `n` vector ops: enough to fill the hand-off queue between the halves.
std::vector<std::string> vecs(size_t n) {
  return std::vector<std::string>(n, kVec);
}

TEST(SimPipeline, ARetireErrorWinsOverALaterExecuteError) {
  // Instruction 100 waits for a load token nobody signals (a retire error);
  // instruction 201 runs off the end of .text (an execute error). The execute
  // half may reach 201 before the worker retires 100, or block on a full
  // queue when the worker stops: either way the first error is returned.
  std::vector<std::string> lines = vecs(100);
  lines.push_back(kVec + "dep_wait=1");
  llvm::append_range(lines, vecs(100));
  for (int i = 0; i < 20; ++i) {
    std::unique_ptr<Simulator> s = simulatorFor(lines);
    ASSERT_TRUE(s);
    EXPECT_ERR(s->run(), "instruction 100 (vec): field 'dep_wait': waits for "
                         "a token from the load queue");
  }
}

TEST(SimPipeline, AnExecuteErrorComesAfterEveryEarlierInstructionRetired) {
  std::vector<std::string> lines = vecs(100);
  lines.push_back(kVec + "x_off=16777215"); // past the act buffer
  std::unique_ptr<Simulator> s = simulatorFor(lines);
  ASSERT_TRUE(s);
  EXPECT_ERR(s->run(), "instruction 100 (vec): field 'x_off'");
  EXPECT_EQ(s->report().byOpcode[unsigned(Opcode::Vec)].count, 100u);
  EXPECT_EQ(s->timeline().events().size(), 100u);
}

} // namespace

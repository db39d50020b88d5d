//===- SimEntriesTest.cpp - Entry points sharing one DRAM -----------------===//
//
// A binary's entry points run one after another on one Simulator: DRAM
// keeps what a run stored (the KV cache of generation), everything else
// starts afresh (docs/Simulator.md, "Entry points").
//
//===----------------------------------------------------------------------===//

#include "spatten/ISA/Disasm.h"
#include "spatten/Sim/Generation.h"
#include "spatten/Sim/Simulator.h"

#include "TestUtil.h"

#include <cmath>
#include <cstring>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

namespace {

/// `store`: x (input, 2 floats at 0) to the cache row at 64, and x + 1
/// into act[8..10). `reload`: y (output at 128) = cache row + 1, and z
/// (output at 192) = act[8..10), which a run starts with at zero.
binary::Image twoEntryImage() {
  const char *lines[] = {
      // store (0)
      "load tensor_class=activations dtype=f32 bits=32 dram_addr=0 "
      "dram_stride=8 sram_buf=act sram_stride=2 rows=1 cols=2",
      "store tensor_class=k dtype=f32 bits=32 dram_addr=64 dram_stride=8 "
      "sram_buf=act sram_stride=2 rows=1 cols=2",
      "vec func=add flags=1 x_buf=act x_stride=2 z_buf=act z_off=8 "
      "z_stride=2 rows=1 cols=2 imm=1",
      "halt",
      // reload (4)
      "load tensor_class=k dtype=f32 bits=32 dram_addr=64 dram_stride=8 "
      "sram_buf=act sram_stride=2 rows=1 cols=2",
      "vec func=add flags=1 x_buf=act x_stride=2 z_buf=act z_stride=2 "
      "rows=1 cols=2 imm=1",
      "store tensor_class=activations dtype=f32 bits=32 dram_addr=128 "
      "dram_stride=8 sram_buf=act sram_stride=2 rows=1 cols=2",
      "store tensor_class=activations dtype=f32 bits=32 dram_addr=192 "
      "dram_stride=8 sram_buf=act sram_off=8 sram_stride=2 rows=1 cols=2",
      "halt",
  };
  binary::Image img;
  for (const char *l : lines) {
    size_t at = img.text.size();
    img.text.resize(at + kInstrBytes);
    auto inst = parseInstruction(l);
    EXPECT_TRUE(bool(inst)) << l;
    if (inst)
      inst->encode(img.text.data() + at);
    else
      llvm::consumeError(inst.takeError());
  }
  binary::Manifest &m = img.manifest;
  m.numInstructions = std::size(lines);
  m.dramSize = 256;
  m.setEntries({{"store", 0, {{"x", {1, 2}, "float32", 0}}, {}, {}},
                {"reload",
                 4,
                 {},
                 {{"y", {1, 2}, "float32", 128}, {"z", {1, 2}, "float32", 192}},
                 {"position", "step"}}});
  return img;
}

std::unique_ptr<Simulator> simulator() {
  auto s = Simulator::create(twoEntryImage());
  if (!s) {
    ADD_FAILURE() << llvm::toString(s.takeError());
    return nullptr;
  }
  return std::move(*s);
}

HostTensor pair(float a, float b) {
  HostTensor t = HostTensor::zeros(ElemType::F32, {1, 2});
  t.as<float>()[0] = a;
  t.as<float>()[1] = b;
  return t;
}

TEST(SimEntries, DramPersistsAcrossRunsAndSramStartsAfresh) {
  std::unique_ptr<Simulator> s = simulator();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->entryPoint().name, "store"); // the first, until selected
  ASSERT_NO_ERR(s->setInput("x", pair(3, -2)));
  ASSERT_NO_ERR(s->run());
  EXPECT_EQ(s->buffer(Buffer::Act)[8], 4.0f);
  ASSERT_NO_ERR(s->selectEntry("reload"));
  ASSERT_NO_ERR(s->run());
  auto y = s->getOutput("y");
  ASSERT_OK(y);
  EXPECT_EQ(y->as<float>()[0], 4.0f);
  EXPECT_EQ(y->as<float>()[1], -1.0f);
  auto z = s->getOutput("z");
  ASSERT_OK(z);
  EXPECT_EQ(z->as<float>()[0], 0.0f) << "SRAM kept the previous run's value";
  // The report describes the last run only.
  EXPECT_EQ(s->report().totalInstructions(), 5u);
  EXPECT_EQ(s->report().dramRead[unsigned(TensorClass::K)], 8u);
  EXPECT_EQ(s->timeline().events().size(), 5u);
}

TEST(SimEntries, SelectEntryNamesTheKnownOnes) {
  std::unique_ptr<Simulator> s = simulator();
  ASSERT_TRUE(s);
  EXPECT_ERR(s->selectEntry("decode"), "unknown entry point 'decode' (the "
                                       "binary's entry points: store, reload)");
  EXPECT_EQ(s->entryPoint().name, "store");
}

TEST(SimEntries, InputsOutputsAndRegistersAreTheSelectedEntrys) {
  std::unique_ptr<Simulator> s = simulator();
  ASSERT_TRUE(s);
  EXPECT_ERR(s->getOutput("y"), "unknown output 'y' (the program's outputs: "
                                "(none))");
  EXPECT_ERR(s->setRegister("position", 7),
             "entry point 'store' has no register 'position' (its "
             "registers: (none))");
  ASSERT_NO_ERR(s->selectEntry("reload"));
  EXPECT_ERR(s->setInput("x", pair(1, 2)),
             "unknown input 'x' (the program's inputs: (none))");
  ASSERT_NO_ERR(s->setRegister("step", 7));
  EXPECT_ERR(s->setRegister("pos", 1), "entry point 'reload' has no register "
                                       "'pos' (its registers: position, step)");
  // An input bound for one entry point is not another's.
  ASSERT_NO_ERR(s->selectEntry("store"));
  EXPECT_ERR(s->run(), "missing input 'x' (shape [1, 2], float32)");
}

TEST(SimEntries, ABinaryWithoutEntriesHasMain) {
  binary::Image img = twoEntryImage();
  img.manifest.entries.clear();
  auto s = Simulator::create(std::move(img));
  ASSERT_OK(s);
  ASSERT_EQ((*s)->manifest().entries.size(), 1u);
  EXPECT_EQ((*s)->entryPoint().name, "main");
  ASSERT_NO_ERR((*s)->selectEntry("main"));
}

} // namespace

namespace {

TEST(Generation, ArgmaxTakesTheLowestIdOnTiesAndNaNFirst) {
  EXPECT_EQ(argmax({1.0f, 3.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(argmax({-1.0f}), 0);
  EXPECT_EQ(argmax({0.0f, std::nanf(""), 5.0f, std::nanf("")}), 1);
}

TEST(Generation, ReportTotalsAndStages) {
  Report prefill, step;
  prefill.cycles = 100;
  prefill.dramRead[unsigned(TensorClass::K)] = 64;
  prefill.byOpcode[unsigned(Opcode::Load)].count = 2;
  prefill.layer(1)->keptTokens = 8;
  step.cycles = 10;
  step.dramRead[unsigned(TensorClass::K)] = 8;
  step.byOpcode[unsigned(Opcode::Load)].count = 1;
  step.instrCycles = {3, 4};
  LayerCounters *l = step.layer(1);
  l->keptTokens = 9;
  l->keptHeads = 2;
  l->refetchDecisions = {true, false};
  Report total = prefill;
  total.addTotals(step);
  total.stages = GenerationStages{prefill.figures(), {{1, 8, step.figures()}}};
  EXPECT_EQ(total.cycles, 110u);
  EXPECT_EQ(total.serialCycles(), 7u);
  EXPECT_EQ(total.layers.size(), 1u);
  EXPECT_EQ(total.layers[0].keptTokens, 8u) << "layers are the prefill's";
  llvm::json::Value j = total.toJSON(HardwareConfig());
  const llvm::json::Object *stages = j.getAsObject()->getObject("stages");
  ASSERT_TRUE(stages);
  const llvm::json::Object *gen = stages->getObject("generation");
  EXPECT_EQ(gen->getInteger("cycles"), 10);
  EXPECT_EQ(gen->getObject("dram_bytes")->getInteger("total_read"), 8);
  const llvm::json::Object *s = (*gen->getArray("steps"))[0].getAsObject();
  EXPECT_EQ(s->getInteger("position"), 8);
  const llvm::json::Object *layer = (*s->getArray("layers"))[0].getAsObject();
  EXPECT_EQ(layer->getInteger("kept_tokens"), 9);
  EXPECT_EQ(layer->getInteger("refetches"), 1);
  EXPECT_EQ(stages->getObject("prefill")->getInteger("cycles"), 100);
  EXPECT_FALSE(total.stages->prefill.layers[0].refetches)
      << "no decision taken: null, not 0";
}

} // namespace

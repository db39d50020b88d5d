//===- BindTest.cpp - bind, the register file and zero counts -------------===//
//
// Run-time fields (docs/ISA.md, "Registers" and "bind"): binds patch the
// next instruction from a register or a table, errors name the bind, a
// count bound to 0 is a no-op, TOPK writes its count to a register, and
// the dependency accesses of a bound instruction cover its [lo, hi] range.
//
//===----------------------------------------------------------------------===//

#include "spatten/ISA/Accesses.h"
#include "spatten/ISA/Disasm.h"
#include "spatten/Sim/Simulator.h"

#include "SimTestUtil.h"
#include "TestUtil.h"

#include <cstring>
#include <limits>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

namespace {

/// The instructions of `lines`, a bind's field named in the next line that
/// is not a bind.
std::vector<Instr> assemble(const std::vector<std::string> &lines) {
  std::vector<Instr> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::optional<Opcode> bound;
    for (size_t j = i + 1; j < lines.size() && !bound; ++j)
      if (parseMnemonic(lines[j]) != Opcode::Bind)
        bound = parseMnemonic(lines[j]);
    auto inst = parseInstruction(lines[i], bound);
    if (!inst) {
      ADD_FAILURE() << lines[i] << ": " << llvm::toString(inst.takeError());
      return {};
    }
    out.push_back(*inst);
  }
  return out;
}

class BindTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Simulator::create(test::haltImage(4096));
    ASSERT_OK(s);
    sim = std::move(*s);
    for (int i = 0; i < 64; ++i) {
      float f = float(i);
      std::memcpy(sim->dram().data() + 4 * i, &f, 4);
    }
  }
  /// Steps `lines` as instructions 0, 1, ... of a program.
  llvm::Error exec(const std::vector<std::string> &lines) {
    std::vector<Instr> insts = assemble(lines);
    for (size_t pc = 0; pc < insts.size(); ++pc)
      if (llvm::Error e = sim->step(insts[pc], pc))
        return e;
    return llvm::Error::success();
  }
  std::vector<float> &act() { return sim->buffer(Buffer::Act); }
  std::unique_ptr<Simulator> sim;
};

const std::string kLoad = "load tensor_class=activations dtype=f32 bits=32 "
                          "dram_addr=0 dram_stride=16 sram_buf=act "
                          "sram_stride=4 rows=1 cols=4";

TEST_F(BindTest, RegisterSetsRowsAndAddress) {
  ASSERT_NO_ERR(sim->setRegister(3, 2));
  ASSERT_NO_ERR(exec({"bind field=rows reg=3 mul=1 add=1 lo=0 hi=8",
                      "bind field=dram_addr reg=3 mul=16 add=0 lo=0 hi=4096",
                      kLoad}));
  // rows = 2 + 1 = 3 from DRAM row 2 (byte 32): floats 8..19.
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(act()[i], float(8 + i)) << i;
  EXPECT_EQ(act()[12], 0.0f);
  EXPECT_EQ(sim->report().byOpcode[unsigned(Opcode::Load)].count, 1u);
  EXPECT_EQ(sim->report().byOpcode[unsigned(Opcode::Bind)].count, 0u);
}

TEST_F(BindTest, ValueIsClamped) {
  ASSERT_NO_ERR(sim->setRegister(0, 100));
  ASSERT_NO_ERR(exec({"bind field=rows reg=0 mul=1 add=0 lo=1 hi=2", kLoad}));
  EXPECT_EQ(act()[7], 7.0f);
  EXPECT_EQ(act()[8], 0.0f); // 2 rows, not 100
  ASSERT_NO_ERR(exec({"bind field=rows reg=0 mul=-1 add=0 lo=1 hi=2", kLoad}));
}

TEST_F(BindTest, TableSourceReadsU32ByRegister) {
  uint32_t table[] = {5, 1, 3};
  std::memcpy(sim->dram().data() + 1024, table, sizeof(table));
  ASSERT_NO_ERR(sim->setRegister(1, 2));
  ASSERT_NO_ERR(exec({"bind field=rows source=table table=1024 reg=1 mul=1 "
                      "add=0 lo=0 hi=8",
                      kLoad}));
  EXPECT_EQ(act()[11], 11.0f); // table[2] = 3 rows
  EXPECT_EQ(act()[12], 0.0f);
  ASSERT_NO_ERR(sim->setRegister(1, 1000));
  EXPECT_ERR(exec({"bind field=rows source=table table=1024 reg=1 mul=1 add=0 "
                   "lo=0 hi=8",
                   kLoad}),
             "instruction 0 (bind): field 'table': entry r1 = 1000");
}

TEST_F(BindTest, BindsAttentionKeyCounts) {
  for (int i = 0; i < 16; ++i) {
    sim->buffer(Buffer::Q)[i] = 0.1f * i;
    sim->buffer(Buffer::K)[i] = 0.2f * i;
    sim->buffer(Buffer::V)[i] = float(i);
  }
  ASSERT_NO_ERR(sim->setRegister(4, 0)); // position 0: one key
  const std::string attn = "attn q_buf=q q_stride=2 k_buf=k k_stride=2 "
                           "v_buf=v v_stride=2 o_buf=act o_stride=2 lq=1 "
                           "lk=8 d=2 scale=1 vk=8";
  ASSERT_NO_ERR(exec({"bind field=lk reg=4 mul=1 add=1 lo=1 hi=8",
                      "bind field=vk reg=4 mul=1 add=1 lo=1 hi=8", attn}));
  // Softmax over one key: O is V row 0.
  EXPECT_EQ(act()[0], 0.0f);
  EXPECT_EQ(act()[1], 1.0f);
  EXPECT_ERR(exec({"bind field=lk reg=4 mul=1 add=2000 lo=0 hi=65535", attn}),
             "instruction 1 (attn): field 'lk': 2000 keys exceed one fill");
}

TEST_F(BindTest, Errors) {
  const std::string store = "store tensor_class=activations dtype=f32 bits=32 "
                            "dram_addr=64 sram_buf=act sram_stride=4 rows=1 "
                            "cols=4";
  ASSERT_NO_ERR(sim->setRegister(0, 3));
  EXPECT_ERR(exec({"bind field=rows reg=0 mul=0x4000000000000000 add=0 lo=0 "
                   "hi=4",
                   store}),
             "instruction 0 (bind): field 'mul': 4611686018427387904 * 3 "
             "overflows 64 bits");
  EXPECT_ERR(exec({"bind field=rows reg=0 mul=1 add=0x7fffffffffffffff lo=0 "
                   "hi=4",
                   store}),
             "field 'add': 9223372036854775807 + 3 overflows 64 bits");
  EXPECT_ERR(exec({"bind field=lsb_bits reg=0 mul=8 add=0 lo=0 hi=100", store}),
             "field 'field': value 24 does not fit field 'lsb_bits' (4 bits)");
  EXPECT_ERR(exec({"bind field=rows reg=0 mul=-1 add=0 lo=-1 hi=4", store}),
             "field 'field': value -1 does not fit field 'rows'");
  EXPECT_ERR(exec({"bind field=rows reg=0 mul=1 add=0 lo=5 hi=4", store}),
             "instruction 0 (bind): field 'lo': 5 exceeds hi 4");
  EXPECT_ERR(exec({"bind field=rows reg=0 mul=1 add=0 lo=0 hi=4",
                   "bind field=cols reg=0 mul=1 add=0 lo=0 hi=4",
                   "bind field=rows reg=0 mul=1 add=0 lo=0 hi=4", store}),
             "instruction 2 (bind): field 'field': binds 'rows' of store a "
             "second time");
  EXPECT_ERR(exec({"bind field=0 reg=0 mul=1 add=0 lo=0 hi=4", "halt"}),
             "instruction 0 (bind): field 'field': binds field 0 of halt, "
             "which has no field to bind");
  EXPECT_ERR(exec({"bind field=0 reg=0 mul=1 add=0 lo=0 hi=4", "sync"}),
             "binds field 0 of sync");
  EXPECT_ERR(exec({"bind field=40 reg=0 mul=1 add=0 lo=0 hi=4", store}),
             "field 'field': 40 is not a field of store (0..13)");
  EXPECT_ERR(exec({"bind field=rows source=2 reg=0 mul=1 add=0 lo=0 hi=4",
                   store}),
             "field 'source': 2 is not a bind source");
  EXPECT_ERR(exec({"bind dep_wait=1 field=rows reg=0 mul=1 add=0 lo=0 hi=4",
                   store}),
             "instruction 0 (bind): field 'dep_wait': must be 0 on a bind");
  // A failed bind leaves none pending: the next instruction runs as is.
  ASSERT_NO_ERR(exec({store}));
}

TEST_F(BindTest, ZeroRowDmaMovesNothingInNoTime) {
  act()[0] = 7;
  for (const char *op : {"load", "store", "gather idx_off=0",
                         "scatter idx_off=0"}) {
    ASSERT_NO_ERR(exec({"bind field=rows reg=9 mul=1 add=0 lo=0 hi=4",
                        std::string(op) +
                            " tensor_class=activations dtype=f32 bits=32 "
                            "dram_addr=0 sram_buf=act sram_stride=4 rows=4 "
                            "cols=4"}));
    EXPECT_EQ(sim->report().instrCycles.back(), 0u) << op;
  }
  EXPECT_EQ(act()[0], 7.0f);
  EXPECT_EQ(sim->report().dramRead[unsigned(TensorClass::Activation)], 0u);
  EXPECT_EQ(sim->report().dramWritten[unsigned(TensorClass::Activation)], 0u);
  EXPECT_EQ(sim->report().cycles, 0u);
}

class ZeroKeysTest : public BindTest {
protected:
  void SetUp() override {
    BindTest::SetUp();
    for (int i = 0; i < 8; ++i) {
      sim->buffer(Buffer::Q)[i] = 0.3f * i;
      sim->buffer(Buffer::K)[i] = 0.1f * i;
      sim->buffer(Buffer::V)[i] = float(i + 1);
    }
  }
  /// ATTN over `keys` keys (bound from r7) of fill pass `flags`.
  llvm::Error attn(int flags, int keys) {
    if (llvm::Error e = sim->setRegister(7, keys))
      return e;
    return exec({"bind field=lk reg=7 mul=1 add=0 lo=0 hi=2",
                 "attn q_buf=q q_stride=2 k_buf=k k_stride=2 v_buf=v "
                 "v_stride=2 o_buf=act o_stride=2 lq=2 lk=2 d=2 scale=1 "
                 "flags=" +
                     std::to_string(flags)});
  }
};

TEST_F(ZeroKeysTest, PlainAttnWritesZeros) {
  std::fill(act().begin(), act().begin() + 4, 5.0f);
  ASSERT_NO_ERR(attn(0, 0));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(act()[i], 0.0f) << i;
}

TEST_F(ZeroKeysTest, EmptyFillsChangeNeitherStatisticsNorOutput) {
  ASSERT_NO_ERR(attn(AttnFillStats, 2));
  ASSERT_NO_ERR(attn(AttnFillStats, 0));
  ASSERT_NO_ERR(attn(AttnFillApply, 2));
  std::vector<float> full(act().begin(), act().begin() + 4);
  ASSERT_NO_ERR(attn(AttnFillApply, 0));
  EXPECT_EQ(std::vector<float>(act().begin(), act().begin() + 4), full);
  // The same as one ATTN over the two keys.
  ASSERT_NO_ERR(attn(0, 2));
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(act()[i], full[i]) << i;
}

TEST_F(BindTest, TopkWritesItsCountToARegister) {
  for (int i = 0; i < 5; ++i)
    act()[i] = float(i % 3);
  ASSERT_NO_ERR(exec({"topk flags=6 count_reg=5 s_buf=act n=5 k=3"}));
  EXPECT_EQ(sim->getRegister(5), 3u);
  ASSERT_NO_ERR(exec({"topk flags=6 count_reg=5 s_buf=act n=2 k=3"}));
  EXPECT_EQ(sim->getRegister(5), 2u);
  // n bound to 0 selects nothing.
  ASSERT_NO_ERR(exec({"bind field=n reg=0 mul=1 add=0 lo=0 hi=5",
                      "topk flags=6 count_reg=5 s_buf=act n=5 k=3"}));
  EXPECT_EQ(sim->getRegister(5), 0u);
  EXPECT_TRUE(sim->report().topk.back().selected.empty());
  EXPECT_ERR(exec({"topk flags=2 count_reg=5 s_buf=act n=5 k=3"}),
             "field 'count_reg': names a register only with flag WriteCount");
}

TEST_F(BindTest, TopkDropsNegInfCandidates) {
  // Scores 0, -inf, 2, -inf, 1: two of five are pruned tokens.
  const float inf = std::numeric_limits<float>::infinity();
  float scores[] = {0, -inf, 2, -inf, 1};
  std::copy(std::begin(scores), std::end(scores), act().begin());
  ASSERT_NO_ERR(exec({"topk flags=14 count_reg=1 s_buf=act n=5 k=4"}));
  EXPECT_EQ(sim->getRegister(1), 3u); // fewer than k are left
  EXPECT_EQ(sim->report().topk.back().selected,
            (std::vector<int32_t>{0, 2, 4}));
  ASSERT_NO_ERR(exec({"topk flags=14 count_reg=1 s_buf=act n=5 k=2"}));
  EXPECT_EQ(sim->report().topk.back().selected, (std::vector<int32_t>{2, 4}));
  // Without the flag -inf is a score like any other.
  ASSERT_NO_ERR(exec({"topk flags=6 count_reg=1 s_buf=act n=5 k=4"}));
  EXPECT_EQ(sim->getRegister(1), 4u);
}

TEST_F(BindTest, RunStartsFromTheHostRegisters) {
  ASSERT_NO_ERR(sim->setRegister(2, 9));
  ASSERT_NO_ERR(exec({"topk flags=6 count_reg=2 s_buf=act n=4 k=1"}));
  EXPECT_EQ(sim->getRegister(2), 1u);
  ASSERT_NO_ERR(sim->run()); // the image is one halt
  EXPECT_EQ(sim->getRegister(2), 9u);
  EXPECT_EQ(sim->getRegister(3), 0u);
  EXPECT_ERR(sim->setRegister(16, 1), "register r16 does not exist (r0..r15)");
}

//===----------------------------------------------------------------------===//
// Text form and accesses
//===----------------------------------------------------------------------===//

TEST(BindText, NamesTheFieldOfTheBoundInstruction) {
  std::vector<Instr> prog =
      assemble({"bind field=dram_addr reg=2 mul=-4 add=8 lo=0 hi=8", kLoad});
  EXPECT_EQ(formatInstruction(prog[0], Opcode::Load),
            "bind field=dram_addr source=register reg=2 table=0 mul=-4 add=8 "
            "lo=0 hi=8");
  EXPECT_EQ(formatInstruction(prog[0]),
            "bind field=7 source=register reg=2 table=0 mul=-4 add=8 lo=0 "
            "hi=8");
  EXPECT_ERR(parseInstruction("bind field=rows"),
             "field 'field': 'rows' names a field of the next instruction, "
             "which is not known here");
  EXPECT_ERR(parseInstruction("bind field=lk", Opcode::Load),
             "'lk' is not a field of the next instruction (load)");
}

bool covers(llvm::ArrayRef<Access> accesses, Access want) {
  return llvm::any_of(accesses, [&](const Access &a) {
    return a.space == want.space && a.write == want.write &&
           (a.space != Space::Sram || a.buf == want.buf) &&
           a.begin <= want.begin && want.end <= a.end;
  });
}

TEST(BindAccesses, HullOverLoAndHi) {
  std::vector<Instr> prog = assemble(
      {"bind field=dram_addr reg=2 mul=16 add=0 lo=64 hi=256",
       "bind field=rows reg=3 mul=1 add=0 lo=0 hi=8", kLoad});
  auto acc = accessesOf(prog[2], {prog[0], prog[1]});
  // DRAM from the lowest address to the highest address's 8th row.
  EXPECT_TRUE(covers(acc, {Space::Dram, Buffer::Idx, 64, 256 + 7 * 16 + 16,
                           false}));
  EXPECT_TRUE(covers(acc, {Space::Sram, Buffer::Act, 0, 7 * 4 + 4, true}));
  EXPECT_TRUE(covers(acc, {Space::Register, Buffer::Idx, 2, 3, false}));
  EXPECT_TRUE(covers(acc, {Space::Register, Buffer::Idx, 3, 4, false}));
  EXPECT_TRUE(accessesOf(prog[0]).empty()); // a bind accesses nothing
  // TOPK writing r3 conflicts with the bound load.
  Instr topk = assemble({"topk flags=4 count_reg=3 s_buf=act n=4 k=2"})[0];
  auto writes = accessesOf(topk);
  EXPECT_TRUE(llvm::any_of(writes, [&](const Access &w) {
    return llvm::any_of(acc, [&](const Access &a) { return w.conflicts(a); });
  }));
}

} // namespace

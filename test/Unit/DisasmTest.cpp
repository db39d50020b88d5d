//===- DisasmTest.cpp - Text form of instructions -------------------------===//

#include "spatten/ISA/Disasm.h"

#include "TestUtil.h"

using namespace spatten;
using namespace spatten::isa;

namespace {

TEST(Disasm, PrintsNamesForEnumerationsAndFloats) {
  auto inst = isa::parseInstruction(
      "attn mask_kind=padding_causal q_buf=q k_buf=k v_buf=v o_buf=act "
      "mask_buf=mask lq=4 lk=8 d=64 causal_offset=3 scale=0.125");
  ASSERT_OK(inst);
  std::string text = isa::formatInstruction(*inst);
  EXPECT_NE(text.find("attn mask_kind=padding_causal"), std::string::npos);
  EXPECT_NE(text.find("q_buf=q"), std::string::npos);
  EXPECT_NE(text.find("o_buf=act"), std::string::npos);
  EXPECT_NE(text.find("scale=0.125"), std::string::npos);
  EXPECT_NE(text.find("causal_offset=3"), std::string::npos);
}

TEST(Disasm, FormatThenParseIsIdentity) {
  const char *lines[] = {
      "halt", "sync dep_wait=1 dep_signal=2",
      "load tensor_class=weights dtype=i64 bits=32 dram_addr=0x1000 "
      "dram_stride=64 sram_buf=idx sram_off=3 sram_stride=16 rows=2 cols=16",
      "gather tensor_class=k dtype=f32 bits=32 dram_addr=64 dram_stride=256 "
      "sram_buf=k rows=7 cols=64 idx_off=9",
      "gemm flags=7 a_buf=act b_buf=wgt c_buf=acc bias_buf=wgt bias_off=99 "
      "m=16 n=32 k=48",
      "vec func=layer_norm x_buf=act y_buf=wgt w_buf=wgt w_off=768 rows=8 "
      "cols=768 imm=1e-12",
      "vec func=sub flags=5 x_buf=act z_buf=act rows=1 cols=1 imm=-0.5",
  };
  for (const char *line : lines) {
    auto a = isa::parseInstruction(line);
    ASSERT_OK(a) << line;
    auto b = isa::parseInstruction(isa::formatInstruction(*a));
    ASSERT_OK(b) << line;
    EXPECT_EQ(a->words, b->words) << line;
  }
}

TEST(Disasm, ParseErrorsNameTheField) {
  EXPECT_ERR(isa::parseInstruction("frob x=1"), "unknown mnemonic 'frob'");
  EXPECT_ERR(isa::parseInstruction("gemm m=70000"),
             "field 'm': value 70000 does not fit in 16 bits");
  EXPECT_ERR(isa::parseInstruction("gemm lq=1"),
             "field 'lq': not a field of gemm");
  auto bad = isa::parseInstruction("vec func=frobnicate");
  ASSERT_FALSE(bool(bad));
  std::string msg = llvm::toString(bad.takeError());
  EXPECT_NE(msg.find("field 'func': bad value 'frobnicate'"), std::string::npos);
  EXPECT_NE(msg.find("gelu_tanh"), std::string::npos);
}

TEST(Disasm, InvalidOpcodePrints) {
  Instr inst;
  inst.words[0] = 0xee;
  EXPECT_EQ(isa::formatInstruction(inst), "<invalid opcode 0xee>");
}

TEST(Disasm, MarkdownListsEveryOpcodeAndField) {
  std::string md = isa::isaMarkdown();
  for (const OpcodeSpec &s : kOpcodeSpecs) {
    EXPECT_NE(md.find("`" + std::string(s.mnemonic) + "`"), std::string::npos);
    for (unsigned i = 0; i < s.numFields; ++i)
      EXPECT_NE(md.find("`" + std::string(s.fields[i].name) + "`"),
                std::string::npos);
  }
}

} // namespace

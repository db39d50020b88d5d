//===- ISATest.cpp - Encoding tables of spatten/ISA/Spec.h, Accesses.h ---===//

#include "spatten/ISA/Accesses.h"
#include "spatten/ISA/Spec.h"

#include <gtest/gtest.h>

using namespace spatten::isa;

namespace {

/// A value that fills `f` with a pattern distinct per field.
uint64_t pattern(const Field &f, unsigned salt) {
  uint64_t v = 0x9E3779B97F4A7C15ull * (salt + 1);
  return v & fieldMask(f);
}

TEST(ISA, FieldsOfEachOpcodeDoNotOverlap) {
  for (const OpcodeSpec &s : kOpcodeSpecs) {
    std::array<uint64_t, kInstrWords> used{};
    used[0] = (fieldMask(kOpcodeField) << kOpcodeField.lsb) |
              (fieldMask(kDepWaitField) << kDepWaitField.lsb) |
              (fieldMask(kDepSignalField) << kDepSignalField.lsb);
    for (unsigned i = 0; i < s.numFields; ++i) {
      const Field &f = s.fields[i];
      ASSERT_LT(f.word, kInstrWords) << s.mnemonic << "." << f.name;
      ASSERT_LE(f.lsb + f.width, 64u) << s.mnemonic << "." << f.name;
      uint64_t bits = fieldMask(f) << f.lsb;
      EXPECT_EQ(used[f.word] & bits, 0u) << s.mnemonic << "." << f.name;
      used[f.word] |= bits;
    }
  }
}

TEST(ISA, EveryOpcodeRoundTripsThroughEncodeDecode) {
  for (const OpcodeSpec &s : kOpcodeSpecs) {
    Instr in;
    ASSERT_TRUE(in.set(kOpcodeField, uint64_t(s.opcode)));
    ASSERT_TRUE(in.set(kDepWaitField, 5));
    ASSERT_TRUE(in.set(kDepSignalField, 10));
    for (unsigned i = 0; i < s.numFields; ++i)
      ASSERT_TRUE(in.set(s.fields[i], pattern(s.fields[i], i)));
    uint8_t bytes[kInstrBytes];
    in.encode(bytes);
    Instr out = Instr::decode(bytes);
    EXPECT_EQ(out.words, in.words) << s.mnemonic;
    EXPECT_EQ(out.opcodeByte(), uint8_t(s.opcode));
    EXPECT_EQ(lookupOpcode(out.opcodeByte()), &s);
    EXPECT_EQ(out.get(kDepWaitField), 5u);
    EXPECT_EQ(out.get(kDepSignalField), 10u);
    for (unsigned i = 0; i < s.numFields; ++i)
      EXPECT_EQ(out.get(s.fields[i]), pattern(s.fields[i], i))
          << s.mnemonic << "." << s.fields[i].name;
  }
}

TEST(ISA, EncodingIsLittleEndianWords) {
  Instr in;
  in.words[0] = 0x0807060504030201ull;
  uint8_t bytes[kInstrBytes] = {};
  in.encode(bytes);
  for (unsigned b = 0; b < 8; ++b)
    EXPECT_EQ(bytes[b], b + 1);
}

TEST(ISA, FieldOverflowIsRejectedAndLeavesTheWordIntact) {
  for (const OpcodeSpec &s : kOpcodeSpecs)
    for (unsigned i = 0; i < s.numFields; ++i) {
      const Field &f = s.fields[i];
      if (f.width == 64)
        continue;
      Instr in;
      ASSERT_TRUE(in.set(f, fieldMask(f)));
      auto before = in.words;
      EXPECT_FALSE(in.set(f, fieldMask(f) + 1)) << s.mnemonic << "." << f.name;
      EXPECT_EQ(in.words, before);
    }
}

/// The layout docs/ISA.md and the compiler rely on: ATTN `phase`
/// where `pq_mode` was, DMA `pred` widened into free bits, TOPK `role` in
/// free bits of word 0, and DeferValues in ATTN's 6-bit flags field.
TEST(ISA, PhasePredAndRoleLayout) {
  auto where = [](Opcode op, std::string_view name) {
    const Field *f = lookupField(kOpcodeSpecs[unsigned(op)], name);
    return f ? std::array<unsigned, 3>{f->word, f->lsb, f->width}
             : std::array<unsigned, 3>{99, 99, 99};
  };
  using A = std::array<unsigned, 3>;
  EXPECT_EQ(where(Opcode::Attn, "phase"), (A{0, 24, 2}));
  EXPECT_EQ(where(Opcode::Attn, "pq_mode"), (A{99, 99, 99}));
  for (Opcode op : {Opcode::Load, Opcode::Store, Opcode::Gather,
                    Opcode::Scatter})
    EXPECT_EQ(where(op, "pred"), (A{0, 36, 2}));
  EXPECT_EQ(where(Opcode::Topk, "role"), (A{0, 24, 2}));
  EXPECT_EQ(kAttnPhaseNames[unsigned(AttnPhase::Values)], "values");
  EXPECT_EQ(kTopkRoleNames[unsigned(TopkRole::Heads)], "heads");
  EXPECT_EQ(unsigned(AttnDeferValues), 8u);
  EXPECT_LT(unsigned(AttnDeferValues), 1u << where(Opcode::Attn, "flags")[2]);
}

TEST(ISA, InvalidOpcodesHaveNoSpec) {
  for (unsigned op = kNumOpcodes; op < 256; ++op)
    EXPECT_EQ(lookupOpcode(uint8_t(op)), nullptr);
}

TEST(ISA, FloatBitsRoundTrip) {
  for (float f : {0.0f, -1.5f, 0.125f, 1e-12f, 3.4e38f})
    EXPECT_EQ(bitsFloat(floatBits(f)), f);
}

TEST(ISA, OperandFieldsAreTheTableFieldsOfTheirPrefix) {
  auto check = [](const OperandFields &op, std::string_view prefix) {
    EXPECT_EQ(op.buf.name, std::string(prefix) + "_buf");
    EXPECT_EQ(op.off.name, std::string(prefix) + "_off");
    EXPECT_EQ(op.stride.name, std::string(prefix) + "_stride");
    EXPECT_EQ(op.buf.word, op.off.word);
    EXPECT_EQ(op.off.word, op.stride.word);
  };
  check(fields::Dma::sram, "sram");
  check(fields::Gather::sram, "sram");
  check(fields::Gemm::bias, "bias");
  check(fields::Attn::mask, "mask");
  check(fields::Vec::w, "w");
}

Instr make(Opcode op, std::initializer_list<std::pair<Field, uint64_t>> f) {
  Instr inst;
  inst.set(kOpcodeField, uint64_t(op));
  for (auto [field, v] : f)
    EXPECT_TRUE(inst.set(field, v)) << field.name;
  return inst;
}

std::string show(const Access &a) {
  return std::to_string(unsigned(a.space)) + ":" +
         std::to_string(unsigned(a.buf)) + "[" + std::to_string(a.begin) +
         "," + std::to_string(a.end) + ")" + (a.write ? "w" : "r");
}

std::vector<std::string> shown(const Instr &inst) {
  std::vector<std::string> out;
  for (const Access &a : accessesOf(inst))
    out.push_back(show(a));
  return out;
}

TEST(Accesses, GemmReadsItsOperandsAndWritesC) {
  using F = fields::Gemm;
  Instr gemm = make(Opcode::Gemm,
                    {{F::m, 2}, {F::n, 3}, {F::k, 4},
                     {F::flags, GemmAccumulate | GemmBias},
                     {F::aBuf, unsigned(Buffer::Act)}, {F::aStride, 4},
                     {F::bBuf, unsigned(Buffer::Wgt)}, {F::bStride, 3},
                     {F::cBuf, unsigned(Buffer::Acc)}, {F::cOff, 10},
                     {F::cStride, 8}, {F::biasBuf, unsigned(Buffer::Wgt)},
                     {F::biasOff, 100}});
  // a: rows 2 x k 4; b: k 4 x n 3; bias: 1 x 3; c read then written:
  // offset 10, (2 - 1) * 8 + 3 elements.
  EXPECT_EQ(shown(gemm),
            (std::vector<std::string>{"0:1[0,8)r", "0:2[0,12)r",
                                      "0:2[100,103)r", "0:3[10,21)r",
                                      "0:3[10,21)w"}));
}

TEST(Accesses, VecReductionsWriteOneColumnAndRmsNormReadsGamma) {
  using F = fields::Vec;
  auto vec = [](VecFunc fn) {
    return make(Opcode::Vec,
                {{F::func, unsigned(fn)}, {F::rows, 2}, {F::cols, 3},
                 {F::xBuf, unsigned(Buffer::Act)}, {F::xStride, 3},
                 {F::yBuf, unsigned(Buffer::Wgt)}, {F::yOff, 20},
                 {F::zBuf, unsigned(Buffer::Acc)}, {F::zStride, 1}});
  };
  // x: 2 rows of 3; z: one value per row, stride 1.
  EXPECT_EQ(shown(vec(VecFunc::RowSum)),
            (std::vector<std::string>{"0:1[0,6)r", "0:3[0,2)w"}));
  // rms_norm: gamma is one row of y; w is not read.
  EXPECT_EQ(shown(vec(VecFunc::RmsNorm)),
            (std::vector<std::string>{"0:1[0,6)r", "0:2[20,23)r",
                                      "0:3[0,4)w"}));
}

TEST(Accesses, FillPassesReadWhatTheyUse) {
  using F = fields::Attn;
  auto attn = [](uint64_t flags) {
    return make(Opcode::Attn, {{F::lq, 2}, {F::lk, 3}, {F::d, 4},
                               {F::flags, flags},
                               {F::qBuf, unsigned(Buffer::Q)}, {F::qStride, 4},
                               {F::kBuf, unsigned(Buffer::K)}, {F::kStride, 4},
                               {F::vBuf, unsigned(Buffer::V)}, {F::vStride, 4},
                               {F::oBuf, unsigned(Buffer::Acc)},
                               {F::oStride, 4}});
  };
  // Statistics: the attention unit's state, Q and K; neither V nor O.
  EXPECT_EQ(shown(attn(AttnFillStats)),
            (std::vector<std::string>{"2:0[0,1)w", "0:4[0,8)r", "0:5[0,12)r"}));
  // Apply: also V, and O read (O += P V) before it is written.
  EXPECT_EQ(shown(attn(AttnFillApply)),
            (std::vector<std::string>{"2:0[0,1)w", "0:4[0,8)r", "0:5[0,12)r",
                                      "0:6[0,12)r", "0:3[0,8)r",
                                      "0:3[0,8)w"}));
}

TEST(Accesses, GatherCoversAllDramAndPredicatedLoadsReadTheAttnState) {
  using G = fields::Gather;
  Instr gather = make(Opcode::Gather, {{G::rows, 5}, {G::cols, 2},
                                       {G::sramBuf, unsigned(Buffer::K)},
                                       {G::sramStride, 2}, {G::idxOff, 7},
                                       {G::idxPeriod, 3}});
  EXPECT_EQ(shown(gather),
            (std::vector<std::string>{"0:5[0,10)w", "0:0[7,10)r",
                                      "1:0[0,18446744073709551615)r"}));
  using D = fields::Dma;
  Instr load = make(Opcode::Load, {{D::rows, 2}, {D::cols, 4},
                                   {D::dramAddr, 64}, {D::dramStride, 32},
                                   {D::sramStride, 4},
                                   {D::pred, unsigned(DmaPred::Unconfident)}});
  // DRAM: 64 + (2 - 1) * 32 + 4 fp32 elements of 4 bytes.
  EXPECT_EQ(shown(load), (std::vector<std::string>{"0:0[0,8)w", "1:0[64,112)r",
                                                   "2:0[0,1)r"}));
  EXPECT_TRUE(accessesOf(make(Opcode::Sync, {})).empty());
}

} // namespace

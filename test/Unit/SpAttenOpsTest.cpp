//===- SpAttenOpsTest.cpp - SpAtten instructions against hand results ------===//
//
// TOPK, fixed-point / MSB / LSB-plane DMA, SCATTER, and ATTN's local value
// pruning, head importance and progressive-quantization decide/finish. The
// expected bytes and values are worked out by hand in the comments
// (docs/ISA.md and docs/Algorithms.md give the rules).
//
//===----------------------------------------------------------------------===//

#include "spatten/ISA/Disasm.h"
#include "spatten/Sim/Simulator.h"

#include "SimTestUtil.h"
#include "TestUtil.h"

#include <cmath>
#include <cstring>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

namespace {

class OpsTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Simulator::create(test::haltImage(4096));
    ASSERT_OK(s);
    sim = std::move(*s);
  }
  llvm::Error exec(const std::string &text) {
    return test::stepText(*sim, text, 7);
  }
  std::vector<float> &buf(Buffer b) { return sim->buffer(b); }
  std::vector<int32_t> &idx() { return sim->indexBuffer(); }
  void poke(uint64_t addr, std::vector<uint8_t> bytes) {
    std::memcpy(sim->dram().data() + addr, bytes.data(), bytes.size());
  }
  void pokeF(uint64_t addr, float f) {
    std::memcpy(sim->dram().data() + addr, &f, 4);
  }
  std::vector<uint8_t> peek(uint64_t addr, size_t n) {
    return {sim->dram().data() + addr, sim->dram().data() + addr + n};
  }
  float peekF(uint64_t addr) {
    float f;
    std::memcpy(&f, sim->dram().data() + addr, 4);
    return f;
  }
  const Report &rep() { return sim->report(); }
  const LayerCounters &layer(unsigned l) {
    for (const LayerCounters &c : rep().layers)
      if (c.layer == l)
        return c;
    ADD_FAILURE() << "no layer " << l;
    static LayerCounters none;
    return none;
  }
  std::unique_ptr<Simulator> sim;
};

//===----------------------------------------------------------------------===//
// TOPK
//===----------------------------------------------------------------------===//

TEST_F(OpsTest, TopkKeepsListOrderAndBreaksTiesEarliest) {
  // Scores by position: 0.5 2 2 -1 3 0.1; the three best are positions 4
  // (3), 1 and 2 (2, 2); output in list order: 11 12 14.
  idx() = std::vector<int32_t>(idx().size(), -7);
  for (int i = 0; i < 6; ++i)
    idx()[i] = 10 + i;
  std::vector<float> s = {0.5f, 2, 2, -1, 3, 0.1f};
  std::copy(s.begin(), s.end(), buf(Buffer::Acc).begin() + 100);
  ASSERT_NO_ERR(exec("topk s_buf=acc s_off=100 in_off=0 out_off=8 n=6 k=3 "
                     "layer=1"));
  EXPECT_EQ(idx()[8], 11);
  EXPECT_EQ(idx()[9], 12);
  EXPECT_EQ(idx()[10], 14);
  EXPECT_EQ(idx()[11], -7); // nothing written past k
  // Ties: equal scores keep the earliest candidates.
  std::fill(buf(Buffer::Acc).begin(), buf(Buffer::Acc).begin() + 4, 1.0f);
  ASSERT_NO_ERR(exec("topk flags=2 s_buf=acc n=4 k=2 out_off=20"));
  EXPECT_EQ(idx()[20], 0);
  EXPECT_EQ(idx()[21], 1);
  EXPECT_EQ(idx()[22], -7);
  ASSERT_EQ(rep().topk.size(), 2u);
  EXPECT_EQ(rep().topk[0].instruction, 7u);
  EXPECT_EQ(layer(0).topkPasses, rep().topk[0].passes);
}

TEST_F(OpsTest, TopkScoresByIndexAndKeepAll) {
  // Candidates 0 2 5 with scores s[cand]: 9 1 7 -> k=2 keeps 0 and 5.
  idx()[0] = 0, idx()[1] = 2, idx()[2] = 5;
  std::vector<float> s = {9, 0, 1, 0, 0, 7};
  std::copy(s.begin(), s.end(), buf(Buffer::Act).begin());
  ASSERT_NO_ERR(exec("topk flags=1 s_buf=act n=3 k=2 out_off=4"));
  EXPECT_EQ(idx()[4], 0);
  EXPECT_EQ(idx()[5], 5);
  // k >= n keeps every candidate, with no partition pass; the compaction
  // pass costs ceil(3/16) + 3 = 4 cycles.
  ASSERT_NO_ERR(exec("topk flags=1 s_buf=act n=3 k=9 out_off=8"));
  EXPECT_EQ(idx()[8], 0);
  EXPECT_EQ(idx()[9], 2);
  EXPECT_EQ(idx()[10], 5);
  EXPECT_EQ(rep().topk[1].passes, 0u);
  EXPECT_EQ(rep().topk[1].cycles, 4u);
  EXPECT_EQ(rep().instrCycles.back(), 4u);
}

TEST_F(OpsTest, TopkQuickSelectPassesAreSeededAndCharged) {
  // n = 2, k = 1: whichever pivot is drawn, one pass decides (the better
  // one: 0 above, pivot completes k; the worse: 1 above = k).
  buf(Buffer::Act)[0] = 1, buf(Buffer::Act)[1] = 2;
  ASSERT_NO_ERR(exec("topk flags=2 s_buf=act n=2 k=1 seed=5"));
  EXPECT_EQ(idx()[0], 1);
  EXPECT_EQ(rep().topk[0].passes, 1u);
  EXPECT_EQ(rep().topk[0].cycles, 4u + 4u); // pass + compaction
  // 200 candidates: every pass over m costs ceil(m/16)+3, so the total is
  // at least one full pass plus compaction: 2 * (13 + 3).
  for (int i = 0; i < 200; ++i)
    buf(Buffer::Act)[i] = float((i * 37) % 200);
  ASSERT_NO_ERR(exec("topk flags=2 s_buf=act n=200 k=50 seed=1"));
  ASSERT_NO_ERR(exec("topk flags=2 s_buf=act n=200 k=50 seed=1"));
  const TopkRecord &a = rep().topk[1], &b = rep().topk[2];
  EXPECT_GE(a.passes, 1u);
  EXPECT_GE(a.cycles, 32u);
  EXPECT_EQ(a.passes, b.passes); // same seed, same pivots
  EXPECT_EQ(a.cycles, b.cycles);
  // The 50 best of the scores (i*37)%200 are the values 150..199.
  for (int r = 0; r < 50; ++r)
    EXPECT_GE(buf(Buffer::Act)[idx()[r]], 150.0f);
}

TEST_F(OpsTest, TopkFieldErrors) {
  EXPECT_ERR(exec("topk s_buf=idx n=2 k=1"),
             "instruction 7 (topk): field 's_buf': must name an fp32 buffer");
  EXPECT_ERR(exec("topk flags=16 s_buf=act n=2 k=1"),
             "field 'flags': unknown bits 0x10");
  EXPECT_ERR(exec("topk s_buf=act n=2 k=2 out_off=4095"),
             "field 'out_off': 2 results at offset 4095 run past");
  EXPECT_ERR(exec("topk flags=2 s_buf=act s_off=65535 n=2 k=1"),
             "field 's_off': 2 scores at offset 65535 run past");
  idx()[0] = -1;
  EXPECT_ERR(exec("topk flags=1 s_buf=act n=1 k=1"),
             "field 'in_off': candidate -1 (entry 0) is negative");
}

//===----------------------------------------------------------------------===//
// Fixed-point DMA
//===----------------------------------------------------------------------===//

TEST_F(OpsTest, FullPlaneStoreAndLoad4Bit) {
  // x = 0.75 -1.75 0.375 0.625: max 1.75, qmax 7, s = 0.25;
  // q = 3 -7 rint(1.5)=2 rint(2.5)=2 (half to even).
  // Codes 0011 1001 0010 0010, LSB first: bytes 0x93 0x22.
  std::vector<float> x = {0.75f, -1.75f, 0.375f, 0.625f};
  std::copy(x.begin(), x.end(), buf(Buffer::Act).begin());
  ASSERT_NO_ERR(exec("store tensor_class=k_msb dtype=f32 bits=4 "
                     "dram_addr=256 dram_stride=8 sram_buf=act rows=1 cols=4 "
                     "layer=3"));
  EXPECT_EQ(peekF(256), 0.25f);
  EXPECT_EQ(peek(260, 2), (std::vector<uint8_t>{0x93, 0x22}));
  EXPECT_EQ(rep().dramWritten[unsigned(TensorClass::KMsb)], 6u); // 4 + 2
  EXPECT_EQ(layer(2).dramWritten[unsigned(TensorClass::KMsb)], 6u);
  ASSERT_NO_ERR(exec("load tensor_class=k dtype=f32 bits=4 dram_addr=256 "
                     "dram_stride=8 sram_buf=k sram_off=8 rows=1 cols=4"));
  std::vector<float> want = {0.75f, -1.75f, 0.5f, 0.5f};
  for (int c = 0; c < 4; ++c)
    EXPECT_EQ(buf(Buffer::K)[8 + c], want[c]) << c;
  EXPECT_EQ(rep().dramRead[unsigned(TensorClass::K)], 6u);
  // Cycles: 100 + ceil(6 / 512).
  EXPECT_EQ(rep().instrCycles.back(), 101u);
}

TEST_F(OpsTest, ZeroRowQuantizesToZeroScale) {
  ASSERT_NO_ERR(exec("store tensor_class=k dtype=f32 bits=8 dram_addr=64 "
                     "sram_buf=act rows=1 cols=3"));
  EXPECT_EQ(peekF(64), 0.0f);
  EXPECT_EQ(peek(68, 3), (std::vector<uint8_t>{0, 0, 0}));
}

/// The 6+4-style split worked by hand at bits=6, lsb_bits=2 (qmax 31):
/// x = 15.5 -15.5 2.5 -3 0, s = 0.5, q = 31 -31 5 -6 0;
/// m = floor(q/4) = 7 -8 1 -2 0, r = q - 4m = 3 1 1 2 0.
/// MSB codes (4 bits) 0111 1000 0001 1110 0000: bytes 0x87 0xE1 0x00.
/// LSB codes (2 bits) 11 01 01 10 00: bytes 0x97 0x00.
class PlaneTest : public OpsTest {
protected:
  void SetUp() override {
    OpsTest::SetUp();
    std::vector<float> x = {15.5f, -15.5f, 2.5f, -3.0f, 0.0f};
    std::copy(x.begin(), x.end(), buf(Buffer::Act).begin());
  }
  static constexpr const char *kPlanes =
      " dtype=f32 bits=6 lsb_bits=2 sram_buf=act rows=1 cols=5";
};

TEST_F(PlaneTest, StoreWritesBothPlanes) {
  ASSERT_NO_ERR(exec(std::string("store tensor_class=k_msb plane=msb "
                                 "dram_addr=256") + kPlanes));
  ASSERT_NO_ERR(exec(std::string("store tensor_class=k_lsb plane=lsb "
                                 "dram_addr=512") + kPlanes));
  EXPECT_EQ(peekF(256), 0.5f);
  EXPECT_EQ(peek(260, 3), (std::vector<uint8_t>{0x87, 0xE1, 0x00}));
  EXPECT_EQ(peek(512, 2), (std::vector<uint8_t>{0x97, 0x00}));
  EXPECT_EQ(rep().dramWritten[unsigned(TensorClass::KMsb)], 7u); // 4 + 3
  EXPECT_EQ(rep().dramWritten[unsigned(TensorClass::KLsb)], 2u);
}

TEST_F(PlaneTest, MsbLoadGivesMidpointsAndLsbLoadCompletes) {
  ASSERT_NO_ERR(exec(std::string("store tensor_class=k_msb plane=msb "
                                 "dram_addr=256") + kPlanes));
  ASSERT_NO_ERR(exec(std::string("store tensor_class=k_lsb plane=lsb "
                                 "dram_addr=512") + kPlanes));
  // MSB-only: (4m + 2) * 0.5 = 15 -15 3 -3 1.
  ASSERT_NO_ERR(exec("load tensor_class=k_msb plane=msb dram_addr=256 "
                     "dtype=f32 bits=6 lsb_bits=2 sram_buf=k rows=1 cols=5 "
                     "layer=1"));
  std::vector<float> msb = {15, -15, 3, -3, 1};
  for (int c = 0; c < 5; ++c)
    EXPECT_EQ(buf(Buffer::K)[c], msb[c]) << c;
  // Full: q * 0.5 = the original row.
  ASSERT_NO_ERR(exec("load tensor_class=k_lsb plane=lsb dram_addr=512 "
                     "dtype=f32 bits=6 lsb_bits=2 sram_buf=k rows=1 cols=5 "
                     "layer=1"));
  std::vector<float> full = {15.5f, -15.5f, 2.5f, -3.0f, 0.0f};
  for (int c = 0; c < 5; ++c)
    EXPECT_EQ(buf(Buffer::K)[c], full[c]) << c;
  EXPECT_EQ(layer(0).dramRead[unsigned(TensorClass::KMsb)], 7u);
  EXPECT_EQ(layer(0).dramRead[unsigned(TensorClass::KLsb)], 2u);
  EXPECT_EQ(layer(0).refetchedRows, 1u);
}

TEST_F(PlaneTest, GatherAndScatterMoveQuantizedRows) {
  // Scatter the row as MSB plane to DRAM row 3 (stride 8), gather it back.
  idx()[0] = 3;
  ASSERT_NO_ERR(exec(std::string("scatter tensor_class=k_msb plane=msb "
                                 "dram_addr=256 dram_stride=8") + kPlanes));
  EXPECT_EQ(peekF(256 + 24), 0.5f);
  EXPECT_EQ(peek(256 + 28, 3), (std::vector<uint8_t>{0x87, 0xE1, 0x00}));
  ASSERT_NO_ERR(exec("gather tensor_class=k_msb plane=msb dram_addr=256 "
                     "dram_stride=8 dtype=f32 bits=6 lsb_bits=2 sram_buf=k "
                     "rows=1 cols=5"));
  EXPECT_EQ(buf(Buffer::K)[0], 15.0f);
  EXPECT_EQ(buf(Buffer::K)[3], -3.0f);
  EXPECT_EQ(rep().dramRead[unsigned(TensorClass::KMsb)], 7u);
}

TEST_F(PlaneTest, LsbLoadNeedsTheMsbRowInSram) {
  EXPECT_ERR(exec("load tensor_class=k_lsb plane=lsb dram_addr=512 dtype=f32 "
                  "bits=6 lsb_bits=2 sram_buf=k rows=1 cols=5"),
             "field 'plane': LSB row 0, col 0: k element 0 holds no "
             "MSB-plane value with lsb_bits=2");
  ASSERT_NO_ERR(exec("load tensor_class=k_msb plane=msb dram_addr=256 "
                     "dtype=f32 bits=6 lsb_bits=2 sram_buf=k rows=1 cols=5"));
  // Any other write to the element forgets the MSB code.
  ASSERT_NO_ERR(exec("vec func=copy x_buf=act z_buf=k rows=1 cols=1"));
  EXPECT_ERR(exec("load tensor_class=k_lsb plane=lsb dram_addr=512 dtype=f32 "
                  "bits=6 lsb_bits=2 sram_buf=k rows=1 cols=5"),
             "k element 0 holds no MSB-plane value");
}

TEST_F(OpsTest, QuantizedDmaFieldErrors) {
  EXPECT_ERR(exec("load tensor_class=k dtype=i64 bits=8 sram_buf=k rows=1 "
                  "cols=1"),
             "field 'dtype': fixed-point data needs dtype f32");
  EXPECT_ERR(exec("load tensor_class=index dtype=f32 bits=8 sram_buf=idx "
                  "rows=1 cols=1"),
             "field 'sram_buf': fixed-point data cannot use the idx buffer");
  EXPECT_ERR(exec("load tensor_class=k_msb dtype=f32 bits=8 plane=msb "
                  "sram_buf=k rows=1 cols=1"),
             "field 'lsb_bits': 0 must be in 1..7");
  EXPECT_ERR(exec("load tensor_class=k dtype=f32 bits=8 lsb_bits=2 "
                  "sram_buf=k rows=1 cols=1"),
             "field 'lsb_bits': must be 0 for the full plane");
  EXPECT_ERR(exec("load tensor_class=k dtype=f32 bits=32 plane=msb "
                  "sram_buf=k rows=1 cols=1"),
             "field 'plane': must be 0 for 32-bit");
  EXPECT_ERR(exec("load tensor_class=k dtype=f32 bits=8 plane=3 "
                  "sram_buf=k rows=1 cols=1"),
             "field 'plane': 3 is not a plane");
  pokeF(0, -1.0f);
  EXPECT_ERR(exec("load tensor_class=k dtype=f32 bits=8 sram_buf=k rows=1 "
                  "cols=1"),
             "field 'dram_addr': row 0: scale -1 is not a finite");
  buf(Buffer::Act)[0] = INFINITY;
  EXPECT_ERR(exec("store tensor_class=k dtype=f32 bits=8 sram_buf=act rows=1 "
                  "cols=1"),
             "row 0, col 0: inf cannot be quantized");
}

TEST_F(OpsTest, PredicatedDmaIsSkippedWithoutAnUnconfidentRow) {
  pokeF(0, 5.0f);
  ASSERT_NO_ERR(exec("load tensor_class=k_lsb dtype=f32 bits=32 pred=1 "
                     "dram_addr=0 sram_buf=k rows=1 cols=1 layer=1"));
  EXPECT_EQ(buf(Buffer::K)[0], 0.0f);
  EXPECT_EQ(rep().dramRead[unsigned(TensorClass::KLsb)], 0u);
  EXPECT_EQ(rep().instrCycles.back(), 0u);
  EXPECT_TRUE(rep().layers.empty()); // nothing moved, nothing attributed
}

TEST_F(OpsTest, PeriodicGatherTakesTheSameHeadsFromEveryRow) {
  // A [2 tokens, 3 heads x 1] activation at 0: token 0 = (10 11 12), token
  // 1 = (20 21 22), 12 bytes per token. Kept heads 2, 0: rows r = 0..3 read
  // entry r % 2 of the list, token r / 2: 12 10 22 20.
  for (int t = 0; t < 2; ++t)
    for (int h = 0; h < 3; ++h)
      pokeF(uint64_t(4 * (3 * t + h)), float(10 * (t + 1) + h));
  idx()[4] = 2, idx()[5] = 0;
  ASSERT_NO_ERR(exec("gather tensor_class=activations dtype=f32 bits=32 "
                     "dram_addr=0 dram_stride=4 sram_buf=act sram_stride=1 "
                     "rows=4 cols=1 idx_off=4 idx_period=2 period_stride=12"));
  std::vector<float> want = {12, 10, 22, 20};
  for (int r = 0; r < 4; ++r)
    EXPECT_EQ(buf(Buffer::Act)[r], want[r]) << r;
  EXPECT_EQ(rep().dramRead[unsigned(TensorClass::Activation)], 16u);
  // Only the period's entries are read: entries 4 and 5 must exist.
  EXPECT_ERR(exec("gather tensor_class=activations dtype=f32 bits=32 "
                  "dram_addr=0 dram_stride=4 sram_buf=act sram_stride=1 "
                  "rows=4 cols=1 idx_off=16383 idx_period=2 period_stride=12"),
             "field 'idx_off': 2 indices at offset 16383 run past the idx "
             "buffer");
}

TEST_F(OpsTest, ScatterWritesRowsAtIndexedPositions) {
  // SRAM rows (1 2) and (3 4) go to DRAM rows 2 and 0 (8 bytes apart).
  std::vector<float> x = {1, 2, 3, 4};
  std::copy(x.begin(), x.end(), buf(Buffer::Acc).begin());
  idx()[5] = 2, idx()[6] = 0;
  ASSERT_NO_ERR(exec("scatter tensor_class=activations dtype=f32 bits=32 "
                     "dram_addr=128 dram_stride=8 sram_buf=acc sram_stride=2 "
                     "rows=2 cols=2 idx_off=5 layer=1"));
  EXPECT_EQ(peekF(128 + 16), 1.0f);
  EXPECT_EQ(peekF(128 + 20), 2.0f);
  EXPECT_EQ(peekF(128), 3.0f);
  EXPECT_EQ(peekF(132), 4.0f);
  EXPECT_EQ(peekF(136), 0.0f); // row 1 untouched
  EXPECT_EQ(layer(0).dramWritten[unsigned(TensorClass::Activation)], 16u);
  idx()[6] = -1;
  EXPECT_ERR(exec("scatter tensor_class=activations dtype=f32 bits=32 "
                  "dram_addr=128 dram_stride=8 sram_buf=acc sram_stride=2 "
                  "rows=2 cols=2 idx_off=5"),
             "instruction 7 (scatter): field 'idx_off': index -1 (entry 6) is "
             "negative");
}

//===----------------------------------------------------------------------===//
// ATTN extensions
//===----------------------------------------------------------------------===//

TEST_F(OpsTest, LocalValuePruningAndHeadImportance) {
  // q = 0, so the additive per-row mask alone sets the scores:
  // row 0 log(1 2 3 4) -> P = 0.1 0.2 0.3 0.4, vk=2 keeps keys 3, 2;
  // row 1 log(4 1 1 3) -> P = 4/9 1/9 1/9 3/9, keeps keys 0, 3.
  // V is the identity (d = 4), so O = the kept probabilities.
  std::vector<float> m = {0, std::log(2.0f), std::log(3.0f), std::log(4.0f),
                          std::log(4.0f), 0, 0, std::log(3.0f)};
  std::copy(m.begin(), m.end(), buf(Buffer::Mask).begin());
  for (int j = 0; j < 4; ++j)
    buf(Buffer::V)[j * 4 + j] = 1;
  ASSERT_NO_ERR(exec("attn mask_kind=padding flags=5 q_buf=q q_stride=4 "
                     "k_buf=k k_stride=4 v_buf=v v_stride=4 o_buf=acc "
                     "o_stride=4 mask_buf=mask mask_stride=4 lq=2 lk=4 d=4 "
                     "scale=1 imp_buf=act imp_off=10 vk=2 head_imp_buf=wgt "
                     "head_imp_off=3 layer=2"));
  std::vector<double> o = {0, 0, 0.3, 0.4, 4 / 9.0, 0, 0, 3 / 9.0};
  for (int e = 0; e < 8; ++e)
    EXPECT_NEAR(buf(Buffer::Acc)[e], o[e], 1e-6) << e;
  // Importance uses the probabilities before pruning.
  std::vector<double> imp = {0.1 + 4 / 9.0, 0.2 + 1 / 9.0, 0.3 + 1 / 9.0,
                             0.4 + 3 / 9.0};
  for (int j = 0; j < 4; ++j)
    EXPECT_NEAR(buf(Buffer::Act)[10 + j], imp[j], 1e-6) << j;
  // Head importance: sum |O| = 0.7 + 7/9.
  EXPECT_NEAR(buf(Buffer::Wgt)[3], 0.7 + 7 / 9.0, 1e-6);
  // V rows kept by some row: {3, 2, 0}.
  EXPECT_EQ(layer(1).vRowsKept, 3u);
  EXPECT_EQ(layer(1).keptTokens, 4u);
  EXPECT_EQ(layer(1).keptHeads, 1u);
  EXPECT_FALSE(layer(1).unconfidentRows.has_value());
}

TEST_F(OpsTest, ValuePruningTiesKeepTheEarliestKeys) {
  for (int j = 0; j < 4; ++j)
    buf(Buffer::V)[j * 4 + j] = 1;
  ASSERT_NO_ERR(exec("attn q_buf=q q_stride=4 k_buf=k k_stride=4 v_buf=v "
                     "v_stride=4 o_buf=acc o_stride=4 lq=1 lk=4 d=4 scale=1 "
                     "vk=2"));
  std::vector<float> o = {0.25f, 0.25f, 0, 0};
  for (int e = 0; e < 4; ++e)
    EXPECT_EQ(buf(Buffer::Acc)[e], o[e]) << e;
}

/// Progressive quantization, lk = 2 keys of width 1, bits 6 = 4 + 2:
/// k0 = 31 s, k1 = -31 s with s = 0.1 (codes q = 31, -31; m = 7, -8;
/// r = 3, 1). MSB-only keys: 30 s, -30 s. Query rows 1 and 0.1:
/// row 0 scores +-3 -> max P = sigmoid(6) ~ 0.9975 (confident at 0.7);
/// row 1 scores +-0.3 -> max P = sigmoid(0.6) ~ 0.646 (unconfident).
/// V = (1, 0), so O[i] = P[i, 0].
class PqTest : public OpsTest {
protected:
  void SetUp() override {
    OpsTest::SetUp();
    s = 0.1f;
    for (int j = 0; j < 2; ++j) {
      pokeF(256 + 8 * j, s);
      poke(260 + 8 * j, {uint8_t(j == 0 ? 0x07 : 0x08)}); // m = 7, -8
      poke(512 + j, {uint8_t(j == 0 ? 0x03 : 0x01)});     // r = 3, 1
    }
    buf(Buffer::Q)[0] = 1, buf(Buffer::Q)[1] = 0.1f;
    buf(Buffer::V)[0] = 1;
  }
  llvm::Error loadMsb() {
    return exec("load tensor_class=k_msb plane=msb dtype=f32 bits=6 "
                "lsb_bits=2 dram_addr=256 dram_stride=8 sram_buf=k "
                "sram_stride=1 rows=2 cols=1 layer=1");
  }
  llvm::Error loadLsb() {
    return exec("load tensor_class=k_lsb plane=lsb pred=1 dtype=f32 bits=6 "
                "lsb_bits=2 dram_addr=512 dram_stride=1 sram_buf=k "
                "sram_stride=1 rows=2 cols=1 layer=1");
  }
  llvm::Error attn(const std::string &mode, float threshold) {
    return exec("attn phase=" + mode + " pq_threshold=" +
                std::to_string(threshold) +
                " q_buf=q q_stride=1 k_buf=k k_stride=1 v_buf=v v_stride=1 "
                "o_buf=acc o_stride=1 lq=2 lk=2 d=1 scale=1 layer=1");
  }
  static double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
  float s;
};

TEST_F(PqTest, UnconfidentRowsRefetchAndRecompute) {
  ASSERT_NO_ERR(loadMsb());
  EXPECT_EQ(buf(Buffer::K)[0], 30 * s);
  ASSERT_NO_ERR(attn("decide", 0.7f));
  EXPECT_EQ(buf(Buffer::Acc)[0], 0.0f); // a decide writes no output
  ASSERT_NO_ERR(loadLsb());
  EXPECT_EQ(buf(Buffer::K)[0], 31 * s);
  EXPECT_EQ(buf(Buffer::K)[1], -31 * s);
  ASSERT_NO_ERR(attn("finish", 0));
  float msb = 30 * s, full = 31 * s;
  // Row 0 keeps its MSB-only probability; row 1 is recomputed.
  EXPECT_NEAR(buf(Buffer::Acc)[0], sigmoid(2.0 * msb), 1e-6);
  EXPECT_NEAR(buf(Buffer::Acc)[1], sigmoid(2.0 * 0.1f * full), 1e-6);
  const LayerCounters &l = layer(0);
  EXPECT_EQ(l.unconfidentRows, 1u);
  EXPECT_EQ(l.refetchedRows, 2u);
  EXPECT_EQ(l.keptHeads, 1u);
  EXPECT_EQ(l.keptTokens, 2u);
  // K-MSB: 2 rows x (4 + 1) bytes; K-LSB: 2 refetched rows x 1 byte.
  EXPECT_EQ(l.dramRead[unsigned(TensorClass::KMsb)], 10u);
  EXPECT_EQ(l.dramRead[unsigned(TensorClass::KLsb)], 2u);
  // finish charges Q*K + softmax for the 1 recomputed row only:
  // ceil(1*2*1/512) + ceil(2/8) + ceil(2*2*1/512) = 3.
  EXPECT_EQ(rep().instrCycles.back(), 3u);
}

TEST_F(PqTest, ConfidentHeadSkipsTheLsbFetch) {
  ASSERT_NO_ERR(loadMsb());
  ASSERT_NO_ERR(attn("decide", 0.1f));
  ASSERT_NO_ERR(loadLsb());
  EXPECT_EQ(buf(Buffer::K)[0], 30 * s); // still MSB-only
  ASSERT_NO_ERR(attn("finish", 0));
  EXPECT_NEAR(buf(Buffer::Acc)[1], sigmoid(2.0 * 0.1f * 30 * s), 1e-6);
  EXPECT_EQ(layer(0).unconfidentRows, 0u);
  EXPECT_EQ(layer(0).refetchedRows, 0u); // reported, not null
  EXPECT_EQ(layer(0).dramRead[unsigned(TensorClass::KLsb)], 0u);
}

/// The whole idiom: decide -> K LSB refetch (pred=1) -> finish with
/// DeferValues and vk=1 -> V rows in the value-row mask (pred=2) -> values.
/// With vk = 1 both query rows keep key 0 (P[i,0] > 1/2), so V row 1 is
/// never fetched; its SRAM row holds NaN and O is still P[i,0].
TEST_F(PqTest, FinishCanDeferValuesToThePrunedFetch) {
  pokeF(768, 1.0f);
  pokeF(772, 0.0f);
  buf(Buffer::V)[0] = NAN, buf(Buffer::V)[1] = NAN;
  ASSERT_NO_ERR(loadMsb());
  ASSERT_NO_ERR(attn("decide", 0.7f));
  ASSERT_NO_ERR(loadLsb());
  std::string ops = " q_buf=q q_stride=1 k_buf=k k_stride=1 v_buf=v "
                    "v_stride=1 o_buf=acc o_stride=1 lq=2 lk=2 d=1 scale=1 "
                    "layer=1";
  ASSERT_NO_ERR(exec("attn phase=finish flags=8 vk=1" + ops));
  // Q*K and softmax for the 1 recomputed row, no prob*V: 1 + 1.
  EXPECT_EQ(rep().instrCycles.back(), 2u);
  ASSERT_NO_ERR(exec("load tensor_class=v dtype=f32 bits=32 pred=2 "
                     "dram_addr=768 dram_stride=4 sram_buf=v sram_stride=1 "
                     "rows=2 cols=1 layer=1"));
  EXPECT_EQ(buf(Buffer::V)[0], 1.0f);
  EXPECT_TRUE(std::isnan(buf(Buffer::V)[1]));
  ASSERT_NO_ERR(exec("attn phase=values" + ops));
  EXPECT_EQ(rep().instrCycles.back(), 1u);
  float msb = 30 * s, full = 31 * s;
  EXPECT_NEAR(buf(Buffer::Acc)[0], sigmoid(2.0 * msb), 1e-6);
  EXPECT_NEAR(buf(Buffer::Acc)[1], sigmoid(2.0 * 0.1f * full), 1e-6);
  const LayerCounters &l = layer(0);
  EXPECT_EQ(l.dramRead[unsigned(TensorClass::V)], 4u); // 1 of 2 rows
  EXPECT_EQ(l.vRowsKept, 1u);
  EXPECT_EQ(l.keptHeads, 1u);
  EXPECT_EQ(l.refetchedRows, 2u);
}

TEST_F(PqTest, FinishNeedsAMatchingDecide) {
  EXPECT_ERR(attn("finish", 0),
             "instruction 7 (attn): field 'phase': finish of 2 x 2 scores "
             "without a pending decide of that shape");
  ASSERT_NO_ERR(loadMsb());
  EXPECT_ERR(attn("decide", NAN), "field 'pq_threshold': is not a finite");
}

TEST_F(OpsTest, TopkRecordsLayerRoleAndSelection) {
  // Scores by position 0.5 2 2 -1 3 0.1 over candidates 10..15: the three
  // best are positions 4, 1, 2; selected in list order: 11 12 14.
  for (int i = 0; i < 6; ++i)
    idx()[i] = 10 + i;
  std::vector<float> s = {0.5f, 2, 2, -1, 3, 0.1f};
  std::copy(s.begin(), s.end(), buf(Buffer::Acc).begin());
  ASSERT_NO_ERR(exec("topk role=tokens s_buf=acc n=6 k=3 out_off=8 layer=3"));
  ASSERT_NO_ERR(exec("topk role=heads flags=2 s_buf=acc n=6 k=2 out_off=20"));
  const TopkRecord &t = rep().topk[0], &h = rep().topk[1];
  EXPECT_EQ(t.layer, 2u);
  EXPECT_EQ(t.role, TopkRole::Tokens);
  EXPECT_EQ(t.selected, (std::vector<int32_t>{11, 12, 14}));
  EXPECT_FALSE(h.layer.has_value());
  EXPECT_EQ(h.role, TopkRole::Heads);
  EXPECT_EQ(h.selected, (std::vector<int32_t>{1, 4}));
  std::string text;
  llvm::raw_string_ostream(text) << rep().toJSON(HardwareConfig());
  EXPECT_NE(text.find("\"layer\":2,\"n\":6,\"passes\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("\"role\":\"tokens\",\"selected\":[11,12,14]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"layer\":null"), std::string::npos) << text;
  EXPECT_NE(text.find("\"role\":\"heads\",\"selected\":[1,4]"),
            std::string::npos)
      << text;
  EXPECT_ERR(exec("topk role=3 s_buf=acc n=2 k=1"),
             "instruction 7 (topk): field 'role': 3 is not a role");
}

TEST_F(OpsTest, ReportJsonHasPerLayerCounters) {
  ASSERT_NO_ERR(exec("topk flags=2 s_buf=act n=4 k=2 layer=2"));
  llvm::json::Value v = rep().toJSON(HardwareConfig());
  std::string text;
  llvm::raw_string_ostream(text) << v;
  EXPECT_NE(text.find("\"layer\":1"), std::string::npos) << text;
  EXPECT_NE(text.find("\"kept_tokens\":null"), std::string::npos) << text;
  EXPECT_NE(text.find("\"topk\":[{"), std::string::npos) << text;
}

} // namespace

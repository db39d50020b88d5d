//===- SimAttentionTest.cpp - ATTN against hand results -------------------===//
//
// Each instruction runs on a fresh simulator whose SRAM/DRAM the test fills
// directly; expected values are computed here by plain loops in double, an
// implementation independent of the simulator's Eigen code.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Simulator.h"

#include "SimTestUtil.h"
#include "TestUtil.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;
using spatten::test::haltImage;
using spatten::test::SimTest;

namespace {

//===----------------------------------------------------------------------===//
// ATTN
//===----------------------------------------------------------------------===//

class AttnTest : public SimTest {
protected:
  static constexpr int lq = 3, lk = 4, d = 2;
  void SetUp() override {
    SimTest::SetUp();
    for (int i = 0; i < lq * d; ++i)
      q.push_back(std::sin(1.3f * i));
    for (int i = 0; i < lk * d; ++i) {
      k.push_back(std::cos(0.7f * i));
      v.push_back(0.25f * i - 1);
    }
    fill(Buffer::Q, 0, d, lq, d, q);
    fill(Buffer::K, 0, d, lk, d, k);
    fill(Buffer::V, 0, d, lk, d, v);
  }
  /// softmax(scale*QK^T + bias) V with keys j > i + causalOff hidden.
  std::vector<double> reference(float scale, const std::vector<float> &bias,
                                int causalOff, std::vector<double> *colSums) {
    std::vector<double> o(lq * d, 0.0);
    for (int i = 0; i < lq; ++i) {
      std::vector<double> s(lk);
      double mx = -INFINITY;
      for (int j = 0; j < lk; ++j) {
        double dot = 0;
        for (int t = 0; t < d; ++t)
          dot += double(q[i * d + t]) * k[j * d + t];
        s[j] = scale * dot + (bias.empty() ? 0 : bias[i * lk + j]);
        if (causalOff >= 0 && j > i + causalOff)
          s[j] = -INFINITY;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (double &x : s)
        sum += (x = std::exp(x - mx));
      for (int j = 0; j < lk; ++j) {
        s[j] /= sum;
        if (colSums)
          (*colSums)[j] += s[j];
        for (int t = 0; t < d; ++t)
          o[i * d + t] += s[j] * v[j * d + t];
      }
    }
    return o;
  }
  void expectOutput(const std::vector<double> &ref) {
    for (int i = 0; i < lq * d; ++i)
      EXPECT_NEAR(buf(Buffer::Act)[i], ref[i], 1e-6) << "element " << i;
  }
  std::string ops(const std::string &extra) {
    return "attn q_buf=q q_stride=2 k_buf=k k_stride=2 v_buf=v v_stride=2 "
           "o_buf=act o_stride=2 mask_buf=mask lq=3 lk=4 d=2 " + extra;
  }
  std::vector<float> q, k, v;
};

TEST_F(AttnTest, NoMask) {
  ASSERT_NO_ERR(exec(ops("mask_kind=none scale=0.5")));
  expectOutput(reference(0.5f, {}, -1, nullptr));
}

TEST_F(AttnTest, PaddingAddsOnePerKeyRowToEveryQuery) {
  std::vector<float> row = {0, -10000, 0.5f, 0};
  fill(Buffer::Mask, 8, 0, 1, lk, row);
  std::vector<float> bias;
  for (int i = 0; i < lq; ++i)
    bias.insert(bias.end(), row.begin(), row.end());
  // mask_stride 0: every query row reads the same per-key row.
  ASSERT_NO_ERR(exec(ops("mask_kind=padding mask_off=8 mask_stride=0 scale=1")));
  expectOutput(reference(1.0f, bias, -1, nullptr));
}

TEST_F(AttnTest, PaddingWithStrideReadsOneRowPerQuery) {
  std::vector<float> rows = {0, -10000, 0.5f, 0,  //
                             1, 0, 0, -2,         //
                             0, 0, 0, 0};
  fill(Buffer::Mask, 0, lk, lq, lk, rows);
  ASSERT_NO_ERR(exec(ops("mask_kind=padding mask_stride=4 scale=1")));
  expectOutput(reference(1.0f, rows, -1, nullptr));
}

TEST_F(AttnTest, SelectorMaskKeepsOrFillsScores) {
  std::vector<float> sel = {1, 0, 1, 1,  //
                            1, 1, 0, 0,  //
                            1, 1, 1, 1};
  fill(Buffer::Mask, 0, lk, lq, lk, sel);
  ASSERT_NO_ERR(exec(ops("mask_kind=padding mask_stride=4 flags=2 "
                         "mask_fill=-10000 scale=0.5")));
  // s*m + fill*(1-m) equals the additive form s + (m ? 0 : fill - s); with
  // fill = -1e4 a masked key's weight is exp(-1e4 - max) = 0 either way, so
  // compare with the additive bias whose masked entries are -inf.
  std::vector<float> bias;
  for (float m : sel)
    bias.push_back(m ? 0.0f : -INFINITY);
  expectOutput(reference(0.5f, bias, -1, nullptr));
  EXPECT_ERR(exec(ops("mask_kind=padding mask_stride=4 flags=2 "
                      "mask_fill=inf scale=0.5")),
             "field 'mask_fill': is not a finite fp32 value");
}

TEST_F(AttnTest, CausalWithOffset) {
  ASSERT_NO_ERR(exec(ops("mask_kind=causal scale=0.7")));
  expectOutput(reference(0.7f, {}, 0, nullptr));
  // The first query sees only key 0, so it copies V row 0.
  EXPECT_FLOAT_EQ(buf(Buffer::Act)[0], v[0]);
  ASSERT_NO_ERR(exec(ops("mask_kind=causal causal_offset=1 scale=0.7")));
  expectOutput(reference(0.7f, {}, 1, nullptr));
}

TEST_F(AttnTest, PaddingAndCausal) {
  std::vector<float> row = {0, 0, -3, 0};
  fill(Buffer::Mask, 0, 0, 1, lk, row);
  ASSERT_NO_ERR(exec(ops("mask_kind=padding_causal causal_offset=1 scale=1")));
  std::vector<float> bias;
  for (int i = 0; i < lq; ++i)
    bias.insert(bias.end(), row.begin(), row.end());
  expectOutput(reference(1.0f, bias, 1, nullptr));
}

TEST_F(AttnTest, LeftPaddedRowSpreadsOverEveryKey) {
  // Keys 0 and 1 padded with finfo.min: query 0 (causal offset 0) sees only
  // key 0, so every score of its row is the lowest fp32, as in a
  // transformers graph, and it averages all four V rows; query 2 sees key 2,
  // so its later key 3 gets nothing.
  float lowest = std::numeric_limits<float>::lowest();
  std::vector<float> row = {lowest, lowest, 0, 0};
  fill(Buffer::Mask, 0, 0, 1, lk, row);
  ASSERT_NO_ERR(exec(ops("mask_kind=padding_causal scale=1")));
  for (int t = 0; t < d; ++t) {
    double mean = (v[t] + v[d + t] + v[2 * d + t] + v[3 * d + t]) / 4.0;
    EXPECT_NEAR(buf(Buffer::Act)[t], mean, 1e-6);
  }
  std::vector<float> bias;
  for (int i = 0; i < lq; ++i)
    bias.insert(bias.end(), row.begin(), row.end());
  std::vector<double> want = reference(1.0f, bias, 0, nullptr);
  for (int i = 2 * d; i < lq * d; ++i)
    EXPECT_NEAR(buf(Buffer::Act)[i], want[i], 1e-6);
}

TEST_F(AttnTest, ImportanceAccumulatesColumnSums) {
  buf(Buffer::Acc)[100] = 1.0f;
  ASSERT_NO_ERR(exec(ops("mask_kind=none flags=1 imp_buf=acc imp_off=100 "
                         "scale=1")));
  std::vector<double> sums(lk, 0.0);
  expectOutput(reference(1.0f, {}, -1, &sums));
  for (int j = 0; j < lk; ++j)
    EXPECT_NEAR(buf(Buffer::Acc)[100 + j], sums[j] + (j == 0 ? 1 : 0), 1e-6);
}

TEST_F(AttnTest, FullyMaskedRowGivesZeros) {
  std::vector<float> row(lk, -INFINITY);
  fill(Buffer::Mask, 0, 0, 1, lk, row);
  ASSERT_NO_ERR(exec(ops("mask_kind=padding scale=1")));
  for (int i = 0; i < lq * d; ++i)
    EXPECT_EQ(buf(Buffer::Act)[i], 0.0f);
}

TEST_F(AttnTest, FieldErrors) {
  EXPECT_ERR(exec(ops("scale=inf")), "instruction 7 (attn): field 'scale'");
  EXPECT_ERR(exec(ops("flags=48 scale=1")),
             "field 'flags': FillStats (0x10) and FillApply (0x20) are "
             "separate passes");
  EXPECT_ERR(exec(ops("flags=1 imp_buf=idx scale=1")),
             "field 'imp_buf': must name an fp32 buffer");
  EXPECT_ERR(exec("attn q_buf=q k_buf=k k_off=50175 v_buf=v o_buf=act lq=1 "
                  "lk=2 d=2 scale=1"),
             "field 'k_off'");
  EXPECT_ERR(exec(ops("mask_kind=padding mask_off=4094 scale=1")),
             "field 'mask_off'");
}

/// A key range split into two fills of two keys: a statistics pass over
/// each, then an apply pass over each, gives the output and importance of
/// one ATTN over all four keys. The second fill's causal offset is
/// negative (its keys lie past query row 0).
class AttnFillTest : public AttnTest {
protected:
  /// The ATTN over fill f (keys 2f, 2f+1) with `flags` and `extra`.
  llvm::Error pass(int f, int flags, int causal, const std::string &extra) {
    int off = causal - 2 * f;
    return exec(
        "attn q_buf=q q_stride=2 k_buf=k k_stride=2 v_buf=v v_stride=2 "
        "o_buf=act o_stride=2 mask_buf=mask lq=3 lk=2 d=2 scale=0.5 " +
        llvm::formatv("k_off={0} v_off={0} mask_off={1} imp_off={2} "
                      "causal_offset={3} flags={4} ",
                      4 * f, 8 + 2 * f, 100 + 2 * f, uint16_t(int16_t(off)),
                      flags)
            .str() +
        extra);
  }
};

TEST_F(AttnFillTest, TwoFillsEqualOneAttn) {
  std::vector<float> row = {0, -1, 0.5f, 0};
  fill(Buffer::Mask, 8, 0, 1, lk, row);
  std::vector<float> bias;
  for (int i = 0; i < lq; ++i)
    bias.insert(bias.end(), row.begin(), row.end());
  const std::string kind =
      "mask_kind=padding_causal mask_stride=0 imp_buf=acc head_imp_buf=wgt "
      "head_imp_off=3";
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillStats, 0, kind));
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f,
                       AttnFillApply | AttnAccumulateImportance |
                           (f == 1 ? AttnHeadImportance : 0),
                       0, kind));
  std::vector<double> sums(lk, 0.0);
  std::vector<double> ref = reference(0.5f, bias, 0, &sums);
  expectOutput(ref);
  double absSum = 0;
  for (double x : ref)
    absSum += std::fabs(x);
  for (int j = 0; j < lk; ++j)
    EXPECT_NEAR(buf(Buffer::Acc)[100 + j], sums[j], 1e-6) << "key " << j;
  EXPECT_NEAR(buf(Buffer::Wgt)[3], absSum, 1e-5);
  // A new statistics pass after the apply passes starts anew.
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillStats, 0, kind));
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillApply, 0, kind));
  expectOutput(ref);
}

/// The statistics pass runs Q*K; the apply pass Q*K again and prob*V:
/// over two fills of 2 keys, 3 rows of width 2 take 3 * 4 * 2 MACs per
/// statistics pass and twice that per apply pass, each key once through
/// softmax per pass.
TEST_F(AttnFillTest, CountsQKTwiceAndPVOnce) {
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillStats, 0, "mask_kind=causal"));
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillApply, 0, "mask_kind=causal"));
  EXPECT_EQ(sim->report().ops.attnMacs, uint64_t(2 * 12 + 2 * 24));
  EXPECT_EQ(sim->report().ops.softmaxOps, uint64_t(4 * 3 * 2));
}

TEST_F(AttnFillTest, Errors) {
  EXPECT_ERR(pass(0, AttnFillApply, 0, "mask_kind=causal"),
             "field 'flags': FillApply (0x20) without statistics");
  ASSERT_NO_ERR(pass(0, AttnFillStats, 0, "mask_kind=causal"));
  EXPECT_ERR(exec("attn q_buf=q k_buf=k k_stride=2 lq=2 lk=2 d=2 scale=1 "
                  "flags=16"),
             "field 'lq': statistics of 2 query rows continue statistics of 3");
  EXPECT_ERR(exec("attn q_buf=q k_buf=k k_stride=2 v_buf=v o_buf=act lq=2 "
                  "lk=2 d=2 scale=1 flags=32"),
             "field 'lq': apply pass of 2 query rows with statistics of 3");
  EXPECT_ERR(pass(0, AttnFillStats | AttnAccumulateImportance, 0, ""),
             "field 'flags': importance (0x1, 0x4) applies in the apply pass");
  EXPECT_ERR(pass(0, AttnFillStats, 0, "phase=finish"),
             "field 'phase': finish statistics without statistics passes in "
             "phase decide");
  EXPECT_ERR(pass(0, AttnFillStats | AttnDeferValues, 0, ""),
             "DeferValues (0x8) applies to an apply pass");
  EXPECT_ERR(pass(0, AttnFillApply, 0, "vk=1"),
             "field 'vk': local value pruning over several fills needs the "
             "scores of every statistics pass");
  EXPECT_ERR(pass(0, AttnFillApply, 0, "phase=decide"),
             "field 'phase': an apply pass in phase decide needs statistics "
             "passes in phase decide");
  ASSERT_NO_ERR(pass(0, AttnFillStats, 0, "phase=decide pq_threshold=2"));
  EXPECT_ERR(pass(0, AttnFillApply, 0, ""),
             "field 'phase': the finish statistics cover 0 of the 4 keys");
  ASSERT_NO_ERR(pass(0, AttnFillStats, 0, "phase=finish"));
  ASSERT_NO_ERR(pass(1, AttnFillStats, 0, "phase=finish"));
  EXPECT_ERR(pass(0, AttnFillStats, 0, "phase=finish"),
             "field 'lk': finish statistics over 6 keys exceed the 4 keys");
}

/// Local value pruning over two fills keeps, per row, the 3 largest
/// probabilities of all four keys: the output equals one ATTN with vk = 3,
/// directly (apply passes with V) or through `values` phases after apply
/// passes with DeferValues (FillApply adds the second fill's P V).
TEST_F(AttnFillTest, ValuePruningOverFillsEqualsOneAttn) {
  ASSERT_NO_ERR(exec(ops("mask_kind=none vk=3 scale=0.5")));
  std::vector<float> one(buf(Buffer::Act).begin(),
                         buf(Buffer::Act).begin() + lq * d);
  auto expectOne = [&] {
    for (int e = 0; e < lq * d; ++e)
      EXPECT_NEAR(buf(Buffer::Act)[e], one[e], 1e-6) << "element " << e;
  };
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillStats, 0, "mask_kind=none vk=3"));
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillApply, 0, "mask_kind=none vk=3"));
  expectOne();
  std::fill(buf(Buffer::Act).begin(), buf(Buffer::Act).begin() + lq * d, 0);
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillStats, 0, "mask_kind=none vk=3"));
  for (int f = 0; f < 2; ++f) {
    ASSERT_NO_ERR(pass(f, AttnFillApply | AttnDeferValues, 0,
                       "mask_kind=none vk=3"));
    ASSERT_NO_ERR(pass(f, f ? AttnFillApply : 0, 0, "phase=values"));
  }
  expectOne();
  // The first apply pass's selection runs the top-k engine over each row.
  EXPECT_GT(sim->report().ops.topkCompares, 0u);
}

/// Progressive quantization over two fills decides on the statistics: row
/// i's largest probability is 1 / l. A threshold above 1 marks every row
/// (the refetch is recorded at the first apply pass);
/// the keys are the same in both sweeps here, so the output is one ATTN's.
TEST_F(AttnFillTest, ProgressiveQuantizationDecidesOnTheStatistics) {
  ASSERT_NO_ERR(exec(ops("mask_kind=none scale=0.5")));
  std::vector<float> one(buf(Buffer::Act).begin(),
                         buf(Buffer::Act).begin() + lq * d);
  for (const char *threshold : {"0", "1.5"}) {
    SCOPED_TRACE(threshold);
    std::string t =
        std::string("mask_kind=none layer=1 pq_threshold=") + threshold;
    for (int f = 0; f < 2; ++f)
      ASSERT_NO_ERR(pass(f, AttnFillStats, 0, "phase=decide " + t));
    for (int f = 0; f < 2; ++f)
      ASSERT_NO_ERR(pass(f, AttnFillStats, 0, "phase=finish " + t));
    for (int f = 0; f < 2; ++f) {
      ASSERT_NO_ERR(pass(f, AttnFillApply, 0, "phase=decide " + t));
      ASSERT_NO_ERR(pass(f, AttnFillApply, 0, "phase=finish " + t));
    }
    for (int e = 0; e < lq * d; ++e)
      EXPECT_NEAR(buf(Buffer::Act)[e], one[e], 1e-6) << "element " << e;
  }
  const LayerCounters &l = sim->report().layers.front();
  EXPECT_EQ(l.refetchDecisions, (std::vector<bool>{false, true}));
  EXPECT_EQ(l.unconfidentRows, uint64_t(lq));
  // A later query tile of the last head (next_tile) merges its confident
  // decision into the head's refetching one instead of adding a head.
  std::string next = "mask_kind=none layer=1 next_tile=1 pq_threshold=0 ";
  for (int f = 0; f < 2; ++f)
    ASSERT_NO_ERR(pass(f, AttnFillStats, 0, next + "phase=decide"));
  ASSERT_NO_ERR(pass(0, AttnFillApply, 0, next + "phase=decide"));
  // No row is unconfident, so no finish statistics were needed.
  ASSERT_NO_ERR(pass(0, AttnFillApply, 0, next + "phase=finish"));
  EXPECT_EQ(sim->report().layers.front().refetchDecisions,
            (std::vector<bool>{false, true}));
}

/// Across query tiles the head decides first: decide statistics with
/// next_tile start the next tile's statistics and keep the predicate the
/// tiles before set; with head_decided they leave it as it stands. A
/// pred=1 load shows the predicate (its bytes move only while it is set).
TEST_F(AttnFillTest, DecideStatisticsAcrossQueryTiles) {
  // next_tile on the tile's first pass, head_decided on every pass.
  auto tile = [&](bool next, bool decided, const char *threshold) {
    std::string t = "mask_kind=none phase=decide pq_threshold=" +
                    std::string(threshold) +
                    (decided ? " head_decided=1 " : " ");
    for (int f = 0; f < 2; ++f)
      ASSERT_NO_ERR(
          pass(f, AttnFillStats, 0, t + (next && !f ? "next_tile=1" : "")));
  };
  auto predicateSet = [&] {
    uint64_t before = sim->report().dramRead[unsigned(TensorClass::V)];
    EXPECT_FALSE(exec("load tensor_class=v dtype=f32 bits=32 pred=1 "
                      "dram_addr=256 dram_stride=8 sram_buf=v sram_off=100 "
                      "sram_stride=2 rows=2 cols=2"));
    return sim->report().dramRead[unsigned(TensorClass::V)] > before;
  };
  tile(false, false, "0");
  EXPECT_FALSE(predicateSet());
  tile(true, false, "1.5"); // starts anew: no lq mismatch, sets it
  EXPECT_TRUE(predicateSet());
  tile(true, false, "0"); // keeps what the tile before set
  EXPECT_TRUE(predicateSet());
  tile(true, true, "0");
  EXPECT_TRUE(predicateSet());
  // The tile's apply passes, then a new head.
  ASSERT_NO_ERR(pass(0, AttnFillApply, 0, "mask_kind=none phase=decide"));
  tile(false, false, "0");
  EXPECT_FALSE(predicateSet());
  tile(true, true, "1.5"); // marks its rows only
  EXPECT_FALSE(predicateSet());
}

/// Token importance: each instruction's column sum is taken in double and
/// rounded once to fp32, then added to the score in fp32. Column 0 holds
/// P = 1 (row 0) and five P ~ 2.5e-8 (rows 1..5): summed in fp32 row by row
/// every 2.5e-8 is below half an ulp of 1 (5.96e-8) and is lost, while the
/// double sum 1 + 1.25e-7 rounds to the fp32 value above 1.
TEST_F(SimTest, ImportanceRoundsTheDoubleColumnSumOnce) {
  const int lq = 6;
  // q = k = 0: the additive mask rows alone set the scores.
  std::vector<float> mask = {20, 0};
  for (int i = 1; i < lq; ++i)
    mask.insert(mask.end(), {0, 17.5f});
  fill(Buffer::Mask, 0, 2, lq, 2, mask);
  fill(Buffer::V, 0, 2, 2, 2, {1, 0, 0, 1}); // V = I: O = P exactly
  buf(Buffer::Act)[0] = 0.5f, buf(Buffer::Act)[1] = 0.25f;
  ASSERT_NO_ERR(exec("attn mask_kind=padding flags=1 q_buf=q q_stride=2 "
                     "k_buf=k k_stride=2 v_buf=v v_stride=2 o_buf=acc "
                     "o_stride=2 mask_buf=mask mask_stride=2 lq=6 lk=2 d=2 "
                     "scale=1 imp_buf=act imp_off=0"));
  for (int j = 0; j < 2; ++j) {
    double exact = 0;
    float fp32 = 0;
    for (int i = 0; i < lq; ++i) {
      exact += buf(Buffer::Acc)[i * 2 + j];
      fp32 += buf(Buffer::Acc)[i * 2 + j];
    }
    float start = j == 0 ? 0.5f : 0.25f;
    EXPECT_EQ(buf(Buffer::Act)[j], start + float(exact)) << j;
    if (j == 0) // the case discriminates the two roundings
      EXPECT_NE(start + fp32, start + float(exact));
  }
  EXPECT_EQ(buf(Buffer::Acc)[0], 1.0f);
  EXPECT_EQ(buf(Buffer::Act)[0], 0.5f + 1.00000012f);
}

//===----------------------------------------------------------------------===//
// Deferred values: only the V rows kept by local value pruning are fetched
//===----------------------------------------------------------------------===//

/// q = 0, so the additive per-row mask sets the scores (lq = 2, lk = 4,
/// d = 2): row 0 log(1 2 3 4) gives P = 0.1 0.2 0.3 0.4 and vk = 2 keeps
/// keys 3, 2; row 1 log(4 1 1 3) gives P = 4/9 1/9 1/9 3/9 and keeps keys
/// 0, 3. Value-row mask: keys {0, 2, 3}; key 1 is kept by no row.
/// V in DRAM at 256, 8 bytes per row: (1 2) (3 4) (5 6) (7 8), so
/// O row 0 = 0.3 (5 6) + 0.4 (7 8) = (4.3 5.0) and
/// O row 1 = 4/9 (1 2) + 3/9 (7 8) = (25/9 32/9).
class DeferTest : public SimTest {
protected:
  void SetUp() override {
    SimTest::SetUp();
    std::vector<float> m = {0, std::log(2.0f), std::log(3.0f), std::log(4.0f),
                            std::log(4.0f), 0, 0, std::log(3.0f)};
    fill(Buffer::Mask, 0, 4, 2, 4, m);
    poke<float>(256, {1, 2, 3, 4, 5, 6, 7, 8});
  }
  /// The ATTN with `extra` fields; V at v_off `vOff`, O at acc `oOff`.
  std::string attn(const std::string &extra, int vOff = 100, int oOff = 0) {
    return "attn mask_kind=padding q_buf=q q_stride=2 k_buf=k k_stride=2 "
           "v_buf=v v_stride=2 v_off=" + std::to_string(vOff) +
           " o_buf=acc o_stride=2 o_off=" + std::to_string(oOff) +
           " mask_buf=mask mask_stride=4 lq=2 lk=4 d=2 scale=1 " + extra;
  }
  /// Loads V rows from DRAM into v at 100 with `pred`.
  std::string loadV(const std::string &extra) {
    return "load tensor_class=v dtype=f32 bits=32 dram_addr=256 dram_stride=8 "
           "sram_buf=v sram_off=100 sram_stride=2 cols=2 " + extra;
  }
  const LayerCounters &layer(unsigned l) {
    for (const LayerCounters &c : sim->report().layers)
      if (c.layer == l)
        return c;
    ADD_FAILURE() << "no layer " << l;
    static LayerCounters none;
    return none;
  }
  void expectHandO(int oOff) {
    std::vector<double> o = {4.3, 5.0, 25 / 9.0, 32 / 9.0};
    for (int e = 0; e < 4; ++e)
      EXPECT_NEAR(buf(Buffer::Acc)[oOff + e], o[e], 1e-6) << e;
  }
};

TEST_F(DeferTest, DeferredValuesEqualAPlainAttnAndFetchOnlyKeptRows) {
  // Plain ATTN (layer 1): every V row fetched, 4 x 8 bytes.
  ASSERT_NO_ERR(exec(loadV("rows=4 layer=2")));
  ASSERT_NO_ERR(exec(attn("vk=2 layer=2", 100, 0)));
  expectHandO(0);
  // Deferred (layer 0): the SRAM rows hold NaN until the pred=2 load.
  std::fill(buf(Buffer::V).begin() + 100, buf(Buffer::V).begin() + 108, NAN);
  ASSERT_NO_ERR(exec(attn("flags=8 vk=2 layer=1", 100, 20)));
  EXPECT_EQ(buf(Buffer::Acc)[20], 0.0f); // no O yet
  // Q*K ceil(2*4*2/512) + softmax ceil(8/8), no prob*V.
  EXPECT_EQ(sim->report().instrCycles.back(), 2u);
  ASSERT_NO_ERR(exec(loadV("pred=2 rows=4 layer=1")));
  EXPECT_TRUE(std::isnan(buf(Buffer::V)[102])); // key 1 was not fetched
  EXPECT_EQ(buf(Buffer::V)[104], 5.0f);
  EXPECT_EQ(sim->report().instrCycles.back(), 101u); // 100 + ceil(24/512)
  ASSERT_NO_ERR(exec(attn("phase=values layer=1", 100, 20)));
  EXPECT_EQ(sim->report().instrCycles.back(), 1u); // ceil(2*4*2/512)
  for (int e = 0; e < 4; ++e)
    EXPECT_EQ(buf(Buffer::Acc)[20 + e], buf(Buffer::Acc)[e]) << e;
  expectHandO(20);
  const LayerCounters &deferred = layer(0), &plain = layer(1);
  EXPECT_EQ(deferred.dramRead[unsigned(TensorClass::V)], 24u); // 3 rows
  EXPECT_EQ(plain.dramRead[unsigned(TensorClass::V)], 32u);
  EXPECT_EQ(deferred.vRowsKept, 3u);
  EXPECT_EQ(deferred.keptHeads, 1u); // the values phase, not the deferral
  EXPECT_EQ(deferred.keptTokens, 4u);
  EXPECT_EQ(plain.keptHeads, 1u);
  // The values phase consumed the pending P and mask.
  EXPECT_ERR(exec(attn("phase=values")), "field 'phase': values of 2 x 4");
  EXPECT_ERR(exec(loadV("pred=2 rows=4")), "no value-row mask is pending");
}

TEST_F(DeferTest, GatherMovesOnlyMaskedRowsAndGarbageStaysOut) {
  // The kept tokens 5 9 2 7 name DRAM rows; SRAM row 1 (token 9) is not in
  // the mask, so its index is never used (even an invalid one) and its
  // SRAM row keeps inf/NaN without reaching O.
  poke<float>(256 + 5 * 8, {1, 2});
  poke<float>(256 + 2 * 8, {5, 6});
  poke<float>(256 + 7 * 8, {7, 8});
  std::vector<int32_t> &idx = sim->indexBuffer();
  idx[10] = 5, idx[11] = -1, idx[12] = 2, idx[13] = 7;
  buf(Buffer::V)[102] = INFINITY, buf(Buffer::V)[103] = NAN;
  ASSERT_NO_ERR(exec(attn("flags=9 vk=2 imp_buf=act imp_off=40 layer=1")));
  ASSERT_NO_ERR(exec("gather tensor_class=v dtype=f32 bits=32 pred=2 "
                     "dram_addr=256 dram_stride=8 sram_buf=v sram_off=100 "
                     "sram_stride=2 rows=4 cols=2 idx_off=10 layer=1"));
  ASSERT_NO_ERR(exec(attn("phase=values flags=4 head_imp_buf=wgt "
                          "head_imp_off=3 layer=1")));
  expectHandO(0);
  EXPECT_EQ(layer(0).dramRead[unsigned(TensorClass::V)], 24u);
  // Head importance at the values phase: sum |O| = 9.3 + 57/9.
  EXPECT_NEAR(buf(Buffer::Wgt)[3], 9.3 + 57 / 9.0, 1e-5);
  // Token importance at the deferring ATTN, before pruning.
  EXPECT_NEAR(buf(Buffer::Act)[41], 0.2 + 1 / 9.0, 1e-6);
}

TEST_F(DeferTest, WithoutValuePruningEveryRowIsFetched) {
  ASSERT_NO_ERR(exec(attn("flags=8 layer=1")));
  ASSERT_NO_ERR(exec(loadV("pred=2 rows=4 layer=1")));
  ASSERT_NO_ERR(exec(attn("phase=values layer=1", 100, 20)));
  ASSERT_NO_ERR(exec(attn("", 100, 0)));
  for (int e = 0; e < 4; ++e)
    EXPECT_EQ(buf(Buffer::Acc)[20 + e], buf(Buffer::Acc)[e]) << e;
  EXPECT_EQ(layer(0).dramRead[unsigned(TensorClass::V)], 32u);
  EXPECT_FALSE(layer(0).vRowsKept.has_value()); // vk = 0: not counted
}

/// `--pq-values` with value pruning: a deferring finish keeps the
/// progressive-quantization predicate, so pred=3 moves the kept V rows only
/// for a head that refetched; the values phase clears it. Max P is 0.4 in
/// row 0 and 4/9 in row 1: a 0.42 threshold marks row 0, 0.3 marks none.
TEST_F(DeferTest, UnconfidentValueRowsNeedThePredicateAndTheMask) {
  struct Case {
    const char *threshold, *layer;
    unsigned reportLayer, movedBytes;
  };
  for (Case c : {Case{"0.42", "1", 0, 24}, Case{"0.3", "2", 1, 0}}) {
    SCOPED_TRACE(c.threshold);
    std::string l = std::string(" layer=") + c.layer;
    ASSERT_NO_ERR(exec(attn(std::string("phase=decide pq_threshold=") +
                            c.threshold + l)));
    ASSERT_NO_ERR(exec(attn("phase=finish flags=8 vk=2" + l)));
    ASSERT_NO_ERR(exec(loadV("pred=3 rows=4" + l)));
    EXPECT_EQ(layer(c.reportLayer).dramRead[unsigned(TensorClass::V)],
              c.movedBytes);
    ASSERT_NO_ERR(exec(attn("phase=values" + l, 100, 20)));
    // The values phase cleared the predicate: a pred=1 load moves nothing.
    ASSERT_NO_ERR(exec(loadV("pred=1 rows=4" + l)));
    EXPECT_EQ(layer(c.reportLayer).dramRead[unsigned(TensorClass::V)],
              c.movedBytes);
  }
}

TEST_F(DeferTest, Errors) {
  EXPECT_ERR(exec(attn("phase=values")),
             "instruction 7 (attn): field 'phase': values of 2 x 4 "
             "probabilities without a pending deferred ATTN of that shape");
  for (const char *pred : {"pred=2 rows=4", "pred=3 rows=4"})
    EXPECT_ERR(exec(loadV(pred)),
               "instruction 7 (load): field 'pred': no value-row mask is "
               "pending");
  EXPECT_ERR(exec(attn("flags=12 vk=2")),
             "instruction 7 (attn): field 'flags': HeadImportance (0x4) "
             "applies where O is written");
  ASSERT_NO_ERR(exec(attn("flags=8 vk=2")));
  EXPECT_ERR(exec("store tensor_class=v dtype=f32 bits=32 pred=2 "
                  "dram_addr=256 sram_buf=v rows=1 cols=2"),
             "instruction 7 (store): field 'pred': the value-row mask (2, 3) "
             "gates loads and gathers only");
  EXPECT_ERR(exec("scatter tensor_class=v dtype=f32 bits=32 pred=2 "
                  "dram_addr=256 sram_buf=v rows=1 cols=2"),
             "instruction 7 (scatter): field 'pred': the value-row mask");
  EXPECT_ERR(exec(loadV("pred=2 rows=5")),
             "field 'pred': 5 rows exceed the 4-bit value-row mask");
  EXPECT_ERR(exec("attn phase=values v_buf=v v_stride=2 o_buf=acc "
                  "o_stride=2 lq=1 lk=4 d=2"),
             "field 'phase': values of 1 x 4 probabilities without a "
             "pending deferred ATTN of that shape");
  for (const char *flags : {"flags=1", "flags=2", "flags=8"})
    EXPECT_ERR(exec(attn(std::string("phase=values ") + flags)),
               "field 'flags': bits 0x" + std::string(flags + 6) +
                   " do not apply to phase values");
  EXPECT_ERR(exec(attn("phase=values v_off=50175")), "field 'v_off'");
  // The pending P survived the failed instructions.
  ASSERT_NO_ERR(exec(attn("phase=values")));
}

/// A gather's row address base + index * dram_stride + (row / idx_period) *
/// period_stride must not wrap around 64 bits: the value-row mask skips the
/// rows before the one it keeps, so no earlier row bounds the address.
TEST_F(SimTest, AttnCoversAtMostOneFillOfKeys) {
  // Repeated rows (stride 0) pass the operand bounds at any lq x lk; the
  // fill bounds the keys, and a head has a column.
  EXPECT_ERR(exec("attn q_buf=q k_buf=k v_buf=v o_buf=acc lq=1 lk=1025 d=1 "
                  "scale=1"),
             "instruction 7 (attn): field 'lk': 1025 keys exceed one fill "
             "(max_keys_per_fill 1024)");
  EXPECT_ERR(exec("attn q_buf=q k_buf=k v_buf=v o_buf=acc lq=1 lk=4 d=0 "
                  "scale=1"),
             "instruction 7 (attn): field 'd': a head is at least one column "
             "wide");
}

TEST_F(SimTest, GatherAddressesThatWrapAreErrors) {
  // Hardware whose fill takes 50001 keys: one query against 50001 keys of
  // one element; key 50000 scores highest, so vk=1 keeps only DRAM row
  // 50000.
  HardwareConfig wide;
  wide.maxKeysPerFill = 65535;
  auto s = Simulator::create(haltImage(4096), wide);
  ASSERT_OK(s);
  sim = std::move(*s);
  buf(Buffer::Q)[0] = 1;
  buf(Buffer::K)[50000] = 10;
  ASSERT_NO_ERR(exec("attn flags=8 q_buf=q q_stride=1 k_buf=k k_stride=1 "
                     "v_buf=v o_buf=acc lq=1 lk=50001 d=1 scale=1 vk=1"));
  sim->indexBuffer()[0] = INT32_MAX;
  auto gather = [&](const char *base) {
    return exec(std::string("gather tensor_class=v dtype=f32 bits=32 pred=2 "
                            "dram_addr=") +
                base +
                " dram_stride=4294967295 sram_buf=act sram_stride=1 "
                "rows=50001 cols=1 idx_period=1 period_stride=184467440865944");
  };
  // (2^31 - 1)(2^32 - 1) + 50000 * period_stride + 26747 is 2^64 - 4: the
  // row's end wraps to 0 (it read the 4 bytes before DRAM).
  EXPECT_ERR(gather("26747"), "instruction 7 (gather): field 'idx_off': row "
                              "2147483647 at DRAM [0xfffffffffffffffc, 0x0) "
                              "is past dram.size 0x1000");
  // 12 more: 2^64 + 8, which wrapped to DRAM byte 8.
  EXPECT_ERR(gather("26759"), "instruction 7 (gather): field 'idx_off': row "
                              "50000: its DRAM address overflows 64 bits");
}

} // namespace

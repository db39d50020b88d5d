//===- TopkEngineTest.cpp - Quick-select passes against hand replays ------===//
//
// Pivot draws are written out from splitmix64 by hand (an independent
// Python replay gave the same words): draw i of a seed is the i-th output,
// and the pivot is set[draw % |set|]. A pass over m candidates costs
// ceil(m / P) + 3 cycles; the compaction pass over n is added at the end.
//
//===----------------------------------------------------------------------===//

#include "spatten/ISA/Disasm.h"
#include "spatten/Sim/Simulator.h"
#include "spatten/Sim/Timing/TopkEngine.h"

#include "TestUtil.h"

#include "llvm/Support/FormatVariadic.h"

#include <random>

using namespace spatten;
using namespace spatten::sim;
using namespace spatten::sim::timing;

namespace {

QuickSelect run(std::vector<float> s, uint64_t k, uint64_t seed, unsigned p) {
  auto r = quickSelect(s, k, seed, p);
  if (!r) {
    ADD_FAILURE() << llvm::toString(r.takeError());
    return {};
  }
  return *r;
}

TEST(TopkEngine, Splitmix64ReferenceWords) {
  // The published first outputs of splitmix64 from state 0.
  uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xe220a8397b1dcdafull);
  EXPECT_EQ(splitmix64(state), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(state, 2 * 0x9e3779b97f4a7c15ull);
}

TEST(TopkEngine, PassCycles) {
  EXPECT_EQ(topkPassCycles(0, 16), 3u);
  EXPECT_EQ(topkPassCycles(16, 16), 4u);
  EXPECT_EQ(topkPassCycles(17, 16), 5u);
  EXPECT_EQ(topkPassCycles(7, 2), 7u); // ceil(7/2) + 3
}

TEST(TopkEngine, NothingWantedCostsNothing) {
  QuickSelect none = run({}, 3, 0, 16);
  EXPECT_EQ(none.passes, 0u);
  EXPECT_EQ(none.cycles, 0u);
  QuickSelect k0 = run({1, 2, 3}, 0, 0, 16);
  EXPECT_EQ(k0.passes, 0u);
  EXPECT_EQ(k0.cycles, 0u);
}

TEST(TopkEngine, KeepAllIsCompactionOnly) {
  // n = 1, k = 1: k >= n, no partition; compaction ceil(1/16) + 3 = 4.
  QuickSelect one = run({42}, 1, 7, 16);
  EXPECT_EQ(one.passes, 0u);
  EXPECT_EQ(one.cycles, 4u);
  // n = 5, k = 9, P = 2: compaction ceil(5/2) + 3 = 6.
  QuickSelect all = run({5, 4, 3, 2, 1}, 9, 7, 2);
  EXPECT_EQ(all.passes, 0u);
  EXPECT_EQ(all.cycles, 6u);
}

TEST(TopkEngine, TwoCandidatesOnePassWhateverThePivot) {
  // k = 1 of 2: the better pivot has 0 above (0 + 1 = k), the worse 1 = k.
  for (uint64_t seed : {0u, 1u, 5u, 99u}) {
    QuickSelect r = run({1, 2}, 1, seed, 16);
    EXPECT_EQ(r.passes, 1u) << seed;
    EXPECT_EQ(r.cycles, 4u + 4u) << seed; // pass + compaction
  }
}

TEST(TopkEngine, SeveralPassesSeed11) {
  // scores [5 1 7 3 8 2 6 4] at positions 0..7, k = 3, P = 2, seed 11.
  // Draws (splitmix64 from 11): 0x50f5647d2380309d, 0x432a5cd27a6b13a1,
  // 0xa356be306e9b126d, 0x812e6299272e6df0, 0x2a4a0f1a750459c4.
  //  1: set {0..7} (8), draw % 8 = 5 -> pivot pos 5 (2); above 6 > 3
  //     -> set {0,2,3,4,6,7}.                             ceil(8/2)+3 = 7
  //  2: 6 left, % 6 = 1 -> pos 2 (7); above {4}: 1 + 1 < 3, want 1,
  //     set below {0,3,6,7}.                              ceil(6/2)+3 = 6
  //  3: 4 left, % 4 = 1 -> pos 3 (3); above {0,6,7} 3 > 1 -> that. 2+3 = 5
  //  4: 3 left, % 3 = 2 -> pos 7 (4); above {0,6} 2 > 1 -> that.   2+3 = 5
  //  5: 2 left, % 2 = 0 -> pos 0 (5); above {6} = 1 = want: done.  1+3 = 4
  // Passes 5, cycles 7+6+5+5+4 = 27, plus compaction ceil(8/2)+3 = 7.
  QuickSelect r = run({5, 1, 7, 3, 8, 2, 6, 4}, 3, 11, 2);
  EXPECT_EQ(r.passes, 5u);
  EXPECT_EQ(r.cycles, 34u);
  // Seed 2: draw 0x975835de1c9756ce % 8 = 6 -> pos 6 (6); above {2,4}:
  // 2 + 1 = 3 = k at once.
  QuickSelect lucky = run({5, 1, 7, 3, 8, 2, 6, 4}, 3, 2, 2);
  EXPECT_EQ(lucky.passes, 1u);
  EXPECT_EQ(lucky.cycles, 7u + 7u);
}

TEST(TopkEngine, TiesRankTheEarlierPositionHigher) {
  // Five equal scores, k = 2, P = 16 (every pass 4 cycles), seed 1.
  // Draws 0x910a2dec89025cc1, 0xbeeb8da1658eec67, 0xf893a2eefb32555e.
  //  1: % 5 = 0 -> pos 0, nothing ranks above it: want 1, set {1,2,3,4}.
  //  2: % 4 = 3 -> pos 4, above {1,2,3} 3 > 1 -> that.
  //  3: % 3 = 0 -> pos 1, 0 above, 0 + 1 = want: done.
  QuickSelect r = run({3, 3, 3, 3, 3}, 2, 1, 16);
  EXPECT_EQ(r.passes, 3u);
  EXPECT_EQ(r.cycles, 3u * 4u + 4u);
  // Seed 0: % 5 = 0 -> pos 0 (want 1 of {1..4}); 0x6e78..65f4 % 4 = 0 ->
  // pos 1, 0 above, 0 + 1 = want: 2 passes.
  QuickSelect s0 = run({3, 3, 3, 3, 3}, 2, 0, 16);
  EXPECT_EQ(s0.passes, 2u);
  EXPECT_EQ(s0.cycles, 2u * 4u + 4u);
}

TEST(TopkEngine, Errors) {
  EXPECT_EQ(test::errorOf(quickSelect({1, 2}, 1, 0, 0)),
            "field 'topk_comparators': must be positive, got 0");
  EXPECT_EQ(test::errorOf(quickSelect({1, NAN, 2}, 1, 0, 16)),
            "field 'scores': candidate 1 is NaN");
}

/// The TOPK instruction charges exactly quickSelect's passes and cycles.
TEST(TopkEngine, SimulatorChargesQuickSelect) {
  binary::Image img;
  img.text.assign(isa::kInstrBytes, 0); // halt
  img.manifest.numInstructions = 1;
  img.manifest.dramSize = 4096;
  auto sim = Simulator::create(std::move(img));
  ASSERT_OK(sim);
  std::mt19937 gen(3);
  std::vector<float> &act = (*sim)->buffer(isa::Buffer::Act);
  unsigned comparators = (*sim)->timingConfig().topkComparators;
  for (unsigned t = 0; t < 40; ++t) {
    uint64_t n = 1 + gen() % 300, k = gen() % (n + 2);
    uint64_t seed = gen() & 0xffffffffu; // the 32-bit field
    std::vector<float> s(n);
    for (float &x : s)
      x = float(gen() % 17); // many ties
    std::copy(s.begin(), s.end(), act.begin());
    auto inst = isa::parseInstruction(
        llvm::formatv("topk flags=2 s_buf=act n={0} k={1} seed={2}", n, k,
                      seed)
            .str());
    ASSERT_OK(inst);
    ASSERT_NO_ERR((*sim)->step(*inst, t));
    QuickSelect want = run(s, k, seed, comparators);
    const TopkRecord &got = (*sim)->report().topk.back();
    EXPECT_EQ(got.passes, want.passes) << n << " " << k;
    EXPECT_EQ(got.cycles, want.cycles) << n << " " << k;
  }
}

} // namespace

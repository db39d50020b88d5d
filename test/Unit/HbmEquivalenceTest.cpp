//===- HbmEquivalenceTest.cpp - Burst-level HBM model vs per-transaction --===//
//
// HbmModel serves a burst of column commands at a time; HbmTransactionModel
// one transaction at a time, as docs/Memory.md specifies. On random
// geometries, timings and request traces (streams, scattered rows, bank
// conflicts, writes, refreshes, overlapping and clamped calls), and on the
// presets' HBM with strided weight tiles, both must return the same
// completion cycles, count the same and trace every transaction
// identically (so every request completes at the same cycle). Calls that
// repeat earlier ones, which HbmModel serves from its memo, must do the
// same.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/HbmTransactionModel.h"
#include "spatten/Support/HardwareConfig.h"

#include "TestUtil.h"

#include <random>

using namespace spatten::sim::timing;
using spatten::HbmTiming;

namespace {

uint64_t pick(std::mt19937_64 &rng, uint64_t lo, uint64_t hi) {
  return lo + rng() % (hi - lo + 1);
}

unsigned powerOfTwo(std::mt19937_64 &rng, unsigned lo, unsigned hi) {
  return 1u << pick(rng, lo, hi);
}

/// Small geometries, so that rows, banks and the window turn over often.
HbmTiming randomTiming(std::mt19937_64 &rng) {
  HbmTiming p;
  p.channels = powerOfTwo(rng, 0, 2);
  p.banksPerChannel = powerOfTwo(rng, 0, 3);
  p.transactionBytes = 32;
  p.interleaveBytes = powerOfTwo(rng, 5, 8);
  p.rowBytes = p.interleaveBytes << pick(rng, 0, 2);
  p.tRCD = unsigned(pick(rng, 1, 16));
  p.tRP = unsigned(pick(rng, 1, 16));
  p.tCL = unsigned(pick(rng, 1, 16));
  p.tRAS = p.tRCD + unsigned(pick(rng, 0, 24));
  p.tBurst = unsigned(pick(rng, 1, 4));
  p.tRFC = unsigned(pick(rng, 1, 60));
  unsigned minRefi = p.tRFC + p.tRCD + p.tCL + p.tBurst;
  p.tREFI = rng() % 4 ? minRefi + unsigned(pick(rng, 0, 600)) : 1u << 24;
  p.schedulerWindow = unsigned(pick(rng, 1, 40));
  return p;
}

/// One DMA instruction's requests: a stream, scattered pieces of a few
/// rows, or a strided gather; reads or writes.
std::vector<HbmRequest> randomCall(std::mt19937_64 &rng, const HbmTiming &p) {
  uint64_t span = uint64_t(p.rowBytes) * p.banksPerChannel * p.channels *
                  pick(rng, 1, 6);
  bool write = rng() % 4 == 0;
  std::vector<HbmRequest> out;
  switch (rng() % 3) {
  case 0:
    out.push_back({pick(rng, 0, span), pick(rng, 1, 6 * p.rowBytes), write});
    break;
  case 1:
    for (uint64_t i = pick(rng, 1, 40); i-- > 0;)
      out.push_back({pick(rng, 0, span), pick(rng, 1, 96), write});
    break;
  default: {
    uint64_t base = pick(rng, 0, span), stride = pick(rng, 1, 3) * 32 * 5;
    uint64_t bytes = pick(rng, 1, 4) * 32;
    for (uint64_t i = pick(rng, 1, 30); i-- > 0; base += stride)
      out.push_back({base, bytes, write});
  }
  }
  return out;
}

/// Each preset's HBM, by preset name.
std::vector<std::pair<std::string, HbmTiming>> presetHbms() {
  std::vector<std::pair<std::string, HbmTiming>> out;
  for (llvm::StringRef name : {"spatten", "spatten-1/8"}) {
    auto hw = spatten::HardwareConfig::preset(name);
    if (!hw) {
      ADD_FAILURE() << llvm::toString(hw.takeError());
      continue;
    }
    out.emplace_back(name.str(), hw->hbm);
  }
  return out;
}

void record(HbmModelBase &m, std::vector<HbmTransactionTrace> &served) {
  m.setTraceHook([&served](const HbmTransactionTrace &t) { served.push_back(t); });
}

void expectSameTrace(const std::vector<HbmTransactionTrace> &a,
                     const std::vector<HbmTransactionTrace> &b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("transaction " + std::to_string(i));
    EXPECT_EQ(a[i].addr, b[i].addr);
    EXPECT_EQ(a[i].write, b[i].write);
    EXPECT_EQ(a[i].location.bank, b[i].location.bank);
    EXPECT_EQ(a[i].location.row, b[i].location.row);
    EXPECT_EQ(a[i].outcome, b[i].outcome);
    EXPECT_EQ(a[i].arrival, b[i].arrival);
    EXPECT_EQ(a[i].enter, b[i].enter);
    EXPECT_EQ(a[i].firstCommand, b[i].firstCommand);
    EXPECT_EQ(a[i].column, b[i].column);
    EXPECT_EQ(a[i].done, b[i].done);
    if (::testing::Test::HasFailure())
      return;
  }
}

void expectSameStats(const HbmStats &a, const HbmStats &b) {
  EXPECT_EQ(a.transactions, b.transactions);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.rowHits, b.rowHits);
  EXPECT_EQ(a.rowMisses, b.rowMisses);
  EXPECT_EQ(a.rowConflicts, b.rowConflicts);
  EXPECT_EQ(a.refreshes, b.refreshes);
  EXPECT_EQ(a.channelBusyCycles, b.channelBusyCycles);
}

/// For seeds 1..`seeds`: HbmModel and the per-transaction reference on a
/// random timing (changed by `adjust`), and `body` issuing the same calls
/// to both; their counters must then agree. Stops at the first failure.
/// Returns the shares HbmModel served from its memo.
template <typename Body>
uint64_t againstReference(uint64_t seeds, Body body,
                          void (*adjust)(HbmTiming &) = nullptr) {
  uint64_t replayed = 0;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    HbmTiming p = randomTiming(rng);
    if (adjust)
      adjust(p);
    HbmModel burst(p);
    HbmTransactionModel reference(p);
    body(rng, p, burst, reference);
    if (::testing::Test::HasFailure())
      break;
    expectSameStats(burst.stats(), reference.stats());
    replayed += burst.replayedShares();
  }
  return replayed;
}

TEST(HbmEquivalence, RandomTracesGiveIdenticalSchedules) {
  againstReference(400, [](std::mt19937_64 &rng, const HbmTiming &p,
                           HbmModel &burst, HbmTransactionModel &reference) {
    ASSERT_EQ(spatten::test::errorOf(p.validate()), "");
    std::vector<HbmTransactionTrace> got, want;
    record(burst, got);
    record(reference, want);
    uint64_t issue = 0;
    for (uint64_t call = pick(rng, 1, 60); call-- > 0;) {
      // Calls overlap (a DMA issues before the last one completed), wait
      // through refreshes, or come late and are clamped.
      if (rng() % 8 == 0)
        issue = issue > 50 ? issue - 50 : 0;
      else
        issue += pick(rng, 0, rng() % 5 ? 40 : 3 * p.tREFI);
      std::vector<HbmRequest> requests = randomCall(rng, p);
      ASSERT_EQ(burst.access(requests, issue),
                reference.access(requests, issue));
    }
    expectSameTrace(got, want);
  });
}

TEST(HbmEquivalence, LongStreamsOfThePaperHbm) {
  // The weight streams of a decode step, with K/V row gathers between.
  HbmTiming p = spatten::HardwareConfig().hbm;
  HbmModel burst(p);
  HbmTransactionModel reference(p);
  std::mt19937_64 rng(7);
  uint64_t issue = 0;
  for (int call = 0; call < 40; ++call) {
    std::vector<HbmRequest> requests;
    if (call % 3 == 2)
      requests = scatteredReads(256, 256, uint64_t(1) << 30, rng());
    else
      requests = sequentialReads(pick(rng, 0, 1 << 20) * 64,
                                 pick(rng, 1, 2 << 20));
    issue += pick(rng, 0, 20000);
    ASSERT_EQ(burst.access(requests, issue),
              reference.access(requests, issue));
  }
  expectSameStats(burst.stats(), reference.stats());
}

TEST(HbmEquivalence, StridedTilesOfEveryPreset) {
  // GEMM weight tiles (rows of a tile's columns at the matrix's stride, as
  // the compiler's loads issue them) and activation rows, reads and
  // writes, on each preset's HBM: its channels, banks and refresh.
  for (const auto &[name, p] : presetHbms()) {
    SCOPED_TRACE(name);
    HbmModel burst(p);
    HbmTransactionModel reference(p);
    std::vector<HbmTransactionTrace> got, want;
    record(burst, got);
    record(reference, want);
    std::mt19937_64 rng(11);
    uint64_t issue = 0;
    for (int call = 0; call < 60; ++call) {
      uint64_t width = 4 * (uint64_t(64) << pick(rng, 0, 6)); // bytes per row
      uint64_t cols = 4 * (uint64_t(16) << pick(rng, 0, 3));
      uint64_t base = pick(rng, 0, 1 << 16) * 64;
      bool write = rng() % 5 == 0;
      std::vector<HbmRequest> requests;
      for (uint64_t row = 0, rows = pick(rng, 1, 300); row < rows; ++row)
        requests.push_back({base + row * width, std::min(cols, width), write});
      issue += pick(rng, 0, rng() % 4 ? 2000 : 9000);
      ASSERT_EQ(burst.access(requests, issue),
                reference.access(requests, issue));
    }
    expectSameStats(burst.stats(), reference.stats());
    expectSameTrace(got, want);
  }
}

/// A call whose shares HbmModel memoizes: streams, and rows of 4 to 8
/// transactions at a stride, crossing rows, banks and channels.
std::vector<HbmRequest> memoizableCall(std::mt19937_64 &rng,
                                       const HbmTiming &p) {
  uint64_t rowSpan = uint64_t(p.rowBytes) * p.banksPerChannel * p.channels;
  bool write = rng() % 4 == 0;
  std::vector<HbmRequest> out;
  for (uint64_t k = pick(rng, 1, 3); k-- > 0;) {
    uint64_t base = pick(rng, 0, 4 * rowSpan);
    if (rng() % 2) {
      out.push_back({base, pick(rng, 16, 96) * 32 * p.channels, write});
      continue;
    }
    uint64_t stride = pick(rng, 1, 3) * p.rowBytes + pick(rng, 0, 1) * 32;
    uint64_t bytes = pick(rng, 4, 8) * 32;
    for (uint64_t row = pick(rng, 8, 64); row-- > 0; base += stride)
      out.push_back({base, bytes, write});
  }
  return out;
}

/// Calls served from HbmModel's memo must give what scheduling them gives:
/// per call the completion cycle, and the counters at the end (which a
/// wrongly restored channel state would change for the calls after).
TEST(HbmEquivalence, RepeatedCallsReplayIdentically) {
  uint64_t replayed = againstReference(300, [](std::mt19937_64 &rng,
                                               const HbmTiming &p,
                                               HbmModel &burst,
                                               HbmTransactionModel &reference) {
    // A shift by whole rows of every bank and channel keeps a call's bank
    // pattern and renames its rows; other shifts change both.
    uint64_t rowSpan = uint64_t(p.rowBytes) * p.banksPerChannel * p.channels;
    std::vector<std::vector<HbmRequest>> earlier;
    uint64_t issue = 0;
    for (uint64_t call = pick(rng, 1, 80); call-- > 0;) {
      std::vector<HbmRequest> requests;
      if (!earlier.empty() && rng() % 3) {
        requests = earlier[rng() % earlier.size()];
        uint64_t shift = rng() % 4 ? pick(rng, 0, 8) * rowSpan : pick(rng, 0, rowSpan);
        for (HbmRequest &r : requests)
          r.addr += shift;
      } else {
        requests = rng() % 4 ? memoizableCall(rng, p) : randomCall(rng, p);
        earlier.push_back(requests);
      }
      issue += rng() % 4 ? pick(rng, 0, 8) : pick(rng, 0, 2 * p.tREFI);
      ASSERT_EQ(burst.access(requests, issue),
                reference.access(requests, issue));
    }
  });
  EXPECT_GT(replayed, 100u) << "the memo was not exercised";
}

TEST(HbmEquivalence, ChainedKeysTellEveryGapApart) {
  // The same pair of calls again and again: A after a long idle, then B at
  // every gap from 0 to well past A's end. B is keyed by the chain (A's
  // outcome, the gap, no refresh); the gap is clamped only where A's state
  // no longer depends on it, so each B must time as the reference does.
  auto noRefresh = [](HbmTiming &p) { p.tREFI = 1u << 24; };
  auto pairs = [](std::mt19937_64 &rng, const HbmTiming &p, HbmModel &burst,
                  HbmTransactionModel &reference) {
    std::vector<HbmRequest> a = memoizableCall(rng, p);
    std::vector<HbmRequest> b = memoizableCall(rng, p);
    uint64_t issue = 0, span = 0;
    for (uint64_t gap = 0; gap <= span + 4 * (p.tCL + p.tRAS); ++gap) {
      issue += 4 * span + 1000;
      uint64_t end = burst.access(a, issue);
      ASSERT_EQ(end, reference.access(a, issue));
      span = std::max(span, end - issue);
      ASSERT_EQ(burst.access(b, issue + gap), reference.access(b, issue + gap))
          << "gap " << gap;
    }
  };
  EXPECT_GT(againstReference(16, pairs, noRefresh), 1000u)
      << "the memo was not exercised";
}

TEST(HbmEquivalence, LayersOfWeightTilesReplayIdentically) {
  // Twelve layers of one tile sequence at a layer stride that is not a
  // multiple of the address interleave, issued as a pipeline would: each
  // tile while the last is in flight, with refreshes falling anywhere.
  for (const auto &[name, p] : presetHbms()) {
    SCOPED_TRACE(name);
    HbmModel burst(p);
    HbmTransactionModel reference(p);
    uint64_t issue = 0;
    for (uint64_t layer = 0; layer < 12; ++layer) {
      uint64_t base = layer * 7087872 * 4;
      for (uint64_t tile = 0; tile < 12; ++tile) {
        std::vector<HbmRequest> requests;
        for (uint64_t row = 0; row < 96; ++row)
          requests.push_back({base + row * 3072 + tile * 256, 256, false});
        uint64_t end = burst.access(requests, issue);
        ASSERT_EQ(end, reference.access(requests, issue));
        issue += (end - issue) / 2 + tile % 3;
      }
    }
    expectSameStats(burst.stats(), reference.stats());
    EXPECT_GT(burst.replayedShares(), 0u) << "the memo was not exercised";
  }
}

/// reset() returns to power-on but keeps the memo: a model run, reset and
/// run again must time the second run as a fresh model does, and serve
/// some of it from what the first run memoized (as a simulator's decode
/// steps do).
TEST(HbmEquivalence, ResetKeepsOnlyTheMemo) {
  uint64_t replayedAfterReset = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    HbmTiming p = randomTiming(rng);
    std::vector<std::pair<std::vector<HbmRequest>, uint64_t>> calls;
    uint64_t issue = 0;
    for (uint64_t call = pick(rng, 1, 40); call-- > 0;) {
      issue += rng() % 4 ? pick(rng, 0, 8) : pick(rng, 0, 2 * p.tREFI);
      calls.push_back({rng() % 4 ? memoizableCall(rng, p) : randomCall(rng, p),
                       issue});
    }
    HbmModel burst(p);
    for (const auto &[requests, at] : calls)
      burst.access(requests, at);
    burst.reset();
    uint64_t replayedBefore = burst.replayedShares();
    HbmTransactionModel reference(p);
    for (const auto &[requests, at] : calls)
      ASSERT_EQ(burst.access(requests, at), reference.access(requests, at));
    expectSameStats(burst.stats(), reference.stats());
    replayedAfterReset += burst.replayedShares() - replayedBefore;
    if (HasFailure())
      return;
  }
  EXPECT_GT(replayedAfterReset, 100u) << "the memo did not survive reset()";
}

} // namespace

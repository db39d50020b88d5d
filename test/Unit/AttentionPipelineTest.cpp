//===- AttentionPipelineTest.cpp - Pipeline timing against hand schedules -===//
//
// Each schedule is worked out by hand in the comments: [a,b) is a row's
// service at a stage, "-> q" its hand-off. Stages not named cost 0 cycles.
// A second, independent reference (the departure-time recurrence of a
// tandem line with blocking after service) checks random runs without
// refetch.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/AttentionPipeline.h"

#include "TestUtil.h"

#include <random>

using namespace spatten;
using namespace spatten::sim::timing;

namespace {

constexpr unsigned KF = 0, QK = 1, SM = 2, PQ = 3, IMP = 4, VT = 5, VF = 6,
                   PV = 7;

RowWork row(std::array<uint64_t, kNumStages> c) {
  RowWork w;
  w.cycles = c;
  return w;
}

PipelineResult runD(const std::vector<RowWork> &rows, unsigned depth,
                    uint64_t start = 0, bool trace = false) {
  PipelineParams p;
  p.queueDepth = depth;
  p.trace = trace;
  return runPipeline(rows, p, start);
}

void expectStats(const PipelineResult &r, unsigned s, uint64_t busy,
                 uint64_t blocked, uint64_t starved) {
  const StageStats &st = r.stages[s];
  EXPECT_EQ(st.busy, busy) << stageName(Stage(s)).str();
  EXPECT_EQ(st.blocked, blocked) << stageName(Stage(s)).str();
  EXPECT_EQ(st.starved, starved) << stageName(Stage(s)).str();
}

/// Every stage accounts for every cycle of the run exactly once.
void expectStatsCover(const PipelineResult &r) {
  for (unsigned s = 0; s < kNumStages; ++s) {
    const StageStats &st = r.stages[s];
    EXPECT_EQ(st.busy + st.blocked + st.starved, r.cycles)
        << stageName(Stage(s)).str();
  }
}

TEST(AttentionPipeline, OneRowIsTheSumOfItsStages) {
  // 2+3+4+1+5+6+7+8 = 36; nothing else runs, so no stage is ever blocked.
  std::vector<RowWork> rows = {row({2, 3, 4, 1, 5, 6, 7, 8})};
  PipelineResult r = runD(rows, 2, /*start=*/100, /*trace=*/true);
  EXPECT_EQ(r.cycles, 36u);
  for (unsigned s = 0; s < kNumStages; ++s)
    expectStats(r, s, rows[0].cycles[s], 0, 36 - rows[0].cycles[s]);
  ASSERT_EQ(r.intervals.size(), kNumStages);
  // Trace times are absolute: PV serves [100+28, 100+36).
  EXPECT_EQ(r.intervals[PV].stage, Stage::PV);
  EXPECT_EQ(r.intervals[PV].begin, 128u);
  EXPECT_EQ(r.intervals[PV].end, 136u);
  EXPECT_EQ(r.intervals[PV].leave, 136u);
}

TEST(AttentionPipeline, IdenticalRowsAreFillPlusBottleneck) {
  // 5 rows of KF 1, QK 4, SM 2, PQ..VF 1, PV 2; depth 2. QK (4) is the
  // bottleneck: row i does QK [1+4i, 5+4i) and the 8 cycles after it
  // never wait, so it leaves at 13+4i: fill 13 + 4 x 4 = 29.
  // KF: r0 [0,1), r1 [1,2), r2 [2,3) -> q {r1,r2}; r3 [3,4) blocked [4,5)
  // (QK takes r1 at 5); r4 [5,6) blocked [6,9) (QK takes r2 at 9); then
  // starved [9,29). busy 5, blocked 1+3, starved 20.
  std::vector<RowWork> rows(5, row({1, 4, 2, 1, 1, 1, 1, 2}));
  PipelineResult r = runD(rows, 2);
  EXPECT_EQ(r.cycles, 29u);
  expectStats(r, KF, 5, 4, 20);
  expectStats(r, QK, 20, 0, 9); // starved [0,1) and [21,29)
  expectStats(r, PV, 10, 0, 19);
  expectStatsCover(r);
}

/// X rows are slow at QK, Y rows slow at KFetch: X X X Y Y Y.
std::vector<RowWork> burstRows() {
  RowWork x = row({1, 6, 0, 0, 0, 0, 0, 0}), y = row({6, 1, 0, 0, 0, 0, 0, 0});
  return {x, x, x, y, y, y};
}

/// X X X Y Y Y at `depth`: KF and QK are each busy 21 cycles; the run takes
/// `cycles`, KF is blocked `kfBlocked` and starved 1 (waiting for nothing
/// after Y2), and QK starves the rest.
void expectBurst(unsigned depth, uint64_t cycles, uint64_t kfBlocked) {
  PipelineResult r = runD(burstRows(), depth);
  EXPECT_EQ(r.cycles, cycles) << "depth " << depth;
  expectStats(r, KF, 21, kfBlocked, 1);
  expectStats(r, QK, 21, 0, cycles - 21);
  for (unsigned s = SM; s < kNumStages; ++s)
    expectStats(r, s, 0, 0, cycles); // 0-cycle stages pass rows straight on
  expectStatsCover(r);
}

TEST(AttentionPipeline, QueueDepthOneBlocksKFetchAndStarvesQK) {
  // Depth 1. KF: X0 [0,1) -> QK [1,7); X1 [1,2) -> q; X2 [2,3) blocked
  // [3,7) until QK takes X1 at 7 (QK X1 [7,13), X2 [13,19)); Y0 [7,13) ->
  // q at 13; Y1 [13,19) -> q at 19; Y2 [19,25). QK: Y0 [19,20), Y1
  // [20,21), starved until Y2 [25,26). End 26; QK starved [0,1), [21,25).
  expectBurst(1, 26, 4);
}

TEST(AttentionPipeline, QueueDepthFourAbsorbsTheBurst) {
  // Depth 4: KF never waits (the queue holds at most 2): X0..X2 at [0,3),
  // Y0 [3,9), Y1 [9,15), Y2 [15,21). QK: X [1,7) [7,13) [13,19), then Y0
  // (queued since 9) [19,20), Y1 [20,21), Y2 (in at 21) [21,22). End 22.
  expectBurst(4, 22, 0);
}

TEST(AttentionPipeline, QueueDepthZeroHandsOffDirectly) {
  // No FIFO: KF hands a row over only when QK is idle. X0 [0,1) -> QK
  // [1,7); X1 [1,2) blocked to 7 -> QK [7,13); X2 [7,8) blocked to 13 ->
  // QK [13,19); Y0 [13,19) -> QK [19,20); Y1 [19,25) -> QK [25,26); Y2
  // [25,31) -> QK [31,32). KF blocked 5+5, QK starved 1+5+5.
  expectBurst(0, 32, 10);
}

/// Depth 2, traced, with row 0 refetching at `refetchCycles`.
PipelineResult runRefetchingRow0(std::vector<RowWork> rows,
                                 std::array<uint64_t, 3> refetchCycles) {
  rows[0].refetch = true;
  rows[0].refetchCycles = refetchCycles;
  return runD(rows, 2, 0, true);
}

/// (row, time) of every visit to `stage`, in the order services start.
using Visits = std::vector<std::pair<uint64_t, uint64_t>>;
Visits visits(const PipelineResult &r, Stage stage,
              uint64_t StageInterval::*time) {
  Visits v;
  for (const StageInterval &i : r.intervals)
    if (i.stage == stage)
      v.push_back({i.row, i.*time});
  return v;
}

TEST(AttentionPipeline, RefetchIsReinjectedAheadOfNewRows) {
  // 6 rows of KF 2, QK 2, SM 2, PQ 1, PV 1; r0 refetches with KF 3 (LSB
  // planes), QK 2, SM 2. Depth 2.
  //   KF: r0 [0,2) r1 [2,4) r2 [4,6) r3 [6,8)
  //   QK: r0 [2,4) r1 [4,6) r2 [6,8);  SM: r0 [4,6) r1 [6,8)
  //   PQ: r0 [6,7): unconfident -> back to KF at 7 (KF busy with r3).
  //   8: KF takes r0' [8,11) although r4 has waited since 0.
  //   QK: r3 [8,10), r0' [11,13), r4 [13,15), r5 [15,17)
  //   SM: r2 [8,10) r3 [10,12) r0' [13,15) r4 [15,17) r5 [17,19)
  //   PQ: r1 [8,9) r2 [10,11) r3 [12,13) r0' [15,16) r4 [17,18) r5 [19,20)
  //   KF: r4 [11,13) r5 [13,15).  PV: each row [t, t+1) once PQ is done:
  //   r1 leaves 10, r2 12, r3 14, r0 17, r4 19, r5 21.
  std::vector<RowWork> rows(6, row({2, 2, 2, 1, 0, 0, 0, 1}));
  PipelineResult r = runRefetchingRow0(rows, {3, 2, 2});
  EXPECT_EQ(r.cycles, 21u);
  EXPECT_EQ(visits(r, Stage::KFetch, &StageInterval::begin),
            (Visits{{0, 0}, {1, 2}, {2, 4}, {3, 6}, {0, 8}, {4, 11}, {5, 13}}));
  std::vector<bool> kfRecompute;
  for (const StageInterval &i : r.intervals)
    if (i.stage == Stage::KFetch)
      kfRecompute.push_back(i.recompute);
  EXPECT_EQ(kfRecompute, (std::vector<bool>{false, false, false, false, true,
                                            false, false}));
  EXPECT_EQ(visits(r, Stage::PV, &StageInterval::leave),
            (Visits{{1, 10}, {2, 12}, {3, 14}, {0, 17}, {4, 19}, {5, 21}}));
  expectStats(r, KF, 15, 0, 6);  // 6 x 2 + 3
  expectStats(r, QK, 14, 0, 7);  // 6 x 2 + 2; starved [0,2) [10,11) [17,21)
  expectStats(r, SM, 14, 0, 7);
  expectStats(r, PQ, 7, 0, 14);  // r0 twice
  expectStats(r, PV, 6, 0, 15);
  expectStatsCover(r);
}

TEST(AttentionPipeline, SameCycleTieGoesToTheRefetch) {
  // Rows of KF 1, PQ 1, PV 1 (QK, SM free); r0 refetches with KF 1.
  //   KF r0 [0,1); PQ r0 [1,2); KF r1 [1,2).
  //   2: PQ sends r0 back and KF frees in the same cycle: KF takes r0'
  //      [2,3), not r2 (which follows at [3,4)). PQ r1 [2,3).
  //   PQ r0' [3,4), r2 [4,5); PV r1 [3,4), r0 [4,5), r2 [5,6). End 6.
  std::vector<RowWork> rows(3, row({1, 0, 0, 1, 0, 0, 0, 1}));
  PipelineResult r = runRefetchingRow0(rows, {1, 0, 0});
  EXPECT_EQ(r.cycles, 6u);
  EXPECT_EQ(visits(r, Stage::KFetch, &StageInterval::begin),
            (Visits{{0, 0}, {1, 1}, {0, 2}, {2, 3}}));
  expectStats(r, PQ, 4, 0, 2); // [1,5) busy
  expectStats(r, PV, 3, 0, 3);
  expectStatsCover(r);
}

TEST(AttentionPipeline, ZeroCostStagesAndEmptyRuns) {
  EXPECT_EQ(runD({}, 2).cycles, 0u);
  // All-zero rows pass the whole pipeline in the cycle they enter.
  PipelineResult z = runD(std::vector<RowWork>(3, row({})), 1, 50, true);
  EXPECT_EQ(z.cycles, 0u);
  EXPECT_EQ(z.intervals.size(), 3u * kNumStages);
  for (const StageInterval &i : z.intervals)
    EXPECT_EQ(i.leave, 50u);
  // Only PV works: 3 rows of 3 cycles back to back.
  PipelineResult pv = runD(std::vector<RowWork>(3, row({0, 0, 0, 0, 0, 0, 0,
                                                        3})),
                           1);
  EXPECT_EQ(pv.cycles, 9u);
  expectStats(pv, PV, 9, 0, 0);
  // r1 waits in the VF->PV queue (depth 1); r2 passes KF..VF at 0 and VF
  // holds it until PV takes r1 at 3: VF is blocked [0,3) in 0-cycle work.
  expectStats(pv, VF, 0, 3, 6);
  expectStats(pv, KF, 0, 0, 9);
  expectStatsCover(pv);
}

/// Departure times of a tandem line with blocking after service (no
/// refetch): row i starts stage j when it has left j-1 and row i-1 has left
/// j; it leaves j when row i-D has started j+1 (a slot is free), or, with
/// no FIFO (D = 0), when row i-1 has left j+1.
uint64_t recurrence(const std::vector<RowWork> &rows, unsigned depth,
                    std::array<uint64_t, kNumStages> &blocked) {
  size_t n = rows.size();
  std::vector<std::array<uint64_t, kNumStages>> S(n), L(n);
  blocked.fill(0);
  for (size_t i = 0; i < n; ++i)
    for (unsigned j = 0; j < kNumStages; ++j) {
      S[i][j] = std::max(j ? L[i][j - 1] : 0, i ? L[i - 1][j] : 0);
      uint64_t done = S[i][j] + rows[i].cycles[j], free = 0;
      if (j + 1 < kNumStages && depth && i >= depth)
        free = S[i - depth][j + 1];
      if (j + 1 < kNumStages && !depth && i)
        free = L[i - 1][j + 1];
      L[i][j] = std::max(done, free);
      blocked[j] += L[i][j] - done;
    }
  return n ? L[n - 1][kNumStages - 1] : 0;
}

TEST(AttentionPipeline, MatchesTheDepartureRecurrence) {
  std::mt19937 gen(7);
  for (unsigned t = 0; t < 300; ++t) {
    unsigned depth = t % 4;
    std::vector<RowWork> rows(1 + gen() % 12);
    for (RowWork &w : rows)
      for (uint64_t &c : w.cycles)
        c = gen() % 3 == 0 ? 0 : gen() % 9; // many zero-cost visits
    std::array<uint64_t, kNumStages> blocked;
    uint64_t want = recurrence(rows, depth, blocked);
    PipelineResult r = runD(rows, depth);
    ASSERT_EQ(r.cycles, want) << "trial " << t;
    for (unsigned s = 0; s < kNumStages; ++s)
      EXPECT_EQ(r.stages[s].blocked, blocked[s]) << t << " " << s;
    expectStatsCover(r);
  }
}

TEST(AttentionPipeline, RandomRefetchRunsAccountEveryCycle) {
  std::mt19937 gen(11);
  for (unsigned t = 0; t < 200; ++t) {
    std::vector<RowWork> rows(1 + gen() % 10);
    uint64_t refetching = 0;
    for (RowWork &w : rows) {
      for (uint64_t &c : w.cycles)
        c = gen() % 6;
      w.refetch = gen() % 3 == 0;
      refetching += w.refetch;
      for (uint64_t &c : w.refetchCycles)
        c = gen() % 6;
    }
    PipelineResult r = runD(rows, t % 3, 5, true);
    expectStatsCover(r);
    // A refetching row visits KF, QK, SM and PQ twice, the rest once.
    EXPECT_EQ(r.intervals.size(), rows.size() * kNumStages + 4 * refetching);
    uint64_t busyPq = 0;
    for (const RowWork &w : rows)
      busyPq += w.cycles[PQ] * (w.refetch ? 2 : 1);
    EXPECT_EQ(r.stages[PQ].busy, busyPq);
  }
}

/// The same run stepped through every event: a traced run records every
/// service, so it never jumps periods.
void expectSameAsStepped(const std::vector<RowWork> &rows, PipelineParams p,
                         uint64_t start, const std::string &what) {
  p.trace = false;
  PipelineResult fast = runPipeline(rows, p, start);
  p.trace = true;
  PipelineResult stepped = runPipeline(rows, p, start);
  ASSERT_EQ(fast.cycles, stepped.cycles) << what;
  EXPECT_EQ(fast.lastLeave, stepped.lastLeave) << what;
  for (unsigned s = 0; s < kNumStages; ++s) {
    EXPECT_EQ(fast.stages[s].busy, stepped.stages[s].busy) << what << s;
    EXPECT_EQ(fast.stages[s].blocked, stepped.stages[s].blocked) << what << s;
    EXPECT_EQ(fast.stages[s].starved, stepped.stages[s].starved) << what << s;
  }
}

TEST(AttentionPipeline, JumpingPeriodsOfIdenticalRowsIsExact) {
  // A prefix of mixed rows (some refetching), then hundreds of identical
  // ones, on random depths, engines and stages still busy from before.
  std::mt19937 gen(23);
  for (unsigned t = 0; t < 400; ++t) {
    std::vector<RowWork> rows;
    for (unsigned i = gen() % 6; i-- > 0;) {
      RowWork w;
      for (uint64_t &c : w.cycles)
        c = gen() % 7;
      w.refetch = gen() % 3 == 0;
      for (uint64_t &c : w.refetchCycles)
        c = gen() % 5;
      rows.push_back(w);
    }
    RowWork same;
    for (uint64_t &c : same.cycles)
      c = gen() % 4 == 0 ? 0 : gen() % 9;
    rows.insert(rows.end(), 50 + gen() % 400, same);
    PipelineParams p;
    p.queueDepth = gen() % 4;
    p.servers[VT] = 1 + gen() % 3;
    if (gen() % 2)
      for (uint64_t &f : p.freeAt)
        f = gen() % 40;
    expectSameAsStepped(rows, p, gen() % 1000, "trial " + std::to_string(t));
  }
  // No work at all: every period is zero cycles long.
  expectSameAsStepped(std::vector<RowWork>(100, row({})), PipelineParams(), 7,
                      "empty rows");
}

TEST(AttentionPipeline, SeveralEnginesServeRowsAtOnce) {
  // QK 2, ValueTopk 10, depth 2. One engine: VT [2,12) [12,22) [22,32)
  // [32,42). Two: row 0 [2,12) and row 1 [4,14) at once, rows 2 and 3 wait
  // in the queue for them: [12,22) [14,24).
  std::vector<RowWork> rows(4, row({0, 2, 0, 0, 0, 10, 0, 0}));
  PipelineParams p;
  EXPECT_EQ(runPipeline(rows, p).cycles, 42u);
  p.servers[VT] = 2;
  PipelineResult r = runPipeline(rows, p);
  EXPECT_EQ(r.cycles, 24u);
  expectStats(r, VT, 22, 0, 2); // some engine busy from 2 to 24
  expectStatsCover(r);
}

TEST(AttentionPipeline, EnginesBeyondTheRowCountChangeNothing) {
  // Four rows can hold at most four engines of a stage: 2^24 of them (a
  // configuration's limit) run as four do, at once, with the same trace.
  std::vector<RowWork> rows = {row({0, 2, 1, 0, 0, 10, 0, 1}),
                               row({0, 2, 1, 0, 0, 3, 0, 1}),
                               row({0, 2, 1, 0, 0, 7, 0, 1}),
                               row({0, 2, 1, 0, 0, 1, 0, 1})};
  PipelineParams four, many;
  four.trace = many.trace = true;
  for (unsigned s = 0; s < kNumStages; ++s) {
    four.servers[s] = 4;
    many.servers[s] = 1u << 24;
  }
  PipelineResult a = runPipeline(rows, four), b = runPipeline(rows, many);
  EXPECT_EQ(a.cycles, b.cycles);
  ASSERT_EQ(a.intervals.size(), b.intervals.size());
  for (size_t i = 0; i < a.intervals.size(); ++i) {
    EXPECT_EQ(a.intervals[i].row, b.intervals[i].row);
    EXPECT_EQ(a.intervals[i].begin, b.intervals[i].begin);
    EXPECT_EQ(a.intervals[i].leave, b.intervals[i].leave);
  }
}

TEST(AttentionPipeline, AShortRowOvertakesALongOneOnAnotherEngine) {
  // Row 0 VT [1,11) on engine 0, row 1 VT [2,4) on engine 1: row 1 reaches
  // PV [4,5) first, row 0 [11,12).
  std::vector<RowWork> rows = {row({0, 1, 0, 0, 0, 10, 0, 1}),
                               row({0, 1, 0, 0, 0, 2, 0, 1})};
  PipelineParams p;
  p.servers[VT] = 2;
  p.trace = true;
  PipelineResult r = runPipeline(rows, p);
  EXPECT_EQ(r.cycles, 12u);
  std::vector<std::pair<uint64_t, uint64_t>> pv;
  for (const StageInterval &i : r.intervals)
    if (i.stage == Stage::PV)
      pv.push_back({i.row, i.begin});
  EXPECT_EQ(pv, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 4}, {0, 11}}));
}

TEST(AttentionPipeline, StagesStartNoRowBeforeTheyAreFree) {
  // QK free from 5, PV from 10: QK [5,8), PV [10,13). The stats cover only
  // the cycles after each stage's freeAt.
  std::vector<RowWork> rows = {row({0, 3, 0, 0, 0, 0, 0, 3})};
  PipelineParams p;
  p.freeAt[QK] = 5;
  p.freeAt[PV] = 10;
  PipelineResult r = runPipeline(rows, p, /*start=*/100);
  EXPECT_EQ(r.cycles, 13u);
  EXPECT_EQ(r.lastLeave[QK], 8u);
  EXPECT_EQ(r.lastLeave[PV], 13u);
  expectStats(r, QK, 3, 0, 5);
  expectStats(r, PV, 3, 0, 0);
}

TEST(AttentionPipeline, RowWorkFromUnits) {
  // Defaults: 512/512 multipliers, 16 softmax lanes, 32x16 crossbar.
  // keys 100, d 64, 30 kept V rows, top-k 12, K fetch 5, V fetch 9:
  //   KF max(5, ceil(100/16) = 7) = 7; QK ceil(6400/512) = 13;
  //   SM ceil(100/16) = 7; PQ 1; IMP 7; VT 12; VF 9; PV ceil(1920/512) = 4.
  AttentionUnits u;
  auto w = rowWork(u, 100, 64, 30, 12, 5, 9, AttentionMode{true, true});
  ASSERT_OK(w);
  EXPECT_EQ(w->cycles,
            (std::array<uint64_t, kNumStages>{7, 13, 7, 1, 7, 12, 9, 4}));
  EXPECT_FALSE(w->refetch);
  // Techniques off: PQ and IMP cost nothing; keys on chip (K fetch 0) do
  // not cross the crossbar; a slow DRAM fetch (20) is above its bound.
  auto off = rowWork(u, 100, 64, 100, 0, 0, 20, AttentionMode{});
  ASSERT_OK(off);
  EXPECT_EQ(off->cycles,
            (std::array<uint64_t, kNumStages>{0, 13, 7, 0, 0, 0, 20, 13}));
  auto slow = rowWork(u, 100, 64, 100, 0, 20, 0, AttentionMode{});
  ASSERT_OK(slow);
  EXPECT_EQ(slow->cycles[KF], 20u);
  // The recompute: LSB fetch 3 -> crossbar bound 7; QK 13, SM 7 again.
  ASSERT_NO_ERR(setRefetch(*w, u, 100, 3));
  EXPECT_TRUE(w->refetch);
  EXPECT_EQ(w->refetchCycles, (std::array<uint64_t, 3>{7, 13, 7}));
  // A 4x8 crossbar passes 4 rows per cycle: ceil(100/4) = 25.
  u.crossbarInputs = 4;
  u.crossbarOutputs = 8;
  auto narrow = rowWork(u, 100, 64, 30, 0, 5, 0, AttentionMode{});
  ASSERT_OK(narrow);
  EXPECT_EQ(narrow->cycles[KF], 25u);
}

TEST(AttentionPipeline, RowWorkRefusesZeroUnits) {
  AttentionUnits u;
  u.softmaxUnits = 0;
  EXPECT_EQ(test::errorOf(rowWork(u, 1, 1, 1, 0, 1, 1, AttentionMode{})),
            "field 'softmax_units': must be positive");
  RowWork w;
  u = AttentionUnits{};
  u.crossbarOutputs = 0;
  EXPECT_EQ(test::errorOf(setRefetch(w, u, 1, 1)),
            "field 'crossbar_outputs': must be positive");
  EXPECT_FALSE(w.refetch);
}

} // namespace

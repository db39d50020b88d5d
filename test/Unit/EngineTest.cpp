//===- EngineTest.cpp - Queues, tokens and sync in the timing engine ------===//
//
// Hand-worked timelines with the first-order DRAM model (latency 100 +
// ceil(bytes / 512) per DMA, the default preset's figures), so that every
// number below follows from the queue rules of docs/ISA.md alone.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "spatten/Sim/Timing/Engine.h"

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim::timing;

namespace {

Work dma(Opcode op, uint64_t bytes, unsigned wait = 0, unsigned signal = 0) {
  Work w;
  w.opcode = op;
  w.depWait = wait;
  w.depSignal = signal;
  w.dram = {{0, bytes}};
  return w;
}

Work compute(Opcode op, uint64_t cycles, unsigned wait = 0,
             unsigned signal = 0) {
  Work w;
  w.opcode = op;
  w.depWait = wait;
  w.depSignal = signal;
  w.computeCycles = cycles;
  return w;
}

/// An ATTN of `rows` rows taking 3 cycles of Q·K and 3 of prob·V each.
Work attn(unsigned rows, bool streams) {
  Work w = compute(Opcode::Attn, 0);
  RowWork row;
  row.cycles[unsigned(Stage::QK)] = 3;
  row.cycles[unsigned(Stage::PV)] = 3;
  w.attn = AttnWork{std::vector<RowWork>(rows, row), PipelineParams(), streams};
  return w;
}

class EngineTest : public ::testing::Test {
protected:
  HardwareConfig hw;
  Engine engine{firstOrderDram(hw)};

  Interval issue(const Work &w) {
    auto when = engine.issue(w);
    std::string error = spatten::test::errorOf(when);
    EXPECT_TRUE(error.empty()) << error;
    return error.empty() ? *when : Interval();
  }
};

TEST_F(EngineTest, QueuesOverlapUnlessTheyWait) {
  // load A [0, 101) signals compute; gemm takes its token [101, 111) and
  // signals store; load B overlaps the gemm on the load queue [101, 202);
  // the store takes the gemm's token [111, 212).
  EXPECT_EQ(issue(dma(Opcode::Load, 16, 0, WaitCompute)).end, 101u);
  Interval gemm = issue(compute(Opcode::Gemm, 10, WaitLoad, WaitStore));
  EXPECT_EQ(gemm.start, 101u);
  EXPECT_EQ(gemm.end, 111u);
  Interval loadB = issue(dma(Opcode::Load, 16));
  EXPECT_EQ(loadB.start, 101u); // queue order only, no wait on compute
  EXPECT_EQ(loadB.end, 202u);
  Interval store = issue(dma(Opcode::Store, 16, WaitCompute));
  EXPECT_EQ(store.start, 111u);
  EXPECT_EQ(store.end, 212u);
  EXPECT_EQ(engine.total(), 212u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Load)], 202u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Compute)], 10u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Store)], 101u);
}

TEST_F(EngineTest, ATokenWaitsOnlyForItsSignaller) {
  issue(dma(Opcode::Load, 16, 0, WaitCompute)); // [0, 101), signals
  issue(dma(Opcode::Gather, 16));               // [101, 202)
  // The later gather does not signal: the vec needs only the load.
  EXPECT_EQ(issue(compute(Opcode::Vec, 3, WaitLoad)).start, 101u);
}

TEST_F(EngineTest, TokensAreTakenInOrder) {
  issue(dma(Opcode::Load, 16, 0, WaitCompute)); // [0, 101)
  issue(dma(Opcode::Load, 16, 0, WaitCompute)); // [101, 202)
  EXPECT_EQ(issue(compute(Opcode::Vec, 3, WaitLoad)).start, 101u);
  EXPECT_EQ(issue(compute(Opcode::Vec, 3, WaitLoad)).start, 202u);
}

TEST_F(EngineTest, AWaitWithoutATokenIsAnError) {
  issue(dma(Opcode::Load, 16)); // signals nobody
  EXPECT_ERR(engine.issue(compute(Opcode::Vec, 3, WaitLoad)),
             "field 'dep_wait': waits for a token from the load queue, but no "
             "earlier instruction of it signals the compute queue "
             "(dep_signal)");
}

TEST_F(EngineTest, SyncWaitsForEveryQueue) {
  issue(dma(Opcode::Load, 16));        // [0, 101)
  issue(compute(Opcode::Attn, 7));     // [0, 7): no wait
  Interval sync = issue(compute(Opcode::Sync, 0));
  EXPECT_EQ(sync.start, 101u);
  // After the sync nothing starts before 101, whatever its queue.
  EXPECT_EQ(issue(compute(Opcode::Topk, 4)).start, 101u);
  EXPECT_EQ(issue(dma(Opcode::Store, 0)).start, 101u);
  EXPECT_ERR(engine.issue(compute(Opcode::Sync, 0, WaitLoad)),
             "must be 0 on sync and halt");
}

TEST_F(EngineTest, ADmaThatMovesNothingTakesNoTime) {
  Interval skipped = issue(dma(Opcode::Load, 0));
  EXPECT_EQ(skipped.cycles(), 0u);
  EXPECT_EQ(engine.events().size(), 1u);
}

TEST_F(EngineTest, ConsecutiveAttnsStreamThroughThePipeline) {
  // Rows: Q·K [0, 3) [3, 6), prob·V [3, 6) [6, 9).
  Interval first = issue(attn(2, false));
  EXPECT_EQ(first.start, 0u);
  EXPECT_EQ(first.end, 9u);
  // The second issues when the first's last row leaves Q·K (6): Q·K
  // [6, 9) [9, 12), prob·V [9, 12) [12, 15), 6 cycles after the first.
  Interval second = issue(attn(2, true));
  EXPECT_EQ(second.start, 6u);
  EXPECT_EQ(second.end, 15u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Compute)], 15u);
  // Not streaming (it reads what the last one wrote): after it, [15, 24).
  Interval third = issue(attn(2, false));
  EXPECT_EQ(third.start, 15u);
  EXPECT_EQ(third.end, 24u);
}

} // namespace

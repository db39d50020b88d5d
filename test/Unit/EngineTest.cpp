//===- EngineTest.cpp - Queues, dep_wait and sync in the timing engine ----===//
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

Work dma(Opcode op, uint64_t bytes, unsigned wait = 0) {
  Work w;
  w.opcode = op;
  w.depWait = wait;
  w.dram = {{0, bytes}};
  return w;
}

Work compute(Opcode op, uint64_t cycles, unsigned wait = 0) {
  Work w;
  w.opcode = op;
  w.depWait = wait;
  w.computeCycles = cycles;
  return w;
}

class EngineTest : public ::testing::Test {
protected:
  HardwareConfig hw;
  Engine engine{firstOrderDram(hw)};
};

TEST_F(EngineTest, QueuesOverlapUnlessTheyWait) {
  // load A [0, 101); gemm waits for loads [101, 111); load B overlaps the
  // gemm on the load queue [101, 202); store waits for compute [111, 212).
  EXPECT_EQ(engine.issue(dma(Opcode::Load, 16)).end, 101u);
  Interval gemm = engine.issue(compute(Opcode::Gemm, 10, WaitLoad));
  EXPECT_EQ(gemm.start, 101u);
  EXPECT_EQ(gemm.end, 111u);
  Interval loadB = engine.issue(dma(Opcode::Load, 16));
  EXPECT_EQ(loadB.start, 101u); // queue order only, no wait on compute
  EXPECT_EQ(loadB.end, 202u);
  Interval store = engine.issue(dma(Opcode::Store, 16, WaitCompute));
  EXPECT_EQ(store.start, 111u);
  EXPECT_EQ(store.end, 212u);
  EXPECT_EQ(engine.total(), 212u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Load)], 202u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Compute)], 10u);
  EXPECT_EQ(engine.busy()[unsigned(Queue::Store)], 101u);
}

TEST_F(EngineTest, WaitingOnAQueueWaitsForItsLastInstruction) {
  engine.issue(dma(Opcode::Load, 16));   // [0, 101)
  engine.issue(dma(Opcode::Gather, 16)); // [101, 202)
  // Both loads are earlier in program order: waiting on the load queue
  // waits for the later one to finish.
  EXPECT_EQ(engine.issue(compute(Opcode::Vec, 3, WaitLoad)).start, 202u);
}

TEST_F(EngineTest, SyncWaitsForEveryQueue) {
  engine.issue(dma(Opcode::Load, 16));        // [0, 101)
  engine.issue(compute(Opcode::Attn, 7));     // [0, 7): no wait
  Interval sync = engine.issue(compute(Opcode::Sync, 0));
  EXPECT_EQ(sync.start, 101u);
  // After the sync nothing starts before 101, whatever its queue.
  EXPECT_EQ(engine.issue(compute(Opcode::Topk, 4)).start, 101u);
  EXPECT_EQ(engine.issue(dma(Opcode::Store, 0)).start, 101u);
}

TEST_F(EngineTest, ADmaThatMovesNothingTakesNoTime) {
  Interval skipped = engine.issue(dma(Opcode::Load, 0));
  EXPECT_EQ(skipped.cycles(), 0u);
  EXPECT_EQ(engine.events().size(), 1u);
}

} // namespace

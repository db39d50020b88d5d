//===- Schedule.cpp - Queue dependencies instead of syncs -----------------===//
//
// Walks a program in order and keeps, per queue, the storage its
// instructions touched. An instruction waits on another queue when one of
// that queue's instructions not yet known to be finished conflicts with it.
// "Known finished" follows the hardware's rules: a queue runs in order, so
// after an instruction of queue P waited on queue Q, every later P
// instruction starts after all Q instructions issued so far, and after
// everything those had waited for.
//
//===----------------------------------------------------------------------===//

#include "spatten/Dialect/ISA/Transforms/Passes.h"
#include "spatten/ISA/Accesses.h"

namespace spatten::isa {
#define GEN_PASS_DEF_SPATTENISASCHEDULE
#include "spatten/Dialect/ISA/Transforms/Passes.h.inc"
} // namespace spatten::isa

using namespace mlir;
using namespace spatten::isa;

namespace {

/// Per queue: the accesses of its instructions in program order, and for
/// every other queue the prefix of that queue's accesses known finished
/// when this queue's next instruction starts.
struct QueueState {
  SmallVector<Access> history;
  std::array<size_t, kNumQueues> finished{};
};

class Scheduler {
public:
  /// The `dep_wait` bits of an instruction of queue `p` with `accesses`.
  unsigned schedule(Queue p, ArrayRef<Access> accesses) {
    QueueState &self = queues[unsigned(p)];
    unsigned wait = 0;
    for (unsigned q = 0; q < kNumQueues; ++q)
      if (q != unsigned(p) && conflictsWithPending(self, q, accesses))
        wait |= 1u << q;
    for (unsigned q = 0; q < kNumQueues; ++q)
      if (wait & (1u << q))
        inheritFinished(self, q);
    self.history.append(accesses.begin(), accesses.end());
    return wait;
  }

private:
  std::array<QueueState, kNumQueues> queues;

  bool conflictsWithPending(const QueueState &self, unsigned q,
                            ArrayRef<Access> accesses) const {
    ArrayRef<Access> pending =
        ArrayRef(queues[q].history).drop_front(self.finished[q]);
    for (const Access &a : accesses)
      for (const Access &b : pending)
        if (a.conflicts(b))
          return true;
    return false;
  }

  /// Waiting on queue q finishes all of q so far, and what q knew finished.
  void inheritFinished(QueueState &self, unsigned q) {
    const QueueState &other = queues[q];
    self.finished[q] = other.history.size();
    for (unsigned r = 0; r < kNumQueues; ++r)
      if (r != q)
        self.finished[r] = std::max(self.finished[r], other.finished[r]);
  }
};

struct SchedulePass
    : spatten::isa::impl::SpAttenISAScheduleBase<SchedulePass> {
  void runOnOperation() override {
    WalkResult r = getOperation().walk([&](ProgramOp program) {
      return WalkResult(schedule(program));
    });
    if (r.wasInterrupted())
      signalPassFailure();
  }

  LogicalResult schedule(ProgramOp program) {
    Scheduler scheduler;
    for (Operation &op : llvm::make_early_inc_range(program.getBody().front())) {
      std::optional<Opcode> opcode = getOpcode(&op);
      if (!opcode)
        continue;
      if (*opcode == Opcode::Sync) {
        op.erase();
        continue;
      }
      std::optional<Queue> queue = queueOf(*opcode);
      if (!queue)
        continue;
      FailureOr<Instr> inst = encodeInstruction(&op);
      if (failed(inst))
        return failure();
      unsigned wait = scheduler.schedule(*queue, accessesOf(*inst));
      if (wait)
        op.setAttr("dep_wait",
                   IntegerAttr::get(IntegerType::get(op.getContext(), 64),
                                    wait));
      else
        op.removeAttr("dep_wait");
    }
    return success();
  }
};

} // namespace

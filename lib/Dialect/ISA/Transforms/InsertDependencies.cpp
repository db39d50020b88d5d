//===- InsertDependencies.cpp - Dependency tokens instead of syncs --------===//
//
// Walks a program in order and keeps, per queue, its instructions and the
// storage each touched. An instruction of queue P that conflicts with an
// instruction J of queue Q not yet known to be finished waits for a token
// from Q, and J (the latest such instruction of Q) signals P. Tokens from Q
// to P are consumed in order, and both queues run in program order, so the
// k-th wait of P on Q takes the token of the k-th Q instruction that
// signals P. "Known finished" follows the hardware's rules: a queue
// finishes in order, so after a P instruction waited for J, every later P
// instruction starts after all Q instructions up to J, and after
// everything those had waited for.
//
//===----------------------------------------------------------------------===//

#include "spatten/Dialect/ISA/Transforms/Passes.h"
#include "spatten/ISA/Accesses.h"

namespace spatten::isa {
#define GEN_PASS_DEF_SPATTENISAINSERTDEPENDENCIES
#include "spatten/Dialect/ISA/Transforms/Passes.h.inc"
} // namespace spatten::isa

using namespace mlir;
using namespace spatten::isa;

namespace {

/// Whether any access of `a` conflicts with any of `b`.
bool conflict(ArrayRef<Access> a, ArrayRef<Access> b) {
  return llvm::any_of(a, [&](const Access &x) {
    return llvm::any_of(b, [&](const Access &y) { return x.conflicts(y); });
  });
}

/// What each instruction of a program accesses, encoded once.
using AccessMap = llvm::DenseMap<Operation *, SmallVector<Access, 8>>;

/// One scheduled instruction of a queue.
struct Scheduled {
  Operation *op;
  SmallVector<Access, 8> accesses;
  /// Per queue, how many of its instructions were known finished when
  /// this one started.
  std::array<size_t, kNumQueues> finished;
  unsigned signal = 0; ///< dep_signal bits
};

class Scheduler {
public:
  /// Schedules `op` of queue `p`: returns its `dep_wait` bits and sets the
  /// `dep_signal` bit p on the instructions it waits for.
  unsigned schedule(Operation *op, Queue p, SmallVector<Access, 8> accesses) {
    std::array<size_t, kNumQueues> &known = finished[unsigned(p)];
    unsigned wait = 0;
    for (unsigned q = 0; q < kNumQueues; ++q) {
      if (q == unsigned(p))
        continue;
      std::optional<size_t> j = lastConflict(q, known[q], accesses);
      if (!j)
        continue;
      wait |= 1u << q;
      queues[q][*j].signal |= 1u << unsigned(p);
      inheritFinished(known, q, *j);
    }
    queues[unsigned(p)].push_back({op, std::move(accesses), known, 0});
    return wait;
  }

  /// Writes the `dep_signal` bits (after the whole program is scheduled).
  void writeSignals() {
    for (auto &queue : queues)
      for (Scheduled &s : queue)
        setBits(s.op, "dep_signal", s.signal);
  }

  static void setBits(Operation *op, StringRef name, unsigned bits) {
    if (bits)
      op->setAttr(name, IntegerAttr::get(IntegerType::get(op->getContext(), 64),
                                         bits));
    else
      op->removeAttr(name);
  }

private:
  std::array<std::vector<Scheduled>, kNumQueues> queues;
  /// Per queue P, per queue Q: how many Q instructions P's next one knows
  /// finished.
  std::array<std::array<size_t, kNumQueues>, kNumQueues> finished{};

  /// The latest instruction of queue q from `from` on that conflicts with
  /// `accesses`.
  std::optional<size_t> lastConflict(unsigned q, size_t from,
                                     ArrayRef<Access> accesses) const {
    const std::vector<Scheduled> &queue = queues[q];
    for (size_t j = queue.size(); j-- > from;)
      if (conflict(accesses, queue[j].accesses))
        return j;
    return std::nullopt;
  }

  /// Waiting for instruction j of queue q finishes q up to j, and what j
  /// knew finished when it started.
  void inheritFinished(std::array<size_t, kNumQueues> &known, unsigned q,
                       size_t j) {
    known[q] = j + 1;
    for (unsigned r = 0; r < kNumQueues; ++r)
      if (r != q)
        known[r] = std::max(known[r], queues[q][j].finished[r]);
  }
};

struct InsertDependenciesPass
    : spatten::isa::impl::SpAttenISAInsertDependenciesBase<InsertDependenciesPass> {
  void runOnOperation() override {
    WalkResult r = getOperation().walk([&](ProgramOp program) {
      return WalkResult(schedule(program));
    });
    if (r.wasInterrupted())
      signalPassFailure();
  }

  /// Moves each store below the loads that follow it when they touch
  /// nothing it does: the next tile's loads then reach DRAM before a store
  /// that waits for compute, as the load queue would issue them (the
  /// simulator's DRAM model takes requests in program order). A store's
  /// binds move with it; a load's stay before the load.
  static void sinkStores(ProgramOp program, const AccessMap &accesses) {
    SmallVector<Operation *> stores;
    for (Operation &op : program.getBody().front())
      if (getOpcode(&op) == Opcode::Store)
        stores.push_back(&op);
    for (Operation *store : stores) {
      Operation *after = nullptr;
      for (Operation *next = store->getNextNode(); next;
           next = next->getNextNode()) {
        if (isa<BindOp>(next))
          continue; // belongs to the instruction after it
        std::optional<Opcode> opcode = getOpcode(next);
        if (!opcode || (*opcode != Opcode::Load && *opcode != Opcode::Gather) ||
            conflict(accesses.at(next), accesses.at(store)))
          break;
        after = next;
      }
      if (!after)
        continue;
      SmallVector<BindOp> binds = getBinds(store);
      store->moveAfter(after);
      for (BindOp bind : binds)
        bind->moveBefore(store);
    }
  }

  /// The words of the binds directly before `op`.
  static FailureOr<SmallVector<Instr>> encodeBinds(Operation *op) {
    SmallVector<Instr> words;
    for (BindOp bind : getBinds(op)) {
      FailureOr<Instr> word = encodeInstruction(bind);
      if (failed(word))
        return failure();
      words.push_back(*word);
    }
    return words;
  }

  /// Removes the syncs and encodes every queued instruction once, with the
  /// binds that patch it (binds themselves are not scheduled: they take no
  /// queue slot and carry no tokens).
  static FailureOr<AccessMap> collectAccesses(ProgramOp program) {
    AccessMap accesses;
    for (Operation &op : llvm::make_early_inc_range(program.getBody().front())) {
      std::optional<Opcode> opcode = getOpcode(&op);
      if (opcode == Opcode::Sync) {
        op.erase();
        continue;
      }
      if (!opcode || !queueOf(*opcode))
        continue;
      FailureOr<Instr> inst = encodeInstruction(&op);
      FailureOr<SmallVector<Instr>> binds = encodeBinds(&op);
      if (failed(inst) || failed(binds))
        return failure();
      accesses[&op] = accessesOf(*inst, *binds);
    }
    return accesses;
  }

  LogicalResult schedule(ProgramOp program) {
    FailureOr<AccessMap> accesses = collectAccesses(program);
    if (failed(accesses))
      return failure();
    sinkStores(program, *accesses);
    Scheduler scheduler;
    for (Operation &op : program.getBody().front())
      if (auto it = accesses->find(&op); it != accesses->end()) {
        Queue queue = *queueOf(*getOpcode(&op));
        unsigned wait = scheduler.schedule(&op, queue, std::move(it->second));
        Scheduler::setBits(&op, "dep_wait", wait);
      }
    scheduler.writeSignals();
    return success();
  }
};

} // namespace

//===- HbmTransactionModel.h - Per-transaction HBM2 scheduler ---*- C++ -*-===//
//
// The HBM2 model of docs/Memory.md, scheduled one 32-byte transaction at a
// time: the executable specification HbmModel is tested against (random
// request traces must give identical cycles, counters and traces) and the
// "before" of bench/hbm_bench. The simulator runs HbmModel.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_HBMTRANSACTIONMODEL_H
#define SPATTEN_SIM_TIMING_HBMTRANSACTIONMODEL_H

#include "spatten/Sim/Timing/Hbm.h"

namespace spatten::sim::timing {

class HbmTransactionModel final : public HbmModelBase {
public:
  explicit HbmTransactionModel(HbmTiming p);

private:
  /// A transaction in the window. `outcome` and `first` are set when its
  /// bank opens its row for it (Miss/Conflict and the ACT/PRE cycle); a
  /// request served from a row opened for another stays a Hit.
  struct Pending {
    /// Channel::arrivals when it arrived: lower is older. ~0 once it left.
    uint64_t arrival;
    uint64_t addr;
    HbmLocation loc;
    bool write;
    uint64_t enter = 0;
    HbmRowOutcome outcome = HbmRowOutcome::Hit;
    uint64_t first = 0;
  };
  /// The window's requests for one bank, oldest first from `head`, and how
  /// many of them want the bank's current row (`Bank::row`, open or not).
  struct BankQueue {
    std::vector<Pending *> waiting;
    size_t head = 0;
    size_t wantRow = 0;
    bool empty() const { return head == waiting.size(); }
    Pending *front() const { return waiting[head]; }
    llvm::ArrayRef<Pending *> all() const {
      return llvm::ArrayRef(waiting).drop_front(head);
    }
  };
  /// Where runChannel() is in its channel's runs.
  struct Cursor {
    size_t run = 0;
    uint64_t offset = 0; ///< transactions of `run` already admitted
  };

  uint64_t runChannel(unsigned c, llvm::ArrayRef<Run> runs,
                      uint64_t issue) override;
  void fill(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs, Cursor &at,
            uint64_t issue);
  Pending *admit(Channel &ch, unsigned c, const Run &run, uint64_t offset,
                 uint64_t issue);
  void addToWindow(const Channel &ch, Pending *e);
  void removeFromWindow(const Channel &ch, Pending *e);
  void dropLeftFromOrder();
  void openFor(Channel &ch, unsigned bank);
  void replanAll(Channel &ch);
  uint64_t columnReady(const Channel &ch, const Pending &e) const;
  Pending *pickFrFcfs(const Channel &ch) const;

  // The scheduler window of the channel being run, kept per bank so that
  // row and column decisions look at a bank's own requests. Empty between
  // runChannel() calls.
  std::vector<Pending> slots_;   // schedulerWindow entries, reused
  std::vector<Pending *> free_;  // slots not in use
  std::vector<BankQueue> banks_; // indexed by bank
  std::vector<unsigned> active_; // banks with waiting requests, any order
  size_t size_ = 0;
  /// Every request admitted, in arrival order, with its arrival number; an
  /// entry whose slot no longer holds that arrival has left. From
  /// `orderHead_` on, the first entry is the oldest request present.
  std::vector<std::pair<Pending *, uint64_t>> order_;
  size_t orderHead_ = 0;
  Pending *oldestPending() const { return order_[orderHead_].first; }
};

} // namespace spatten::sim::timing

#endif

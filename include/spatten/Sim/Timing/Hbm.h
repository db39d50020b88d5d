//===- Hbm.h - HBM2 DRAM timing model ---------------------------*- C++ -*-===//
//
// Per-channel banks with open rows (open-page policy), row hit / miss /
// conflict timing from tRCD, tRP, tCL, tRAS and the burst time, all-bank
// refresh every tREFI, a windowed FR-FCFS scheduler per channel, and address
// interleaving over channels and banks (docs/Memory.md). Every time is in
// cycles of the accelerator clock (1 GHz in the paper's design, so one cycle
// is one nanosecond); every size is in bytes.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_HBM_H
#define SPATTEN_SIM_TIMING_HBM_H

#include "spatten/Support/HbmTiming.h"

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace spatten::sim::timing {

/// `bytes` bytes at DRAM byte address `addr`; split into every
/// transactionBytes-aligned block it touches.
struct HbmRequest {
  uint64_t addr = 0;
  uint64_t bytes = 0;
  bool write = false;
};

/// Counters since construction. `bytes` counts whole transactions (what the
/// data buses moved), not the requested bytes.
struct HbmStats {
  uint64_t transactions = 0, bytes = 0;
  uint64_t rowHits = 0;
  uint64_t rowMisses = 0;    ///< the bank was closed (first use, refresh)
  uint64_t rowConflicts = 0; ///< another row of the bank was open
  /// All-bank refreshes applied, summed over channels. Refresh is applied
  /// lazily: a channel counts the refreshes up to its latest transaction.
  uint64_t refreshes = 0;
  /// Per channel: cycles its data bus carried data (tBurst per transaction).
  std::vector<uint64_t> channelBusyCycles;
};

/// Where a byte address lives (docs/Memory.md, "Address mapping").
struct HbmLocation {
  unsigned channel = 0, bank = 0;
  uint64_t row = 0;
  uint64_t column = 0; ///< byte offset inside the row
};

enum class HbmRowOutcome { Hit, Miss, Conflict };

/// One scheduled transaction, for tests and a later timeline trace. Cycles
/// are absolute; `firstCommand` is the PRE (conflict), ACT (miss) or column
/// command (hit) that started it.
struct HbmTransactionTrace {
  uint64_t addr = 0; ///< transactionBytes-aligned
  bool write = false;
  HbmLocation location;
  HbmRowOutcome outcome = HbmRowOutcome::Miss;
  uint64_t arrival = 0;      ///< the `issue` of its access() call
  uint64_t enter = 0;        ///< it entered the scheduler window
  uint64_t firstCommand = 0; ///< see above
  uint64_t column = 0;       ///< its READ/WRITE command
  uint64_t dataStart = 0;    ///< column + tCL
  uint64_t done = 0;         ///< dataStart + tBurst
};

class HbmModel {
public:
  /// `p` must have passed HbmTiming::validate().
  explicit HbmModel(HbmTiming p);

  /// All transactions of `requests` (one DMA instruction's rows) arrive at
  /// cycle `issue`; returns the cycle at which the last of them completes
  /// (read data returned / write data written), or `issue` when there is
  /// none. Bank state, bus occupancy and refresh persist across calls. Calls
  /// are expected in non-decreasing `issue` order: an earlier `issue` is
  /// clamped to the latest one seen. A call's transactions are scheduled
  /// after every earlier call's (no reordering across calls).
  uint64_t access(llvm::ArrayRef<HbmRequest> requests, uint64_t issue);

  const HbmStats &stats() const { return stats_; }
  const HbmTiming &params() const { return p_; }
  /// Peak bytes per cycle: channels x transactionBytes / tBurst.
  double peakBytesPerCycle() const;
  /// The channel, bank, row and column of byte address `addr`.
  HbmLocation locate(uint64_t addr) const;
  /// Called once per transaction, in the order each channel serves them.
  void setTraceHook(std::function<void(const HbmTransactionTrace &)> hook) {
    trace_ = std::move(hook);
  }

private:
  struct Bank {
    bool open = false;
    uint64_t row = 0;
    uint64_t actAt = 0;       ///< ACT of the open row (may be planned ahead)
    uint64_t lastDataEnd = 0; ///< its last transaction's `done`
    uint64_t idleFrom = 0;    ///< earliest ACT while closed
  };
  struct Channel {
    std::vector<Bank> banks;
    uint64_t busFree = 0;     ///< data bus free from this cycle
    uint64_t nextRefresh = 0; ///< the next refresh not yet applied
    uint64_t arrivals = 0;    ///< transactions ever received
    /// Column-command cycle of the last schedulerWindow picks, by pick
    /// number modulo the window: a pick frees its window slot then.
    std::vector<uint64_t> slotFreed;
    unsigned enterSlot = 0, pickSlot = 0; ///< arrivals, picks modulo window
  };
  /// `count` consecutive transactions of one channel from its transaction
  /// number `local` (channel-local byte address / transactionBytes), in
  /// arrival order. A call's contiguous requests
  /// merge into one run, so enqueueing costs one step per interleave block
  /// and a transaction exists only while it is in the window.
  struct Run {
    uint64_t local, count;
    bool write;
  };
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
  /// Most requests leave from the head, which then just moves.
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
  /// The scheduler window of the channel being run, kept per bank so that
  /// row and column decisions look at a bank's own requests rather than
  /// scanning the whole window. Empty between runChannel() calls.
  struct Window {
    std::vector<Pending> slots;   // schedulerWindow entries, reused
    std::vector<Pending *> free;  // slots not in use
    std::vector<BankQueue> banks; // indexed by bank
    std::vector<unsigned> active; // banks with waiting requests, any order
    size_t size = 0;
    /// Every request admitted, in arrival order, with its arrival number;
    /// an entry whose slot no longer holds that arrival has left. From
    /// `orderHead` on, the first entry is the oldest request present.
    std::vector<std::pair<Pending *, uint64_t>> order;
    size_t orderHead = 0;
    Pending *oldest() const { return order[orderHead].first; }
  };
  /// Where runChannel() is in its channel's runs.
  struct Cursor {
    size_t run = 0;
    uint64_t offset = 0; ///< transactions of `run` already admitted
  };

  uint64_t runChannel(unsigned c, llvm::ArrayRef<Run> runs, uint64_t issue);
  void enqueue(const HbmRequest &r);
  void enqueueBlock(uint64_t block, uint64_t firstTxn, uint64_t lastTxn,
                    bool write);
  HbmLocation localLocation(unsigned c, uint64_t local) const;
  uint64_t globalAddr(unsigned c, uint64_t local) const;
  void fill(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs, Cursor &at,
            uint64_t issue);
  Pending *admit(Channel &ch, unsigned c, const Run &run, uint64_t offset,
                 uint64_t issue);
  uint64_t enterCycle(Channel &ch, uint64_t issue);
  void addToWindow(const Channel &ch, Pending *e);
  void removeFromWindow(const Channel &ch, Pending *e);
  void dropLeftFromOrder();
  void openFor(Channel &ch, unsigned bank);
  void replanAll(Channel &ch);
  uint64_t columnReady(const Channel &ch, const Pending &e) const;
  uint64_t columnSlot(const Channel &ch) const;
  Pending *pickFrFcfs(const Channel &ch) const;
  void commit(Channel &ch, const Pending &t, uint64_t done);
  bool refreshUpTo(Channel &ch, uint64_t cycle);

  HbmTiming p_;
  unsigned txnShift_, interleaveShift_, channelShift_, rowShift_, bankShift_;
  std::vector<Channel> channels_;
  std::vector<std::vector<Run>> queues_; // per-call scratch, per channel
  Window window_;                        // runChannel() scratch
  uint64_t lastIssue_ = 0;
  HbmStats stats_;
  std::function<void(const HbmTransactionTrace &)> trace_;
};

/// Achieved over peak bandwidth of `requests` issued together at cycle 0 on
/// a fresh model: transaction bytes / (completion cycle x
/// peakBytesPerCycle()). What the microbenchmarks and docs/Memory.md report.
double bandwidthRatio(const HbmTiming &p, llvm::ArrayRef<HbmRequest> requests);

/// One read of `bytes` bytes from `base`: a long sequential stream.
std::vector<HbmRequest> sequentialReads(uint64_t base, uint64_t bytes);

/// `count` reads of `bytes` bytes at random `bytes`-aligned addresses below
/// `spanBytes` (a power of two): an index-scattered gather. Deterministic for
/// a given seed (std::mt19937_64, whose output the C++ standard fixes).
std::vector<HbmRequest> scatteredReads(uint64_t count, uint64_t bytes,
                                       uint64_t spanBytes, uint64_t seed);

} // namespace spatten::sim::timing

#endif

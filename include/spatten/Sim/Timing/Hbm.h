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
#include <memory>
#include <vector>

namespace spatten::sim::timing {

namespace hbm_memo {
struct Outcome; // lib/Sim/Timing/HbmMemo.h: what HbmModel's memo records
}

/// `count` rows of `bytes` bytes, the first at DRAM byte address `addr`
/// and each next one `stride` bytes further (a DMA's rows, in order); each
/// row is split into every transactionBytes-aligned block it touches.
struct HbmRequest {
  uint64_t addr = 0;
  uint64_t bytes = 0;
  bool write = false;
  uint64_t count = 1;
  uint64_t stride = 0;
};

/// Appends one row of `bytes` at `addr` to `rows`: as one more row of the
/// last request when it continues that request's progression (a tile's
/// rows, or a gather of consecutive indices), else as a new request.
void appendRow(std::vector<HbmRequest> &rows, uint64_t addr, uint64_t bytes,
               bool write);

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

/// What every HBM scheduler of the simulator shares: the address mapping,
/// per-channel bank and data-bus state, refresh, the scheduler window's
/// entry rule, and the counters. A scheduler implements runChannel(); the
/// two here (HbmModel and HbmTransactionModel) serve the same transactions
/// at the same cycles, which a property test checks.
class HbmModelBase {
public:
  /// `p` must have passed HbmTiming::validate().
  explicit HbmModelBase(HbmTiming p);
  virtual ~HbmModelBase();

  /// All transactions of `requests` (one DMA instruction's rows) arrive at
  /// cycle `issue`; returns the cycle at which the last of them completes
  /// (read data returned / write data written), or `issue` when there is
  /// none. Bank state, bus occupancy and refresh persist across calls. Calls
  /// are expected in non-decreasing `issue` order: an earlier `issue` is
  /// clamped to the latest one seen. A call's transactions are scheduled
  /// after every earlier call's (no reordering across calls).
  uint64_t access(llvm::ArrayRef<HbmRequest> requests, uint64_t issue);

  /// Back to power-on: banks closed, data buses free, the first refresh
  /// due at tREFI, counters zero. HbmModel keeps its memo, which holds at
  /// any cycle.
  void reset();

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

protected:
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
    uint64_t arrivals = 0;    ///< transactions ever admitted
    uint64_t picks = 0;       ///< transactions ever served
    unsigned pickSlot = 0;    ///< picks modulo the window
    /// Column-command cycle of the last schedulerWindow picks, by pick
    /// number modulo the window: a pick frees its window slot then.
    std::vector<uint64_t> slotFreed;
    /// HbmModel's memo: the recorded outcome whose state, taken relative to
    /// `originIssue`, the channel holds since its last call (null if that
    /// call was scheduled and not recorded).
    const hbm_memo::Outcome *origin = nullptr;
    uint64_t originIssue = 0;
  };
  /// `count` consecutive transactions of one channel from its transaction
  /// number `local` (channel-local byte address / transactionBytes), in
  /// arrival order. A call's contiguous requests merge into one run.
  struct Run {
    uint64_t local, count;
    bool write;
  };

  /// Serves every run of channel `c`, arriving at `issue`, and returns the
  /// completion cycle of the last (at least `issue`). The window is empty
  /// before and after.
  virtual uint64_t runChannel(unsigned c, llvm::ArrayRef<Run> runs,
                              uint64_t issue) = 0;

  HbmLocation localLocation(unsigned c, uint64_t local) const;
  uint64_t globalAddr(unsigned c, uint64_t local) const;
  /// Transactions of `local` (a transaction number) to the end of its row.
  uint64_t leftInRow(uint64_t local) const;
  /// When the channel's arrival number `arrival`, of a call issued at
  /// `issue`, enters the window (docs/Memory.md, "FR-FCFS scheduler"), once
  /// the picks before it have been made.
  uint64_t enterCycle(const Channel &ch, uint64_t arrival,
                      uint64_t issue) const;
  /// Records `count` picks whose column commands are `column`,
  /// `column + tBurst`, ...: each frees a window slot then.
  void freeSlots(Channel &ch, uint64_t column, uint64_t count);
  /// The earliest column command the data bus allows next.
  uint64_t columnSlot(const Channel &ch) const;
  /// Applies every refresh due by `cycle`; true if one was.
  bool refreshUpTo(Channel &ch, uint64_t cycle);
  /// Counts `count` transactions of `bank` served back to back, the first
  /// with `firstOutcome` and the rest row hits, the last done at `lastDone`.
  void countServed(Channel &ch, unsigned c, unsigned bank,
                   HbmRowOutcome firstOutcome, uint64_t count,
                   uint64_t lastDone);

  HbmTiming p_;
  unsigned txnShift_, interleaveShift_, channelShift_, rowShift_, bankShift_;
  std::vector<Channel> channels_;
  HbmStats stats_;
  std::function<void(const HbmTransactionTrace &)> trace_;

private:
  /// Adds one row of `r` to the call, joined to `pending` (a row not yet
  /// enqueued) where the two share no transaction.
  void addRow(HbmRequest &pending, uint64_t addr, uint64_t bytes, bool write);
  void enqueue(const HbmRequest &r);
  void enqueueRun(unsigned c, uint64_t local, uint64_t count, bool write);
  uint64_t localTxn(uint64_t txn) const;

  std::vector<std::vector<Run>> queues_; // per-call scratch, per channel
  uint64_t lastIssue_ = 0;
};

// The address and bus helpers run for every burst: inline, so that the
// schedulers in other files can inline them.

inline HbmLocation HbmModelBase::localLocation(unsigned c,
                                               uint64_t local) const {
  HbmLocation loc;
  loc.channel = c;
  loc.column = local & (p_.rowBytes - 1);
  loc.bank = unsigned((local >> rowShift_) & (p_.banksPerChannel - 1));
  loc.row = local >> (rowShift_ + bankShift_);
  return loc;
}

inline uint64_t HbmModelBase::leftInRow(uint64_t local) const {
  uint64_t perRow = uint64_t(1) << (rowShift_ - txnShift_);
  return perRow - (local & (perRow - 1));
}

inline uint64_t HbmModelBase::columnSlot(const Channel &ch) const {
  // Data leaves in column-command order on the shared bus, so the next
  // column command is issued no earlier than tCL before the bus frees.
  return ch.busFree > p_.tCL ? ch.busFree - p_.tCL : 0;
}

/// The HBM2 model the simulator runs: per channel, FR-FCFS over the window
/// as docs/Memory.md specifies, at a cost per burst of column commands to
/// an open row rather than per transaction. The window holds segments
/// (consecutive arrivals to one bank row); a pick serves as much of a
/// segment as FR-FCFS would serve back to back, and the transactions that
/// enter meanwhile are admitted together. Cycles, counters and the trace
/// equal HbmTransactionModel's.
///
/// A channel's share of a call is served from a memo when the channel's
/// state and the share's bank and row pattern repeat an earlier call's up
/// to a shift in time and a renaming of rows, and the earlier call ended
/// before the next refresh would have fallen due (HbmMemo.cpp,
/// docs/Memory.md "Repeated calls"). Weight tiles repeat that way from
/// tile to tile and layer to layer. With a trace hook set, or `memoize`
/// false, every call is scheduled.
class HbmModel final : public HbmModelBase {
public:
  explicit HbmModel(HbmTiming p, bool memoize = true);
  ~HbmModel() override;

  /// Channel shares served from the memo, and scheduled, since construction.
  uint64_t replayedShares() const { return replayed_; }
  uint64_t scheduledShares() const { return scheduled_; }

private:
  /// Consecutive arrivals for one row of one bank, whose entry cycles step
  /// evenly. Only its front can be served next, so only the front's row
  /// outcome is kept: the rest are row hits.
  struct Segment {
    uint64_t id = 0;      ///< unique while in the window
    uint64_t arrival = 0; ///< arrival number of the front
    uint64_t local = 0;   ///< channel-local transaction number of the front
    uint64_t enter = 0;   ///< the front entered the window then
    uint64_t enterStep = 0; ///< entry j entered at enter + j x enterStep
    uint64_t row = 0;
    uint64_t count = 0;
    unsigned bank = 0;
    bool write = false;
    HbmRowOutcome outcome = HbmRowOutcome::Hit; ///< the front's
    uint64_t first = 0; ///< the front's PRE or ACT, when not a hit
  };
  /// A bank's segments, oldest first, and how many transactions of them
  /// want the bank's current row (`Bank::row`, open or not).
  struct BankSegments {
    std::vector<unsigned> segments;
    uint64_t wantRow = 0;
  };
  /// Where runChannel() is in its channel's runs.
  struct Cursor {
    size_t run = 0;
    uint64_t offset = 0;   ///< transactions of `run` already admitted
    uint64_t left = 0;     ///< transactions of every run not yet admitted
  };

  uint64_t runChannel(unsigned c, llvm::ArrayRef<Run> runs,
                      uint64_t issue) override;
  /// Serves a share from the memo's outcome `o`.
  void replay(Channel &ch, unsigned c, uint64_t issue,
              const hbm_memo::Outcome &o);
  /// Records the share just scheduled (stats_ were `before` it) in the memo
  /// if it can be replayed, and makes it the channel's origin.
  void keep(Channel &ch, uint64_t issue, uint64_t end,
            const HbmStats &before);
  /// FR-FCFS over the window for one call's share; runChannel() without
  /// the memo. Sets reach_.
  uint64_t schedule(unsigned c, llvm::ArrayRef<Run> runs, uint64_t issue);
  void fillAtStart(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs,
                   Cursor &at, uint64_t issue);
  static void advance(Cursor &at, llvm::ArrayRef<Run> runs, uint64_t n);
  /// Admits what enters after `picks` picks, the first at `column`.
  void admitServed(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs,
                   Cursor &at, uint64_t column, uint64_t picks);
  /// Adds `count` transactions from `local`, all in one row, entering at
  /// `enter`, `enter + step`, ...; with `decideRow`, asks their bank's row.
  void append(Channel &ch, unsigned c, uint64_t arrival, uint64_t local,
              uint64_t count, bool write, uint64_t enter, uint64_t step,
              bool decideRow);
  bool extendTail(const HbmLocation &loc, uint64_t local, uint64_t count,
                  bool write, uint64_t enter, uint64_t step);
  void openFor(Channel &ch, unsigned bank);
  void replanAll(Channel &ch);
  /// The segment FR-FCFS serves next; `first` is oldest().
  unsigned pick(const Channel &ch, unsigned first);
  unsigned frontOfRow(const Channel &ch, unsigned bank) const;
  uint64_t columnReady(const Channel &ch, const Segment &s) const;
  uint64_t burstLength(const Channel &ch, const Segment &s, uint64_t column,
                       bool isOldest) const;
  void serve(Channel &ch, unsigned c, const Segment &s, uint64_t column,
             uint64_t count, uint64_t issue);
  void pop(unsigned index, uint64_t count);
  unsigned oldest();

  // The scheduler window of the channel being run; empty between
  // runChannel() calls.
  std::vector<Segment> pool_;
  std::vector<unsigned> freeSegments_;
  std::vector<BankSegments> banks_;
  std::vector<unsigned> active_; ///< banks with segments, any order
  /// Segments in arrival order, by (index, id); a stale id has left.
  std::vector<std::pair<unsigned, uint64_t>> order_;
  size_t orderHead_ = 0;
  uint64_t size_ = 0;   ///< transactions in the window
  uint64_t nextId_ = 1;
  int64_t tail_ = -1;   ///< the youngest segment, while it is in the window
  /// The latest cycle by which schedule()'s picks needed no refresh: the
  /// end of each picked segment as if served whole.
  uint64_t reach_ = 0;

  struct Memo; // HbmMemo.cpp
  std::unique_ptr<Memo> memo_;
  bool memoize_;
  uint64_t replayed_ = 0, scheduled_ = 0;
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

//===- Hbm.cpp - HBM2 DRAM timing model -----------------------------------===//
//
// docs/Memory.md describes the model; the comments here say why each rule
// is the way it is.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/Hbm.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <random>

using namespace spatten::sim::timing;
using spatten::HbmTiming;

HbmModel::HbmModel(HbmTiming p) : p_(p) {
  txnShift_ = llvm::Log2_64(p_.transactionBytes);
  interleaveShift_ = llvm::Log2_64(p_.interleaveBytes);
  channelShift_ = llvm::Log2_64(p_.channels);
  rowShift_ = llvm::Log2_64(p_.rowBytes);
  bankShift_ = llvm::Log2_64(p_.banksPerChannel);
  channels_.resize(p_.channels);
  for (Channel &ch : channels_) {
    ch.banks.resize(p_.banksPerChannel);
    ch.slotFreed.assign(p_.schedulerWindow, 0);
    ch.nextRefresh = p_.tREFI;
  }
  queues_.resize(p_.channels);
  window_.slots.resize(p_.schedulerWindow);
  for (Pending &slot : window_.slots)
    window_.free.push_back(&slot);
  window_.banks.resize(p_.banksPerChannel);
  stats_.channelBusyCycles.assign(p_.channels, 0);
}

double HbmModel::peakBytesPerCycle() const {
  return double(p_.channels) * p_.transactionBytes / p_.tBurst;
}

HbmLocation HbmModel::locate(uint64_t addr) const {
  // Channel bits sit right above the interleave block; removing them gives
  // the channel-local address, which splits into column | bank | row.
  unsigned channel =
      unsigned((addr >> interleaveShift_) & (p_.channels - 1));
  uint64_t local = ((addr >> (interleaveShift_ + channelShift_))
                    << interleaveShift_) |
                   (addr & (p_.interleaveBytes - 1));
  return localLocation(channel, local);
}

HbmLocation HbmModel::localLocation(unsigned c, uint64_t local) const {
  HbmLocation loc;
  loc.channel = c;
  loc.column = local & (p_.rowBytes - 1);
  loc.bank = unsigned((local >> rowShift_) & (p_.banksPerChannel - 1));
  loc.row = local >> (rowShift_ + bankShift_);
  return loc;
}

uint64_t HbmModel::globalAddr(unsigned c, uint64_t local) const {
  // locate() backwards: the channel bits go back above the block offset.
  return ((local >> interleaveShift_) << (interleaveShift_ + channelShift_)) |
         (uint64_t(c) << interleaveShift_) |
         (local & (p_.interleaveBytes - 1));
}

void HbmModel::enqueue(const HbmRequest &r) {
  if (r.bytes == 0)
    return;
  // Every transaction-aligned block the request touches; the last byte is
  // clamped so that a request running past 2^64 cannot wrap around. An
  // interleave block's transactions share a channel and are consecutive
  // there, so the request is walked block by block.
  uint64_t lastByte = r.addr + std::min(r.bytes - 1, ~uint64_t(0) - r.addr);
  uint64_t first = r.addr >> txnShift_, last = lastByte >> txnShift_;
  unsigned perBlock = interleaveShift_ - txnShift_;
  uint64_t inBlock = (uint64_t(1) << perBlock) - 1;
  for (uint64_t block = first >> perBlock;; ++block) {
    uint64_t lo = std::max(first, block << perBlock);
    uint64_t hi = std::min(last, (block << perBlock) | inBlock);
    enqueueBlock(block, lo, hi, r.write);
    if (hi == last)
      break;
  }
}

void HbmModel::enqueueBlock(uint64_t block, uint64_t firstTxn,
                            uint64_t lastTxn, bool write) {
  // Transactions firstTxn..lastTxn of interleave block `block`, which lives
  // in channel `c`; removing the channel bits numbers them inside it.
  unsigned perBlock = interleaveShift_ - txnShift_;
  unsigned c = unsigned(block & (p_.channels - 1));
  uint64_t local = ((block >> channelShift_) << perBlock) |
                   (firstTxn & ((uint64_t(1) << perBlock) - 1));
  uint64_t count = lastTxn - firstTxn + 1;
  std::vector<Run> &runs = queues_[c];
  if (!runs.empty() && runs.back().write == write &&
      runs.back().local + runs.back().count == local) {
    runs.back().count += count;
    return;
  }
  runs.push_back({local, count, write});
}

uint64_t HbmModel::access(llvm::ArrayRef<HbmRequest> requests,
                          uint64_t issue) {
  // Out-of-order calls are clamped rather than refused: the caller's clock
  // only moves forward, and the model's state already reflects later work.
  issue = std::max(issue, lastIssue_);
  lastIssue_ = issue;
  for (const HbmRequest &r : requests)
    enqueue(r);
  uint64_t end = issue;
  for (unsigned c = 0; c < p_.channels; ++c) {
    if (queues_[c].empty())
      continue;
    end = std::max(end, runChannel(c, queues_[c], issue));
    queues_[c].clear();
  }
  return end;
}

uint64_t HbmModel::enterCycle(Channel &ch, uint64_t issue) {
  // The window is the channel's queue: arrival g takes the slot that pick
  // g - W freed at its column command (a queue entry retires at CAS); that
  // is slot g mod W, as pick g - W wrote it.
  uint64_t g = ch.arrivals++;
  unsigned slot = ch.enterSlot;
  ch.enterSlot = slot + 1 == p_.schedulerWindow ? 0 : slot + 1;
  if (g < p_.schedulerWindow)
    return issue;
  return std::max(issue, ch.slotFreed[slot]);
}

HbmModel::Pending *HbmModel::admit(Channel &ch, unsigned c, const Run &run,
                                   uint64_t offset, uint64_t issue) {
  Pending *e = window_.free.back();
  window_.free.pop_back();
  uint64_t local = (run.local + offset) << txnShift_;
  e->arrival = ch.arrivals;
  e->enter = enterCycle(ch, issue);
  e->addr = globalAddr(c, local);
  e->loc = localLocation(c, local);
  e->write = run.write;
  e->outcome = HbmRowOutcome::Hit;
  e->first = 0;
  return e;
}

void HbmModel::fill(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs,
                    Cursor &at, uint64_t issue) {
  bool refreshed = false;
  size_t admitted = 0;
  Pending *last = nullptr;
  while (window_.size < p_.schedulerWindow && at.run < runs.size()) {
    last = admit(ch, c, runs[at.run], at.offset, issue);
    if (++at.offset == runs[at.run].count)
      at = {at.run + 1, 0};
    refreshed |= refreshUpTo(ch, last->enter);
    addToWindow(ch, last);
    ++admitted;
  }
  if (refreshed)
    return replanAll(ch);
  // Row decisions come after every admission, as a newcomer may want the
  // row its bank has open. Banks without newcomers already have their row
  // open for a waiting request, so openFor() would leave them alone; after
  // a pick only one request enters, and only its bank is asked.
  if (admitted == 1)
    return openFor(ch, last->loc.bank);
  for (unsigned bank : window_.active)
    openFor(ch, bank);
}

void HbmModel::addToWindow(const Channel &ch, Pending *e) {
  BankQueue &q = window_.banks[e->loc.bank];
  if (q.empty())
    window_.active.push_back(e->loc.bank);
  q.waiting.push_back(e);
  q.wantRow += e->loc.row == ch.banks[e->loc.bank].row;
  ++window_.size;
  window_.order.push_back({e, e->arrival});
}

void HbmModel::removeFromWindow(const Channel &ch, Pending *e) {
  unsigned bank = e->loc.bank;
  BankQueue &q = window_.banks[bank];
  if (q.front() == e)
    ++q.head;
  else
    q.waiting.erase(std::find(q.waiting.begin() + q.head, q.waiting.end(), e));
  // A bank streaming for long never empties: drop its served prefix now
  // and then, so that the queue stays a small multiple of the window.
  if (q.head > size_t(p_.schedulerWindow) && 2 * q.head > q.waiting.size()) {
    q.waiting.erase(q.waiting.begin(), q.waiting.begin() + q.head);
    q.head = 0;
  }
  q.wantRow -= e->loc.row == ch.banks[bank].row;
  --window_.size;
  window_.free.push_back(e);
  e->arrival = ~uint64_t(0);
  dropLeftFromOrder();
  if (!q.empty())
    return;
  q.waiting.clear();
  q.head = 0;
  auto &active = window_.active;
  *std::find(active.begin(), active.end(), bank) = active.back();
  active.pop_back();
}

void HbmModel::dropLeftFromOrder() {
  // Requests mostly leave oldest first, so the head just moves; the vector
  // is compacted now and then, keeping it a small multiple of the window.
  auto &order = window_.order;
  size_t &head = window_.orderHead;
  auto left = [&](size_t i) {
    return order[i].first->arrival != order[i].second;
  };
  while (head < order.size() && left(head))
    ++head;
  if (head == order.size()) {
    order.clear();
    head = 0;
  } else if (head > 4 * size_t(p_.schedulerWindow) && 2 * head > order.size()) {
    order.erase(order.begin(), order.begin() + head);
    head = 0;
  }
}

void HbmModel::openFor(Channel &ch, unsigned bank) {
  // Row commands: while the open (or opening) row still has requests in the
  // window the bank keeps it (open-page, hits first); otherwise it closes
  // it and opens the row of its oldest waiting request, as early as the
  // request's arrival and the bank's timing allow.
  Bank &b = ch.banks[bank];
  BankQueue &q = window_.banks[bank];
  if (q.empty() || (b.open && q.wantRow))
    return;
  Pending *oldest = q.front();
  if (!b.open) {
    oldest->outcome = HbmRowOutcome::Miss;
    oldest->first = std::max(oldest->enter, b.idleFrom);
    b.actAt = oldest->first;
  } else {
    // PRE waits for tRAS and for the bank's last data transfer, which
    // stands in for the read-to-precharge and write-recovery times.
    oldest->outcome = HbmRowOutcome::Conflict;
    oldest->first = std::max({oldest->enter, b.actAt + p_.tRAS, b.lastDataEnd});
    b.actAt = oldest->first + p_.tRP;
  }
  b.open = true;
  b.row = oldest->loc.row;
  q.wantRow = size_t(llvm::count_if(
      q.all(), [&](const Pending *e) { return e->loc.row == b.row; }));
}

void HbmModel::replanAll(Channel &ch) {
  // A refresh closed every bank: the rows planned for the window are gone.
  for (unsigned bank : window_.active) {
    for (Pending *e : window_.banks[bank].all())
      e->outcome = HbmRowOutcome::Hit;
    openFor(ch, bank);
  }
}

uint64_t HbmModel::columnReady(const Channel &ch, const Pending &e) const {
  return std::max(e.enter, ch.banks[e.loc.bank].actAt + p_.tRCD);
}

uint64_t HbmModel::columnSlot(const Channel &ch) const {
  // Data leaves in column-command order on the shared bus, so the next
  // column command is issued no earlier than tCL before the bus frees.
  return ch.busFree > p_.tCL ? ch.busFree - p_.tCL : 0;
}

HbmModel::Pending *HbmModel::pickFrFcfs(const Channel &ch) const {
  // FR-FCFS (Rixner et al., ISCA 2000) on column commands: at the cycle the
  // data bus can next take a command, the oldest request whose row is open
  // (a row hit); if none is ready yet, the first to become ready, oldest on
  // a tie. Rows were opened oldest-first per bank, so without hits this is
  // the oldest request.
  //
  // Only each bank's oldest request for its open row can win: the requests
  // of one row share the ACT, and `enter` never decreases with arrival
  // (slots free at column commands, which a channel issues in increasing
  // cycles), so that request is both the oldest and the first ready.
  uint64_t now = columnSlot(ch);
  // The oldest request, when ready for its open row, is the answer outright
  // (most picks of a streaming DMA), without looking at the other banks.
  Pending *oldest = window_.oldest();
  if (ch.banks[oldest->loc.bank].open &&
      ch.banks[oldest->loc.bank].row == oldest->loc.row &&
      columnReady(ch, *oldest) <= now)
    return oldest;
  Pending *readyNow = nullptr, *best = nullptr;
  uint64_t bestReady = ~uint64_t(0);
  for (unsigned bank : window_.active) {
    const Bank &b = ch.banks[bank];
    const BankQueue &q = window_.banks[bank];
    if (!b.open || !q.wantRow)
      continue;
    Pending *e = *llvm::find_if(
        q.all(), [&](const Pending *e) { return e->loc.row == b.row; });
    uint64_t ready = columnReady(ch, *e);
    if (ready <= now) {
      if (!readyNow || e->arrival < readyNow->arrival)
        readyNow = e;
    } else if (ready < bestReady ||
               (ready == bestReady && e->arrival < best->arrival)) {
      best = e;
      bestReady = ready;
    }
  }
  return readyNow ? readyNow : best;
}

uint64_t HbmModel::runChannel(unsigned c, llvm::ArrayRef<Run> runs,
                              uint64_t issue) {
  Channel &ch = channels_[c];
  Cursor at;
  uint64_t end = issue;
  fill(ch, c, runs, at, issue);
  while (window_.size) {
    Pending &e = *pickFrFcfs(ch);
    uint64_t column = std::max(columnReady(ch, e), columnSlot(ch));
    uint64_t done = column + p_.tCL + p_.tBurst;
    // A transaction runs only if it completes by the next refresh; else the
    // refresh goes first (closing every row) and the pick is made again.
    // validate() guarantees a row miss fits after a refresh, so this ends.
    if (done > ch.nextRefresh) {
      refreshUpTo(ch, ch.nextRefresh);
      replanAll(ch);
      continue;
    }
    if (e.outcome == HbmRowOutcome::Hit)
      e.first = column;
    commit(ch, e, done);
    ch.slotFreed[ch.pickSlot] = column;
    ch.pickSlot = ch.pickSlot + 1 == p_.schedulerWindow ? 0 : ch.pickSlot + 1;
    if (trace_)
      trace_({e.addr, e.write, e.loc, e.outcome, issue, e.enter, e.first,
              column, column + p_.tCL, done});
    end = std::max(end, done);
    unsigned bank = e.loc.bank;
    removeFromWindow(ch, &e); // frees e's slot
    openFor(ch, bank);
    fill(ch, c, runs, at, issue);
  }
  return end;
}

bool HbmModel::refreshUpTo(Channel &ch, uint64_t cycle) {
  if (cycle < ch.nextRefresh)
    return false;
  // Refreshes before the last one due leave no state behind (banks closed
  // either way), so an idle gap of any length costs one step.
  uint64_t due = (cycle - ch.nextRefresh) / p_.tREFI + 1;
  uint64_t at = ch.nextRefresh + (due - 1) * p_.tREFI;
  stats_.refreshes += due;
  ch.nextRefresh = at + p_.tREFI;
  uint64_t free = at + p_.tRFC;
  for (Bank &b : ch.banks) {
    b.open = false;
    b.idleFrom = std::max(b.idleFrom, free);
  }
  ch.busFree = std::max(ch.busFree, free);
  return true;
}

void HbmModel::commit(Channel &ch, const Pending &t, uint64_t done) {
  Bank &b = ch.banks[t.loc.bank];
  b.lastDataEnd = done;
  ch.busFree = done;
  ++stats_.transactions;
  stats_.bytes += p_.transactionBytes;
  stats_.channelBusyCycles[t.loc.channel] += p_.tBurst;
  switch (t.outcome) {
  case HbmRowOutcome::Hit:
    ++stats_.rowHits;
    break;
  case HbmRowOutcome::Miss:
    ++stats_.rowMisses;
    break;
  case HbmRowOutcome::Conflict:
    ++stats_.rowConflicts;
    break;
  }
}

double spatten::sim::timing::bandwidthRatio(
    const HbmTiming &p, llvm::ArrayRef<HbmRequest> requests) {
  HbmModel m(p);
  uint64_t end = m.access(requests, 0);
  if (end == 0)
    return 0.0;
  return double(m.stats().bytes) / (double(end) * m.peakBytesPerCycle());
}

std::vector<HbmRequest> spatten::sim::timing::sequentialReads(uint64_t base,
                                                              uint64_t bytes) {
  return {HbmRequest{base, bytes, false}};
}

std::vector<HbmRequest> spatten::sim::timing::scatteredReads(
    uint64_t count, uint64_t bytes, uint64_t spanBytes, uint64_t seed) {
  // Masking the raw generator output (no distribution object) keeps the
  // addresses identical across standard libraries.
  std::mt19937_64 rng(seed);
  uint64_t mask = (spanBytes - 1) & ~(bytes - 1);
  std::vector<HbmRequest> out;
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i)
    out.push_back({rng() & mask, bytes, false});
  return out;
}

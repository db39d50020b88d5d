//===- HbmTransactionModel.cpp - Per-transaction HBM2 scheduler -----------===//
//
// docs/Memory.md describes the model; the comments here say why each rule
// is the way it is.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/HbmTransactionModel.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>

using namespace spatten::sim::timing;
using spatten::HbmTiming;

HbmTransactionModel::HbmTransactionModel(HbmTiming p) : HbmModelBase(p) {
  slots_.resize(p_.schedulerWindow);
  for (Pending &slot : slots_)
    free_.push_back(&slot);
  banks_.resize(p_.banksPerChannel);
}

HbmTransactionModel::Pending *HbmTransactionModel::admit(Channel &ch, unsigned c, const Run &run,
                                   uint64_t offset, uint64_t issue) {
  Pending *e = free_.back();
  free_.pop_back();
  uint64_t local = (run.local + offset) << txnShift_;
  e->arrival = ch.arrivals++;
  e->enter = enterCycle(ch, e->arrival, issue);
  e->addr = globalAddr(c, local);
  e->loc = localLocation(c, local);
  e->write = run.write;
  e->outcome = HbmRowOutcome::Hit;
  e->first = 0;
  return e;
}

void HbmTransactionModel::fill(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs,
                    Cursor &at, uint64_t issue) {
  bool refreshed = false;
  size_t admitted = 0;
  Pending *last = nullptr;
  while (size_ < p_.schedulerWindow && at.run < runs.size()) {
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
  for (unsigned bank : active_)
    openFor(ch, bank);
}

void HbmTransactionModel::addToWindow(const Channel &ch, Pending *e) {
  BankQueue &q = banks_[e->loc.bank];
  if (q.empty())
    active_.push_back(e->loc.bank);
  q.waiting.push_back(e);
  q.wantRow += e->loc.row == ch.banks[e->loc.bank].row;
  ++size_;
  order_.push_back({e, e->arrival});
}

void HbmTransactionModel::removeFromWindow(const Channel &ch, Pending *e) {
  unsigned bank = e->loc.bank;
  BankQueue &q = banks_[bank];
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
  --size_;
  free_.push_back(e);
  e->arrival = ~uint64_t(0);
  dropLeftFromOrder();
  if (!q.empty())
    return;
  q.waiting.clear();
  q.head = 0;
  auto &active = active_;
  *std::find(active.begin(), active.end(), bank) = active.back();
  active.pop_back();
}

void HbmTransactionModel::dropLeftFromOrder() {
  // Requests mostly leave oldest first, so the head just moves; the vector
  // is compacted now and then, keeping it a small multiple of the window.
  auto &order = order_;
  size_t &head = orderHead_;
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

void HbmTransactionModel::openFor(Channel &ch, unsigned bank) {
  // Row commands: while the open (or opening) row still has requests in the
  // window the bank keeps it (open-page, hits first); otherwise it closes
  // it and opens the row of its oldest waiting request, as early as the
  // request's arrival and the bank's timing allow.
  Bank &b = ch.banks[bank];
  BankQueue &q = banks_[bank];
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

void HbmTransactionModel::replanAll(Channel &ch) {
  // A refresh closed every bank: the rows planned for the window are gone.
  for (unsigned bank : active_) {
    for (Pending *e : banks_[bank].all())
      e->outcome = HbmRowOutcome::Hit;
    openFor(ch, bank);
  }
}

uint64_t HbmTransactionModel::columnReady(const Channel &ch, const Pending &e) const {
  return std::max(e.enter, ch.banks[e.loc.bank].actAt + p_.tRCD);
}

HbmTransactionModel::Pending *HbmTransactionModel::pickFrFcfs(const Channel &ch) const {
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
  Pending *oldest = oldestPending();
  if (ch.banks[oldest->loc.bank].open &&
      ch.banks[oldest->loc.bank].row == oldest->loc.row &&
      columnReady(ch, *oldest) <= now)
    return oldest;
  Pending *readyNow = nullptr, *best = nullptr;
  uint64_t bestReady = ~uint64_t(0);
  for (unsigned bank : active_) {
    const Bank &b = ch.banks[bank];
    const BankQueue &q = banks_[bank];
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

uint64_t HbmTransactionModel::runChannel(unsigned c, llvm::ArrayRef<Run> runs,
                              uint64_t issue) {
  Channel &ch = channels_[c];
  Cursor at;
  uint64_t end = issue;
  fill(ch, c, runs, at, issue);
  while (size_) {
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
    countServed(ch, c, e.loc.bank, e.outcome, 1, done);
    freeSlots(ch, column, 1);
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


//===- Hbm.cpp - HBM2 model, scheduled a burst at a time ------------------===//
//
// The FR-FCFS of docs/Memory.md ("FR-FCFS scheduler"), with the window held
// as segments: consecutive arrivals to one bank row. docs/Memory.md ("How
// the model runs fast") argues why serving a segment's burst at once gives
// the per-transaction schedule (HbmTransactionModel) exactly.
//
//===----------------------------------------------------------------------===//

#include "HbmMemo.h" // HbmModel owns the memo

#include "llvm/ADT/STLExtras.h"

#include <algorithm>

using namespace spatten::sim::timing;
using spatten::HbmTiming;

HbmModel::HbmModel(HbmTiming p, bool memoize)
    : HbmModelBase(p), memoize_(memoize) {
  // A segment holds at least one transaction, and a burst admits at most
  // one window's worth before it leaves: never more than 2W segments, so
  // references into the pool stay valid.
  pool_.resize(2 * size_t(p_.schedulerWindow) + 1);
  for (unsigned i = unsigned(pool_.size()); i-- > 0;)
    freeSegments_.push_back(i);
  banks_.resize(p_.banksPerChannel);
}

uint64_t HbmModel::schedule(unsigned c, llvm::ArrayRef<Run> runs,
                            uint64_t issue) {
  Channel &ch = channels_[c];
  Cursor at;
  reach_ = issue;
  for (const Run &r : runs)
    at.left += r.count;
  tail_ = -1;
  uint64_t end = issue;
  fillAtStart(ch, c, runs, at, issue);
  while (size_) {
    unsigned first = oldest();
    unsigned index = pick(ch, first);
    Segment &s = pool_[index];
    uint64_t column = std::max(columnReady(ch, s), columnSlot(ch));
    // A transaction runs only if it completes by the next refresh; else the
    // refresh goes first (closing every row) and the pick is made again.
    if (column + p_.tCL + p_.tBurst > ch.nextRefresh) {
      refreshUpTo(ch, ch.nextRefresh);
      replanAll(ch);
      continue;
    }
    reach_ = std::max(reach_, column + s.count * p_.tBurst + p_.tCL);
    uint64_t count = burstLength(ch, s, column, index == first);
    uint64_t last = column + (count - 1) * p_.tBurst;
    unsigned bank = s.bank;
    serve(ch, c, s, column, count, issue);
    end = std::max(end, last + p_.tCL + p_.tBurst);
    // The per-transaction order: after each pick one transaction enters;
    // the bank's row is reconsidered only once the burst has left (before
    // that its row is still wanted), and before the last pick's newcomer.
    admitServed(ch, c, runs, at, column, count - 1);
    pop(index, count);
    openFor(ch, bank);
    admitServed(ch, c, runs, at, last, 1);
  }
  order_.clear();
  orderHead_ = 0;
  return end;
}

void HbmModel::fillAtStart(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs,
                           Cursor &at, uint64_t issue) {
  // Entries take the slots the previous calls' picks freed, at cycles that
  // never decrease; a row's entries join as pieces whose cycles step evenly.
  uint64_t lastEnter = issue;
  while (size_ < p_.schedulerWindow && at.left) {
    const Run &run = runs[at.run];
    uint64_t local = run.local + at.offset;
    uint64_t k = std::min({p_.schedulerWindow - size_, run.count - at.offset,
                           leftInRow(local)});
    uint64_t g = ch.arrivals;
    // enterCycle() of arrival g + j, with the window slot stepped rather
    // than divided for each (k is at most the window).
    unsigned window = p_.schedulerWindow, slot = unsigned(g % window);
    auto enterOf = [&](uint64_t j) {
      if (g + j < window)
        return issue;
      unsigned at = unsigned(slot + j);
      return std::max(issue, ch.slotFreed[at >= window ? at - window : at]);
    };
    for (uint64_t i = 0, j; i < k; i = j) {
      uint64_t enter = enterOf(i), step = 0;
      j = i + 1;
      if (j < k)
        step = enterOf(j++) - enter;
      while (j < k && enterOf(j) == enter + (j - i) * step)
        ++j;
      append(ch, c, g + i, local + i, j - i, run.write, enter, step,
             /*decideRow=*/false);
      lastEnter = enter + (j - i - 1) * step;
    }
    ch.arrivals += k;
    advance(at, runs, k);
  }
  // Row decisions come after every admission, as a newcomer may want the
  // row its bank has open. Refreshing up to the last entry applies what
  // refreshing at each would.
  if (refreshUpTo(ch, lastEnter))
    return replanAll(ch);
  for (unsigned bank : active_)
    openFor(ch, bank);
}

void HbmModel::advance(Cursor &at, llvm::ArrayRef<Run> runs, uint64_t n) {
  at.left -= n;
  at.offset += n;
  if (at.offset == runs[at.run].count) {
    ++at.run;
    at.offset = 0;
  }
}

void HbmModel::admitServed(Channel &ch, unsigned c, llvm::ArrayRef<Run> runs,
                           Cursor &at, uint64_t column, uint64_t picks) {
  // After a full window's pick, the next arrival takes the slot that pick
  // freed, at its column command: `picks` picks from `column` admit as
  // many, entering tBurst apart (never before `issue`, which the column
  // commands are not). A refresh cannot fall due, as every pick completed
  // before the next one.
  uint64_t n = std::min(picks, at.left);
  for (uint64_t i = 0; i < n;) {
    const Run &run = runs[at.run];
    uint64_t local = run.local + at.offset;
    uint64_t k = std::min({n - i, run.count - at.offset, leftInRow(local)});
    append(ch, c, ch.arrivals, local, k, run.write, column + i * p_.tBurst,
           p_.tBurst, /*decideRow=*/true);
    ch.arrivals += k;
    advance(at, runs, k);
    i += k;
  }
}

void HbmModel::append(Channel &ch, unsigned c, uint64_t arrival,
                      uint64_t local, uint64_t count, bool write,
                      uint64_t enter, uint64_t step, bool decideRow) {
  HbmLocation loc = localLocation(c, local << txnShift_);
  BankSegments &q = banks_[loc.bank];
  bool wasEmpty = q.segments.empty();
  if (!extendTail(loc, local, count, write, enter, step)) {
    unsigned index = freeSegments_.back();
    freeSegments_.pop_back();
    Segment &s = pool_[index];
    s = Segment{nextId_++, arrival, local, enter, step, loc.row, count,
                loc.bank, write, HbmRowOutcome::Hit, 0};
    q.segments.push_back(index);
    order_.emplace_back(index, s.id);
    tail_ = index;
  }
  if (loc.row == ch.banks[loc.bank].row)
    q.wantRow += count;
  size_ += count;
  if (wasEmpty)
    active_.push_back(loc.bank);
  if (decideRow)
    openFor(ch, loc.bank);
}

bool HbmModel::extendTail(const HbmLocation &loc, uint64_t local,
                          uint64_t count, bool write, uint64_t enter,
                          uint64_t step) {
  if (tail_ < 0)
    return false;
  Segment &t = pool_[tail_];
  if (!t.id || t.bank != loc.bank || t.row != loc.row || t.write != write ||
      t.local + t.count != local || enter < t.enter)
    return false;
  // A one-entry segment takes the step of what joins it.
  uint64_t tailStep = t.count == 1 ? enter - t.enter : t.enterStep;
  if (t.enter + t.count * tailStep != enter || (count > 1 && step != tailStep))
    return false;
  t.enterStep = tailStep;
  t.count += count;
  return true;
}

void HbmModel::openFor(Channel &ch, unsigned bank) {
  // Row commands: while the open (or opening) row still has requests in the
  // window the bank keeps it (open-page, hits first); otherwise it closes
  // it and opens the row of its oldest waiting request, as early as the
  // request's arrival and the bank's timing allow.
  Bank &b = ch.banks[bank];
  BankSegments &q = banks_[bank];
  if (q.segments.empty() || (b.open && q.wantRow))
    return;
  Segment &oldest = pool_[q.segments.front()];
  if (!b.open) {
    oldest.outcome = HbmRowOutcome::Miss;
    oldest.first = std::max(oldest.enter, b.idleFrom);
    b.actAt = oldest.first;
  } else {
    // PRE waits for tRAS and for the bank's last data transfer, which
    // stands in for the read-to-precharge and write-recovery times.
    oldest.outcome = HbmRowOutcome::Conflict;
    oldest.first = std::max({oldest.enter, b.actAt + p_.tRAS, b.lastDataEnd});
    b.actAt = oldest.first + p_.tRP;
  }
  b.open = true;
  b.row = oldest.row;
  q.wantRow = 0;
  for (unsigned index : q.segments)
    if (pool_[index].row == b.row)
      q.wantRow += pool_[index].count;
}

void HbmModel::replanAll(Channel &ch) {
  // A refresh closed every bank: the rows planned for the window are gone.
  for (unsigned bank : active_) {
    for (unsigned index : banks_[bank].segments)
      pool_[index].outcome = HbmRowOutcome::Hit;
    openFor(ch, bank);
  }
}

uint64_t HbmModel::columnReady(const Channel &ch, const Segment &s) const {
  return std::max(s.enter, ch.banks[s.bank].actAt + p_.tRCD);
}

unsigned HbmModel::frontOfRow(const Channel &ch, unsigned bank) const {
  // The bank's oldest request for its row: the front of its first segment
  // of that row. Its caller knows the row is wanted.
  for (unsigned index : banks_[bank].segments)
    if (pool_[index].row == ch.banks[bank].row)
      return index;
  return banks_[bank].segments.front();
}

unsigned HbmModel::pick(const Channel &ch, unsigned first) {
  // FR-FCFS (Rixner et al., ISCA 2000) on column commands: at the cycle the
  // data bus can next take a command, the oldest request whose row is open
  // (a row hit); if none is ready yet, the first to become ready, oldest on
  // a tie. Only a bank's oldest request for its open row can win: the
  // requests of one row share the ACT, and entry cycles never decrease
  // with arrival.
  uint64_t now = columnSlot(ch);
  const Segment &o = pool_[first];
  const Bank &ob = ch.banks[o.bank];
  if (ob.open && ob.row == o.row && columnReady(ch, o) <= now)
    return first;
  int64_t readyNow = -1, best = -1;
  uint64_t bestReady = ~uint64_t(0);
  for (unsigned bank : active_) {
    if (!ch.banks[bank].open || !banks_[bank].wantRow)
      continue;
    unsigned index = frontOfRow(ch, bank);
    const Segment &s = pool_[index];
    uint64_t ready = columnReady(ch, s);
    if (ready <= now) {
      if (readyNow < 0 || s.arrival < pool_[readyNow].arrival)
        readyNow = index;
    } else if (ready < bestReady ||
               (ready == bestReady && s.arrival < pool_[best].arrival)) {
      best = index;
      bestReady = ready;
    }
  }
  return unsigned(readyNow >= 0 ? readyNow : best);
}

uint64_t HbmModel::burstLength(const Channel &ch, const Segment &s,
                               uint64_t column, bool isOldest) const {
  // How many of `s`'s transactions FR-FCFS serves back to back from
  // `column`, tBurst apart. Each has entered by then: a window entry enters
  // at `issue` or at an earlier pick's column command, both no later than
  // `column`. So entry i wins its pick at column + i x tBurst while no older
  // request of another bank is ready: newcomers are younger, and other
  // banks' rows do not change meanwhile. Every pick must complete by the
  // next refresh.
  uint64_t tB = p_.tBurst;
  uint64_t beforeRefresh = ch.nextRefresh - p_.tCL - tB - column;
  uint64_t n = std::min(s.count, (tB == 1 ? beforeRefresh : beforeRefresh / tB) + 1);
  if (n == 1 || isOldest)
    return n;
  for (unsigned bank : active_) {
    if (bank == s.bank || !ch.banks[bank].open || !banks_[bank].wantRow)
      continue;
    const Segment &z = pool_[frontOfRow(ch, bank)];
    if (z.arrival > s.arrival)
      continue;
    // Older and not ready at `column`, or it would have won this pick.
    uint64_t ready = columnReady(ch, z);
    uint64_t wait = ready - column - 1;
    n = ready > column ? std::min(n, (tB == 1 ? wait : wait / tB) + 1) : 1;
  }
  return n;
}

void HbmModel::serve(Channel &ch, unsigned c, const Segment &s,
                     uint64_t column, uint64_t count, uint64_t issue) {
  uint64_t tB = p_.tBurst;
  if (trace_) {
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t local = (s.local + i) << txnShift_;
      uint64_t at = column + i * tB;
      HbmRowOutcome outcome = i ? HbmRowOutcome::Hit : s.outcome;
      uint64_t first = outcome == HbmRowOutcome::Hit ? at : s.first;
      trace_({globalAddr(c, local), s.write, localLocation(c, local), outcome,
              issue, s.enter + i * s.enterStep, first, at, at + p_.tCL,
              at + p_.tCL + tB});
    }
  }
  countServed(ch, c, s.bank, s.outcome, count,
              column + (count - 1) * tB + p_.tCL + tB);
  freeSlots(ch, column, count);
}

void HbmModel::pop(unsigned index, uint64_t count) {
  Segment &s = pool_[index];
  s.arrival += count;
  s.local += count;
  s.enter += count * s.enterStep;
  s.count -= count;
  s.outcome = HbmRowOutcome::Hit;
  BankSegments &q = banks_[s.bank];
  q.wantRow -= count; // served from the bank's open row
  size_ -= count;
  if (s.count)
    return;
  q.segments.erase(llvm::find(q.segments, index));
  s.id = 0;
  freeSegments_.push_back(index);
  if (q.segments.empty()) {
    *llvm::find(active_, s.bank) = active_.back();
    active_.pop_back();
  }
}

unsigned HbmModel::oldest() {
  // Segments mostly leave oldest first, so the head just moves; the vector
  // is compacted now and then, keeping it a small multiple of the window.
  auto left = [&](size_t i) {
    return pool_[order_[i].first].id != order_[i].second;
  };
  while (left(orderHead_))
    ++orderHead_;
  if (orderHead_ > 4 * size_t(p_.schedulerWindow) &&
      2 * orderHead_ > order_.size()) {
    order_.erase(order_.begin(), order_.begin() + orderHead_);
    orderHead_ = 0;
  }
  return order_[orderHead_].first;
}

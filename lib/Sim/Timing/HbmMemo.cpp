//===- HbmMemo.cpp - Serving a channel's repeated calls from a memo -------===//
//
// A call's share of one channel depends on the channel's state and the
// share's runs only through differences of cycles, equality of rows, and
// maxima against cycles no earlier than the call's issue cycle
// (docs/Memory.md, "Repeated calls"). So the key writes every cycle
// relative to `issue`, clamped where earlier values stop mattering, and
// names rows by order of first appearance; a share whose key was seen
// before is served by shifting the recorded outcome to this call.
//
//===----------------------------------------------------------------------===//

#include "HbmMemo.h"

using namespace spatten::sim::timing;
using namespace spatten::sim::timing::hbm_memo;

/// `t - issue`, raised to `floor`: below it a cycle no longer matters.
static int64_t relative(uint64_t t, uint64_t issue, int64_t floor) {
  return std::max(int64_t(t - issue), floor);
}

void HbmModel::Memo::appendState(const HbmModel &m, const Channel &ch,
                                 uint64_t issue, std::vector<int64_t> &out,
                                 bool nameNewRows) {
  const HbmTiming &p = m.p_;
  // ACT matters through ACT + tRCD (column) and ACT + tRAS (PRE), each
  // against a cycle no earlier than `issue`; the last transfer and the
  // idle cycle through a maximum with such a cycle. A closed bank's row
  // and ACT are never read: opening it sets both.
  int64_t actFloor = -int64_t(std::max(p.tRCD, p.tRAS));
  unsigned window = p.schedulerWindow;
  // Written through a pointer: a push_back per word cost a tenth of a
  // memoized run.
  size_t at = out.size();
  out.resize(at + ch.banks.size() * kBankWords + 1 + window);
  int64_t *w = out.data() + at;
  for (const Bank &b : ch.banks) {
    int64_t name = -1;
    if (b.open) {
      name = find(b.row);
      if (name < 0)
        name = nameNewRows ? nameOf(b.row) : -2;
    }
    w[0] = b.open;
    w[1] = name;
    w[2] = b.open ? relative(b.actAt, issue, actFloor) : 0;
    w[3] = relative(b.lastDataEnd, issue, 0);
    w[4] = relative(b.idleFrom, issue, 0);
    w += kBankWords;
  }
  // The bus matters through busFree - tCL against a column-ready cycle,
  // which is at least `issue`.
  *w++ = relative(ch.busFree, issue, int64_t(p.tCL) - 1);
  // Window slots from the next arrival's, which is pickSlot (the window
  // is empty between calls); a slot matters through a maximum with `issue`.
  for (unsigned i = 0; i < window; ++i) {
    unsigned slot = ch.pickSlot + i;
    w[i] = relative(ch.slotFreed[slot >= window ? slot - window : slot],
                    issue, 0);
  }
}

void HbmModel::Memo::appendRuns(const HbmModel &m, unsigned c,
                                llvm::ArrayRef<Run> runs) {
  // A run's pieces, one per row it touches: which transactions share a
  // row and a bank is all the schedule reads of their addresses.
  // At most one piece per row a run starts, ends or crosses.
  uint64_t perRow = m.p_.rowBytes / m.p_.transactionBytes, bound = 0;
  for (const Run &r : runs)
    bound += 1 + 3 * (r.count / perRow + 2);
  size_t at = runsKey.size();
  runsKey.resize(at + bound);
  int64_t *w = runsKey.data() + at;
  for (const Run &r : runs) {
    *w++ = r.write ? kWriteRun : kReadRun;
    for (uint64_t local = r.local, left = r.count; left;) {
      uint64_t n = std::min(left, m.leftInRow(local));
      HbmLocation loc = m.localLocation(c, local << m.txnShift_);
      w[0] = loc.bank;
      w[1] = nameOf(loc.row);
      w[2] = int64_t(n);
      w += 3;
      local += n;
      left -= n;
    }
  }
  runsKey.resize(size_t(w - runsKey.data()));
}

void HbmModel::Memo::restore(HbmModel &m, Channel &ch, uint64_t issue,
                             const Outcome &o) {
  const HbmTiming &p = m.p_;
  const int64_t *w = o.after.data();
  for (Bank &b : ch.banks) {
    b.open = w[0];
    if (b.open)
      b.row = rows[size_t(w[1])];
    b.actAt = issue + uint64_t(w[2]);
    b.lastDataEnd = issue + uint64_t(w[3]);
    b.idleFrom = issue + uint64_t(w[4]);
    w += kBankWords;
  }
  ch.busFree = issue + uint64_t(*w++);
  unsigned window = p.schedulerWindow;
  ch.picks += o.transactions;
  ch.arrivals += o.transactions;
  ch.pickSlot = unsigned((ch.pickSlot + o.transactions) % window);
  for (unsigned i = 0; i < window; ++i) {
    unsigned slot = ch.pickSlot + i;
    ch.slotFreed[slot >= window ? slot - window : slot] = issue + uint64_t(w[i]);
  }
}

void HbmModel::Memo::buildKeys(const HbmModel &m, unsigned c,
                               const Channel &ch, llvm::ArrayRef<Run> runs,
                               uint64_t issue, bool refreshed) {
  clearNames();
  runsKey.clear();
  chain.clear();
  key.clear();
  // Open rows first, in bank order, as appendState names them.
  for (const Bank &b : ch.banks)
    if (b.open)
      nameOf(b.row);
  appendRuns(m, c, runs);
  if (!ch.origin)
    return;
  const Outcome &origin = *ch.origin;
  const HbmTiming &p = m.p_;
  // A refresh since the origin closed every bank and holds idle banks and
  // the bus until its end; an end before `issue` is below every floor.
  int64_t refresh = kNoRefresh;
  if (refreshed)
    refresh = std::max<int64_t>(
        int64_t(ch.nextRefresh - p.tREFI + p.tRFC - issue), -1);
  chain.push_back(int64_t(reinterpret_cast<uintptr_t>(ch.origin)));
  chain.push_back(int64_t(std::min(issue - ch.originIssue, origin.horizon)));
  chain.push_back(refresh);
  chain.insert(chain.end(), runsKey.begin(), runsKey.end());
}

const Outcome *HbmModel::Memo::findChained() const {
  if (chain.empty())
    return nullptr;
  auto it = chains.find(KeyHash()(chain));
  return it == chains.end() || it->second.key != chain ? nullptr
                                                       : it->second.outcome;
}

void HbmModel::Memo::buildFullKey(const HbmModel &m, const Channel &ch,
                                  uint64_t issue) {
  appendState(m, ch, issue, key, /*nameNewRows=*/true);
  key.insert(key.end(), runsKey.begin(), runsKey.end());
}

const Outcome *HbmModel::Memo::findFull() const {
  auto it = outcomes.find(key);
  return it == outcomes.end() ? nullptr : &it->second;
}

const Outcome *HbmModel::Memo::record(Outcome o, bool chained) {
  words += key.size() + o.after.size();
  const Outcome *kept = &outcomes.emplace(key, std::move(o)).first->second;
  if (chained)
    addChain(kept);
  return kept;
}

void HbmModel::Memo::addChain(const Outcome *o) {
  Chained &slot = chains[KeyHash()(chain)];
  words += chain.size() + 1 - slot.key.size();
  slot = {chain, o};
}

uint64_t HbmModel::Memo::horizonOf(const HbmTiming &p,
                                   llvm::ArrayRef<int64_t> after) {
  // The floors appendState clamps each cycle word to.
  int64_t actFloor = -int64_t(std::max(p.tRCD, p.tRAS)), most = 0;
  size_t banks = p.banksPerChannel;
  for (size_t b = 0; b < banks; ++b) {
    const int64_t *w = &after[b * kBankWords];
    most = std::max({most, w[2] - (w[0] ? actFloor : 0), w[3], w[4]});
  }
  most = std::max(most, after[banks * kBankWords] - (int64_t(p.tCL) - 1));
  for (size_t i = banks * kBankWords + 1; i < after.size(); ++i)
    most = std::max(most, after[i]);
  return uint64_t(most);
}

HbmModel::~HbmModel() = default;

void HbmModel::replay(Channel &ch, unsigned c, uint64_t issue,
                      const Outcome &o) {
  memo_->restore(*this, ch, issue, o);
  stats_.transactions += o.transactions;
  stats_.bytes += o.transactions * p_.transactionBytes;
  stats_.channelBusyCycles[c] += o.transactions * p_.tBurst;
  stats_.rowHits += o.rowHits;
  stats_.rowMisses += o.rowMisses;
  stats_.rowConflicts += o.rowConflicts;
  ch.origin = &o;
  ch.originIssue = issue;
  ++replayed_;
}

uint64_t HbmModel::runChannel(unsigned c, llvm::ArrayRef<Run> runs,
                              uint64_t issue) {
  Channel &ch = channels_[c];
  // The refreshes due by `issue` come first: schedule() applies them
  // before any row decision either way, and this way a share's outcome
  // never depends on how long the channel was idle.
  bool refreshed = refreshUpTo(ch, issue);
  uint64_t transactions = 0;
  for (const Run &r : runs)
    transactions += r.count;
  if (!memo_)
    memo_ = std::make_unique<Memo>();
  Memo &m = *memo_;
  // A share whose transactions alone keep the bus busy past the next
  // refresh meets it: no outcome could be replayed for it or kept.
  bool meetsRefresh = transactions * p_.tBurst > ch.nextRefresh - issue;
  if (trace_ || !memoize_ || meetsRefresh ||
      transactions < kMinMemoTransactions ||
      transactions < kMinTransactionsPerRun * runs.size()) {
    ++scheduled_;
    ch.origin = nullptr;
    return schedule(c, runs, issue);
  }
  m.buildKeys(*this, c, ch, runs, issue, refreshed);
  const Outcome *found = m.findChained();
  bool chainedHit = found;
  if (!found) {
    m.buildFullKey(*this, ch, issue);
    found = m.findFull();
  }
  if (found && ch.nextRefresh - issue >= found->margin) {
    if (!chainedHit && !m.chain.empty())
      m.addChain(found);
    replay(ch, c, issue, *found);
    return issue + found->end;
  }

  if (m.key.empty()) // the chain found an outcome the refresh forbids
    m.buildFullKey(*this, ch, issue);
  HbmStats before = stats_;
  uint64_t end = schedule(c, runs, issue);
  ++scheduled_;
  ch.origin = nullptr;
  keep(ch, issue, end, before);
  return end;
}

void HbmModel::keep(Channel &ch, uint64_t issue, uint64_t end,
                    const HbmStats &before) {
  // A share that met a refresh depends on the refresh's phase: not kept.
  if (stats_.refreshes != before.refreshes || reach_ > ch.nextRefresh)
    return;
  Memo &m = *memo_;
  Outcome o;
  o.margin = reach_ - issue;
  o.end = end - issue;
  o.transactions = stats_.transactions - before.transactions;
  o.rowHits = stats_.rowHits - before.rowHits;
  o.rowMisses = stats_.rowMisses - before.rowMisses;
  o.rowConflicts = stats_.rowConflicts - before.rowConflicts;
  m.appendState(*this, ch, issue, o.after, /*nameNewRows=*/false);
  // Every open row after the share was open before it or in its runs.
  for (size_t i = 1; i < o.after.size(); i += kBankWords)
    if (i / kBankWords < ch.banks.size() && o.after[i] == -2)
      return;
  o.horizon = Memo::horizonOf(p_, o.after);
  if (m.words > kMaxWords) {
    m.outcomes.clear();
    m.chains.clear();
    m.words = 0;
    for (Channel &other : channels_)
      other.origin = nullptr;
    m.chain.clear(); // it names an outcome just dropped
  }
  ch.origin = m.record(std::move(o), !m.chain.empty());
  ch.originIssue = issue;
}

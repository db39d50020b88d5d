//===- HbmModelBase.cpp - What every HBM2 scheduler shares ----------------===//
//
// docs/Memory.md describes the model; the comments here say why each rule
// is the way it is.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/Hbm.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <random>

using namespace spatten::sim::timing;
using spatten::HbmTiming;

HbmModelBase::HbmModelBase(HbmTiming p) : p_(p) {
  txnShift_ = llvm::Log2_64(p_.transactionBytes);
  interleaveShift_ = llvm::Log2_64(p_.interleaveBytes);
  channelShift_ = llvm::Log2_64(p_.channels);
  rowShift_ = llvm::Log2_64(p_.rowBytes);
  bankShift_ = llvm::Log2_64(p_.banksPerChannel);
  queues_.resize(p_.channels);
  reset();
}

void HbmModelBase::reset() {
  channels_.assign(p_.channels, Channel());
  for (Channel &ch : channels_) {
    ch.banks.resize(p_.banksPerChannel);
    ch.slotFreed.assign(p_.schedulerWindow, 0);
    ch.nextRefresh = p_.tREFI;
  }
  stats_ = HbmStats();
  stats_.channelBusyCycles.assign(p_.channels, 0);
  lastIssue_ = 0;
}

HbmModelBase::~HbmModelBase() = default;

double HbmModelBase::peakBytesPerCycle() const {
  return double(p_.channels) * p_.transactionBytes / p_.tBurst;
}

HbmLocation HbmModelBase::locate(uint64_t addr) const {
  // Channel bits sit right above the interleave block; removing them gives
  // the channel-local address, which splits into column | bank | row.
  unsigned channel =
      unsigned((addr >> interleaveShift_) & (p_.channels - 1));
  uint64_t local = ((addr >> (interleaveShift_ + channelShift_))
                    << interleaveShift_) |
                   (addr & (p_.interleaveBytes - 1));
  return localLocation(channel, local);
}

uint64_t HbmModelBase::globalAddr(unsigned c, uint64_t local) const {
  // locate() backwards: the channel bits go back above the block offset.
  return ((local >> interleaveShift_) << (interleaveShift_ + channelShift_)) |
         (uint64_t(c) << interleaveShift_) |
         (local & (p_.interleaveBytes - 1));
}

uint64_t HbmModelBase::localTxn(uint64_t txn) const {
  // A transaction number without its channel bits: the number of the
  // channel's transaction it is.
  unsigned perBlock = interleaveShift_ - txnShift_;
  return ((txn >> (perBlock + channelShift_)) << perBlock) |
         (txn & ((uint64_t(1) << perBlock) - 1));
}

void HbmModelBase::addRow(HbmRequest &pending, uint64_t addr, uint64_t bytes,
                          bool write) {
  // A row that starts at a transaction boundary where the pending one ended
  // joins it: the two touch no transaction in common, and each channel's
  // runs come out the same (enqueueRun would join them anyway).
  uint64_t end = pending.addr + pending.bytes; // no join across 2^64
  if (pending.bytes && write == pending.write && addr == end &&
      end > pending.addr && (end & (p_.transactionBytes - 1)) == 0 &&
      bytes <= ~uint64_t(0) - addr) {
    pending.bytes += bytes;
    return;
  }
  enqueue(pending);
  pending = {addr, bytes, write};
}

void HbmModelBase::enqueue(const HbmRequest &r) {
  if (r.bytes == 0)
    return;
  // Every transaction-aligned block the request touches; the last byte is
  // clamped so that a request running past 2^64 cannot wrap around.
  uint64_t lastByte = r.addr + std::min(r.bytes - 1, ~uint64_t(0) - r.addr);
  uint64_t first = r.addr >> txnShift_, last = lastByte >> txnShift_;
  unsigned perBlock = interleaveShift_ - txnShift_;
  uint64_t inBlock = (uint64_t(1) << perBlock) - 1;
  uint64_t firstBlock = first >> perBlock, lastBlock = last >> perBlock;
  // A channel's blocks are consecutive in its local numbering, so each
  // channel receives one contiguous run: from the request's first
  // transaction in it to its last. A short request touches a channel once.
  uint64_t channels = std::min<uint64_t>(p_.channels,
                                         lastBlock - firstBlock + 1);
  for (uint64_t k = 0; k < channels; ++k) {
    uint64_t block = firstBlock + k;
    uint64_t lastOfChannel = lastBlock - ((lastBlock - block) & (p_.channels - 1));
    uint64_t lo = k == 0 ? first : block << perBlock;
    uint64_t hi = lastOfChannel == lastBlock ? last
                                             : (lastOfChannel << perBlock) | inBlock;
    uint64_t local = localTxn(lo);
    enqueueRun(unsigned(block & (p_.channels - 1)), local,
               localTxn(hi) - local + 1, r.write);
  }
}

void HbmModelBase::enqueueRun(unsigned c, uint64_t local, uint64_t count,
                              bool write) {
  std::vector<Run> &runs = queues_[c];
  if (!runs.empty() && runs.back().write == write &&
      runs.back().local + runs.back().count == local) {
    runs.back().count += count;
    return;
  }
  // Fields set in place: an aggregate built on the stack and copied in
  // stalls on store forwarding, which showed in profiles.
  Run &run = runs.emplace_back();
  run.local = local;
  run.count = count;
  run.write = write;
}

uint64_t HbmModelBase::access(llvm::ArrayRef<HbmRequest> requests,
                              uint64_t issue) {
  // Out-of-order calls are clamped rather than refused: the caller's clock
  // only moves forward, and the model's state already reflects later work.
  issue = std::max(issue, lastIssue_);
  lastIssue_ = issue;
  HbmRequest pending{0, 0, false};
  for (const HbmRequest &r : requests)
    for (uint64_t i = 0, addr = r.addr; i < r.count; ++i, addr += r.stride)
      addRow(pending, addr, r.bytes, r.write);
  enqueue(pending);
  uint64_t end = issue;
  for (unsigned c = 0; c < p_.channels; ++c) {
    if (queues_[c].empty())
      continue;
    end = std::max(end, runChannel(c, queues_[c], issue));
    queues_[c].clear();
  }
  return end;
}

uint64_t HbmModelBase::enterCycle(const Channel &ch, uint64_t arrival,
                                  uint64_t issue) const {
  // The window is the channel's queue: arrival g takes the slot that pick
  // g - W freed at its column command (a queue entry retires at CAS).
  if (arrival < p_.schedulerWindow)
    return issue;
  return std::max(issue, ch.slotFreed[arrival % p_.schedulerWindow]);
}

void HbmModelBase::freeSlots(Channel &ch, uint64_t column, uint64_t count) {
  unsigned window = p_.schedulerWindow;
  // Only the last `window` picks are ever read back. The slot index is kept
  // beside the pick count, as a division per burst costs more than the
  // stores.
  uint64_t skip = count > window ? count - window : 0;
  unsigned slot = ch.pickSlot;
  if (skip)
    slot = unsigned((slot + skip) % window);
  uint64_t at = column + skip * p_.tBurst;
  for (uint64_t left = count - skip; left;) {
    uint64_t n = std::min<uint64_t>(left, window - slot);
    for (uint64_t i = 0; i < n; ++i, at += p_.tBurst)
      ch.slotFreed[slot + i] = at;
    slot = unsigned(slot + n == window ? 0 : slot + n);
    left -= n;
  }
  ch.pickSlot = slot;
  ch.picks += count;
}

bool HbmModelBase::refreshUpTo(Channel &ch, uint64_t cycle) {
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

void HbmModelBase::countServed(Channel &ch, unsigned c, unsigned bank,
                               HbmRowOutcome firstOutcome, uint64_t count,
                               uint64_t lastDone) {
  ch.banks[bank].lastDataEnd = lastDone;
  ch.busFree = lastDone;
  stats_.transactions += count;
  stats_.bytes += count * p_.transactionBytes;
  stats_.channelBusyCycles[c] += count * p_.tBurst;
  stats_.rowHits += count - 1;
  switch (firstOutcome) {
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

void spatten::sim::timing::appendRow(std::vector<HbmRequest> &rows,
                                     uint64_t addr, uint64_t bytes,
                                     bool write) {
  HbmRequest *last = rows.empty() ? nullptr : &rows.back();
  if (last && last->bytes == bytes && last->write == write) {
    // A second row sets the stride; later ones must keep it.
    uint64_t lastRow = last->addr + (last->count - 1) * last->stride;
    if (addr > lastRow && (last->count == 1 || addr - lastRow == last->stride)) {
      last->stride = addr - lastRow;
      ++last->count;
      return;
    }
  }
  rows.push_back({addr, bytes, write});
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

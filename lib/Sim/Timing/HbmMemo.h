//===- HbmMemo.h - The memo of HbmModel, private to lib/Sim -----*- C++ -*-===//
//
// Shared by Hbm.cpp (which owns it) and HbmMemo.cpp (which fills and reads
// it).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_SIM_TIMING_HBMMEMO_H
#define SPATTEN_LIB_SIM_TIMING_HBMMEMO_H

#include "spatten/Sim/Timing/Hbm.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/xxhash.h"

#include <unordered_map>

namespace spatten::sim::timing {

namespace hbm_memo {
struct KeyHash {
  size_t operator()(const std::vector<int64_t> &key) const {
    // xxh3 over the words: hash_combine_range was a tenth of a memoized
    // --timing-only run.
    return llvm::xxh3_64bits(llvm::ArrayRef(
        reinterpret_cast<const uint8_t *>(key.data()), key.size() * 8));
  }
};

/// Run markers in a key; banks, row names and counts are never negative.
constexpr int64_t kReadRun = -2, kWriteRun = -3;
/// Words of channel state per bank: open, row name, ACT, last data, idle.
constexpr unsigned kBankWords = 5;
/// Shares of fewer transactions, or of fewer per run (scattered gathers,
/// which rarely repeat), are scheduled: their key would cost about as much
/// as their schedule.
constexpr uint64_t kMinMemoTransactions = 16, kMinTransactionsPerRun = 4;
/// Memo size past which it starts again (8-byte words, about 256 MiB).
constexpr size_t kMaxWords = size_t(32) << 20;

/// The chained key's refresh word when no refresh fell due since the origin.
constexpr int64_t kNoRefresh = -2;

/// What a channel's share of a call did, relative to its issue cycle.
struct Outcome {
  uint64_t margin = 0; ///< it needs nextRefresh - issue >= margin
  uint64_t end = 0;    ///< its completion - issue
  uint64_t transactions = 0, rowHits = 0, rowMisses = 0, rowConflicts = 0;
  /// Cycles after the share's issue from which every cycle in `after` has
  /// fallen to its floor: the state no longer depends on the time elapsed.
  uint64_t horizon = 0;
  std::vector<int64_t> after; ///< the channel state after, as in a key
};
} // namespace hbm_memo

/// Outcomes by key: the channel's state relative to the call, then its
/// runs. A channel whose state is a recorded outcome's `after` (its origin)
/// is keyed more cheaply by the chain: the origin, the cycles since it, the
/// refresh applied since, and the runs. Equal chained keys imply equal
/// keys, as the state is a function of those three.
struct HbmModel::Memo {
  std::unordered_map<std::vector<int64_t>, hbm_memo::Outcome,
                     hbm_memo::KeyHash> outcomes;
  /// Chained keys by their hash; a colliding key replaces the entry, and a
  /// lookup compares the whole key.
  struct Chained {
    std::vector<int64_t> key;
    const hbm_memo::Outcome *outcome;
  };
  llvm::DenseMap<uint64_t, Chained> chains;
  size_t words = 0;
  std::vector<int64_t> key, chain, runsKey;
  /// This share's rows by name, and names by row once there are more than
  /// kScanRows of them: most shares touch a few rows, which a scan finds
  /// faster than a hash map, and clearing a map that once grew costs its
  /// whole size on every share.
  static constexpr size_t kScanRows = 32;
  std::vector<uint64_t> rows;
  llvm::DenseMap<uint64_t, int64_t> names;

  /// The name of `row`, or -1.
  int64_t find(uint64_t row) const {
    if (rows.size() <= kScanRows) {
      for (size_t i = 0; i < rows.size(); ++i)
        if (rows[i] == row)
          return int64_t(i);
      return -1;
    }
    auto it = names.find(row);
    return it == names.end() ? -1 : it->second;
  }
  int64_t nameOf(uint64_t row) {
    if (int64_t name = find(row); name >= 0)
      return name;
    rows.push_back(row);
    if (rows.size() == kScanRows + 1)
      for (size_t i = 0; i < rows.size(); ++i)
        names[rows[i]] = int64_t(i);
    else if (rows.size() > kScanRows + 1)
      names[row] = int64_t(rows.size() - 1);
    return int64_t(rows.size() - 1);
  }
  void clearNames() {
    if (rows.size() > kScanRows)
      names.clear();
    rows.clear();
  }
  void appendState(const HbmModel &m, const Channel &ch, uint64_t issue,
                   std::vector<int64_t> &out, bool nameNewRows);
  void appendRuns(const HbmModel &m, unsigned c, llvm::ArrayRef<Run> runs);
  /// The share's keys: rows named as appendState names them, the runs, and
  /// the chained key when the channel has an origin.
  void buildKeys(const HbmModel &m, unsigned c, const Channel &ch,
                 llvm::ArrayRef<Run> runs, uint64_t issue,
                 bool refreshed);
  const hbm_memo::Outcome *findChained() const;
  void addChain(const hbm_memo::Outcome *o);
  /// The full key: appendState, then the runs.
  void buildFullKey(const HbmModel &m, const Channel &ch, uint64_t issue);
  const hbm_memo::Outcome *findFull() const;
  const hbm_memo::Outcome *record(hbm_memo::Outcome o, bool chained);
  static uint64_t horizonOf(const HbmTiming &p,
                            llvm::ArrayRef<int64_t> after);
  void restore(HbmModel &m, Channel &ch, uint64_t issue,
               const hbm_memo::Outcome &o);
};

} // namespace spatten::sim::timing

#endif

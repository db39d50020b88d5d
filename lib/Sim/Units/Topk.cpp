//===- Topk.cpp - The top-k engine: cascade token and head pruning --------===//
//
// Selects the k best-scored candidates of an index list exactly (ties to
// the earlier position), optionally writes their number to a register, and
// charges the cycles of the engine's randomized quick-select
// (timing::quickSelect; docs/Simulator.md, "Top-k engine").
//
//===----------------------------------------------------------------------===//

#include "Unit.h"

#include "spatten/Sim/Timing/TopkEngine.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace spatten;
using namespace spatten::sim;

namespace {

using F = fields::Topk;

class TopkUnit : UnitInstr {
public:
  explicit TopkUnit(const UnitInstr &instr) : UnitInstr(instr) {}
  Error run();

private:
  /// Checks the fields and bounds n by the buffers, before anything of
  /// size n is allocated.
  Error checkFields() const;
  /// The candidates (idx[in_off ..], or 0..n-1 with TopkIota) and their
  /// scores.
  Error readCandidates(std::vector<int32_t> &cand,
                       std::vector<float> &score) const;
  /// Writes the charged cycles, the report's counters and the TopkRecord.
  Error charge(const std::vector<float> &score,
               std::vector<int32_t> &&selected);
};

} // namespace

Error TopkUnit::checkFields() const {
  if (Error e = checkFlags(F::flags, TopkScoresByIndex | TopkIota |
                                         TopkWriteCount | TopkDropNegInf))
    return e;
  uint64_t flags = get(F::flags), n = get(F::n), k = get(F::k);
  if (get(F::countReg) && !(flags & TopkWriteCount))
    return error(F::countReg, "names a register only with flag WriteCount "
                              "(0x4)");
  if (get(F::role) >= kTopkRoleNames.size())
    return error(F::role, llvm::formatv("{0} is not a role (0 other, 1 "
                                        "tokens, 2 heads)",
                                        get(F::role)));
  uint64_t sbuf = get(F::sBuf), sOff = get(F::sOff);
  uint64_t inOff = get(F::inOff), outOff = get(F::outOff);
  if (sbuf >= kNumBuffers || Buffer(sbuf) == Buffer::Idx)
    return error(F::sBuf, "must name an fp32 buffer");
  const std::vector<int32_t> &idx = machine.idx;
  bool iota = flags & TopkIota, byIndex = flags & TopkScoresByIndex;
  if (!iota && inOff + n > idx.size())
    return error(F::inOff, llvm::formatv("{0} candidates at offset {1} run "
                                         "past the idx buffer ({2} entries)",
                                         n, inOff, idx.size()));
  uint64_t kk = std::min(k, n);
  if (outOff + kk > idx.size())
    return error(F::outOff, llvm::formatv("{0} results at offset {1} run "
                                          "past the idx buffer ({2} entries)",
                                          kk, outOff, idx.size()));
  uint64_t numScores = machine.bufferElems(Buffer(sbuf));
  if ((!byIndex || iota) && sOff + n > numScores)
    return error(F::sOff, llvm::formatv("{0} scores at offset {1} run past "
                                        "the {2} buffer ({3} elements)",
                                        n, sOff, kBufferNames[sbuf],
                                        numScores));
  return Error::success();
}

Error TopkUnit::readCandidates(std::vector<int32_t> &cand,
                               std::vector<float> &score) const {
  uint64_t flags = get(F::flags), n = get(F::n);
  uint64_t sbuf = get(F::sBuf), sOff = get(F::sOff), inOff = get(F::inOff);
  // Scores by index may lie anywhere in the buffer.
  const std::vector<float> &scores =
      machine.buffer(Buffer(sbuf), 0, ~uint64_t(0));
  bool iota = flags & TopkIota, byIndex = flags & TopkScoresByIndex;
  cand.resize(n);
  score.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    cand[i] = iota ? int32_t(i) : machine.idx[inOff + i];
    int64_t at = byIndex ? int64_t(sOff) + cand[i] : int64_t(sOff + i);
    if (byIndex && cand[i] < 0)
      return error(F::inOff, llvm::formatv("candidate {0} (entry {1}) is "
                                           "negative",
                                           cand[i], inOff + i));
    if (uint64_t(at) >= machine.bufferElems(Buffer(sbuf)))
      return error(F::sOff, llvm::formatv("score of candidate {0} at element "
                                          "{1} is past the {2} buffer",
                                          i, at, kBufferNames[sbuf]));
    score[i] = scores[at];
    if (std::isnan(score[i]))
      return error(F::sOff,
                   llvm::formatv("score of candidate {0} is NaN", i));
  }
  if (flags & TopkDropNegInf) {
    size_t kept = 0;
    for (size_t i = 0; i < cand.size(); ++i)
      if (score[i] != -std::numeric_limits<float>::infinity())
        cand[kept] = cand[i], score[kept++] = score[i];
    cand.resize(kept);
    score.resize(kept);
  }
  return Error::success();
}

/// The exact result: rank by (score desc, position asc), keep the first
/// `k`, emit in list order (the zero eliminator's compaction).
static std::vector<int32_t> selectTopk(const std::vector<int32_t> &cand,
                                       const std::vector<float> &score,
                                       uint64_t k) {
  uint64_t n = cand.size();
  auto better = [&](uint64_t a, uint64_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  };
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), better);
  std::vector<bool> keep(n, false);
  for (uint64_t r = 0; r < k; ++r)
    keep[order[r]] = true;
  std::vector<int32_t> selected;
  for (uint64_t i = 0; i < n; ++i)
    if (keep[i])
      selected.push_back(cand[i]);
  return selected;
}

Error TopkUnit::charge(const std::vector<float> &score,
                       std::vector<int32_t> &&selected) {
  uint64_t n = get(F::n), k = get(F::k);
  auto qs = timing::quickSelect(score, k, get(F::seed),
                                machine.timing.topkComparators);
  if (!qs)
    return qs.takeError();
  auto [passes, cyc] = *qs;
  machine.rep.ops.topkCompares += cyc * machine.timing.topkComparators;
  out.cycles = cyc;
  std::optional<unsigned> layerIndex;
  if (get(F::layer))
    layerIndex = unsigned(get(F::layer) - 1);
  machine.rep.topk.push_back(TopkRecord{pc, n, k, passes, cyc, layerIndex,
                                        TopkRole(get(F::role)),
                                        std::move(selected)});
  if (LayerCounters *l = layer())
    l->topkPasses = l->topkPasses.value_or(0) + passes;
  return Error::success();
}

Error TopkUnit::run() {
  if (Error e = checkFields())
    return e;
  std::vector<int32_t> cand;
  std::vector<float> score;
  if (Error e = readCandidates(cand, score))
    return e;
  std::vector<int32_t> selected =
      selectTopk(cand, score, std::min<uint64_t>(get(F::k), cand.size()));
  std::copy(selected.begin(), selected.end(),
            machine.idx.begin() + get(F::outOff));
  if (get(F::flags) & TopkWriteCount)
    machine.registers[get(F::countReg)] = uint32_t(selected.size());
  return charge(score, std::move(selected));
}

Error sim::executeTopk(const UnitInstr &instr) {
  return TopkUnit(instr).run();
}

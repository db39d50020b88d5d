//===- AttentionFills.cpp - ATTN over several K/V buffer fills ------------===//
//
// Keys over more than one K/V buffer fill take statistics passes (running
// max and sum of exp per query row) and then apply passes (P = e^(s - m)
// / l, importance, O += P V), fill by fill (docs/ISA.md, `attn` flags 16
// and 32; docs/Algorithms.md, "Attention over several fills").
// Progressive quantization decides on the statistics (a row's largest
// probability is 1 / l); local value pruning selects on the scores the
// statistics passes kept, so that each apply pass keeps exactly the
// probabilities the whole row keeps.
//
//===----------------------------------------------------------------------===//

#include "AttentionUnit.h"

#include "spatten/Sim/Timing/TopkEngine.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace spatten;
using namespace spatten::sim;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

/// Keys over the kept score blocks.
uint64_t keysOf(
    const std::vector<std::pair<uint64_t, std::vector<float>>> &blocks) {
  uint64_t keys = 0;
  for (const auto &block : blocks)
    keys += block.first;
  return keys;
}

/// P = e^(s - m) / l per row with the statistics `max` and `sum`; a row
/// whose max is -inf (every key hidden), or without keys, gets zeros. The
/// selection of local value pruning evaluates the same expression on a
/// matrix of the same shape, so that it sees the apply pass's values bit
/// for bit.
void probabilitiesFromStatistics(Mat &s, const std::vector<float> &max,
                                 const std::vector<float> &sum) {
  uint64_t lq = s.rows(), lk = s.cols();
  for (uint64_t i = 0; i < lq; ++i) {
    if (max[i] == -kInf || !lk) {
      s.row(i).setZero();
      continue;
    }
    s.row(i) = (s.row(i).array() - max[i]).exp().matrix();
    s.row(i) /= sum[i];
  }
}
} // namespace

/// Checks a statistics or apply pass against its flags, phase, `vk` and
/// the attention unit's statistics, before any state changes.
Error AttentionUnit::checkFillPass() const {
  uint64_t flags = get(F::flags);
  bool stats = flags & AttnFillStats;
  if (stats && (flags & AttnFillApply))
    return error(F::flags, "FillStats (0x10) and FillApply (0x20) are "
                           "separate passes");
  if (stats && (flags & AttnDeferValues))
    return error(F::flags, "DeferValues (0x8) applies to an apply pass "
                           "(0x20), not a statistics pass");
  if (stats && (flags & (AttnAccumulateImportance | AttnHeadImportance)))
    return error(F::flags, "importance (0x1, 0x4) applies in the apply pass, "
                           "not with FillStats (0x10)");
  return stats ? checkStatisticsPass() : checkApplyPass();
}

Error AttentionUnit::checkStatisticsPass() const {
  uint64_t lq = get(F::lq);
  const FillStatistics &st = machine.fill;
  bool continues = st.valid && !st.applying;
  if (AttnPhase(get(F::phase)) != AttnPhase::Finish) {
    if (get(F::nextTile)) // starts the next query tile's statistics
      return Error::success();
    if (continues && st.lq != lq)
      return error(F::lq, llvm::formatv("statistics of {0} query rows "
                                        "continue statistics of {1}",
                                        lq, st.lq));
    return Error::success();
  }
  if (!continues || !st.decided)
    return error(F::phase, "finish statistics without statistics passes in "
                           "phase decide before them");
  if (st.lq != lq)
    return error(F::lq, llvm::formatv("finish statistics of {0} query rows "
                                      "after decide statistics of {1}",
                                      lq, st.lq));
  if (st.fullKeys + get(F::lk) > st.keys)
    return error(F::lk, llvm::formatv("finish statistics over {0} keys "
                                      "exceed the {1} keys decided on",
                                      st.fullKeys + get(F::lk), st.keys));
  return Error::success();
}

Error AttentionUnit::checkApplyPass() const {
  uint64_t lq = get(F::lq);
  AttnPhase phase = AttnPhase(get(F::phase));
  const FillStatistics &st = machine.fill;
  if (!st.valid)
    return error(F::flags, "FillApply (0x20) without statistics: no FillStats "
                           "(0x10) ATTN before it");
  if (st.lq != lq)
    return error(F::lq, llvm::formatv("apply pass of {0} query rows with "
                                      "statistics of {1}",
                                      lq, st.lq));
  if (phase == AttnPhase::Decide && !st.decided)
    return error(F::phase, "an apply pass in phase decide needs statistics "
                           "passes in phase decide");
  bool first = !st.applying;
  bool unconfident = std::count(st.unconfident.begin(), st.unconfident.end(),
                                true) > 0;
  if (first && unconfident && st.fullKeys != st.keys)
    return error(F::phase, llvm::formatv("the finish statistics cover {0} of "
                                         "the {1} keys of an unconfident row",
                                         st.fullKeys, st.keys));
  if (!get(F::vk))
    return Error::success();
  if (first && (keysOf(st.scores) != st.keys ||
                (unconfident && keysOf(st.fullScores) != st.keys)))
    return error(F::vk, "local value pruning over several fills needs the "
                        "scores of every statistics pass (vk set on each)");
  if (!first && st.threshold.size() != lq)
    return error(F::vk, "local value pruning in an apply pass after a first "
                        "apply pass without it");
  return Error::success();
}

/// Folds the scores `s` of rows `onlyRows` (all when null) into the running
/// `max` and `sum` (m' = max(m, max_j s), l' = l e^(m - m') + sum_j
/// e^(s_j - m')).
void AttentionUnit::foldStatistics(const Mat &s, std::vector<float> &max,
                                   std::vector<float> &sum,
                                   const std::vector<bool> *onlyRows) const {
  uint64_t lq = s.rows(), lk = s.cols();
  for (uint64_t i = 0; i < lq && lk; ++i) {
    if (onlyRows && !(*onlyRows)[i])
      continue;
    float m = std::max(max[i], s.row(i).maxCoeff());
    if (m == -kInf) // every key so far hidden
      continue;
    sum[i] = sum[i] * std::exp(max[i] - m) + (s.row(i).array() - m).exp().sum();
    max[i] = m;
  }
}

/// Statistics pass; the first after an apply pass starts anew. Phase
/// `decide` marks the unconfident rows; phase `finish` folds the full-key
/// scores of those rows into statistics of their own. With `vk` the unit
/// keeps the scores for the selection of local value pruning.
void AttentionUnit::accumulateStatistics(const Mat &s) {
  uint64_t lq = s.rows(), lk = s.cols();
  FillStatistics &st = machine.fill;
  std::vector<float> kept;
  if (get(F::vk))
    kept.assign(s.data(), s.data() + s.size());
  if (AttnPhase(get(F::phase)) == AttnPhase::Finish) {
    if (st.fullMax.empty())
      st.fullMax.assign(lq, -kInf), st.fullSum.assign(lq, 0.0f);
    st.fullKeys += lk;
    foldStatistics(s, st.fullMax, st.fullSum, &st.unconfident);
    if (get(F::vk))
      st.fullScores.emplace_back(lk, std::move(kept));
    rows.qk = st.unconfident; // Q*K and softmax for the marked rows only
    uint64_t marked = std::count(rows.qk.begin(), rows.qk.end(), true);
    out.cycles = attnCycles(marked, lk, get(F::d), false, lq, machine.timing);
    return;
  }
  if (!st.valid || st.applying || get(F::nextTile)) {
    st = FillStatistics();
    st.valid = true, st.lq = lq;
    st.predicateBefore = get(F::nextTile) && machine.predicate;
    st.max.assign(lq, -kInf), st.sum.assign(lq, 0.0f);
  }
  st.keys += lk;
  foldStatistics(s, st.max, st.sum, nullptr);
  if (get(F::vk))
    st.scores.emplace_back(lk, std::move(kept));
  if (AttnPhase(get(F::phase)) == AttnPhase::Decide)
    markUnconfident();
}

/// Progressive quantization over fills: row i's largest probability over
/// the keys so far is e^(m - m) / l = 1 / l (0 while every key is hidden);
/// the row is unconfident below the threshold, and the predicate is set
/// when some row is (or, on a later query tile, was in a tile before). The
/// last statistics pass's marks are the decision. With `head_decided` the
/// head's predicate stands and the pass only marks its rows.
void AttentionUnit::markUnconfident() {
  FillStatistics &st = machine.fill;
  float threshold = getFloat(F::pqThreshold);
  st.decided = true;
  st.unconfident.assign(st.lq, false);
  for (uint64_t i = 0; i < st.lq; ++i) {
    float largest = st.sum[i] > 0 ? 1.0f / st.sum[i] : 0.0f;
    st.unconfident[i] = largest < threshold;
  }
  if (get(F::headDecided))
    return;
  machine.predicate =
      st.predicateBefore ||
      std::count(st.unconfident.begin(), st.unconfident.end(), true) > 0;
}

/// What the first apply pass after the statistics records: the layer's
/// keys, the refetch decision, and the selection of local value pruning.
void AttentionUnit::startApplying() {
  FillStatistics &st = machine.fill;
  st.applying = true;
  LayerCounters *l = layer();
  if (l)
    l->keptTokens = std::max<uint64_t>(l->keptTokens.value_or(0), st.keys);
  if (st.decided && l)
    recordDecision(*l, std::count(st.unconfident.begin(),
                                  st.unconfident.end(), true));
  if (get(F::vk))
    selectValues();
}

/// Local value pruning over the whole row: from the kept scores, each
/// row's probabilities as the apply passes compute them (MSB-only keys for
/// a confident row, full keys for an unconfident one); the row keeps the
/// min(vk, keys) largest, ties to the earliest key, so each apply pass
/// keeps the probabilities above the row's threshold and the first `ties`
/// keys equal to it. The top-k engine's quick-select over the row is
/// charged here.
void AttentionUnit::selectValues() {
  FillStatistics &st = machine.fill;
  uint64_t lq = st.lq, kv = std::min<uint64_t>(get(F::vk), st.keys);
  std::vector<std::vector<float>> row(lq);
  auto gather = [&](const auto &blocks, const std::vector<float> &max,
                    const std::vector<float> &sum, bool unconfident) {
    for (const auto &[lk, scores] : blocks) {
      Mat p = Eigen::Map<const Mat>(scores.data(), lq, lk);
      probabilitiesFromStatistics(p, max, sum);
      for (uint64_t i = 0; i < lq; ++i)
        if ((st.decided && st.unconfident[i]) == unconfident)
          row[i].insert(row[i].end(), p.row(i).data(), p.row(i).data() + lk);
    }
  };
  gather(st.scores, st.max, st.sum, false);
  gather(st.fullScores, st.fullMax, st.fullSum, true);
  st.threshold.assign(lq, kInf);
  st.ties.assign(lq, 0);
  rows.topk.assign(lq, 0);
  for (uint64_t i = 0; i < lq && kv; ++i) {
    auto qs = timing::quickSelect(row[i], kv, pc * 65536 + i,
                                  machine.timing.topkComparators);
    if (qs)
      rows.topk[i] = qs->cycles;
    else
      llvm::consumeError(qs.takeError()); // probabilities are never NaN
    std::vector<float> sorted = row[i];
    std::nth_element(sorted.begin(), sorted.begin() + (kv - 1), sorted.end(),
                     std::greater<float>());
    float t = sorted[kv - 1];
    st.threshold[i] = t;
    st.ties[i] = kv - uint64_t(std::count_if(row[i].begin(), row[i].end(),
                                             [&](float x) { return x > t; }));
  }
}

/// Zeroes the probabilities of this fill that the row's selection drops;
/// returns the fill's value-row mask (key j kept by some row) and counts
/// each row's kept keys for prob*V.
std::vector<bool> AttentionUnit::pruneFillValues(Mat &p) {
  FillStatistics &st = machine.fill;
  uint64_t lq = p.rows(), lk = p.cols();
  std::vector<bool> used(lk, false);
  rows.keptValues.assign(lq, 0);
  for (uint64_t i = 0; i < lq; ++i) {
    for (uint64_t j = 0; j < lk; ++j) {
      float x = p(i, j);
      bool keep = x > st.threshold[i];
      if (!keep && x == st.threshold[i] && st.ties[i] > 0)
        keep = true, --st.ties[i];
      if (!keep) {
        p(i, j) = 0;
        continue;
      }
      used[j] = true;
      ++rows.keptValues[i];
    }
  }
  return used;
}

/// Apply pass. Phase `decide` computes P from the statistics of the
/// MSB-only keys and keeps it pending; phase `finish` recomputes the
/// unconfident rows from their full-key statistics and merges. Then token
/// importance on P, local value pruning, and O = P V (the first pass that
/// writes O) or O += P V, or with AttnDeferValues the pruned P and the
/// fill's value-row mask for a `values` phase.
void AttentionUnit::applyFill(Mat &s, const Operands &ops) {
  FillStatistics &st = machine.fill;
  uint64_t lq = s.rows(), lk = s.cols();
  AttnPhase phase = AttnPhase(get(F::phase));
  if (!st.applying)
    startApplying();
  if (phase == AttnPhase::Finish) {
    // Without finish statistics every row is confident (checkApplyPass):
    // the merge takes them all from the decide part.
    if (!st.fullMax.empty())
      probabilitiesFromStatistics(s, st.fullMax, st.fullSum);
    mergeDecide(s);
  } else {
    probabilitiesFromStatistics(s, st.max, st.sum);
  }
  if (phase == AttnPhase::Decide) {
    std::vector<bool> marked = st.decided ? st.unconfident
                                          : std::vector<bool>(lq, false);
    machine.pq = {true, lq, lk, std::vector<float>(s.data(), s.data() + s.size()),
                  std::move(marked)};
    rows.decide = true;
    return;
  }
  if (ops.imp)
    accumulateImportance(s, *ops.imp);
  rows.importance = ops.imp.has_value();
  bool defer = get(F::flags) & AttnDeferValues;
  rows.keptValues.assign(lq, defer ? 0 : lk);
  std::vector<bool> rowMask(lk, true);
  if (get(F::vk)) {
    rowMask = pruneFillValues(s);
    if (defer)
      rows.keptValues.assign(lq, 0);
    if (LayerCounters *l = layer())
      l->vRowsKept = l->vRowsKept.value_or(0) +
                     uint64_t(std::count(rowMask.begin(), rowMask.end(), true));
  }
  if (defer) {
    machine.deferred = {true, true, lq, lk,
                        std::vector<float>(s.data(), s.data() + s.size()),
                        std::move(rowMask)};
    return;
  }
  Mat o = times(s, view(ops.v));
  if (st.written)
    o += read(ops.o);
  bool firstWrite = !st.written;
  st.written = true;
  writeOutput(o, ops.o, ops.himp, /*countHead=*/firstWrite);
}

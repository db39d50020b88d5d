//===- Attention.cpp - The attention unit: ATTN and its phases ------------===//
//
// P = softmax(scale * Q K^T + mask), then token importance (cascade token
// pruning), local value pruning, and O = P V with head importance (cascade
// head pruning). Progressive quantization splits an ATTN into `decide`
// (MSB-only keys; marks unconfident rows, sets the predicate) and `finish`
// (recomputes the marked rows); local value pruning's V fetch defers P V
// to a `values` phase (docs/ISA.md, "attn"; docs/Algorithms.md). Keys
// over several K/V buffer fills take statistics and apply passes
// (AttentionFills.cpp). The state between phases and passes lives in the
// Machine.
//
//===----------------------------------------------------------------------===//

#include "AttentionUnit.h"

#include "spatten/Sim/Timing/AttentionPipeline.h"
#include "spatten/Sim/Timing/TopkEngine.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace spatten;
using namespace spatten::sim;

/// The scores scale * Q K^T + mask, lq x lk, with the mask kind of the
/// instruction; zeros when timing only.
Expected<Mat> AttentionUnit::scores(const Operand &q, const Operand &k,
                                    const Operand &mask) const {
  uint64_t lq = q.rows, lk = k.rows;
  if (machine.timingOnly)
    return Mat(Mat::Zero(lq, lk));
  MaskKind kind = MaskKind(get(F::maskKind));
  bool padding = kind == MaskKind::Padding || kind == MaskKind::PaddingCausal;
  bool causal = kind == MaskKind::Causal || kind == MaskKind::PaddingCausal;
  float scale = getFloat(F::scale);
  if (!std::isfinite(scale))
    return error(F::scale, "is not a finite fp32 value");
  Mat s =
      splitProduct(view(q), view(k).transpose(), machine.gemmHelper(), scale);
  if (padding && (get(F::flags) & AttnMaskSelect)) {
    float fill = getFloat(F::maskFill);
    if (!std::isfinite(fill))
      return error(F::maskFill, "is not a finite fp32 value");
    Mat m = read(mask);
    s = s.cwiseProduct(m) + fill * (Mat::Ones(lq, lk) - m);
  } else if (padding) {
    s += read(mask);
  }
  if (causal) {
    // With padding, a later key scores the lowest fp32 (transformers'
    // finfo.min masks), not -inf: a query row whose every earlier key is
    // padding (left padding) then spreads over all keys as the graph does;
    // in any other row a later key gets 0 either way.
    float hidden = padding ? std::numeric_limits<float>::lowest()
                           : -std::numeric_limits<float>::infinity();
    int64_t off = attnCausalOffset(get(F::causalOffset), get(F::flags));
    for (int64_t i = 0; i < int64_t(lq); ++i)
      for (int64_t j = std::max<int64_t>(0, i + off + 1); j < int64_t(lk); ++j)
        s(i, j) = hidden;
  }
  return s;
}

/// P = softmax(scores), lq x lk.
Expected<Mat> AttentionUnit::probabilities(const Operand &q, const Operand &k,
                                           const Operand &mask) const {
  uint64_t lq = q.rows, lk = k.rows;
  if (machine.timingOnly) // uniform probabilities, docs/Simulator.md
    return Mat(Mat::Constant(lq, lk, lk ? 1.0f / float(lk) : 0.0f));
  auto s = scores(q, k, mask);
  if (s)
    softmaxRows(*s);
  return s;
}

/// Local value pruning: zeroes all but the `vk` largest probabilities of
/// each row (ties to the earliest key), without renormalising. Returns the
/// value-row mask: key j is set when some row kept it.
std::vector<bool>
AttentionUnit::pruneValues(Mat &p, std::vector<uint64_t> &topkCycles) const {
  uint64_t lk = p.cols(), kv = std::min<uint64_t>(get(F::vk), lk);
  std::vector<bool> used(lk, false);
  std::vector<uint64_t> order(lk);
  topkCycles.assign(p.rows(), 0);
  for (Eigen::Index i = 0; i < p.rows(); ++i) {
    // The top-k engine's quick-select over the row (timing only; seeded by
    // instruction and row so that runs repeat).
    auto qs = timing::quickSelect(llvm::ArrayRef(p.row(i).data(), lk), kv,
                                  pc * 65536 + uint64_t(i),
                                  machine.timing.topkComparators);
    if (qs)
      topkCycles[i] = qs->cycles;
    else
      llvm::consumeError(qs.takeError()); // softmax output is never NaN
    for (uint64_t j = 0; j < lk; ++j)
      order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](uint64_t a, uint64_t b) {
      return p(i, a) > p(i, b);
    });
    for (uint64_t r = 0; r < lk; ++r) {
      if (r < kv)
        used[order[r]] = true;
      else
        p(i, order[r]) = 0;
    }
  }
  return used;
}

/// The token-importance scores (imp_buf, imp_off: lk elements) when flag
/// AttnAccumulateImportance is set, checked before any state changes.
Expected<std::optional<Operand>>
AttentionUnit::tokenImportance(uint64_t lk) const {
  if (!(get(F::flags) & AttnAccumulateImportance))
    return std::nullopt;
  Operand imp{Buffer(get(F::impBuf)), get(F::impOff), 0, 1, lk};
  if (uint64_t(imp.buf) >= kNumBuffers || imp.buf == Buffer::Idx)
    return error(F::impBuf, "must name an fp32 buffer");
  if (lk && imp.off + lk > machine.bufferElems(imp.buf))
    return error(F::impOff, llvm::formatv("{0} scores at offset {1} run past "
                                          "the {2} buffer",
                                          lk, imp.off,
                                          kBufferNames[unsigned(imp.buf)]));
  noteWrite(imp);
  return std::optional<Operand>(imp);
}

/// Cascade token pruning: imp[j] += sum_i P[i, j]. The column sum is taken
/// in double and rounded once to fp32, then added in fp32, so that a
/// reference can reproduce it exactly (docs/ISA.md).
void AttentionUnit::accumulateImportance(const Mat &p, const Operand &imp) {
  Eigen::RowVectorXd sums = p.cast<double>().colwise().sum();
  const std::vector<float> &buf =
      machine.buffer(imp.buf, imp.off, imp.off + imp.cols);
  for (uint64_t j = 0; j < imp.cols; ++j)
    machine.setElement(imp.buf, imp.off + j,
                       buf[imp.off + j] + float(sums[j]));
}

/// The head-importance element when flag AttnHeadImportance is set, checked
/// before the instruction changes any state.
Expected<std::optional<Operand>> AttentionUnit::headImportance() const {
  if (!(get(F::flags) & AttnHeadImportance))
    return std::nullopt;
  Operand himp{Buffer(get(F::headImpBuf)), get(F::headImpOff), 0, 1, 1};
  if (uint64_t(himp.buf) >= kNumBuffers || himp.buf == Buffer::Idx)
    return error(F::headImpBuf, "must name an fp32 buffer");
  if (himp.off >= machine.bufferElems(himp.buf))
    return error(F::headImpOff,
                 llvm::formatv("{0} is past the {1} buffer", himp.off,
                               kBufferNames[unsigned(himp.buf)]));
  noteWrite(himp);
  return std::optional<Operand>(himp);
}

Mat AttentionUnit::times(const Mat &p, const View &v) const {
  if (machine.timingOnly)
    return Mat::Zero(p.rows(), v.cols());
  return splitProduct(p, v, machine.gemmHelper());
}

/// Writes O, adds the head importance and counts a kept head: what every
/// ATTN that produces O does (phase none or finish without AttnDeferValues,
/// and phase values).
void AttentionUnit::writeOutput(const Mat &o, const Operand &op,
                                const std::optional<Operand> &himp,
                                bool countHead) {
  write(op, o);
  if (himp) {
    // Cascade head pruning: sum of |O| over rows and the head dimension,
    // summed in double, then added in fp32.
    double sum = o.cast<double>().cwiseAbs().sum();
    float acc = machine.buffer(himp->buf, himp->off, himp->off + 1)[himp->off];
    machine.setElement(himp->buf, himp->off, acc + float(sum));
  }
  LayerCounters *l = layer();
  if (l && countHead)
    l->keptHeads = l->keptHeads.value_or(0) + 1;
}

/// The part of an ATTN after the probabilities are final: importance,
/// local value pruning, then either O = P V and head importance, or (flag
/// AttnDeferValues) the pruned P and value-row mask kept for `values`.
void AttentionUnit::finish(Mat &p, const Operands &ops) {
  uint64_t lk = p.cols();
  // Token importance uses the probabilities before value pruning.
  if (ops.imp)
    accumulateImportance(p, *ops.imp);
  LayerCounters *l = layer();
  std::vector<bool> rowMask(lk, true);
  rows.importance = ops.imp.has_value();
  bool defer = get(F::flags) & AttnDeferValues;
  rows.keptValues.assign(p.rows(), defer ? 0 : lk);
  if (get(F::vk)) {
    rowMask = pruneValues(p, rows.topk);
    if (!defer)
      rows.keptValues.assign(p.rows(), std::min<uint64_t>(get(F::vk), lk));
    if (l)
      l->vRowsKept = l->vRowsKept.value_or(0) +
                     uint64_t(std::count(rowMask.begin(), rowMask.end(), true));
  }
  if (l)
    l->keptTokens = std::max<uint64_t>(l->keptTokens.value_or(0), lk);
  if (defer) {
    machine.deferred = {true, false, uint64_t(p.rows()), lk,
                        std::vector<float>(p.data(), p.data() + p.size()),
                        std::move(rowMask)};
    return;
  }
  writeOutput(times(p, view(ops.v)), ops.o, ops.himp);
}

/// Phase `values`: O = P V with the pending pruned P, where V rows outside
/// the value-row mask read as 0 (they were not fetched and may hold stale
/// SRAM data, even NaN).
Error AttentionUnit::values() {
  uint64_t flags = get(F::flags);
  if (uint64_t bad = flags & ~uint64_t(AttnHeadImportance | AttnFillApply))
    return error(F::flags, llvm::formatv("bits {0:x} do not apply to phase "
                                         "values (only HeadImportance, 0x4, "
                                         "and FillApply, 0x20)",
                                         bad));
  uint64_t lq = get(F::lq), lk = get(F::lk), d = get(F::d);
  DeferredValues &dv = machine.deferred;
  bool pending = dv.valid && dv.lq == lq && dv.lk == lk;
  // Only the V rows of the value-row mask are read (and bound by their
  // width); the others may hold anything.
  auto v = operand(F::v, lk, d, false, pending ? &dv.rowMask : nullptr);
  if (!v)
    return v.takeError();
  auto o = output(F::o, lq, d);
  if (!o)
    return o.takeError();
  if (!pending)
    return error(F::phase, llvm::formatv("values of {0} x {1} probabilities "
                                         "without a pending deferred ATTN of "
                                         "that shape",
                                         lq, lk));
  auto himp = headImportance();
  if (!himp)
    return himp.takeError();
  Mat vm = read(*v);
  for (uint64_t j = 0; j < lk; ++j)
    if (!dv.rowMask[j])
      vm.row(j).setZero();
  Mat p = Eigen::Map<const Mat>(dv.probs.data(), lq, lk);
  // FillApply: a later fill adds to the O of the fills before it.
  bool accumulate = flags & AttnFillApply;
  Mat pv = times(p, View(vm.data(), vm.rows(), vm.cols(),
                         Eigen::OuterStride<>(vm.cols())));
  if (accumulate)
    pv += read(*o);
  writeOutput(pv, *o, *himp, /*countHead=*/!accumulate);
  rows.qk.assign(lq, false);
  rows.keptValues.resize(lq);
  for (uint64_t i = 0; i < lq; ++i)
    rows.keptValues[i] = uint64_t((p.row(i).array() != 0).count());
  // Over several fills the later fills' LSB loads still need the
  // predicate; the next decide sets it anew.
  if (!dv.fill)
    machine.predicate = false;
  machine.deferred = DeferredValues();
  out.cycles = attnCycles(0, lk, d, /*pv=*/true, lq, machine.timing);
  describeRows(lk, d);
  return Error::success();
}

/// Phase `decide` (progressive quantization): a row is unconfident when its
/// largest probability is below the threshold (docs/Algorithms.md). Keeps P
/// and the marks for `finish` and sets the predicate.
void AttentionUnit::decide(const Mat &p) {
  uint64_t lq = p.rows(), lk = p.cols();
  float threshold = getFloat(F::pqThreshold);
  PqPending &pq = machine.pq;
  pq = {true, lq, lk, std::vector<float>(p.data(), p.data() + lq * lk),
        std::vector<bool>(lq, false)};
  uint64_t unconfident = 0;
  for (uint64_t i = 0; i < lq; ++i) {
    float mx = lk ? p.row(i).maxCoeff() : 0.0f;
    pq.unconfident[i] = mx < threshold;
    unconfident += pq.unconfident[i];
  }
  machine.predicate = unconfident > 0;
  if (LayerCounters *l = layer()) {
    recordDecision(*l, unconfident);
    l->keptTokens = std::max<uint64_t>(l->keptTokens.value_or(0), lk);
  }
}

/// The report's refetch decision of a head and its unconfident rows; on a
/// later query tile of the head (`next_tile`) the decision merges into the
/// head's last one.
void AttentionUnit::recordDecision(LayerCounters &l, uint64_t unconfident) {
  l.unconfidentRows = l.unconfidentRows.value_or(0) + unconfident;
  if (get(F::nextTile) && !l.refetchDecisions.empty())
    l.refetchDecisions.back() = l.refetchDecisions.back() || unconfident > 0;
  else
    l.refetchDecisions.push_back(unconfident > 0);
  l.refetchedRows = l.refetchedRows.value_or(0);
}

/// Phase `finish`: confident rows keep the decide's MSB-only probabilities;
/// marked rows take the recomputed ones (the keys now hold full values).
/// Clears the pending decide, and the predicate unless the values are
/// deferred: then the V LSB loads of `--pq-values` still need it, and the
/// `values` phase clears it.
void AttentionUnit::mergeDecide(Mat &p) {
  uint64_t lq = p.rows(), lk = p.cols(), recomputed = 0;
  const PqPending &pq = machine.pq;
  rows.qk = pq.unconfident;
  for (uint64_t i = 0; i < lq; ++i) {
    if (pq.unconfident[i]) {
      ++recomputed;
      continue;
    }
    for (uint64_t j = 0; j < lk; ++j)
      p(i, j) = pq.probs[i * lk + j];
  }
  machine.pq = PqPending();
  bool pv = !(get(F::flags) & AttnDeferValues);
  // An apply pass leaves it for the LSB loads of the fills after it.
  if (pv && !(get(F::flags) & AttnFillApply))
    machine.predicate = false;
  out.cycles = attnCycles(recomputed, lk, get(F::d), pv, lq, machine.timing);
}

Expected<AttentionUnit::Operands> AttentionUnit::operands() const {
  AttnPhase phase = AttnPhase(get(F::phase));
  bool isDecide = phase == AttnPhase::Decide;
  // A decide ignores the flags (they apply at its finish).
  bool defer = !isDecide && (get(F::flags) & AttnDeferValues);
  if (defer && (get(F::flags) & AttnHeadImportance))
    return error(F::flags, "HeadImportance (0x4) applies where O is written, "
                           "at phase values, not with DeferValues (0x8)");
  uint64_t lq = get(F::lq), lk = get(F::lk), d = get(F::d);
  MaskKind kind = MaskKind(get(F::maskKind));
  bool padding = kind == MaskKind::Padding || kind == MaskKind::PaddingCausal;
  // A decide, a deferring ATTN or a statistics pass reads neither V nor O.
  bool stats = get(F::flags) & AttnFillStats;
  bool pv = !isDecide && !defer && !stats;
  auto q = operand(F::q, lq, d);
  auto k = q ? operand(F::k, lk, d) : q.takeError();
  auto v = k ? operand(F::v, pv ? lk : 0, d) : k.takeError();
  auto o = v ? output(F::o, pv ? lq : 0, d) : v.takeError();
  // One mask row per query row, mask_stride apart; stride 0 shares one
  // per-key row between all queries (the usual padding mask).
  auto mask = o ? operand(F::mask, padding ? lq : 0, lk) : o.takeError();
  if (!mask)
    return mask.takeError();
  auto imp = isDecide || stats ? std::optional<Operand>() : tokenImportance(lk);
  if (!imp)
    return imp.takeError();
  auto himp = isDecide || stats ? std::optional<Operand>() : headImportance();
  if (!himp)
    return himp.takeError();
  if (isDecide && !std::isfinite(getFloat(F::pqThreshold)))
    return error(F::pqThreshold, "is not a finite fp32 value");
  const PqPending &pq = machine.pq;
  if (phase == AttnPhase::Finish && !stats &&
      (!pq.valid || pq.lq != lq || pq.lk != lk))
    return error(F::phase, llvm::formatv("finish of {0} x {1} scores without "
                                         "a pending decide of that shape",
                                         lq, lk));
  return Operands{*q, *k, *v, *o, *mask, *imp, *himp};
}

/// One ATTN covers at most one fill of keys (max_keys_per_fill), and a head
/// has at least one column: operand bounds alone do not bound lq x lk when
/// rows repeat (stride 0), and the unit holds a row's scores for every key.
Error AttentionUnit::checkShape() const {
  if (get(F::d) == 0)
    return error(F::d, "a head is at least one column wide");
  uint64_t fill = machine.timing.maxKeysPerFill;
  if (get(F::lk) > fill)
    return error(F::lk, llvm::formatv("{0} keys exceed one fill "
                                      "(max_keys_per_fill {1})",
                                      get(F::lk), fill));
  return Error::success();
}

Error AttentionUnit::run() {
  if (Error e = checkFlags(F::flags, AttnAccumulateImportance | AttnMaskSelect |
                                         AttnHeadImportance | AttnDeferValues |
                                         AttnFillStats | AttnFillApply))
    return e;
  // The field is 2 bits wide: every value names a phase.
  AttnPhase phase = AttnPhase(get(F::phase));
  if (phase != AttnPhase::Values &&
      (get(F::flags) & (AttnFillStats | AttnFillApply)))
    if (Error e = checkFillPass())
      return e;
  if (Error e = checkShape())
    return e;
  if (phase == AttnPhase::Values)
    return values();
  auto ops = operands();
  if (!ops)
    return ops.takeError();
  uint64_t flags = get(F::flags);
  bool fillPass = flags & (AttnFillStats | AttnFillApply);
  auto p = fillPass ? scores(ops->q, ops->k, ops->mask)
                    : probabilities(ops->q, ops->k, ops->mask);
  if (!p)
    return p.takeError();
  uint64_t lq = get(F::lq), lk = get(F::lk), d = get(F::d);
  rows.qk.assign(lq, true);
  rows.keptValues.assign(lq, 0);
  if (flags & AttnFillStats) {
    accumulateStatistics(*p);
  } else if (flags & AttnFillApply) {
    applyFill(*p, *ops);
  } else if (phase == AttnPhase::Decide) {
    rows.decide = true;
    decide(*p);
  } else {
    if (phase == AttnPhase::Finish)
      mergeDecide(*p);
    finish(*p, *ops);
  }
  describeRows(lk, d);
  return Error::success();
}

/// This instruction's query rows for the attention pipeline model (the
/// engine runs them, timing::Engine::issue). K and V rows are already in
/// SRAM (their DMAs ran on the load queue), so the fetch stages cost
/// nothing here. Empty only if the configuration has a unit count of 0,
/// which its validation excludes.
std::optional<timing::AttnWork>
AttentionUnit::pipelineWork(uint64_t lk, uint64_t d) const {
  const HardwareConfig &hw = machine.timing;
  timing::AttentionUnits units{hw.qkMultipliers,   hw.pvMultipliers,
                               hw.softmaxUnits,    hw.topkComparators,
                               hw.crossbarInputs,  hw.crossbarOutputs};
  timing::AttentionMode mode{rows.decide, rows.importance};
  timing::AttnWork attn;
  attn.rows.reserve(rows.qk.size());
  for (size_t i = 0; i < rows.qk.size(); ++i) {
    uint64_t topk = i < rows.topk.size() ? rows.topk[i] : 0;
    auto w = timing::rowWork(units, lk, d, rows.keptValues[i], topk, 0, 0,
                             mode);
    if (!w) {
      llvm::consumeError(w.takeError());
      return std::nullopt;
    }
    if (!rows.qk[i]) {
      w->cycles[unsigned(timing::Stage::QK)] = 0;
      w->cycles[unsigned(timing::Stage::Softmax)] = 0;
    }
    attn.rows.push_back(*w);
  }
  attn.params.queueDepth = hw.pipelineQueueDepth;
  attn.params.servers[unsigned(timing::Stage::ValueTopk)] = hw.valueTopkEngines;
  return attn;
}

/// The operation counts of this instruction's rows, for the energy
/// estimate.
void AttentionUnit::countOps(uint64_t lk, uint64_t d) {
  OpCounts &ops = machine.rep.ops;
  for (size_t i = 0; i < rows.qk.size(); ++i) {
    if (rows.qk[i]) {
      ops.attnMacs += lk * d;
      ops.softmaxOps += lk;
    }
    ops.attnMacs += rows.keptValues[i] * d;
    if (i < rows.topk.size()) // about one comparison per comparator-cycle
      ops.topkCompares += rows.topk[i] * machine.timing.topkComparators;
  }
}

void AttentionUnit::describeRows(uint64_t lk, uint64_t d) {
  out.attnWork = pipelineWork(lk, d);
  if (out.attnWork)
    countOps(lk, d);
}

Error sim::executeAttn(const UnitInstr &instr) {
  return AttentionUnit(instr).run();
}

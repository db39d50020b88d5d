//===- AttentionUnit.h - The attention unit's instruction model -*- C++ -*-===//
//
// Private to lib/Sim/Units: the ATTN model that Attention.cpp (one fill,
// the phases of progressive quantization and local value pruning) and
// AttentionFills.cpp (the statistics and apply passes over several K/V
// buffer fills) share.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_SIM_UNITS_ATTENTIONUNIT_H
#define SPATTEN_LIB_SIM_UNITS_ATTENTIONUNIT_H

#include "Unit.h"

namespace spatten::sim {

/// One ATTN instruction on the attention unit (docs/ISA.md, `attn`).
class AttentionUnit : UnitInstr {
public:
  explicit AttentionUnit(const UnitInstr &instr) : UnitInstr(instr) {}
  Error run();

private:
  using F = fields::Attn;
  /// The checked operands of an ATTN in phase none, decide or finish.
  struct Operands {
    Operand q, k, v, o, mask;
    std::optional<Operand> imp, himp; ///< set when their flag is
  };
  /// Decodes and checks every operand of a phase none/decide/finish ATTN,
  /// so that a bad field fails before the instruction changes any state.
  Expected<Operands> operands() const;
  Expected<std::optional<Operand>> tokenImportance(uint64_t lk) const;
  Expected<std::optional<Operand>> headImportance() const;

  Expected<Mat> scores(const Operand &q, const Operand &k,
                        const Operand &mask) const;
  Expected<Mat> probabilities(const Operand &q, const Operand &k,
                              const Operand &mask) const;
  Error checkShape() const;

  // Passes over several fills (AttentionFills.cpp).
  Error checkFillPass() const;
  Error checkStatisticsPass() const;
  Error checkApplyPass() const;
  void accumulateStatistics(const Mat &s);
  void foldStatistics(const Mat &s, std::vector<float> &max,
                      std::vector<float> &sum,
                      const std::vector<bool> *onlyRows) const;
  void markUnconfident();
  void applyFill(Mat &s, const Operands &ops);
  void startApplying();
  void selectValues();
  std::vector<bool> pruneFillValues(Mat &p);
  void decide(const Mat &p);
  void recordDecision(LayerCounters &l, uint64_t unconfident);
  void mergeDecide(Mat &p);
  void finish(Mat &p, const Operands &ops);
  Error values();

  std::vector<bool> pruneValues(Mat &p, std::vector<uint64_t> &topkCycles) const;
  void accumulateImportance(const Mat &p, const Operand &imp);
  /// P V, or (timing only) zeros of its shape.
  Mat times(const Mat &p, const View &v) const;
  void writeOutput(const Mat &o, const Operand &op,
                   const std::optional<Operand> &himp, bool countHead = true);
  /// Hands the rows to the timeline and counts their operations.
  void describeRows(uint64_t lk, uint64_t d);
  std::optional<timing::AttnWork> pipelineWork(uint64_t lk, uint64_t d) const;
  void countOps(uint64_t lk, uint64_t d);

  /// What each query row of this ATTN does in the attention pipeline.
  struct Rows {
    std::vector<bool> qk;             ///< runs Q*K and softmax
    std::vector<uint64_t> topk;       ///< local-V top-k cycles
    std::vector<uint64_t> keptValues; ///< V rows prob*V reads (0: no PV)
    bool decide = false, importance = false;
  } rows;
};

} // namespace spatten::sim

#endif // SPATTEN_LIB_SIM_UNITS_ATTENTIONUNIT_H

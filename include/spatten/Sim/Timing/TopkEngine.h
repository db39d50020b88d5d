//===- TopkEngine.h - Quick-select timing of the top-k engine ---*- C++ -*-===//
//
// The top-k engine (paper Sec. IV-B) finds the k best of n candidates with
// quick-select: each partition pass streams the surviving candidates past
// P comparators against a randomly drawn pivot, and a zero eliminator
// compacts the survivors in list order at the end. This file replays that
// search to count passes and cycles; it does not compute the selection
// (the simulator ranks exactly, docs/ISA.md "topk").
//
// Depends only on LLVM Support.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_TOPKENGINE_H
#define SPATTEN_SIM_TIMING_TOPKENGINE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>

namespace spatten::sim::timing {

/// splitmix64 (Steele, Lea, Flood 2014): adds 0x9e3779b97f4a7c15 to `state`,
/// then mixes. The top-k engine's pivot source; seeded by the TOPK `seed`
/// field so that runs are reproducible.
uint64_t splitmix64(uint64_t &state);

/// One pass of the engine over `m` candidates: ceil(m / comparators) + 3
/// cycles of the accelerator clock (paper Sec. IV-B: P comparators per
/// cycle plus a 3-cycle pipeline fill). `comparators` must be positive.
uint64_t topkPassCycles(uint64_t m, unsigned comparators);

struct QuickSelect {
  /// Partition passes (the compaction pass is not counted here).
  uint64_t passes = 0;
  /// Cycles of the partition passes plus the compaction pass over all n
  /// candidates: what the engine is busy for.
  uint64_t cycles = 0;
};

/// Replays quick-select over `scores` (candidate scores in list order,
/// n = scores.size()) for the min(k, n) best, docs/ISA.md "topk":
///  - the set starts as all n positions in list order; each pass draws the
///    pivot set[splitmix64(state) % |set|], state starting at `seed`;
///  - `above` = the candidates ranking above the pivot (higher score, equal
///    scores to the earlier position), kept in set order;
///  - it stops when |above| or |above| + 1 is the number still wanted,
///    recurses into `above` when larger, else into the rest below the pivot
///    with that many fewer wanted;
///  - each pass over m candidates costs topkPassCycles(m), and the final
///    compaction one pass over n; k = 0 or n = 0 costs nothing, and k >= n
///    needs no partition pass (compaction only).
/// Errors: `comparators` of 0 ("topk_comparators"), a NaN score ("scores",
/// naming the candidate).
llvm::Expected<QuickSelect> quickSelect(llvm::ArrayRef<float> scores,
                                        uint64_t k, uint64_t seed,
                                        unsigned comparators);

} // namespace spatten::sim::timing

#endif // SPATTEN_SIM_TIMING_TOPKENGINE_H

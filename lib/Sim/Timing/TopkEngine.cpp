//===- TopkEngine.cpp - Quick-select timing of the top-k engine -----------===//

#include "spatten/Sim/Timing/TopkEngine.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace spatten::sim;
using llvm::Error;
using llvm::Expected;

uint64_t timing::splitmix64(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t timing::topkPassCycles(uint64_t m, unsigned comparators) {
  return llvm::divideCeil(m, uint64_t(comparators)) + 3;
}

static Error fieldError(llvm::StringRef field, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "field '" + field + "': " + msg);
}

/// Partition passes and their cycles until the `want`-th best of the
/// positions 0..n-1 is found (0 < want < n).
static timing::QuickSelect partitionPasses(llvm::ArrayRef<float> s,
                                           uint64_t want, uint64_t seed,
                                           unsigned comparators) {
  // Rank by score, equal scores to the earlier position: the order the
  // selection itself uses, so the search ends where the result does.
  auto better = [&](uint64_t a, uint64_t b) {
    return s[a] > s[b] || (s[a] == s[b] && a < b);
  };
  std::vector<uint64_t> set(s.size());
  for (uint64_t i = 0; i < set.size(); ++i)
    set[i] = i;
  timing::QuickSelect r;
  uint64_t state = seed;
  // Invariant 1 <= want <= |set|, and the pivot leaves the set each pass,
  // so this ends within n passes.
  while (true) {
    ++r.passes;
    r.cycles += timing::topkPassCycles(set.size(), comparators);
    uint64_t pivot = set[timing::splitmix64(state) % set.size()];
    std::vector<uint64_t> above, below;
    for (uint64_t x : set)
      if (x != pivot)
        (better(x, pivot) ? above : below).push_back(x);
    if (above.size() == want || above.size() + 1 == want)
      return r;
    if (above.size() > want) {
      set = std::move(above);
    } else {
      want -= above.size() + 1;
      set = std::move(below);
    }
  }
}

Expected<timing::QuickSelect>
timing::quickSelect(llvm::ArrayRef<float> scores, uint64_t k, uint64_t seed,
                    unsigned comparators) {
  if (!comparators)
    return fieldError("topk_comparators", "must be positive, got 0");
  for (uint64_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i]))
      return fieldError("scores", llvm::formatv("candidate {0} is NaN", i));
  uint64_t n = scores.size(), kk = std::min(k, n);
  QuickSelect r;
  if (!kk)
    return r;
  if (kk < n)
    r = partitionPasses(scores, kk, seed, comparators);
  r.cycles += topkPassCycles(n, comparators); // zero-eliminator compaction
  return r;
}

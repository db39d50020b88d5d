//===- hbm_bench.cpp - HBM2 model bandwidth microbenchmark ----------------===//
//
// Reports, as user counters, the bandwidth the HBM2 model achieves as a
// fraction of its peak (channels x 32 B per cycle) for
//   BM_HbmSequential: one long sequential read of `range(0)` MB;
//   BM_HbmScattered:  `range(0)` 32-byte reads at random addresses in 8 GB
//                     (an index-scattered gather, random rows).
// The ratio is computed from the model's cycles, not from wall-clock time;
// the wall-clock time shows how fast the model itself runs. The unit tests
// (test/Unit/HbmTest.cpp) check the same two properties.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/Hbm.h"

#include <benchmark/benchmark.h>

using namespace spatten::sim::timing;

namespace {

void report(benchmark::State &state, llvm::ArrayRef<HbmRequest> requests) {
  HbmParams p;
  double ratio = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    HbmModel m(p);
    uint64_t end = m.access(requests, 0);
    bytes = m.stats().bytes;
    ratio = double(bytes) / (double(end) * m.peakBytesPerCycle());
    benchmark::DoNotOptimize(end);
  }
  state.counters["bw_over_peak"] = ratio;
  state.counters["model_cycles"] =
      double(bytes) / (ratio * HbmModel(p).peakBytesPerCycle());
  state.counters["transactions"] = double(bytes) / p.transactionBytes;
}

void BM_HbmSequential(benchmark::State &state) {
  report(state, sequentialReads(0, uint64_t(state.range(0)) << 20));
}

void BM_HbmScattered(benchmark::State &state) {
  report(state, scatteredReads(uint64_t(state.range(0)), 32,
                               uint64_t(8) << 30, /*seed=*/1));
}

} // namespace

BENCHMARK(BM_HbmSequential)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmScattered)
    ->Arg(4096)
    ->Arg(65536)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

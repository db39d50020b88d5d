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
#include "spatten/Support/HardwareConfig.h"

#include <benchmark/benchmark.h>

using namespace spatten::sim::timing;

namespace {

void report(benchmark::State &state, llvm::ArrayRef<HbmRequest> requests) {
  spatten::HbmTiming p = spatten::HardwareConfig().hbm; // the paper's HBM2
  uint64_t end = 0, bytes = 0;
  double peak = 0;
  for (auto _ : state) {
    HbmModel m(p);
    end = m.access(requests, 0);
    bytes = m.stats().bytes;
    peak = m.peakBytesPerCycle();
    benchmark::DoNotOptimize(end);
  }
  state.counters["bw_over_peak"] = double(bytes) / (double(end) * peak);
  state.counters["model_cycles"] = double(end);
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

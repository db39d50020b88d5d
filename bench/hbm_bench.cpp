//===- hbm_bench.cpp - HBM2 model bandwidth and speed microbenchmark ------===//
//
// Reports, as user counters, the bandwidth the HBM2 model achieves as a
// fraction of its peak (channels x 32 B per cycle) for
//   BM_HbmSequential: one long sequential read of `range(0)` MB;
//   BM_HbmScattered:  `range(0)` 32-byte reads at random addresses in 8 GB
//                     (an index-scattered gather, random rows).
// Each runs on the simulator's burst-level HbmModel and on the
// per-transaction HbmTransactionModel (the `/reference` rows), which give
// the same cycles: the wall-clock times side by side are the models' own
// speeds, and `transactions_per_s` is the model's throughput. The unit
// tests (test/Unit/HbmTest.cpp) check the two bandwidth properties.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/HbmTransactionModel.h"
#include "spatten/Support/HardwareConfig.h"

#include <benchmark/benchmark.h>

using namespace spatten::sim::timing;

namespace {

template <typename Model>
void report(benchmark::State &state, llvm::ArrayRef<HbmRequest> requests) {
  spatten::HbmTiming p = spatten::HardwareConfig().hbm; // the paper's HBM2
  uint64_t end = 0, bytes = 0;
  double peak = 0;
  for (auto _ : state) {
    Model m(p);
    end = m.access(requests, 0);
    bytes = m.stats().bytes;
    peak = m.peakBytesPerCycle();
    benchmark::DoNotOptimize(end);
  }
  double transactions = double(bytes) / p.transactionBytes;
  state.counters["bw_over_peak"] = double(bytes) / (double(end) * peak);
  state.counters["model_cycles"] = double(end);
  state.counters["transactions"] = transactions;
  state.counters["transactions_per_s"] = benchmark::Counter(
      transactions * double(state.iterations()), benchmark::Counter::kIsRate);
}

template <typename Model> void BM_HbmSequential(benchmark::State &state) {
  report<Model>(state, sequentialReads(0, uint64_t(state.range(0)) << 20));
}

template <typename Model> void BM_HbmScattered(benchmark::State &state) {
  report<Model>(state, scatteredReads(uint64_t(state.range(0)), 32,
                                      uint64_t(8) << 30, /*seed=*/1));
}

} // namespace

BENCHMARK(BM_HbmSequential<HbmModel>)
    ->Name("BM_HbmSequential")
    ->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmSequential<HbmTransactionModel>)
    ->Name("BM_HbmSequential/reference")
    ->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmScattered<HbmModel>)
    ->Name("BM_HbmScattered")
    ->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmScattered<HbmTransactionModel>)
    ->Name("BM_HbmScattered/reference")
    ->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

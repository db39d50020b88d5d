//===- hbm_bench.cpp - HBM2 model bandwidth and speed microbenchmark ------===//
//
// Reports, as user counters, the bandwidth the HBM2 model achieves as a
// fraction of its peak (channels x 32 B per cycle) for
//   BM_HbmSequential: one long sequential read of `range(0)` MB;
//   BM_HbmScattered:  `range(0)` 32-byte reads at random addresses in 8 GB
//                     (an index-scattered gather, random rows);
//   BM_HbmWeightTiles: `range(0)` 768 x 768 fp32 weight matrices read in
//                     64-column tiles, one call per tile (768 rows of 256 B
//                     at a 3072-byte stride), each issued when the previous
//                     one completes, as BERT-base's GEMM weight loads reach
//                     the model from the load queue.
// Each runs on the simulator's burst-level HbmModel, on the same without
// its memo of repeated calls (the `/no-memo` rows), and on the
// per-transaction HbmTransactionModel (the `/reference` rows), which all
// give the same cycles; `transactions_per_s` is the model's throughput.
// After the runs a table gives each trace's CPU time on the three and the
// ratios, so one run shows the speed-ups side by side. The unit tests
// (test/Unit/HbmTest.cpp) check the two bandwidth properties.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/HbmTransactionModel.h"
#include "spatten/Support/HardwareConfig.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <type_traits>

using namespace spatten::sim::timing;

namespace {

/// One access() call: its requests, issued when the previous call completes.
using Calls = std::vector<std::vector<HbmRequest>>;

/// HbmModel with its memo on (Memoize) or off; the reference model has none.
template <typename Model, bool Memoize>
std::unique_ptr<Model> makeModel(const spatten::HbmTiming &p) {
  if constexpr (std::is_same_v<Model, HbmModel>)
    return std::make_unique<HbmModel>(p, Memoize);
  else
    return std::make_unique<Model>(p);
}

template <typename Model, bool Memoize>
void report(benchmark::State &state, const Calls &calls) {
  spatten::HbmTiming p = spatten::HardwareConfig().hbm; // the paper's HBM2
  uint64_t end = 0, bytes = 0;
  double peak = 0;
  for (auto _ : state) {
    std::unique_ptr<Model> m = makeModel<Model, Memoize>(p);
    end = 0;
    for (const std::vector<HbmRequest> &call : calls)
      end = m->access(call, end);
    bytes = m->stats().bytes;
    peak = m->peakBytesPerCycle();
    benchmark::DoNotOptimize(end);
  }
  double transactions = double(bytes) / p.transactionBytes;
  state.counters["bw_over_peak"] = double(bytes) / (double(end) * peak);
  state.counters["model_cycles"] = double(end);
  state.counters["transactions"] = transactions;
  state.counters["transactions_per_s"] = benchmark::Counter(
      transactions * double(state.iterations()), benchmark::Counter::kIsRate);
}

/// `matrices` 768 x 768 fp32 matrices, one after another in DRAM, each
/// read in 64-column tiles of 768 rows (one call per tile).
Calls weightTiles(uint64_t matrices) {
  constexpr uint64_t kDim = 768, kTileCols = 64, kElem = 4;
  Calls calls;
  for (uint64_t m = 0; m < matrices; ++m) {
    uint64_t base = m * kDim * kDim * kElem;
    for (uint64_t col = 0; col < kDim; col += kTileCols) {
      std::vector<HbmRequest> &call = calls.emplace_back();
      for (uint64_t row = 0; row < kDim; ++row)
        call.push_back({base + (row * kDim + col) * kElem, kTileCols * kElem,
                        false});
    }
  }
  return calls;
}

template <typename Model, bool Memoize = true>
void BM_HbmSequential(benchmark::State &state) {
  report<Model, Memoize>(state, {sequentialReads(0, uint64_t(state.range(0)) << 20)});
}

template <typename Model, bool Memoize = true>
void BM_HbmScattered(benchmark::State &state) {
  report<Model, Memoize>(state, {scatteredReads(uint64_t(state.range(0)), 32,
                                       uint64_t(8) << 30, /*seed=*/1)});
}

template <typename Model, bool Memoize = true>
void BM_HbmWeightTiles(benchmark::State &state) {
  report<Model, Memoize>(state, weightTiles(uint64_t(state.range(0))));
}

/// The console output, and each run's CPU time by name for the table.
class RatioReporter : public benchmark::ConsoleReporter {
public:
  void ReportRuns(const std::vector<Run> &runs) override {
    for (const Run &r : runs)
      if (r.run_type == Run::RT_Iteration)
        cpuSeconds[r.benchmark_name()] = r.GetAdjustedCPUTime() / 1e3;
    ConsoleReporter::ReportRuns(runs);
  }
  /// CPU time per trace of the burst-level model with and without its
  /// memo and of the per-transaction one, and their ratios to the first.
  void printRatios() const {
    std::printf("\n%-24s %10s %12s %13s %14s %14s\n", "trace", "memo (ms)",
                "no memo (ms)", "per-txn (ms)", "no memo/memo",
                "per-txn/memo");
    for (const auto &[name, memo] : cpuSeconds) {
      double noMemo = of(name, "/no-memo"), perTxn = of(name, "/reference");
      if (memo <= 0 || noMemo <= 0 || perTxn <= 0)
        continue;
      std::printf("%-24s %10.3f %12.3f %13.3f %13.1fx %13.1fx\n",
                  name.c_str(), memo * 1e3, noMemo * 1e3, perTxn * 1e3,
                  noMemo / memo, perTxn / memo);
    }
  }

private:
  /// The CPU seconds of `name`'s variant `tag` ("BM_X/tag/arg"), or 0.
  double of(const std::string &name, const std::string &tag) const {
    size_t slash = name.find('/');
    if (slash == std::string::npos)
      return 0;
    auto it = cpuSeconds.find(name.substr(0, slash) + tag + name.substr(slash));
    return it == cpuSeconds.end() ? 0 : it->second;
  }

  std::map<std::string, double> cpuSeconds; // milliseconds / 1e3
};

} // namespace

BENCHMARK(BM_HbmSequential<HbmModel>)
    ->Name("BM_HbmSequential")
    ->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmSequential<HbmModel, false>)
    ->Name("BM_HbmSequential/no-memo")
    ->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmSequential<HbmTransactionModel>)
    ->Name("BM_HbmSequential/reference")
    ->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmScattered<HbmModel>)
    ->Name("BM_HbmScattered")
    ->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmScattered<HbmModel, false>)
    ->Name("BM_HbmScattered/no-memo")
    ->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmScattered<HbmTransactionModel>)
    ->Name("BM_HbmScattered/reference")
    ->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmWeightTiles<HbmModel>)
    ->Name("BM_HbmWeightTiles")
    ->Arg(1)->Arg(12)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmWeightTiles<HbmModel, false>)
    ->Name("BM_HbmWeightTiles/no-memo")
    ->Arg(1)->Arg(12)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HbmWeightTiles<HbmTransactionModel>)
    ->Name("BM_HbmWeightTiles/reference")
    ->Arg(1)->Arg(12)->Unit(benchmark::kMillisecond);

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.printRatios();
  benchmark::Shutdown();
  return 0;
}

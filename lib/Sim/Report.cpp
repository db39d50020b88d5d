//===- Report.cpp - What a simulation run measured, as report.json -------===//

#include "spatten/Sim/Report.h"
#include "spatten/Sim/Timing/AttentionPipeline.h"

#include <algorithm>
#include <numeric>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

LayerCounters *Report::layer(uint64_t fieldValue) {
  if (!fieldValue)
    return nullptr;
  unsigned l = unsigned(fieldValue - 1);
  auto it = std::lower_bound(
      layers.begin(), layers.end(), l,
      [](const LayerCounters &c, unsigned v) { return c.layer < v; });
  if (it == layers.end() || it->layer != l) {
    LayerCounters c;
    c.layer = l;
    it = layers.insert(it, c);
  }
  return &*it;
}

uint64_t Report::totalInstructions() const {
  uint64_t n = 0;
  for (const OpcodeStats &s : byOpcode)
    n += s.count;
  return n;
}

uint64_t Report::serialCycles() const {
  return std::accumulate(instrCycles.begin(), instrCycles.end(), uint64_t(0));
}

template <typename T, size_t N>
static void addTo(std::array<T, N> &to, const std::array<T, N> &from) {
  for (size_t i = 0; i < N; ++i)
    to[i] += from[i];
}

RunFigures Report::figures() const {
  RunFigures f;
  f.cycles = cycles;
  f.dramRead = dramRead;
  f.dramWritten = dramWritten;
  for (const LayerCounters &l : layers) {
    std::optional<uint64_t> refetches;
    if (!l.refetchDecisions.empty())
      refetches = llvm::count(l.refetchDecisions, true);
    f.layers.push_back(
        {l.layer, l.keptTokens, l.keptHeads, refetches, {}, l.dramRead,
         l.dramWritten});
    for (const TopkRecord &t : topk)
      if (t.layer == l.layer && t.role == isa::TopkRole::Tokens)
        f.layers.back().tokens = t.selected;
  }
  return f;
}

void Report::addTotals(const Report &run) {
  ops.gemmMacs += run.ops.gemmMacs;
  ops.vectorOps += run.ops.vectorOps;
  ops.attnMacs += run.ops.attnMacs;
  ops.softmaxOps += run.ops.softmaxOps;
  ops.topkCompares += run.ops.topkCompares;
  for (unsigned o = 0; o < kNumOpcodes; ++o) {
    byOpcode[o].count += run.byOpcode[o].count;
    byOpcode[o].cycles += run.byOpcode[o].cycles;
  }
  addTo(dramRead, run.dramRead);
  addTo(dramWritten, run.dramWritten);
  llvm::append_range(instrCycles, run.instrCycles);
  cycles += run.cycles;
  addTo(queueBusy, run.queueBusy);
  addTo(stageBusy, run.stageBusy);
}

/// Bytes over every tensor class.
static uint64_t sumOfClasses(const std::array<uint64_t, kNumTensorClasses> &bytes) {
  return std::accumulate(bytes.begin(), bytes.end(), uint64_t(0));
}

static llvm::json::Object classBytes(
    const std::array<uint64_t, kNumTensorClasses> &bytes) {
  llvm::json::Object o;
  for (unsigned c = 0; c < kNumTensorClasses; ++c)
    o[std::string(kTensorClassNames[c])] = int64_t(bytes[c]);
  return o;
}

/// A `dram_bytes` object: by class, and the totals.
static llvm::json::Object dramBytesJSON(
    const std::array<uint64_t, kNumTensorClasses> &read,
    const std::array<uint64_t, kNumTensorClasses> &written) {
  return llvm::json::Object{{"read", classBytes(read)},
                            {"written", classBytes(written)},
                            {"total_read", int64_t(sumOfClasses(read))},
                            {"total_written", int64_t(sumOfClasses(written))}};
}

static llvm::json::Value optionalCount(const std::optional<uint64_t> &v) {
  return v ? llvm::json::Value(int64_t(*v)) : llvm::json::Value(nullptr);
}

static llvm::json::Object queueCycles(
    const std::array<uint64_t, kNumQueues> &busy) {
  llvm::json::Object o;
  for (unsigned q = 0; q < kNumQueues; ++q)
    o[std::string(kQueueNames[q])] = int64_t(busy[q]);
  return o;
}

/// Busy cycles / `span` per queue (0 for an empty span).
static llvm::json::Object utilization(
    const std::array<uint64_t, kNumQueues> &busy, uint64_t span) {
  llvm::json::Object o;
  for (unsigned q = 0; q < kNumQueues; ++q)
    o[std::string(kQueueNames[q])] = span ? double(busy[q]) / span : 0.0;
  return o;
}

static llvm::json::Object stageCycles(const std::array<uint64_t, 8> &busy) {
  llvm::json::Object o;
  for (unsigned st = 0; st < timing::kNumStages; ++st)
    o[timing::stageName(timing::Stage(st)).str()] = int64_t(busy[st]);
  return o;
}

static llvm::json::Value layerCycles(const LayerCounters &l) {
  if (l.firstStart > l.lastEnd)
    return nullptr;
  uint64_t span = l.lastEnd - l.firstStart;
  return llvm::json::Object{{"start", int64_t(l.firstStart)},
                            {"end", int64_t(l.lastEnd)},
                            {"span", int64_t(span)},
                            {"by_queue", queueCycles(l.queueBusy)},
                            {"utilization", utilization(l.queueBusy, span)},
                            {"attention_stages", stageCycles(l.stageBusy)}};
}

/// Energy estimate (docs/Simulator.md): counts times the configuration's
/// per-access and per-op energies, in microjoules by component.
static llvm::json::Object energyJSON(const Report &r, const HardwareConfig &hw) {
  const EnergyTable &e = hw.energy;
  uint64_t read = sumOfClasses(r.dramRead), written = sumOfClasses(r.dramWritten);
  // Every DMA byte also crosses an SRAM port once (written on a load, read
  // on a store).
  std::pair<const char *, double> parts[] = {
      {"dram", read * e.dramReadPerByte.pj + written * e.dramWritePerByte.pj},
      {"sram", read * e.sramWritePerByte.pj + written * e.sramReadPerByte.pj},
      {"attention_macs", r.ops.attnMacs * e.attnMac.pj},
      {"softmax", r.ops.softmaxOps * e.softmaxOp.pj},
      {"topk", r.ops.topkCompares * e.topkCompare.pj},
      {"gemm", r.ops.gemmMacs * e.gemmMac.pj},
      {"vector", r.ops.vectorOps * e.vectorOp.pj}};
  llvm::json::Object byPart, counts;
  double total = 0;
  for (auto [name, pj] : parts) {
    byPart[name] = pj * 1e-6;
    total += pj;
  }
  counts["gemm_macs"] = int64_t(r.ops.gemmMacs);
  counts["vector_ops"] = int64_t(r.ops.vectorOps);
  counts["attention_macs"] = int64_t(r.ops.attnMacs);
  counts["softmax_ops"] = int64_t(r.ops.softmaxOps);
  counts["topk_compares"] = int64_t(r.ops.topkCompares);
  llvm::json::Value config = hw.toJSON();
  llvm::json::Value *table = config.getAsObject()->get("energy");
  return llvm::json::Object{{"total_uj", total * 1e-6},
                            {"by_component_uj", std::move(byPart)},
                            {"operations", std::move(counts)},
                            {"table", table ? std::move(*table) : nullptr}};
}

static llvm::json::Value topkJSON(const TopkRecord &t) {
  llvm::json::Array selected;
  for (int32_t c : t.selected)
    selected.push_back(int64_t(c));
  return llvm::json::Object{
      {"instruction", int64_t(t.instruction)},
      {"n", int64_t(t.n)},
      {"k", int64_t(t.k)},
      {"passes", int64_t(t.passes)},
      {"cycles", int64_t(t.cycles)},
      {"layer", t.layer ? llvm::json::Value(int64_t(*t.layer))
                        : llvm::json::Value(nullptr)},
      {"role", std::string(kTopkRoleNames[unsigned(t.role)])},
      {"selected", std::move(selected)}};
}

/// One run's `cycles` and `dram_bytes`, and `extra` fields.
static llvm::json::Object figuresJSON(const RunFigures &f,
                                      llvm::json::Object extra = {}) {
  extra["cycles"] = int64_t(f.cycles);
  extra["dram_bytes"] = dramBytesJSON(f.dramRead, f.dramWritten);
  return extra;
}

static llvm::json::Value stepJSON(const GenerationStep &s) {
  llvm::json::Array layers;
  for (const RunFigures::Layer &l : s.run.layers) {
    llvm::json::Object layer{{"layer", int64_t(l.layer)},
                             {"kept_tokens", optionalCount(l.keptTokens)},
                             {"kept_heads", optionalCount(l.keptHeads)},
                             {"refetches", optionalCount(l.refetches)}};
    if (!l.tokens.empty())
      layer["tokens"] = llvm::json::Array(l.tokens);
    layer["dram_bytes"] = dramBytesJSON(l.dramRead, l.dramWritten);
    layers.push_back(std::move(layer));
  }
  return figuresJSON(s.run,
                     llvm::json::Object{{"step", int64_t(s.step)},
                                        {"position", int64_t(s.position)},
                                        {"layers", std::move(layers)}});
}

/// report.json's `stages`: the prefill's figures, and the decode steps'
/// with their sums.
static llvm::json::Value stagesJSON(const GenerationStages &st) {
  RunFigures sum;
  llvm::json::Array steps;
  for (const GenerationStep &s : st.steps) {
    sum.cycles += s.run.cycles;
    addTo(sum.dramRead, s.run.dramRead);
    addTo(sum.dramWritten, s.run.dramWritten);
    steps.push_back(stepJSON(s));
  }
  return llvm::json::Object{
      {"prefill", figuresJSON(st.prefill)},
      {"generation",
       figuresJSON(sum, llvm::json::Object{{"steps", std::move(steps)}})}};
}

llvm::json::Value Report::toJSON(const HardwareConfig &hw) const {
  llvm::json::Object counts, cycles;
  for (unsigned op = 0; op < kNumOpcodes; ++op) {
    if (Opcode(op) == Opcode::Bind) // decoded with the instruction it patches
      continue;
    std::string m(kOpcodeSpecs[op].mnemonic);
    counts[m] = int64_t(byOpcode[op].count);
    cycles[m] = int64_t(byOpcode[op].cycles);
  }
  uint64_t total = this->cycles;
  uint64_t read = sumOfClasses(dramRead), written = sumOfClasses(dramWritten);
  llvm::json::Array layerArr;
  for (const LayerCounters &l : layers)
    layerArr.push_back(llvm::json::Object{
        {"layer", int64_t(l.layer)},
        {"dram_bytes", llvm::json::Object{{"read", classBytes(l.dramRead)},
                                          {"written",
                                           classBytes(l.dramWritten)}}},
        {"kept_tokens", optionalCount(l.keptTokens)},
        {"kept_heads", optionalCount(l.keptHeads)},
        {"refetched_rows", optionalCount(l.refetchedRows)},
        {"unconfident_rows", optionalCount(l.unconfidentRows)},
        {"refetch_decisions",
         llvm::json::Array(llvm::map_range(
             l.refetchDecisions, [](bool b) { return llvm::json::Value(b); }))},
        {"v_rows_kept", optionalCount(l.vRowsKept)},
        {"topk_passes", optionalCount(l.topkPasses)},
        {"cycles", layerCycles(l)}});
  llvm::json::Array topkArr;
  for (const TopkRecord &t : topk)
    topkArr.push_back(topkJSON(t));
  llvm::json::Object report{
      {"hardware", hw.name},
      {"instructions",
       llvm::json::Object{{"total", int64_t(totalInstructions())},
                          {"by_opcode", std::move(counts)}}},
      {"dram_bytes", dramBytesJSON(dramRead, dramWritten)},
      {"cycles",
       llvm::json::Object{
           {"model", "cycle-level: load/compute/store queues ordered by "
                     "dep_wait (docs/Simulator.md)"},
           {"total", int64_t(total)},
           {"serial_first_order", int64_t(serialCycles())},
           {"by_opcode", std::move(cycles)},
           {"by_queue", queueCycles(queueBusy)},
           {"utilization", utilization(queueBusy, total)},
           {"attention_stages", stageCycles(stageBusy)},
           {"time_us", double(total) / (hw.clockGHz * 1e3)}}},
      {"dram_bandwidth",
       llvm::json::Object{
           {"bytes_per_cycle", total ? double(read + written) / total : 0.0},
           {"gb_per_s", total ? double(read + written) / total * hw.clockGHz
                              : 0.0},
           {"peak_bytes_per_cycle", int64_t(hw.dramBytesPerCycle())}}},
      {"energy", energyJSON(*this, hw)},
      {"layers", std::move(layerArr)},
      {"topk", std::move(topkArr)},
  };
  if (stages)
    report["stages"] = stagesJSON(*stages);
  return report;
}

//===- Simulator.cpp - Set-up, run loop, dispatch, timeline ---------------===//
//
// The execute half decodes each instruction, checks its header and hands
// it to its functional unit (Units/), which runs it on the Machine; the
// retire half places what it produced on the cycle-level timeline
// (docs/Simulator.md, "Two threads").
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Simulator.h"
#include "SimError.h"
#include "Machine.h"
#include "Units/Unit.h"
#include "spatten/ISA/Accesses.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Threading.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;
using llvm::Error;
using llvm::Expected;


namespace {

/// One executed instruction on its way to the timeline.
struct Executed {
  const OpcodeSpec *spec = nullptr;
  timing::Work work;
  uint64_t cycles = 0; ///< its first-order estimate (Report::instrCycles)
};

} // namespace

//===----------------------------------------------------------------------===//
// The retire half.
//===----------------------------------------------------------------------===//

/// The timeline and the report fields it defines (cycles, queueBusy,
/// stageBusy, byOpcode, instrCycles and the layers' firstStart, lastEnd,
/// queueBusy and stageBusy; the rest stays empty) until mergeInto() adds
/// them to the main report. Touches neither that report nor the Machine,
/// so it may run on another thread than execution.
class sim::Retirement {
public:
  /// Retirement on the HBM2 model of `timing`, kept for every run of the
  /// simulator. Errors: the field HbmTiming::validate refuses.
  static Expected<std::unique_ptr<Retirement>>
  create(const HardwareConfig &timing);
  /// A new timeline at cycle 0. The HBM2 model keeps its memo: a decode
  /// step's weight tiles replay the previous step's schedules.
  void reset();
  /// Places `x` on the timeline and counts it. Errors name the
  /// instruction: a `dep_wait` with no token to take, or the host out of
  /// memory.
  Error retire(const Executed &x);
  /// Adds what was retired since the last call to `rep`.
  void mergeInto(Report &rep);
  const timing::Engine &timeline() const { return *engine; }

private:
  /// retire() without its catch of host out-of-memory.
  Error placeOnTimeline(const Executed &x);
  /// Adds an ATTN's attention-pipeline stage cycles to `retired`.
  void notePipeline(const timing::PipelineResult &run,
                    std::optional<unsigned> layer);
  /// Adds one instruction's interval to `retired`'s cycle counters.
  /// `busy`: the cycles it added to its queue's busy time.
  void noteTimeline(const timing::Work &work, const timing::Interval &when,
                    uint64_t busy);

  std::unique_ptr<timing::Engine> engine;
  Report retired;
};

Expected<std::unique_ptr<Retirement>>
Retirement::create(const HardwareConfig &timing) {
  auto dram = timing::hbmDram(timing);
  if (!dram)
    return makeError("hardware configuration: " +
                     llvm::toString(dram.takeError()));
  auto r = std::make_unique<Retirement>();
  r->engine = std::make_unique<timing::Engine>(std::move(*dram));
  return r;
}

void Retirement::reset() {
  engine->reset();
  retired = Report();
}

Error Retirement::retire(const Executed &x) {
  try {
    return placeOnTimeline(x);
  } catch (const std::bad_alloc &) {
    // The timeline grows with the program and can exhaust the host, as
    // execution can; on the worker thread an escaping exception would end
    // the process.
    return makeError(llvm::formatv("instruction {0} ({1}): out of host "
                                   "memory for the timeline",
                                   x.work.pc, x.spec->mnemonic));
  }
}

Error Retirement::placeOnTimeline(const Executed &x) {
  const timing::Work &work = x.work;
  timing::PipelineResult pipelineRun;
  // A streamed ATTN overlaps its predecessor: only the queue's new busy
  // cycles count.
  std::optional<Queue> q = queueOf(work.opcode);
  uint64_t busyBefore = q ? engine->busy()[unsigned(*q)] : 0;
  auto issued = engine->issue(work, &pipelineRun);
  if (!issued)
    return makeError(llvm::formatv("instruction {0} ({1}): {2}", work.pc,
                                   x.spec->mnemonic,
                                   llvm::toString(issued.takeError())));
  timing::Interval when = *issued;
  if (work.attn)
    notePipeline(pipelineRun, work.layer);
  noteTimeline(work, when,
               q ? engine->busy()[unsigned(*q)] - busyBefore : 0);
  OpcodeStats &stats = retired.byOpcode[unsigned(work.opcode)];
  stats.count += 1;
  stats.cycles += when.cycles();
  retired.instrCycles.push_back(x.cycles);
  return Error::success();
}

void Retirement::noteTimeline(const timing::Work &work,
                              const timing::Interval &when, uint64_t busy) {
  retired.cycles = engine->total();
  std::optional<Queue> q = queueOf(work.opcode);
  if (q)
    retired.queueBusy[unsigned(*q)] += busy;
  if (!work.layer || !when.cycles()) // e.g. a predicated DMA that was skipped
    return;
  LayerCounters *l = retired.layer(*work.layer + 1);
  l->firstStart = std::min(l->firstStart, when.start);
  l->lastEnd = std::max(l->lastEnd, when.end);
  if (q)
    l->queueBusy[unsigned(*q)] += busy;
}

void Retirement::notePipeline(const timing::PipelineResult &run,
                              std::optional<unsigned> layerIndex) {
  LayerCounters *l = layerIndex ? retired.layer(*layerIndex + 1) : nullptr;
  for (unsigned s = 0; s < timing::kNumStages; ++s) {
    retired.stageBusy[s] += run.stages[s].busy;
    if (l)
      l->stageBusy[s] += run.stages[s].busy;
  }
}

template <typename T, size_t N>
static void addTo(std::array<T, N> &to, const std::array<T, N> &from) {
  for (size_t i = 0; i < N; ++i)
    to[i] += from[i];
}

void Retirement::mergeInto(Report &rep) {
  if (retired.instrCycles.empty())
    return; // nothing retired: the timeline is unchanged
  rep.cycles = retired.cycles;
  addTo(rep.queueBusy, retired.queueBusy);
  addTo(rep.stageBusy, retired.stageBusy);
  for (unsigned o = 0; o < kNumOpcodes; ++o) {
    rep.byOpcode[o].count += retired.byOpcode[o].count;
    rep.byOpcode[o].cycles += retired.byOpcode[o].cycles;
  }
  llvm::append_range(rep.instrCycles, retired.instrCycles);
  for (const LayerCounters &t : retired.layers) {
    LayerCounters *l = rep.layer(uint64_t(t.layer) + 1);
    l->firstStart = std::min(l->firstStart, t.firstStart);
    l->lastEnd = std::max(l->lastEnd, t.lastEnd);
    addTo(l->queueBusy, t.queueBusy);
    addTo(l->stageBusy, t.stageBusy);
  }
  retired = Report();
}

//===----------------------------------------------------------------------===//
// The execute half: decode, header checks, dispatch to the units.
//===----------------------------------------------------------------------===//

/// Bits of each word that belong to some field of `spec` (header included).
static std::array<uint64_t, kInstrWords> definedBits(const OpcodeSpec &spec) {
  std::array<uint64_t, kInstrWords> mask{};
  auto add = [&](const Field &f) { mask[f.word] |= fieldMask(f) << f.lsb; };
  add(kOpcodeField);
  add(kDepWaitField);
  add(kDepSignalField);
  for (unsigned i = 0; i < spec.numFields; ++i)
    add(spec.fields[i]);
  return mask;
}

/// The spec of `inst`, once its opcode, reserved bits and dependency
/// queue bits are checked.
static Expected<const OpcodeSpec *> decodeHeader(const Instr &inst,
                                                 uint64_t pc) {
  const OpcodeSpec *spec = lookupOpcode(inst.opcodeByte());
  if (!spec)
    return makeError(llvm::formatv("instruction {0}: field 'opcode': {1:x2} is "
                                   "not an opcode",
                                   pc, unsigned(inst.opcodeByte())));
  std::array<uint64_t, kInstrWords> defined = definedBits(*spec);
  for (unsigned w = 0; w < kInstrWords; ++w)
    if (uint64_t extra = inst.words[w] & ~defined[w])
      return makeError(llvm::formatv("instruction {0} ({1}): reserved bits "
                                     "{2:x} set in word {3}",
                                     pc, spec->mnemonic, extra, w));
  for (const Field &dep : {kDepWaitField, kDepSignalField})
    if (uint64_t bad = inst.get(dep) &
                       ~uint64_t(WaitLoad | WaitCompute | WaitStore))
      return makeError(llvm::formatv("instruction {0} ({1}): field '{2}': "
                                     "bit {3:x} names no queue (1 load, 2 "
                                     "compute, 4 store)",
                                     pc, spec->mnemonic, dep.name, bad));
  return spec;
}

/// Runs `instr` on its functional unit.
static Error dispatch(const UnitInstr &instr, Opcode opcode) {
  switch (opcode) {
  case Opcode::Halt:
  case Opcode::Sync:
    return Error::success();
  case Opcode::Load: return executeDma(instr, /*toSram=*/true, /*gather=*/false);
  case Opcode::Store: return executeDma(instr, /*toSram=*/false, /*gather=*/false);
  case Opcode::Gather: return executeDma(instr, /*toSram=*/true, /*gather=*/true);
  case Opcode::Scatter: return executeDma(instr, /*toSram=*/false, /*gather=*/true);
  case Opcode::Gemm: return executeGemm(instr);
  case Opcode::Attn: return executeAttn(instr);
  case Opcode::Vec: return executeVec(instr);
  case Opcode::Topk: return executeTopk(instr);
  case Opcode::Bind: break; // held by execute(), never dispatched
  }
  return instr.error("opcode", "not implemented");
}

/// `next` reads SRAM that `prev` writes (a read-after-write hazard that
/// keeps `next` from streaming behind `prev`). The importance both
/// accumulate is not one: the adder takes rows in pipeline order.
static bool readsResultsOf(const Instr &next, const Instr &prev) {
  auto reads = isa::accessesOf(next), writes = isa::accessesOf(prev);
  return llvm::any_of(writes, [&](const isa::Access &w) {
    return w.write && w.space == isa::Space::Sram &&
           llvm::any_of(reads, [&](const isa::Access &r) {
             return !r.write && r.conflicts(w);
           });
  });
}

/// Whether an ATTN's rows may stream behind the previous compute
/// instruction (an ATTN whose results it does not read), and the last ATTN
/// for the next one.
static void noteAttnStream(Machine &m, const Instr &inst, timing::Work &work) {
  if (work.attn) {
    work.attn->streams = m.lastAttn && !readsResultsOf(inst, *m.lastAttn);
    m.lastAttn = inst;
  } else if (queueOf(work.opcode) == Queue::Compute) {
    m.lastAttn.reset();
  }
}

/// The execute half of an instruction: decode, field checks, the
/// functional run on `m` (SRAM, DRAM, the execution counters) and what the
/// timeline needs; nothing for a `bind`, which is held for the instruction
/// it patches (its pending binds are applied first). Touches nothing of the
/// retire half.
static Expected<std::optional<Executed>> execute(Machine &m, const Instr &word,
                                                 uint64_t pc) {
  auto spec = decodeHeader(word, pc);
  if (!spec)
    return spec.takeError();
  if ((*spec)->opcode == Opcode::Bind) {
    if (Error e = holdBind(m, word, pc))
      return std::move(e);
    return std::nullopt;
  }
  auto patched = m.pendingBinds.empty() ? Expected<Instr>(word)
                                        : applyBinds(m, word, **spec);
  if (!patched)
    return patched.takeError();
  const Instr &inst = *patched;
  std::optional<uint64_t> dataCycles;
  Executed x;
  x.spec = *spec;
  timing::Work &work = x.work;
  work.pc = pc;
  work.opcode = x.spec->opcode;
  work.depWait = unsigned(inst.get(kDepWaitField));
  work.depSignal = unsigned(inst.get(kDepSignalField));
  try {
    UnitOutput out;
    if (Error e = dispatch(UnitInstr(m, inst, pc, *x.spec, out), work.opcode))
      return std::move(e);
    commitWidths(m, out);
    dataCycles = out.cycles;
    work.dram = std::move(out.dramRows);
    work.attn = std::move(out.attnWork);
  } catch (const std::bad_alloc &) {
    // Fields within their checked bounds can still describe an operation
    // too large for the host (e.g. a huge lq x lk score matrix).
    return makeError(llvm::formatv("instruction {0} ({1}): out of host memory "
                                   "for the operation its fields describe",
                                   pc, x.spec->mnemonic));
  }
  x.cycles = dataCycles ? *dataCycles : estimateCycles(inst, m.timing);
  if (const Field *l = layerField(work.opcode); l && inst.get(*l))
    work.layer = unsigned(inst.get(*l) - 1);
  work.computeCycles = x.cycles;
  noteAttnStream(m, inst, work);
  return std::optional<Executed>(std::move(x));
}

/// Runs execute() from instruction `entry` to HALT, handing every
/// instruction to `handOff` in program order; stops early when `handOff`
/// returns false (the retire half failed and holds the error).
static Error executeProgram(Machine &m, const binary::Image &image,
                            uint64_t entry,
                            llvm::function_ref<bool(Executed &&)> handOff) {
  uint64_t n = image.text.size() / kInstrBytes;
  for (uint64_t pc = entry;; ++pc) {
    if (pc >= n && !m.pendingBinds.empty())
      return unboundError(m);
    if (pc >= n)
      return makeError(llvm::formatv("instruction {0}: ran past the end of "
                                     ".text ({1} instructions) without halt",
                                     pc, n));
    Instr inst = Instr::decode(image.text.data() + pc * kInstrBytes);
    auto x = execute(m, inst, pc);
    if (!x)
      return x.takeError();
    if (*x && !handOff(std::move(**x)))
      return Error::success(); // the retire half reports its error
    if (inst.opcodeByte() == uint8_t(Opcode::Halt))
      return Error::success();
  }
}

namespace {

/// A bounded hand-off from one producer thread to one consumer thread.
/// Bounded so that the producer (functional execution) cannot run far ahead
/// of the consumer (the timing model) and hold every instruction's DRAM rows
/// in memory at once. Items pass in batches of `batchSize`: a wake-up per item
/// cost more than the timing of most instructions, so that two threads ran
/// no faster than one.
template <typename T> class HandOff {
public:
  HandOff(size_t capacity, size_t batchSize)
      : capacity(capacity), batchSize(batchSize) {}

  /// Producer: waits for room. False once the consumer has stopped.
  bool push(T &&item) {
    std::unique_lock<std::mutex> lock(mutex);
    notFull.wait(lock, [&] { return items.size() < capacity || stopped; });
    if (stopped)
      return false;
    items.push_back(std::move(item));
    bool ready = items.size() >= batchSize;
    lock.unlock();
    if (ready)
      notEmpty.notify_one();
    return true;
  }
  /// Producer: no more items.
  void close() {
    std::lock_guard<std::mutex> lock(mutex);
    closed = true;
    notEmpty.notify_one();
  }
  /// Consumer: takes every waiting item (one lock per batch, not per item).
  /// False once the producer has closed and nothing is left.
  bool popAll(std::deque<T> &batch) {
    batch.clear();
    std::unique_lock<std::mutex> lock(mutex);
    notEmpty.wait(lock, [&] { return items.size() >= batchSize || closed; });
    batch.swap(items);
    lock.unlock();
    notFull.notify_one();
    return !batch.empty();
  }
  /// Consumer: takes no more items; a waiting push() returns false.
  void stop() {
    std::lock_guard<std::mutex> lock(mutex);
    stopped = true;
    notFull.notify_one();
  }

private:
  const size_t capacity, batchSize;
  std::mutex mutex;
  std::condition_variable notFull, notEmpty;
  std::deque<T> items;
  bool closed = false, stopped = false;
};

/// Instructions the execute half may run ahead of the retire half, and
/// how many it hands over at once.
constexpr size_t kRetireQueueDepth = 256, kRetireBatch = 32;

} // namespace

/// executeProgram() with `retireOne` on a worker thread; it returns false
/// (keeping its error) to stop execution. The worker is joined before this
/// returns.
static Error
runPipelined(Machine &m, const binary::Image &image, uint64_t entry,
             llvm::function_ref<bool(const Executed &)> retireOne) {
  HandOff<Executed> queue(kRetireQueueDepth, kRetireBatch);
  std::thread worker([&] {
    std::deque<Executed> batch;
    while (queue.popAll(batch))
      for (const Executed &x : batch)
        if (!retireOne(x)) {
          queue.stop();
          return;
        }
  });
  // Joined on every way out, an exception included.
  llvm::scope_exit join([&] {
    queue.close();
    worker.join();
  });
  return executeProgram(m, image, entry, [&](Executed &&x) {
    return queue.push(std::move(x));
  });
}

//===----------------------------------------------------------------------===//
// Set-up, inputs and outputs, runs.
//===----------------------------------------------------------------------===//

Simulator::Simulator(binary::Image image) : image(std::move(image)) {}
Simulator::~Simulator() = default;

Expected<std::unique_ptr<Simulator>>
Simulator::create(binary::Image image, std::optional<HardwareConfig> timing) {
  HardwareConfig t = timing ? *timing : image.manifest.hardware;
  binary::Manifest &m = image.manifest;
  if (m.entries.empty()) // built in memory, not read
    m.entries = {m.mainEntry()};
  std::unique_ptr<Simulator> sim(new Simulator(std::move(image)));
  sim->boundInputs.resize(sim->manifest().entries.size());
  auto retirement = Retirement::create(t);
  if (!retirement)
    return retirement.takeError();
  sim->retirement = std::move(*retirement);
  // .rodata is viewed where `sim->image` keeps it.
  auto machine = Machine::create(sim->image, std::move(t));
  if (!machine)
    return machine.takeError();
  sim->machine = std::move(*machine);
  return sim;
}

void Simulator::setTimingOnly(bool on) { machine->timingOnly = on; }
void Simulator::setHostThreads(unsigned n) {
  machine->hostThreads = std::max(1u, n);
}
const HardwareConfig &Simulator::timingConfig() const {
  return machine->timing;
}
const Report &Simulator::report() const { return machine->rep; }
const timing::Engine &Simulator::timeline() const {
  return retirement->timeline();
}

llvm::MutableArrayRef<uint8_t> Simulator::dram() {
  uint64_t size = machine->dram.size();
  return {machine->dramForWrite(0, size), size};
}
std::vector<float> &Simulator::buffer(Buffer b) {
  return machine->buffer(b, 0, ~uint64_t(0));
}
std::vector<int32_t> &Simulator::indexBuffer() { return machine->idx; }

/// "a, b" or "(none)".
static std::string listOrNone(llvm::ArrayRef<std::string> names) {
  return names.empty() ? "(none)" : llvm::join(names, ", ");
}

Error Simulator::setRegister(unsigned index, uint32_t value) {
  if (index >= kNumRegisters)
    return makeError(llvm::formatv("register r{0} does not exist (r0..r{1})",
                                   index, kNumRegisters - 1));
  presetRegisters[index] = value;
  machine->registers[index] = value;
  return Error::success();
}
uint32_t Simulator::getRegister(unsigned index) const {
  return index < kNumRegisters ? machine->registers[index] : 0;
}

/// The tensor `name` among `ts`, the program's inputs or outputs (`kind`:
/// "input" or "output"), and its element type; the error lists them.
static Expected<std::pair<const binary::TensorInfo *, ElemType>>
findTensor(const std::vector<binary::TensorInfo> &ts, llvm::StringRef kind,
           llvm::StringRef name) {
  for (const binary::TensorInfo &t : ts) {
    if (t.name != name)
      continue;
    auto type = parseElemType(t.dtype);
    if (!type)
      return type.takeError();
    return std::pair{&t, *type};
  }
  std::vector<std::string> names;
  for (const binary::TensorInfo &t : ts)
    names.push_back(t.name);
  return makeError("unknown " + kind + " '" + name + "' (the program's " +
                   kind + "s: " + listOrNone(names) + ")");
}

Error Simulator::selectEntry(llvm::StringRef name) {
  const std::vector<binary::EntryPoint> &entries = manifest().entries;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name != name)
      continue;
    selected = i;
    presetRegisters.fill(0);
    machine->registers.fill(0);
    return Error::success();
  }
  std::vector<std::string> names;
  for (const binary::EntryPoint &e : entries)
    names.push_back(e.name);
  return makeError("unknown entry point '" + name + "' (the binary's entry "
                   "points: " + listOrNone(names) + ")");
}

const binary::EntryPoint &Simulator::entryPoint() const {
  return manifest().entries[selected];
}

Error Simulator::setRegister(llvm::StringRef name, uint32_t value) {
  const binary::EntryPoint &e = entryPoint();
  std::optional<unsigned> index = e.registerIndex(name);
  if (!index)
    return makeError("entry point '" + e.name + "' has no register '" + name +
                     "' (its registers: " + listOrNone(e.registers) + ")");
  return setRegister(*index, value);
}

/// The multi-index of element `flat` of `shape`: "[0, 7]".
static std::string elementIndex(uint64_t flat, llvm::ArrayRef<int64_t> shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = int64_t(flat % uint64_t(shape[d]));
    flat /= uint64_t(shape[d]);
  }
  std::string s = "[";
  for (size_t d = 0; d < index.size(); ++d)
    s += (d ? ", " : "") + std::to_string(index[d]);
  return s + "]";
}

/// Element `i` of the int64 or int32 input `info` at `data`.
static int64_t intElement(const binary::TensorInfo &info, const uint8_t *data,
                          uint64_t i) {
  if (info.dtype == "int64") {
    int64_t v;
    std::memcpy(&v, data + i * 8, 8);
    return v;
  }
  int32_t v;
  std::memcpy(&v, data + i * 4, 4);
  return v;
}

/// Every element of the integer input `info` in [lo, hi], else an error
/// naming the input, the first element outside, `range` (how the bounds
/// read) and `why`.
static Error checkElements(const binary::TensorInfo &info, const uint8_t *data,
                           int64_t lo, int64_t hi, const std::string &range,
                           const std::string &why) {
  uint64_t n = info.bytes() / (info.dtype == "int64" ? 8 : 4);
  for (uint64_t i = 0; i < n; ++i)
    if (int64_t v = intElement(info, data, i); v < lo || v > hi)
      return makeError("input '" + info.name + "': element " +
                       elementIndex(i, info.shape) + " is " +
                       std::to_string(v) + ", outside " + range + ": " + why);
  return Error::success();
}

/// Checks the inputs the manifest bounds. Token ids as ONNX Gather takes
/// them are in [-rows, rows), a negative one counting from the end, which
/// is wrapped in place in DRAM; an id outside is an error naming the input,
/// the element and the table, as onnxruntime refuses it (the gather would
/// read past the table). Ids the program also reads as values
/// (`indexWraps` false) must be in [0, rows). An input with a `valueRange`
/// must hold only those values.
static Error checkInput(const binary::TensorInfo &info, uint8_t *data) {
  if (info.valueRange) {
    auto [lo, hi] = *info.valueRange;
    if (Error e = checkElements(
            info, data, lo, hi,
            "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
            "the program computes with it in fp32 as holding only these "
            "values (value_range; e.g. a 0/1 mask that positions are "
            "counted from)"))
      return e;
  }
  if (!info.indexRows)
    return Error::success();
  int64_t rows = int64_t(*info.indexRows);
  int64_t lowest = info.indexWraps ? -rows : 0;
  if (Error e = checkElements(
          info, data, lowest, rows - 1,
          "[" + std::to_string(lowest) + ", " + std::to_string(rows) + ")",
          "the table it indexes has " + std::to_string(rows) + " rows" +
              (info.indexWraps
                   ? ""
                   : ", and a negative id is not counted from the end here "
                     "(index_wraps false: the ids are also read as values, "
                     "or index tables of other sizes)")))
    return e;
  bool wide = info.dtype == "int64";
  uint64_t n = info.bytes() / (wide ? 8 : 4);
  for (uint64_t i = 0; i < n; ++i) {
    int64_t v = intElement(info, data, i) + rows; // counted from the end
    int32_t narrow = int32_t(v);
    if (v >= rows)
      continue; // not a negative id
    if (wide)
      std::memcpy(data + i * 8, &v, 8);
    else
      std::memcpy(data + i * 4, &narrow, 4);
  }
  return Error::success();
}

Error Simulator::setInput(llvm::StringRef name, const HostTensor &value) {
  auto found = findTensor(entryPoint().inputs, "input", name);
  if (!found)
    return found.takeError();
  auto [info, want] = *found;
  if (value.shape != info->shape) {
    HostTensor expected;
    expected.shape = info->shape;
    return makeError("input '" + name + "': shape " + value.shapeString() +
                     " does not match the compiled shape " +
                     expected.shapeString());
  }
  uint64_t n = value.numElements();
  uint8_t *dst = machine->dramForWrite(info->dramAddr, info->bytes());
  if (value.type == want) {
    if (!value.data.empty())
      std::memcpy(dst, value.data.data(), value.data.size());
  } else if (value.type == ElemType::I32 && want == ElemType::I64) {
    // Widening is exact; test data often stores token ids as int32.
    for (uint64_t i = 0; i < n; ++i) {
      int64_t v = value.as<int32_t>()[i];
      std::memcpy(dst + 8 * i, &v, 8);
    }
  } else {
    return makeError("input '" + name + "': dtype " +
                     elemTypeName(value.type) + " does not match the compiled " +
                     info->dtype +
                     (want == ElemType::I64 ? " (int32 is also accepted for it)"
                                            : ""));
  }
  if (Error e = checkInput(*info, dst))
    return e;
  boundInputs[selected].insert(name);
  return Error::success();
}



Expected<HostTensor> Simulator::getOutput(llvm::StringRef name) const {
  auto found = findTensor(entryPoint().outputs, "output", name);
  if (!found)
    return found.takeError();
  auto [info, type] = *found;
  HostTensor t = HostTensor::zeros(type, info->shape);
  // An empty tensor's data() may be null, which memcpy must not get.
  if (!t.data.empty())
    std::memcpy(t.data.data(),
                machine->dram.forRead(info->dramAddr, t.data.size()),
                t.data.size());
  return t;
}

Error Simulator::run() {
  const binary::EntryPoint &entry = entryPoint();
  for (const binary::TensorInfo &t : entry.inputs)
    if (!boundInputs[selected].count(t.name))
      return makeError("missing input '" + t.name + "' (shape " +
                       HostTensor::zeros(ElemType::F32, t.shape).shapeString() +
                       ", " + t.dtype + ")");
  machine->startRun();
  machine->registers = presetRegisters;
  machine->pendingBinds.clear();
  retirement->reset();
  std::optional<Error> retireErr;
  auto retireOrKeepError = [&](const Executed &x) {
    if (Error e = retirement->retire(x)) {
      retireErr.emplace(std::move(e));
      return false;
    }
    return true;
  };
  Error execErr =
      machine->hostThreads > 1
          ? runPipelined(*machine, image, entry.entry, retireOrKeepError)
          : executeProgram(*machine, image, entry.entry, [&](Executed &&x) {
              return retireOrKeepError(x);
            });
  retirement->mergeInto(machine->rep);
  // A retire error is at an earlier instruction than any the execute half
  // reached after it, so it is the first in program order.
  if (retireErr && *retireErr) {
    llvm::consumeError(std::move(execErr));
    return std::move(*retireErr);
  }
  return execErr;
}

Error Simulator::step(const Instr &inst, uint64_t pc) {
  auto x = execute(*machine, inst, pc);
  if (!x)
    return x.takeError();
  if (!*x)
    return Error::success(); // a bind, held for the next instruction
  Error e = retirement->retire(**x);
  retirement->mergeInto(machine->rep);
  return e;
}

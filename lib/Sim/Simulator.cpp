//===- Simulator.cpp - Functional execution of SpAtten programs -----------===//
//
// Each instruction is decoded from the Spec.h tables, every field is checked
// against the buffer and DRAM sizes, then it runs in fp32 with Eigen. SRAM
// operands are copied into dense matrices first, so that an output may
// overlap an input exactly as on hardware that reads before it writes.
// docs/ISA.md defines the semantics implemented here.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Simulator.h"
#include "spatten/ISA/Accesses.h"
#include "spatten/Sim/Timing/AttentionPipeline.h"
#include "spatten/Sim/Timing/TopkEngine.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Threading.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;
using llvm::Error;
using llvm::Expected;

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

static Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

//===----------------------------------------------------------------------===//
// Set-up, inputs and outputs.
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<Simulator>>
Simulator::create(binary::Image image, std::optional<HardwareConfig> timing) {
  HardwareConfig t = timing ? *timing : image.manifest.hardware;
  std::unique_ptr<Simulator> sim(new Simulator(std::move(image), t));
  const binary::Manifest &m = sim->image.manifest;
  if (llvm::Error e = sim->resetTimeline())
    return std::move(e);
  sim->dramSize = m.dramSize;
  sim->dramBytes.reset(
      static_cast<uint8_t *>(std::calloc(std::max<uint64_t>(m.dramSize, 1), 1)));
  if (!sim->dramBytes)
    return makeError(llvm::formatv("cannot allocate {0} bytes of simulated DRAM "
                                   "(manifest dram.size)",
                                   m.dramSize));
  // readImage checked that .rodata fits below dram.size; it is copied in
  // chunk by chunk when first written (dramForWrite).
  sim->rodata = sim->image.rodata.contiguous();
  sim->rodataCopied.resize(llvm::divideCeil(sim->rodata.size(), kRodataChunk));
  try {
    for (unsigned b = 0; b < kNumBuffers; ++b)
      if (Buffer(b) != Buffer::Idx)
        sim->fbufs[b].assign(m.hardware.bufferElems(Buffer(b)), 0.0f);
    sim->idx.assign(m.hardware.bufferElems(Buffer::Idx), 0);
  } catch (const std::bad_alloc &) {
    return makeError("cannot allocate the SRAM buffers of the manifest's "
                     "hardware configuration");
  }
  return sim;
}

std::optional<std::pair<size_t, size_t>>
Simulator::rodataChunks(uint64_t addr, uint64_t n) const {
  uint64_t base = image.manifest.rodataBase;
  uint64_t end = base + rodata.size();
  uint64_t lo = std::max(addr, base), hi = std::min(addr + n, end);
  if (lo >= hi)
    return std::nullopt;
  return std::pair{size_t((lo - base) / kRodataChunk),
                   size_t((hi - 1 - base) / kRodataChunk)};
}

void Simulator::copyInRodata(std::pair<size_t, size_t> chunks) const {
  for (size_t c = chunks.first; c <= chunks.second; ++c) {
    if (rodataCopied[c])
      continue;
    uint64_t at = c * kRodataChunk;
    uint64_t n = std::min<uint64_t>(kRodataChunk, rodata.size() - at);
    std::memcpy(dramBytes.get() + image.manifest.rodataBase + at,
                rodata.data() + at, n);
    rodataCopied.set(c);
  }
}

const uint8_t *Simulator::dramForRead(uint64_t addr, uint64_t n) const {
  auto chunks = rodataChunks(addr, n);
  if (!chunks)
    return dramBytes.get() + addr;
  uint64_t base = image.manifest.rodataBase;
  bool inside = addr >= base && addr + n <= base + rodata.size();
  if (inside && rodataCopied.find_first_in(chunks->first,
                                           chunks->second + 1) == -1)
    return rodata.data() + (addr - base);
  copyInRodata(*chunks);
  return dramBytes.get() + addr;
}

uint8_t *Simulator::dramForWrite(uint64_t addr, uint64_t n) {
  if (auto chunks = rodataChunks(addr, n))
    copyInRodata(*chunks);
  return dramBytes.get() + addr;
}

static const binary::TensorInfo *findTensor(
    const std::vector<binary::TensorInfo> &ts, llvm::StringRef name) {
  for (const binary::TensorInfo &t : ts)
    if (t.name == name)
      return &t;
  return nullptr;
}

static std::string tensorNames(const std::vector<binary::TensorInfo> &ts) {
  std::string s;
  for (const binary::TensorInfo &t : ts)
    s += (s.empty() ? "" : ", ") + t.name;
  return s.empty() ? "(none)" : s;
}

Error Simulator::setInput(llvm::StringRef name, const HostTensor &value) {
  const binary::TensorInfo *info = findTensor(image.manifest.inputs, name);
  if (!info)
    return makeError("unknown input '" + name + "' (the program's inputs: " +
                     tensorNames(image.manifest.inputs) + ")");
  auto want = parseElemType(info->dtype);
  if (!want)
    return want.takeError();
  if (value.shape != info->shape) {
    HostTensor expected;
    expected.shape = info->shape;
    return makeError("input '" + name + "': shape " + value.shapeString() +
                     " does not match the compiled shape " +
                     expected.shapeString());
  }
  uint64_t n = value.numElements();
  uint8_t *dst = dramForWrite(info->dramAddr, info->bytes());
  if (value.type == *want) {
    std::memcpy(dst, value.data.data(), value.data.size());
  } else if (value.type == ElemType::I32 && *want == ElemType::I64) {
    // Widening is exact; test data often stores token ids as int32.
    for (uint64_t i = 0; i < n; ++i) {
      int64_t v = value.as<int32_t>()[i];
      std::memcpy(dst + 8 * i, &v, 8);
    }
  } else {
    return makeError("input '" + name + "': dtype " +
                     elemTypeName(value.type) + " does not match " +
                     info->dtype + " (only int32 is accepted for int64)");
  }
  boundInputs[name] = true;
  return Error::success();
}

Expected<HostTensor> Simulator::getOutput(llvm::StringRef name) const {
  const binary::TensorInfo *info = findTensor(image.manifest.outputs, name);
  if (!info)
    return makeError("unknown output '" + name + "' (the program's outputs: " +
                     tensorNames(image.manifest.outputs) + ")");
  auto type = parseElemType(info->dtype);
  if (!type)
    return type.takeError();
  HostTensor t = HostTensor::zeros(*type, info->shape);
  std::memcpy(t.data.data(), dramForRead(info->dramAddr, t.data.size()),
              t.data.size());
  return t;
}

Error Simulator::run() {
  for (const binary::TensorInfo &t : image.manifest.inputs)
    if (!boundInputs.count(t.name))
      return makeError("missing input '" + t.name + "' (shape " +
                       HostTensor::zeros(ElemType::F32, t.shape).shapeString() +
                       ", " + t.dtype + ")");
  rep = Report();
  if (Error e = resetTimeline())
    return e;
  std::optional<Error> retireErr;
  auto retireOrKeepError = [&](const Executed &x) {
    if (Error e = retire(x)) {
      retireErr.emplace(std::move(e));
      return false;
    }
    return true;
  };
  Error execErr =
      llvm::hardware_concurrency().compute_thread_count() > 1
          ? runPipelined(retireOrKeepError)
          : executeProgram([&](Executed &&x) { return retireOrKeepError(x); });
  mergeRetired();
  // A retire error is at an earlier instruction than any the execute half
  // reached after it, so it is the first in program order.
  if (retireErr && *retireErr) {
    llvm::consumeError(std::move(execErr));
    return std::move(*retireErr);
  }
  return execErr;
}

Error Simulator::executeProgram(
    llvm::function_ref<bool(Executed &&)> handOff) {
  uint64_t n = image.text.size() / kInstrBytes;
  for (uint64_t pc = image.manifest.entry;; ++pc) {
    if (pc >= n)
      return makeError(llvm::formatv("instruction {0}: ran past the end of "
                                     ".text ({1} instructions) without halt",
                                     pc, n));
    Instr inst = Instr::decode(image.text.data() + pc * kInstrBytes);
    auto x = execute(inst, pc);
    if (!x)
      return x.takeError();
    if (!handOff(std::move(*x)))
      return Error::success(); // the retire half reports its error
    if (inst.opcodeByte() == uint8_t(Opcode::Halt))
      return Error::success();
  }
}

namespace {

/// A bounded hand-off from one producer thread to one consumer thread.
/// Bounded so that the producer (functional execution) cannot run far ahead
/// of the consumer (the timing model) and hold every instruction's DRAM rows
/// in memory at once.
template <typename T> class HandOff {
public:
  explicit HandOff(size_t capacity) : capacity(capacity) {}

  /// Producer: waits for room. False once the consumer has stopped.
  bool push(T &&item) {
    std::unique_lock<std::mutex> lock(mutex);
    notFull.wait(lock, [&] { return items.size() < capacity || stopped; });
    if (stopped)
      return false;
    items.push_back(std::move(item));
    lock.unlock();
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
    notEmpty.wait(lock, [&] { return !items.empty() || closed; });
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
  const size_t capacity;
  std::mutex mutex;
  std::condition_variable notFull, notEmpty;
  std::deque<T> items;
  bool closed = false, stopped = false;
};

/// Instructions the execute half may run ahead of the retire half.
constexpr size_t kRetireQueueDepth = 32;

} // namespace

Error Simulator::runPipelined(
    llvm::function_ref<bool(const Executed &)> retireOne) {
  HandOff<Executed> queue(kRetireQueueDepth);
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
  return executeProgram(
      [&](Executed &&x) { return queue.push(std::move(x)); });
}

//===----------------------------------------------------------------------===//
// One instruction.
//===----------------------------------------------------------------------===//

namespace {

/// A checked SRAM operand: rows x cols elements, row r at off + r*stride.
struct Operand {
  Buffer buf;
  uint64_t off, stride, rows, cols;
  uint64_t at(uint64_t r, uint64_t c) const { return off + r * stride + c; }
};

/// Bits of each word that belong to some field of `spec` (header included).
std::array<uint64_t, kInstrWords> definedBits(const OpcodeSpec &spec) {
  std::array<uint64_t, kInstrWords> mask{};
  auto add = [&](const Field &f) { mask[f.word] |= fieldMask(f) << f.lsb; };
  add(kOpcodeField);
  add(kDepWaitField);
  add(kDepSignalField);
  for (unsigned i = 0; i < spec.numFields; ++i)
    add(spec.fields[i]);
  return mask;
}

} // namespace

class Simulator::Exec {
public:
  Exec(Simulator &sim, const Instr &inst, uint64_t pc, const OpcodeSpec &spec)
      : sim(sim), inst(inst), pc(pc), spec(spec) {}

  Error run() {
    switch (spec.opcode) {
    case Opcode::Halt:
    case Opcode::Sync:
      return Error::success();
    case Opcode::Load: return dma(/*toSram=*/true, /*gather=*/false);
    case Opcode::Store: return dma(/*toSram=*/false, /*gather=*/false);
    case Opcode::Gather: return dma(/*toSram=*/true, /*gather=*/true);
    case Opcode::Scatter: return dma(/*toSram=*/false, /*gather=*/true);
    case Opcode::Gemm: return gemm();
    case Opcode::Attn: return attn();
    case Opcode::Vec: return vec();
    case Opcode::Topk: return topk();
    }
    return error("opcode", "not implemented");
  }

  /// Cycles of a data-dependent instruction (TOPK, ATTN finish, a skipped
  /// predicated DMA); unset: sim::estimateCycles.
  std::optional<uint64_t> cycles;
  /// The DRAM rows a DMA moved, for the timing engine.
  std::vector<timing::DramRow> dramRows;
  /// ATTN: its rows for the attention pipeline model (docs/Simulator.md,
  /// "Attention pipeline model"); the engine runs them in place of `cycles`.
  std::optional<timing::AttnWork> attnWork;

private:
  Simulator &sim;
  const Instr &inst;
  uint64_t pc;
  const OpcodeSpec &spec;

  Error error(llvm::StringRef field, const llvm::Twine &msg) const {
    return makeError(llvm::formatv("instruction {0} ({1}): field '{2}': ", pc,
                                   spec.mnemonic, field) +
                     msg);
  }
  uint64_t f(std::string_view name) const {
    return inst.get(*lookupField(spec, name));
  }
  float fp(std::string_view name) const { return bitsFloat(f(name)); }

  uint64_t bufferElems(Buffer b) const {
    return b == Buffer::Idx ? sim.idx.size() : sim.fbufs[unsigned(b)].size();
  }

  /// Decodes operand `prefix` (prefix_buf/_off/_stride) covering rows x cols;
  /// `allowIdx` admits the int32 IDX buffer.
  Expected<Operand> operand(llvm::StringRef prefix, uint64_t rows,
                            uint64_t cols, bool allowIdx = false) const {
    std::string p = prefix.str();
    uint64_t b = f(p + "_buf");
    if (b >= kNumBuffers)
      return error(p + "_buf", llvm::formatv("{0} is not a buffer (0..{1})", b,
                                             kNumBuffers - 1));
    // An operand the instruction does not touch (0 rows or cols) may keep
    // its fields at zero, which names the idx buffer.
    if (Buffer(b) == Buffer::Idx && !allowIdx && rows && cols)
      return error(p + "_buf", "the idx buffer holds int32 indices and cannot "
                               "be an fp32 operand");
    Operand op{Buffer(b), f(p + "_off"), f(p + "_stride"), rows, cols};
    if (rows && cols) {
      uint64_t end = op.at(rows - 1, cols);
      uint64_t size = bufferElems(op.buf);
      if (end > size)
        return error(p + "_off",
                     llvm::formatv("{0} rows x {1} cols at offset {2} with "
                                   "stride {3} reach element {4}, past the "
                                   "{5} buffer ({6} elements)",
                                   rows, cols, op.off, op.stride, end,
                                   kBufferNames[b], size));
    }
    return op;
  }

  /// An operand the instruction writes: rows must not overlap, or the
  /// result would depend on the write order.
  Expected<Operand> output(llvm::StringRef prefix, uint64_t rows,
                           uint64_t cols, bool allowIdx = false) const {
    auto op = operand(prefix, rows, cols, allowIdx);
    if (op && rows > 1 && op->stride < cols)
      return error(prefix.str() + "_stride",
                   llvm::formatv("{0} is less than the {1} columns written "
                                 "per row, so output rows would overlap",
                                 op->stride, cols));
    return op;
  }

  Mat read(const Operand &op) const {
    Mat m(op.rows, op.cols);
    const std::vector<float> &buf = sim.fbufs[unsigned(op.buf)];
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c)
        m(r, c) = buf[op.at(r, c)];
    return m;
  }
  void write(const Operand &op, const Mat &m) {
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c)
        setF(op.buf, op.at(r, c), m(r, c));
  }
  /// Writes an fp32 element; the element no longer holds an MSB-plane code.
  void setF(Buffer b, uint64_t e, float v) {
    sim.fbufs[unsigned(b)][e] = v;
    std::vector<MsbCode> &codes = sim.msbCodes[unsigned(b)];
    if (!codes.empty())
      codes[e] = MsbCode();
  }
  LayerCounters *layer() { return sim.rep.layer(f("layer")); }

  Error checkFlags(uint64_t allowed) const {
    uint64_t flags = f("flags");
    if (flags & ~allowed)
      return error("flags", llvm::formatv("unknown bits {0:x} (defined: {1:x})",
                                          flags & ~allowed, allowed));
    return Error::success();
  }

  // DMA ---------------------------------------------------------------------
  Error dma(bool toSram, bool gather);
  Error checkDmaHeader(DType &dtype, TensorClass &cls) const;
  Error checkQuantized(bool toSram) const;
  Error loadQuantizedRow(const Operand &op, uint64_t r, const uint8_t *src);
  Error storeQuantizedRow(const Operand &op, uint64_t r, uint8_t *dst) const;
  Expected<std::vector<bool>> movedRows(uint64_t rows, bool toSram) const;
  Expected<std::vector<uint64_t>> rowAddresses(const std::vector<bool> &moved,
                                               bool gather,
                                               uint64_t rowBytes) const;
  Error loadRow(const Operand &op, uint64_t r, const uint8_t *src);
  Error storeRow(const Operand &op, uint64_t r, uint8_t *dst);
  /// Moves SRAM row `r` of `op` from (toSram) or to the `bytes` DRAM bytes
  /// at `addr`.
  Error moveRow(const Operand &op, uint64_t r, uint64_t addr, uint64_t bytes,
                bool toSram);
  Error loadElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                 const uint8_t *src);
  Error storeElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                  uint8_t *dst) const;

  // Compute -----------------------------------------------------------------
  Error gemm();
  Error attn();
  Error vec();
  Error topk();
  Expected<Mat> probabilities(const Operand &q, const Operand &k,
                              const Operand &mask);
  /// The checked operands of an ATTN in phase none, decide or finish.
  struct AttnOperands {
    Operand q, k, v, o, mask;
    std::optional<Operand> imp, himp; ///< set when their flag is
  };
  Expected<AttnOperands> attnOperands() const;
  void attnFinish(Mat &p, const AttnOperands &ops);
  Error attnValues();
  void attnDecide(const Mat &p);
  void mergeDecide(Mat &p);
  std::vector<bool> pruneValues(Mat &p, std::vector<uint64_t> &topkCycles) const;
  /// What each query row of this ATTN does in the attention pipeline.
  struct AttnRows {
    std::vector<bool> qk;             ///< runs Q*K and softmax
    std::vector<uint64_t> topk;       ///< local-V top-k cycles
    std::vector<uint64_t> keptValues; ///< V rows prob*V reads (0: no PV)
    bool decide = false, importance = false;
  } rows;
  void describeRows(uint64_t lk, uint64_t d);
  Expected<std::optional<Operand>> tokenImportance(uint64_t lk) const;
  void accumulateImportance(const Mat &p, const Operand &imp);
  Expected<std::optional<Operand>> headImportance() const;
  void writeOutput(const Mat &out, const Operand &o,
                   const std::optional<Operand> &himp);
  Mat times(const Mat &p, const Mat &v) const;
  Error vecLayerNorm(const Operand &x, const Operand &z);
  Expected<Mat> vecY(uint64_t rows, uint64_t cols) const;
};

Error Simulator::Exec::checkDmaHeader(DType &dtype, TensorClass &cls) const {
  uint64_t dt = f("dtype");
  if (dt >= kDTypeNames.size())
    return error("dtype", llvm::formatv("{0} is not a dtype (0..{1})", dt,
                                        kDTypeNames.size() - 1));
  uint64_t c = f("tensor_class");
  if (c >= kNumTensorClasses)
    return error("tensor_class",
                 llvm::formatv("{0} is not a tensor class (0..{1})", c,
                               kNumTensorClasses - 1));
  uint64_t bits = f("bits"), plane = f("plane");
  if (plane >= kPlaneNames.size())
    return error("plane", llvm::formatv("{0} is not a plane (0..{1})", plane,
                                        kPlaneNames.size() - 1));
  if (bits == 32 && (plane || f("lsb_bits")))
    return error(plane ? "plane" : "lsb_bits",
                 "must be 0 for 32-bit (fp32/int32) data");
  if (bits != 32 && (bits < 2 || bits > 16))
    return error("bits", llvm::formatv("{0} is not a fixed-point width (2..16) "
                                       "or 32",
                                       bits));
  dtype = DType(dt);
  cls = TensorClass(c);
  return Error::success();
}

Expected<std::vector<uint64_t>>
Simulator::Exec::rowAddresses(const std::vector<bool> &moved, bool gather,
                              uint64_t rowBytes) const {
  uint64_t base = f("dram_addr"), stride = f("dram_stride");
  uint64_t rows = moved.size();
  std::vector<uint64_t> addrs(rows);
  uint64_t idxOff = gather ? f("idx_off") : 0;
  // With idx_period p, row r uses index entry r % p in period r / p, each
  // period period_stride bytes further (docs/ISA.md, "gather").
  uint64_t period = gather ? f("idx_period") : 0;
  uint64_t periodStride = gather ? f("period_stride") : 0;
  uint64_t entries = period ? std::min(period, rows) : rows;
  if (gather && idxOff + entries > sim.idx.size())
    return error("idx_off", llvm::formatv("{0} indices at offset {1} run past "
                                          "the idx buffer ({2} entries)",
                                          entries, idxOff, sim.idx.size()));
  for (uint64_t r = 0; r < rows; ++r) {
    if (!moved[r])
      continue; // a row that does not move is not addressed
    uint64_t entry = period ? r % period : r;
    int64_t row = gather ? sim.idx[idxOff + entry] : int64_t(r);
    if (row < 0)
      return error("idx_off", llvm::formatv("index {0} (entry {1}) is negative",
                                            row, idxOff + entry));
    addrs[r] = base + uint64_t(row) * stride +
               (period ? (r / period) * periodStride : 0);
    if (addrs[r] + rowBytes > sim.dramSize)
      return error(gather ? "idx_off" : "dram_addr",
                   llvm::formatv("row {0} at DRAM [{1:x}, {2:x}) is past "
                                 "dram.size {3:x}",
                                 row, addrs[r], addrs[r] + rowBytes,
                                 sim.dramSize));
  }
  return addrs;
}

Error Simulator::Exec::loadElem(const Operand &op, uint64_t r, uint64_t c,
                                DType dt, const uint8_t *src) {
  float fv = 0;
  int64_t iv = 0;
  if (dt == DType::F32) {
    std::memcpy(&fv, src, 4);
  } else if (dt == DType::I64) {
    std::memcpy(&iv, src, 8);
  } else {
    int32_t i32;
    std::memcpy(&i32, src, 4);
    iv = i32;
  }
  if (op.buf != Buffer::Idx) {
    setF(op.buf, op.at(r, c), dt == DType::F32 ? fv : float(iv));
    return Error::success();
  }
  if (dt == DType::F32)
    return error("dtype", "f32 data cannot be loaded into the idx buffer");
  if (iv < std::numeric_limits<int32_t>::min() ||
      iv > std::numeric_limits<int32_t>::max())
    return error("dtype", llvm::formatv("index {0} (row {1}, col {2}) does not "
                                        "fit the int32 idx buffer",
                                        iv, r, c));
  sim.idx[op.at(r, c)] = int32_t(iv);
  return Error::success();
}

Error Simulator::Exec::storeElem(const Operand &op, uint64_t r, uint64_t c,
                                 DType dt, uint8_t *dst) const {
  bool fromIdx = op.buf == Buffer::Idx;
  double v = fromIdx ? double(sim.idx[op.at(r, c)])
                     : double(sim.fbufs[unsigned(op.buf)][op.at(r, c)]);
  if (dt == DType::F32) {
    float fv = float(v);
    std::memcpy(dst, &fv, 4);
    return Error::success();
  }
  // fp32 -> integer truncates toward zero, as ONNX Cast does.
  double lo = dt == DType::I64 ? -9.2233720368547758e18 : -2147483648.0;
  double hi = dt == DType::I64 ? 9.2233720368547758e18 : 2147483648.0;
  if (!std::isfinite(v) || v < lo || v >= hi)
    return error("dtype", llvm::formatv("value {0} (row {1}, col {2}) does not "
                                        "fit {3}",
                                        v, r, c, kDTypeNames[unsigned(dt)]));
  if (dt == DType::I64) {
    int64_t iv = int64_t(v);
    std::memcpy(dst, &iv, 8);
  } else {
    int32_t iv = int32_t(v);
    std::memcpy(dst, &iv, 4);
  }
  return Error::success();
}

Error Simulator::Exec::checkQuantized(bool toSram) const {
  if (DType(f("dtype")) != DType::F32)
    return error("dtype", "fixed-point data needs dtype f32 (the SRAM side "
                          "is fp32)");
  if (Buffer(f("sram_buf")) == Buffer::Idx)
    return error("sram_buf", "fixed-point data cannot use the idx buffer");
  uint64_t bits = f("bits"), lsb = f("lsb_bits");
  if (Plane(f("plane")) == Plane::Full) {
    if (lsb)
      return error("lsb_bits", "must be 0 for the full plane");
  } else if (lsb < 1 || lsb >= bits) {
    return error("lsb_bits", llvm::formatv("{0} must be in 1..{1} (bits - 1) "
                                           "for an MSB or LSB plane",
                                           lsb, bits - 1));
  }
  (void)toSram;
  return Error::success();
}

static int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/// Code `c` of a packed row: `w` bits starting at bit c*w, least
/// significant bit first (bit i of the stream is bit i%8 of byte i/8).
static int64_t unpackCode(const uint8_t *src, uint64_t c, unsigned w,
                          bool isSigned) {
  int64_t v = 0;
  for (unsigned b = 0; b < w; ++b) {
    uint64_t pos = c * w + b;
    v |= int64_t((src[pos / 8] >> (pos % 8)) & 1) << b;
  }
  if (isSigned && (v >> (w - 1)) & 1)
    v -= int64_t(1) << w;
  return v;
}

static void packCodes(uint8_t *dst, const std::vector<int64_t> &codes,
                      unsigned w) {
  std::memset(dst, 0, (codes.size() * w + 7) / 8);
  for (uint64_t c = 0; c < codes.size(); ++c)
    for (unsigned b = 0; b < w; ++b)
      if ((codes[c] >> b) & 1) {
        uint64_t pos = c * w + b;
        dst[pos / 8] |= uint8_t(1) << (pos % 8);
      }
}

Error Simulator::Exec::loadQuantizedRow(const Operand &op, uint64_t r,
                                        const uint8_t *src) {
  unsigned bits = f("bits"), lsb = f("lsb_bits");
  Plane plane = Plane(f("plane"));
  float scale = 0;
  if (plane != Plane::Lsb) {
    std::memcpy(&scale, src, 4);
    if (!std::isfinite(scale) || scale < 0)
      return error("dram_addr", llvm::formatv("row {0}: scale {1} is not a "
                                              "finite non-negative fp32",
                                              r, llvm::format("%g", double(scale))));
    src += 4;
  }
  std::vector<MsbCode> &codes = sim.msbCodes[unsigned(op.buf)];
  if (plane == Plane::Msb && codes.empty())
    codes.assign(sim.fbufs[unsigned(op.buf)].size(), MsbCode());
  for (uint64_t c = 0; c < op.cols; ++c) {
    uint64_t e = op.at(r, c);
    if (plane == Plane::Full) {
      setF(op.buf, e, float(unpackCode(src, c, bits, true)) * scale);
    } else if (plane == Plane::Msb) {
      int64_t m = unpackCode(src, c, bits - lsb, true);
      // The midpoint of the unknown LSBs (docs/Algorithms.md).
      int64_t mid = m * (int64_t(1) << lsb) + (int64_t(1) << (lsb - 1));
      setF(op.buf, e, float(mid) * scale);
      codes[e] = MsbCode{scale, int32_t(m), uint8_t(lsb)};
    } else {
      if (codes.empty() || codes[e].lsbBits != lsb)
        return error("plane", llvm::formatv("LSB row {0}, col {1}: {2} element "
                                            "{3} holds no MSB-plane value with "
                                            "lsb_bits={4}",
                                            r, c, kBufferNames[unsigned(op.buf)],
                                            e, lsb));
      MsbCode mc = codes[e];
      int64_t q = int64_t(mc.code) * (int64_t(1) << lsb) +
                  unpackCode(src, c, lsb, false);
      sim.fbufs[unsigned(op.buf)][e] = float(q) * mc.scale;
    }
  }
  return Error::success();
}

Error Simulator::Exec::storeQuantizedRow(const Operand &op, uint64_t r,
                                         uint8_t *dst) const {
  unsigned bits = f("bits"), lsb = f("lsb_bits");
  Plane plane = Plane(f("plane"));
  const std::vector<float> &buf = sim.fbufs[unsigned(op.buf)];
  float maxAbs = 0;
  for (uint64_t c = 0; c < op.cols; ++c) {
    float x = buf[op.at(r, c)];
    if (!std::isfinite(x))
      return error("sram_off", llvm::formatv("row {0}, col {1}: {2} cannot be "
                                             "quantized",
                                             r, c, llvm::format("%g", double(x))));
    maxAbs = std::max(maxAbs, std::fabs(x));
  }
  int64_t qmax = (int64_t(1) << (bits - 1)) - 1;
  float scale = maxAbs / float(qmax);
  std::vector<int64_t> codes(op.cols, 0);
  for (uint64_t c = 0; c < op.cols && scale > 0; ++c) {
    // Round half to even (the default rounding mode) on the fp32 quotient.
    int64_t q = int64_t(std::nearbyint(buf[op.at(r, c)] / scale));
    q = std::clamp<int64_t>(q, -qmax, qmax);
    int64_t m = floorDiv(q, int64_t(1) << lsb);
    codes[c] = plane == Plane::Full ? q
               : plane == Plane::Msb ? m
                                     : q - m * (int64_t(1) << lsb);
  }
  if (plane != Plane::Lsb) {
    std::memcpy(dst, &scale, 4);
    dst += 4;
  }
  packCodes(dst, codes,
            plane == Plane::Full ? bits
            : plane == Plane::Msb ? bits - lsb
                                  : lsb);
  return Error::success();
}

Expected<std::vector<bool>> Simulator::Exec::movedRows(uint64_t rows,
                                                       bool toSram) const {
  uint64_t pred = f("pred");
  // The field is 2 bits wide: every value names a predicate.
  if (DmaPred(pred) == DmaPred::Always)
    return std::vector<bool>(rows, true);
  if (DmaPred(pred) == DmaPred::Unconfident)
    return std::vector<bool>(rows, sim.predicate);
  if (!toSram)
    return error("pred", "the value-row mask (2, 3) gates loads and gathers "
                         "only, not stores or scatters");
  const Simulator::DeferredValues &dv = sim.deferred;
  if (!dv.valid)
    return error("pred", "no value-row mask is pending (an ATTN with "
                         "DeferValues sets it)");
  if (rows > dv.rowMask.size())
    return error("pred", llvm::formatv("{0} rows exceed the {1}-bit "
                                       "value-row mask",
                                       rows, dv.rowMask.size()));
  std::vector<bool> moved(dv.rowMask.begin(), dv.rowMask.begin() + rows);
  if (DmaPred(pred) == DmaPred::UnconfidentValueRows && !sim.predicate)
    moved.assign(rows, false);
  return moved;
}

Error Simulator::Exec::loadRow(const Operand &op, uint64_t r,
                               const uint8_t *src) {
  if (f("bits") != 32)
    return loadQuantizedRow(op, r, src);
  DType dt = DType(f("dtype"));
  if (dt == DType::F32 && op.buf != Buffer::Idx) {
    // fp32 rows move as they are (most of a model's traffic).
    std::memcpy(sim.fbufs[unsigned(op.buf)].data() + op.at(r, 0), src,
                op.cols * 4);
    std::vector<MsbCode> &codes = sim.msbCodes[unsigned(op.buf)];
    if (!codes.empty())
      std::fill_n(codes.begin() + op.at(r, 0), op.cols, MsbCode());
    return Error::success();
  }
  uint64_t esz = dtypeBytes(dt);
  for (uint64_t c = 0; c < op.cols; ++c)
    if (Error e = loadElem(op, r, c, dt, src + c * esz))
      return e;
  return Error::success();
}

Error Simulator::Exec::storeRow(const Operand &op, uint64_t r, uint8_t *dst) {
  if (f("bits") != 32)
    return storeQuantizedRow(op, r, dst);
  DType dt = DType(f("dtype"));
  if (dt == DType::F32 && op.buf != Buffer::Idx) {
    std::memcpy(dst, sim.fbufs[unsigned(op.buf)].data() + op.at(r, 0),
                op.cols * 4);
    return Error::success();
  }
  uint64_t esz = dtypeBytes(dt);
  for (uint64_t c = 0; c < op.cols; ++c)
    if (Error e = storeElem(op, r, c, dt, dst + c * esz))
      return e;
  return Error::success();
}

Error Simulator::Exec::moveRow(const Operand &op, uint64_t r, uint64_t addr,
                               uint64_t bytes, bool toSram) {
  return toSram ? loadRow(op, r, sim.dramForRead(addr, bytes))
                : storeRow(op, r, sim.dramForWrite(addr, bytes));
}

Error Simulator::Exec::dma(bool toSram, bool gather) {
  DType dt;
  TensorClass cls;
  if (Error e = checkDmaHeader(dt, cls))
    return e;
  bool quantized = f("bits") != 32;
  if (quantized)
    if (Error e = checkQuantized(toSram))
      return e;
  uint64_t rows = f("rows"), cols = f("cols");
  auto op = toSram ? output("sram", rows, cols, /*allowIdx=*/true)
                   : operand("sram", rows, cols, /*allowIdx=*/true);
  if (!op)
    return op.takeError();
  auto moved = movedRows(rows, toSram);
  if (!moved)
    return moved.takeError();
  uint64_t numMoved = uint64_t(std::count(moved->begin(), moved->end(), true));
  if (!numMoved && DmaPred(f("pred")) != DmaPred::Always) {
    cycles = 0; // its predicate moves no row
    return Error::success();
  }
  if (!rows || !cols)
    return Error::success();
  uint64_t rowBytes = dmaRowBytes(inst);
  auto addrs = rowAddresses(*moved, gather, rowBytes);
  if (!addrs)
    return addrs.takeError();
  // --timing-only keeps only the data that steers control: index lists.
  if (!sim.timingOnly || op->buf == Buffer::Idx)
    for (uint64_t r = 0; r < rows; ++r)
      if ((*moved)[r])
        if (Error e = moveRow(*op, r, (*addrs)[r], rowBytes, toSram))
          return e;
  uint64_t bytes = numMoved * rowBytes;
  cycles = dmaCycles(numMoved, rowBytes, sim.timing);
  for (uint64_t r = 0; r < rows; ++r)
    if ((*moved)[r])
      dramRows.push_back({(*addrs)[r], rowBytes});
  (toSram ? sim.rep.dramRead : sim.rep.dramWritten)[unsigned(cls)] += bytes;
  if (LayerCounters *l = layer()) {
    (toSram ? l->dramRead : l->dramWritten)[unsigned(cls)] += bytes;
    if (toSram && quantized && Plane(f("plane")) == Plane::Lsb &&
        cls == TensorClass::KLsb)
      l->refetchedRows = l->refetchedRows.value_or(0) + numMoved;
  }
  return Error::success();
}

Error Simulator::Exec::gemm() {
  if (Error e = checkFlags(GemmAccumulate | GemmBias | GemmTransposeB))
    return e;
  uint64_t flags = f("flags"), m = f("m"), n = f("n"), k = f("k");
  bool transB = flags & GemmTransposeB;
  auto a = operand("a", m, k);
  if (!a)
    return a.takeError();
  auto b = transB ? operand("b", n, k) : operand("b", k, n);
  if (!b)
    return b.takeError();
  auto c = output("c", m, n);
  if (!c)
    return c.takeError();
  auto bias = operand("bias", (flags & GemmBias) ? 1 : 0, n);
  if (!bias)
    return bias.takeError();
  sim.rep.ops.gemmMacs += m * n * k;
  if (sim.timingOnly)
    return Error::success();
  Mat bm = read(*b);
  Mat out = transB ? Mat(read(*a) * bm.transpose()) : Mat(read(*a) * bm);
  if (flags & GemmAccumulate)
    out += read(*c);
  if (flags & GemmBias)
    out.rowwise() += read(*bias).row(0);
  write(*c, out);
  return Error::success();
}

/// Row-wise softmax in place. A row whose every score is -inf (all keys
/// masked) becomes all zeros instead of NaN.
static void softmaxRows(Mat &s) {
  if (s.cols() == 0) // no keys: nothing to normalize (maxCoeff needs one)
    return;
  for (Eigen::Index i = 0; i < s.rows(); ++i) {
    float mx = s.row(i).maxCoeff();
    if (!std::isfinite(mx) && mx < 0) {
      s.row(i).setZero();
      continue;
    }
    s.row(i) = (s.row(i).array() - mx).exp().matrix();
    s.row(i) /= s.row(i).sum();
  }
}

/// P = softmax(scale * Q K^T + mask), lq x lk, with the mask kind of the
/// instruction.
Expected<Mat> Simulator::Exec::probabilities(const Operand &q,
                                             const Operand &k,
                                             const Operand &mask) {
  uint64_t lq = q.rows, lk = k.rows;
  if (sim.timingOnly) // uniform probabilities, docs/Simulator.md
    return Mat(Mat::Constant(lq, lk, lk ? 1.0f / float(lk) : 0.0f));
  MaskKind kind = MaskKind(f("mask_kind"));
  bool padding = kind == MaskKind::Padding || kind == MaskKind::PaddingCausal;
  bool causal = kind == MaskKind::Causal || kind == MaskKind::PaddingCausal;
  float scale = fp("scale");
  if (!std::isfinite(scale))
    return error("scale", "is not a finite fp32 value");
  Mat s = scale * (read(q) * read(k).transpose());
  if (padding && (f("flags") & AttnMaskSelect)) {
    float fill = fp("mask_fill");
    if (!std::isfinite(fill))
      return error("mask_fill", "is not a finite fp32 value");
    Mat m = read(mask);
    s = s.cwiseProduct(m) + fill * (Mat::Ones(lq, lk) - m);
  } else if (padding) {
    s += read(mask);
  }
  if (causal) {
    uint64_t off = f("causal_offset");
    for (uint64_t i = 0; i < lq; ++i)
      for (uint64_t j = i + off + 1; j < lk; ++j)
        s(i, j) = -std::numeric_limits<float>::infinity();
  }
  softmaxRows(s);
  return s;
}

/// Local value pruning: zeroes all but the `vk` largest probabilities of
/// each row (ties to the earliest key), without renormalising. Returns the
/// value-row mask: key j is set when some row kept it.
std::vector<bool> Simulator::Exec::pruneValues(
    Mat &p, std::vector<uint64_t> &topkCycles) const {
  uint64_t lk = p.cols(), kv = std::min<uint64_t>(f("vk"), lk);
  std::vector<bool> used(lk, false);
  std::vector<uint64_t> order(lk);
  topkCycles.assign(p.rows(), 0);
  for (Eigen::Index i = 0; i < p.rows(); ++i) {
    // The top-k engine's quick-select over the row (timing only; seeded by
    // instruction and row so that runs repeat).
    auto qs = timing::quickSelect(llvm::ArrayRef(p.row(i).data(), lk), kv,
                                  pc * 65536 + uint64_t(i),
                                  sim.timing.topkComparators);
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
Simulator::Exec::tokenImportance(uint64_t lk) const {
  if (!(f("flags") & AttnAccumulateImportance))
    return std::nullopt;
  Operand imp{Buffer(f("imp_buf")), f("imp_off"), 0, 1, lk};
  if (uint64_t(imp.buf) >= kNumBuffers || imp.buf == Buffer::Idx)
    return error("imp_buf", "must name an fp32 buffer");
  if (lk && imp.off + lk > bufferElems(imp.buf))
    return error("imp_off", llvm::formatv("{0} scores at offset {1} run past "
                                          "the {2} buffer",
                                          lk, imp.off,
                                          kBufferNames[unsigned(imp.buf)]));
  return std::optional<Operand>(imp);
}

/// Cascade token pruning: imp[j] += sum_i P[i, j]. The column sum is taken
/// in double and rounded once to fp32, then added in fp32, so that a
/// reference can reproduce it exactly (docs/ISA.md).
void Simulator::Exec::accumulateImportance(const Mat &p, const Operand &imp) {
  Eigen::RowVectorXd sums = p.cast<double>().colwise().sum();
  const std::vector<float> &buf = sim.fbufs[unsigned(imp.buf)];
  for (uint64_t j = 0; j < imp.cols; ++j)
    setF(imp.buf, imp.off + j, buf[imp.off + j] + float(sums[j]));
}

/// The head-importance element when flag AttnHeadImportance is set, checked
/// before the instruction changes any state.
Expected<std::optional<Operand>> Simulator::Exec::headImportance() const {
  if (!(f("flags") & AttnHeadImportance))
    return std::nullopt;
  Operand himp{Buffer(f("head_imp_buf")), f("head_imp_off"), 0, 1, 1};
  if (uint64_t(himp.buf) >= kNumBuffers || himp.buf == Buffer::Idx)
    return error("head_imp_buf", "must name an fp32 buffer");
  if (himp.off >= bufferElems(himp.buf))
    return error("head_imp_off",
                 llvm::formatv("{0} is past the {1} buffer", himp.off,
                               kBufferNames[unsigned(himp.buf)]));
  return std::optional<Operand>(himp);
}

/// Writes O, adds the head importance and counts a kept head: what every
/// ATTN that produces O does (phase none or finish without AttnDeferValues,
/// and phase values).
/// P V, or (timing only) zeros of its shape.
Mat Simulator::Exec::times(const Mat &p, const Mat &v) const {
  if (sim.timingOnly)
    return Mat::Zero(p.rows(), v.cols());
  return p * v;
}

void Simulator::Exec::writeOutput(const Mat &out, const Operand &o,
                                  const std::optional<Operand> &himp) {
  write(o, out);
  if (himp) {
    // Cascade head pruning: sum of |O| over rows and the head dimension,
    // summed in double, then added in fp32.
    double sum = out.cast<double>().cwiseAbs().sum();
    float &acc = sim.fbufs[unsigned(himp->buf)][himp->off];
    setF(himp->buf, himp->off, acc + float(sum));
  }
  if (LayerCounters *l = layer())
    l->keptHeads = l->keptHeads.value_or(0) + 1;
}

/// The part of an ATTN after the probabilities are final: importance,
/// local value pruning, then either O = P V and head importance, or (flag
/// AttnDeferValues) the pruned P and value-row mask kept for `values`.
void Simulator::Exec::attnFinish(Mat &p, const AttnOperands &ops) {
  uint64_t lk = p.cols();
  // Token importance uses the probabilities before value pruning.
  if (ops.imp)
    accumulateImportance(p, *ops.imp);
  LayerCounters *l = layer();
  std::vector<bool> rowMask(lk, true);
  rows.importance = ops.imp.has_value();
  bool defer = f("flags") & AttnDeferValues;
  rows.keptValues.assign(p.rows(), defer ? 0 : lk);
  if (f("vk")) {
    rowMask = pruneValues(p, rows.topk);
    if (!defer)
      rows.keptValues.assign(p.rows(), std::min<uint64_t>(f("vk"), lk));
    if (l)
      l->vRowsKept = l->vRowsKept.value_or(0) +
                     uint64_t(std::count(rowMask.begin(), rowMask.end(), true));
  }
  if (l)
    l->keptTokens = std::max<uint64_t>(l->keptTokens.value_or(0), lk);
  if (f("flags") & AttnDeferValues) {
    sim.deferred = {true, uint64_t(p.rows()), lk,
                    std::vector<float>(p.data(), p.data() + p.size()),
                    std::move(rowMask)};
    return;
  }
  writeOutput(times(p, read(ops.v)), ops.o, ops.himp);
}

/// Phase `values`: O = P V with the pending pruned P, where V rows outside
/// the value-row mask read as 0 (they were not fetched and may hold stale
/// SRAM data, even NaN).
Error Simulator::Exec::attnValues() {
  uint64_t flags = f("flags");
  if (uint64_t bad = flags & ~uint64_t(AttnHeadImportance))
    return error("flags", llvm::formatv("bits {0:x} do not apply to phase "
                                        "values (only HeadImportance, 0x4)",
                                        bad));
  uint64_t lq = f("lq"), lk = f("lk"), d = f("d");
  auto v = operand("v", lk, d);
  if (!v)
    return v.takeError();
  auto o = output("o", lq, d);
  if (!o)
    return o.takeError();
  Simulator::DeferredValues &dv = sim.deferred;
  if (!dv.valid || dv.lq != lq || dv.lk != lk)
    return error("phase", llvm::formatv("values of {0} x {1} probabilities "
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
  writeOutput(times(p, vm), *o, *himp);
  rows.qk.assign(lq, false);
  rows.keptValues.resize(lq);
  for (uint64_t i = 0; i < lq; ++i)
    rows.keptValues[i] = uint64_t((p.row(i).array() != 0).count());
  sim.deferred = Simulator::DeferredValues();
  sim.predicate = false;
  cycles = attnCycles(0, lk, d, /*pv=*/true, lq, sim.timing);
  describeRows(lk, d);
  return Error::success();
}

/// Phase `decide` (progressive quantization): a row is unconfident when its
/// largest probability is below the threshold (docs/Algorithms.md). Keeps P
/// and the marks for `finish` and sets the predicate.
void Simulator::Exec::attnDecide(const Mat &p) {
  uint64_t lq = p.rows(), lk = p.cols();
  float threshold = fp("pq_threshold");
  Simulator::PqPending &pq = sim.pq;
  pq = {true, lq, lk, std::vector<float>(p.data(), p.data() + lq * lk),
        std::vector<bool>(lq, false)};
  uint64_t unconfident = 0;
  for (uint64_t i = 0; i < lq; ++i) {
    float mx = lk ? p.row(i).maxCoeff() : 0.0f;
    pq.unconfident[i] = mx < threshold;
    unconfident += pq.unconfident[i];
  }
  sim.predicate = unconfident > 0;
  if (LayerCounters *l = layer()) {
    l->unconfidentRows = l->unconfidentRows.value_or(0) + unconfident;
    l->refetchDecisions.push_back(unconfident > 0);
    l->refetchedRows = l->refetchedRows.value_or(0);
    l->keptTokens = std::max<uint64_t>(l->keptTokens.value_or(0), lk);
  }
}

/// Phase `finish`: confident rows keep the decide's MSB-only probabilities;
/// marked rows take the recomputed ones (the keys now hold full values).
/// Clears the pending decide, and the predicate unless the values are
/// deferred: then the V LSB loads of `--pq-values` still need it, and the
/// `values` phase clears it.
void Simulator::Exec::mergeDecide(Mat &p) {
  uint64_t lq = p.rows(), lk = p.cols(), recomputed = 0;
  rows.qk = sim.pq.unconfident;
  for (uint64_t i = 0; i < lq; ++i) {
    if (sim.pq.unconfident[i]) {
      ++recomputed;
      continue;
    }
    for (uint64_t j = 0; j < lk; ++j)
      p(i, j) = sim.pq.probs[i * lk + j];
  }
  sim.pq = Simulator::PqPending();
  bool pv = !(f("flags") & AttnDeferValues);
  if (pv)
    sim.predicate = false;
  cycles = attnCycles(recomputed, lk, f("d"), pv, lq, sim.timing);
}

/// Decodes and checks every operand of a phase none/decide/finish ATTN, so
/// that a bad field fails before the instruction changes any state.
Expected<Simulator::Exec::AttnOperands> Simulator::Exec::attnOperands() const {
  AttnPhase phase = AttnPhase(f("phase"));
  bool decide = phase == AttnPhase::Decide;
  // A decide ignores the flags (they apply at its finish).
  bool defer = !decide && (f("flags") & AttnDeferValues);
  if (defer && (f("flags") & AttnHeadImportance))
    return error("flags", "HeadImportance (0x4) applies where O is written, "
                          "at phase values, not with DeferValues (0x8)");
  uint64_t lq = f("lq"), lk = f("lk"), d = f("d");
  MaskKind kind = MaskKind(f("mask_kind"));
  bool padding = kind == MaskKind::Padding || kind == MaskKind::PaddingCausal;
  // A decide or a deferring ATTN reads neither V nor O.
  bool pv = !decide && !defer;
  auto q = operand("q", lq, d);
  auto k = q ? operand("k", lk, d) : q.takeError();
  auto v = k ? operand("v", pv ? lk : 0, d) : k.takeError();
  auto o = v ? output("o", pv ? lq : 0, d) : v.takeError();
  // One mask row per query row, mask_stride apart; stride 0 shares one
  // per-key row between all queries (the usual padding mask).
  auto mask = o ? operand("mask", padding ? lq : 0, lk) : o.takeError();
  if (!mask)
    return mask.takeError();
  auto imp = decide ? std::optional<Operand>() : tokenImportance(lk);
  if (!imp)
    return imp.takeError();
  auto himp = decide ? std::optional<Operand>() : headImportance();
  if (!himp)
    return himp.takeError();
  if (decide && !std::isfinite(fp("pq_threshold")))
    return error("pq_threshold", "is not a finite fp32 value");
  if (phase == AttnPhase::Finish &&
      (!sim.pq.valid || sim.pq.lq != lq || sim.pq.lk != lk))
    return error("phase", llvm::formatv("finish of {0} x {1} scores without "
                                        "a pending decide of that shape",
                                        lq, lk));
  return AttnOperands{*q, *k, *v, *o, *mask, *imp, *himp};
}

Error Simulator::Exec::attn() {
  if (Error e = checkFlags(AttnAccumulateImportance | AttnMaskSelect |
                           AttnHeadImportance | AttnDeferValues))
    return e;
  // The field is 2 bits wide: every value names a phase.
  AttnPhase phase = AttnPhase(f("phase"));
  if (phase == AttnPhase::Values)
    return attnValues();
  auto ops = attnOperands();
  if (!ops)
    return ops.takeError();
  auto p = probabilities(ops->q, ops->k, ops->mask);
  if (!p)
    return p.takeError();
  uint64_t lq = f("lq"), lk = f("lk"), d = f("d");
  rows.qk.assign(lq, true);
  rows.keptValues.assign(lq, 0);
  if (phase == AttnPhase::Decide) {
    rows.decide = true;
    attnDecide(*p);
  } else {
    if (phase == AttnPhase::Finish)
      mergeDecide(*p);
    attnFinish(*p, *ops);
  }
  describeRows(lk, d);
  return Error::success();
}

/// This instruction's query rows for the attention pipeline model (the
/// engine runs them, timing::Engine::issue), and its operation counts. K
/// and V rows are already in SRAM (their DMAs ran on the load queue), so
/// the fetch stages cost nothing here.
void Simulator::Exec::describeRows(uint64_t lk, uint64_t d) {
  const HardwareConfig &hw = sim.timing;
  timing::AttentionUnits units{hw.qkMultipliers,   hw.pvMultipliers,
                               hw.softmaxUnits,    hw.topkComparators,
                               hw.crossbarInputs,  hw.crossbarOutputs};
  timing::AttentionMode mode{rows.decide, rows.importance};
  std::vector<timing::RowWork> work;
  work.reserve(rows.qk.size());
  for (size_t i = 0; i < rows.qk.size(); ++i) {
    uint64_t topk = i < rows.topk.size() ? rows.topk[i] : 0;
    auto w = timing::rowWork(units, lk, d, rows.keptValues[i], topk, 0, 0,
                             mode);
    if (!w) { // the configuration was validated: no unit count is 0
      llvm::consumeError(w.takeError());
      return;
    }
    if (!rows.qk[i]) {
      w->cycles[unsigned(timing::Stage::QK)] = 0;
      w->cycles[unsigned(timing::Stage::Softmax)] = 0;
    }
    work.push_back(*w);
  }
  attnWork.emplace();
  attnWork->rows = std::move(work);
  attnWork->params.queueDepth = hw.pipelineQueueDepth;
  attnWork->params.servers[unsigned(timing::Stage::ValueTopk)] =
      hw.valueTopkEngines;
  OpCounts &ops = sim.rep.ops;
  for (size_t i = 0; i < rows.qk.size(); ++i) {
    if (rows.qk[i]) {
      ops.attnMacs += lk * d;
      ops.softmaxOps += lk;
    }
    ops.attnMacs += rows.keptValues[i] * d;
    if (i < rows.topk.size()) // about one comparison per comparator-cycle
      ops.topkCompares += rows.topk[i] * hw.topkComparators;
  }
}

/// y of a binary vector function, broadcast to rows x cols.
Expected<Mat> Simulator::Exec::vecY(uint64_t rows, uint64_t cols) const {
  uint64_t flags = f("flags");
  if ((flags & VecYImm) && (flags & VecYPerRow))
    return error("flags", "Imm and PerRow are exclusive");
  if (flags & VecYImm)
    return Mat(Mat::Constant(rows, cols, fp("imm")));
  bool perRow = flags & VecYPerRow;
  auto y = operand("y", rows, perRow ? 1 : cols);
  if (!y)
    return y.takeError();
  Mat ym = read(*y);
  if (perRow)
    return Mat(ym.col(0).replicate(1, cols));
  return ym;
}

static float applyUnary(VecFunc fn, float x) {
  switch (fn) {
  case VecFunc::Copy: return x;
  case VecFunc::Neg: return -x;
  case VecFunc::Exp: return std::exp(x);
  case VecFunc::Log: return std::log(x);
  case VecFunc::Sqrt: return std::sqrt(x);
  case VecFunc::Recip: return 1.0f / x;
  case VecFunc::Tanh: return std::tanh(x);
  case VecFunc::Erf: return std::erf(x);
  case VecFunc::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
  case VecFunc::Relu: return x > 0 ? x : 0.0f;
  case VecFunc::Abs: return std::fabs(x);
  case VecFunc::GeluErf:
    return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2)));
  case VecFunc::GeluTanh: {
    const float c = std::sqrt(2.0f / float(M_PI));
    return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
  }
  default: return x;
  }
}

static float applyBinary(VecFunc fn, float a, float b) {
  switch (fn) {
  case VecFunc::Add: return a + b;
  case VecFunc::Sub: return a - b;
  case VecFunc::Mul: return a * b;
  case VecFunc::Div: return a / b;
  case VecFunc::Pow: return std::pow(a, b);
  case VecFunc::Max: return std::max(a, b);
  case VecFunc::Min: return std::min(a, b);
  default: return a;
  }
}

Error Simulator::Exec::vecLayerNorm(const Operand &x, const Operand &z) {
  float eps = fp("imm");
  if (!std::isfinite(eps) || eps < 0)
    return error("imm", "layer_norm epsilon must be finite and >= 0");
  auto gamma = operand("y", 1, x.cols);
  if (!gamma)
    return gamma.takeError();
  auto beta = operand("w", 1, x.cols);
  if (!beta)
    return beta.takeError();
  if (!x.rows || !x.cols)
    return Error::success(); // statistics of an empty row are undefined
  Mat xm = read(x), g = read(*gamma), bt = read(*beta);
  Mat out(x.rows, x.cols);
  for (uint64_t r = 0; r < x.rows; ++r) {
    // Statistics in double: the mean of a long row loses bits in fp32.
    Eigen::RowVectorXd row = xm.row(r).cast<double>();
    double mean = row.mean();
    double var = (row.array() - mean).square().mean();
    double inv = 1.0 / std::sqrt(var + double(eps));
    out.row(r) = ((row.array() - mean) * inv).cast<float>().matrix()
                     .cwiseProduct(g.row(0)) +
                 bt.row(0);
  }
  write(z, out);
  return Error::success();
}

Error Simulator::Exec::vec() {
  uint64_t fn = f("func");
  if (fn >= kNumVecFuncs)
    return error("func", llvm::formatv("{0} is not a vector function (0..{1})",
                                       fn, kNumVecFuncs - 1));
  VecFunc func = VecFunc(fn);
  bool binary = vecFuncIsBinary(func);
  if (Error e = checkFlags(binary ? (VecYImm | VecYPerRow | VecSwap) : 0))
    return e;
  uint64_t rows = f("rows"), cols = f("cols");
  auto x = operand("x", rows, cols);
  if (!x)
    return x.takeError();
  auto z = output("z", rows, cols);
  if (!z)
    return z.takeError();
  sim.rep.ops.vectorOps += rows * cols * vecFuncCost(func);
  if (sim.timingOnly)
    return Error::success();
  if (func == VecFunc::LayerNorm)
    return vecLayerNorm(*x, *z);
  Mat xm = read(*x);
  if (func == VecFunc::Softmax) {
    softmaxRows(xm);
    write(*z, xm);
    return Error::success();
  }
  if (!binary) {
    write(*z, xm.unaryExpr([func](float v) { return applyUnary(func, v); }));
    return Error::success();
  }
  auto y = vecY(rows, cols);
  if (!y)
    return y.takeError();
  bool swap = f("flags") & VecSwap;
  Mat out(rows, cols);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c)
      out(r, c) = swap ? applyBinary(func, (*y)(r, c), xm(r, c))
                       : applyBinary(func, xm(r, c), (*y)(r, c));
  write(*z, out);
  return Error::success();
}

Error Simulator::Exec::topk() {
  if (Error e = checkFlags(TopkScoresByIndex | TopkIota))
    return e;
  uint64_t flags = f("flags"), n = f("n"), k = f("k");
  uint64_t inOff = f("in_off"), outOff = f("out_off");
  if (f("role") >= kTopkRoleNames.size())
    return error("role", llvm::formatv("{0} is not a role (0 other, 1 tokens, "
                                       "2 heads)",
                                       f("role")));
  uint64_t kk = std::min(k, n);
  uint64_t sbuf = f("s_buf"), sOff = f("s_off");
  if (sbuf >= kNumBuffers || Buffer(sbuf) == Buffer::Idx)
    return error("s_buf", "must name an fp32 buffer");
  const std::vector<float> &scores = sim.fbufs[sbuf];
  bool iota = flags & TopkIota, byIndex = flags & TopkScoresByIndex;
  if (!iota && inOff + n > sim.idx.size())
    return error("in_off", llvm::formatv("{0} candidates at offset {1} run "
                                         "past the idx buffer ({2} entries)",
                                         n, inOff, sim.idx.size()));
  if (outOff + kk > sim.idx.size())
    return error("out_off", llvm::formatv("{0} results at offset {1} run past "
                                          "the idx buffer ({2} entries)",
                                          kk, outOff, sim.idx.size()));
  // Bound n by the buffers before allocating anything of size n.
  if ((!byIndex || iota) && sOff + n > scores.size())
    return error("s_off", llvm::formatv("{0} scores at offset {1} run past the "
                                        "{2} buffer ({3} elements)",
                                        n, sOff, kBufferNames[sbuf],
                                        scores.size()));
  std::vector<int32_t> cand(n);
  std::vector<float> score(n);
  for (uint64_t i = 0; i < n; ++i) {
    cand[i] = iota ? int32_t(i) : sim.idx[inOff + i];
    int64_t at = byIndex ? int64_t(sOff) + cand[i] : int64_t(sOff + i);
    if (byIndex && cand[i] < 0)
      return error("in_off", llvm::formatv("candidate {0} (entry {1}) is "
                                           "negative",
                                           cand[i], inOff + i));
    if (uint64_t(at) >= scores.size())
      return error("s_off", llvm::formatv("score of candidate {0} at element "
                                          "{1} is past the {2} buffer",
                                          i, at, kBufferNames[sbuf]));
    score[i] = scores[at];
    if (std::isnan(score[i]))
      return error("s_off", llvm::formatv("score of candidate {0} is NaN", i));
  }
  // Exact result: rank by (score desc, position asc), keep the first kk,
  // emit in list order (the zero eliminator's compaction).
  auto better = [&](uint64_t a, uint64_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  };
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), better);
  std::vector<bool> keep(n, false);
  for (uint64_t r = 0; r < kk; ++r)
    keep[order[r]] = true;
  std::vector<int32_t> selected;
  for (uint64_t i = 0; i < n; ++i)
    if (keep[i])
      selected.push_back(cand[i]);
  std::copy(selected.begin(), selected.end(), sim.idx.begin() + outOff);
  auto qs = timing::quickSelect(score, k, f("seed"),
                                sim.timing.topkComparators);
  if (!qs)
    return qs.takeError();
  auto [passes, cyc] = *qs;
  sim.rep.ops.topkCompares += cyc * sim.timing.topkComparators;
  cycles = cyc;
  std::optional<unsigned> layerIndex;
  if (f("layer"))
    layerIndex = unsigned(f("layer") - 1);
  sim.rep.topk.push_back(TopkRecord{pc, n, k, passes, cyc, layerIndex,
                                    TopkRole(f("role")), std::move(selected)});
  if (LayerCounters *l = layer())
    l->topkPasses = l->topkPasses.value_or(0) + passes;
  return Error::success();
}

Error Simulator::resetTimeline() {
  auto dram = timing::hbmDram(timing);
  if (!dram)
    return makeError("hardware configuration: " +
                     llvm::toString(dram.takeError()));
  engine = std::make_unique<timing::Engine>(std::move(*dram));
  retired = Report();
  lastAttn.reset();
  return Error::success();
}

void Simulator::noteTimeline(const timing::Work &work,
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

/// `next` reads SRAM that `prev` writes (a read-after-write hazard that
/// keeps `next` from streaming behind `prev`). The importance both
/// accumulate is not one: the adder takes rows in pipeline order.
bool Simulator::readsResultsOf(const Instr &next, const Instr &prev) {
  auto reads = isa::accessesOf(next), writes = isa::accessesOf(prev);
  return llvm::any_of(writes, [&](const isa::Access &w) {
    return w.write && w.space == isa::Space::Sram &&
           llvm::any_of(reads, [&](const isa::Access &r) {
             return !r.write && r.conflicts(w);
           });
  });
}

void Simulator::notePipeline(const timing::PipelineResult &run,
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

void Simulator::mergeRetired() {
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

Expected<Simulator::Executed> Simulator::execute(const Instr &inst,
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
  std::optional<uint64_t> dataCycles;
  Executed x;
  x.spec = spec;
  timing::Work &work = x.work;
  work.pc = pc;
  work.opcode = spec->opcode;
  work.depWait = unsigned(inst.get(kDepWaitField));
  work.depSignal = unsigned(inst.get(kDepSignalField));
  try {
    Exec exec(*this, inst, pc, *spec);
    if (Error e = exec.run())
      return std::move(e);
    dataCycles = exec.cycles;
    work.dram = std::move(exec.dramRows);
    work.attn = std::move(exec.attnWork);
  } catch (const std::bad_alloc &) {
    // Fields within their checked bounds can still describe an operation
    // too large for the host (e.g. a huge lq x lk score matrix).
    return makeError(llvm::formatv("instruction {0} ({1}): out of host memory "
                                   "for the operation its fields describe",
                                   pc, spec->mnemonic));
  }
  x.cycles = dataCycles ? *dataCycles : estimateCycles(inst, timing);
  if (const Field *l = lookupField(*spec, "layer"); l && inst.get(*l))
    work.layer = unsigned(inst.get(*l) - 1);
  work.computeCycles = x.cycles;
  if (work.attn) {
    work.attn->streams = lastAttn && !readsResultsOf(inst, *lastAttn);
    lastAttn = inst;
  } else if (queueOf(spec->opcode) == Queue::Compute) {
    lastAttn.reset();
  }
  return std::move(x);
}

Error Simulator::retire(const Executed &x) {
  try {
    return placeOnTimeline(x);
  } catch (const std::bad_alloc &) {
    // The timeline grows with the program and can exhaust the host, as
    // execute() can; on the worker thread an escaping exception would end
    // the process.
    return makeError(llvm::formatv("instruction {0} ({1}): out of host "
                                   "memory for the timeline",
                                   x.work.pc, x.spec->mnemonic));
  }
}

Error Simulator::placeOnTimeline(const Executed &x) {
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

Error Simulator::step(const Instr &inst, uint64_t pc) {
  auto x = execute(inst, pc);
  if (!x)
    return x.takeError();
  Error e = retire(*x);
  mergeRetired();
  return e;
}

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

#include "llvm/Support/FormatVariadic.h"

#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <limits>

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
  sim->dramSize = m.dramSize;
  sim->dramBytes.reset(
      static_cast<uint8_t *>(std::calloc(std::max<uint64_t>(m.dramSize, 1), 1)));
  if (!sim->dramBytes)
    return makeError(llvm::formatv("cannot allocate {0} bytes of simulated DRAM "
                                   "(manifest dram.size)",
                                   m.dramSize));
  // readImage checked that .rodata fits below dram.size.
  if (!sim->image.rodata.empty())
    std::memcpy(sim->dramBytes.get() + m.rodataBase, sim->image.rodata.data(),
                sim->image.rodata.size());
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
  uint8_t *dst = dramBytes.get() + info->dramAddr;
  uint64_t n = value.numElements();
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
  std::memcpy(t.data.data(), dramBytes.get() + info->dramAddr, t.data.size());
  return t;
}

Error Simulator::run() {
  for (const binary::TensorInfo &t : image.manifest.inputs)
    if (!boundInputs.count(t.name))
      return makeError("missing input '" + t.name + "' (shape " +
                       HostTensor::zeros(ElemType::F32, t.shape).shapeString() +
                       ", " + t.dtype + ")");
  rep = Report();
  uint64_t n = image.text.size() / kInstrBytes;
  for (uint64_t pc = image.manifest.entry;; ++pc) {
    if (pc >= n)
      return makeError(llvm::formatv("instruction {0}: ran past the end of "
                                     ".text ({1} instructions) without halt",
                                     pc, n));
    Instr inst = Instr::decode(image.text.data() + pc * kInstrBytes);
    if (Error e = step(inst, pc))
      return e;
    if (inst.opcodeByte() == uint8_t(Opcode::Halt))
      return Error::success();
  }
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
    case Opcode::Gemm: return gemm();
    case Opcode::Attn: return attn();
    case Opcode::Vec: return vec();
    }
    return error("opcode", "not implemented");
  }

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
    std::vector<float> &buf = sim.fbufs[unsigned(op.buf)];
    for (uint64_t r = 0; r < op.rows; ++r)
      for (uint64_t c = 0; c < op.cols; ++c)
        buf[op.at(r, c)] = m(r, c);
  }

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
  Expected<std::vector<uint64_t>> rowAddresses(uint64_t rows, bool gather,
                                               uint64_t rowBytes) const;
  Error loadElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                 const uint8_t *src);
  Error storeElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                  uint8_t *dst) const;

  // Compute -----------------------------------------------------------------
  Error gemm();
  Error attn();
  Error vec();
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
  // Fixed-point and MSB/LSB planes arrive with progressive quantization.
  if (f("bits") != 32)
    return error("bits", llvm::formatv("{0}-bit data is not implemented (only "
                                       "32: fp32/int32 on chip)",
                                       f("bits")));
  dtype = DType(dt);
  cls = TensorClass(c);
  return Error::success();
}

Expected<std::vector<uint64_t>>
Simulator::Exec::rowAddresses(uint64_t rows, bool gather,
                              uint64_t rowBytes) const {
  uint64_t base = f("dram_addr"), stride = f("dram_stride");
  std::vector<uint64_t> addrs(rows);
  uint64_t idxOff = gather ? f("idx_off") : 0;
  if (gather && idxOff + rows > sim.idx.size())
    return error("idx_off", llvm::formatv("{0} indices at offset {1} run past "
                                          "the idx buffer ({2} entries)",
                                          rows, idxOff, sim.idx.size()));
  for (uint64_t r = 0; r < rows; ++r) {
    int64_t row = gather ? sim.idx[idxOff + r] : int64_t(r);
    if (row < 0)
      return error("idx_off", llvm::formatv("index {0} (entry {1}) is negative",
                                            row, idxOff + r));
    addrs[r] = base + uint64_t(row) * stride;
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
    sim.fbufs[unsigned(op.buf)][op.at(r, c)] = dt == DType::F32 ? fv : float(iv);
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

Error Simulator::Exec::dma(bool toSram, bool gather) {
  DType dt;
  TensorClass cls;
  if (Error e = checkDmaHeader(dt, cls))
    return e;
  uint64_t rows = f("rows"), cols = f("cols");
  auto op = toSram ? output("sram", rows, cols, /*allowIdx=*/true)
                   : operand("sram", rows, cols, /*allowIdx=*/true);
  if (!op)
    return op.takeError();
  if (!rows || !cols)
    return Error::success();
  uint64_t esz = dtypeBytes(dt);
  auto addrs = rowAddresses(rows, gather, cols * esz);
  if (!addrs)
    return addrs.takeError();
  uint8_t *dram = sim.dramBytes.get();
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) {
      uint8_t *p = dram + (*addrs)[r] + c * esz;
      if (Error e = toSram ? loadElem(*op, r, c, dt, p)
                           : storeElem(*op, r, c, dt, p))
        return e;
    }
  uint64_t bytes = rows * cols * esz;
  (toSram ? sim.rep.dramRead : sim.rep.dramWritten)[unsigned(cls)] += bytes;
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

Error Simulator::Exec::attn() {
  if (Error e = checkFlags(AttnAccumulateImportance | AttnMaskSelect))
    return e;
  uint64_t lq = f("lq"), lk = f("lk"), d = f("d");
  MaskKind kind = MaskKind(f("mask_kind"));
  bool padding = kind == MaskKind::Padding || kind == MaskKind::PaddingCausal;
  bool causal = kind == MaskKind::Causal || kind == MaskKind::PaddingCausal;
  bool importance = f("flags") & AttnAccumulateImportance;
  float scale = fp("scale");
  if (!std::isfinite(scale))
    return error("scale", "is not a finite fp32 value");
  auto q = operand("q", lq, d);
  if (!q)
    return q.takeError();
  auto k = operand("k", lk, d);
  if (!k)
    return k.takeError();
  auto v = operand("v", lk, d);
  if (!v)
    return v.takeError();
  auto o = output("o", lq, d);
  if (!o)
    return o.takeError();
  // One mask row per query row, mask_stride apart; stride 0 shares one
  // per-key row between all queries (the usual padding mask).
  auto mask = operand("mask", padding ? lq : 0, lk);
  if (!mask)
    return mask.takeError();
  Mat s = scale * (read(*q) * read(*k).transpose());
  if (padding && (f("flags") & AttnMaskSelect)) {
    float fill = fp("mask_fill");
    if (!std::isfinite(fill))
      return error("mask_fill", "is not a finite fp32 value");
    Mat m = read(*mask);
    s = s.cwiseProduct(m) + fill * (Mat::Ones(lq, lk) - m);
  } else if (padding) {
    s += read(*mask);
  }
  if (causal) {
    uint64_t off = f("causal_offset");
    for (uint64_t i = 0; i < lq; ++i)
      for (uint64_t j = i + off + 1; j < lk; ++j)
        s(i, j) = -std::numeric_limits<float>::infinity();
  }
  softmaxRows(s);
  if (importance) {
    // Cascade token pruning: s[j] += sum over query rows of P[i,j].
    Operand imp{Buffer(f("imp_buf")), f("imp_off"), 0, 1, lk};
    if (uint64_t(imp.buf) >= kNumBuffers || imp.buf == Buffer::Idx)
      return error("imp_buf", "must name an fp32 buffer");
    if (lk && imp.off + lk > bufferElems(imp.buf))
      return error("imp_off", llvm::formatv("{0} scores at offset {1} run past "
                                            "the {2} buffer",
                                            lk, imp.off,
                                            kBufferNames[unsigned(imp.buf)]));
    Mat acc = read(imp);
    acc.row(0) += s.colwise().sum();
    write(imp, acc);
  }
  write(*o, s * read(*v));
  return Error::success();
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

Error Simulator::step(const Instr &inst, uint64_t pc) {
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
  try {
    if (Error e = Exec(*this, inst, pc, *spec).run())
      return e;
  } catch (const std::bad_alloc &) {
    // Fields within their checked bounds can still describe an operation
    // too large for the host (e.g. a huge lq x lk score matrix).
    return makeError(llvm::formatv("instruction {0} ({1}): out of host memory "
                                   "for the operation its fields describe",
                                   pc, spec->mnemonic));
  }
  uint64_t cycles = estimateCycles(inst, timing);
  OpcodeStats &stats = rep.byOpcode[unsigned(spec->opcode)];
  stats.count += 1;
  stats.cycles += cycles;
  rep.instrCycles.push_back(cycles);
  return Error::success();
}

//===- Dma.cpp - load, store, gather, scatter ------------------------------===//
//
// Moves rows between DRAM and an SRAM operand: fp32 and integer elements
// (int32/int64 into the int32 idx buffer, fp32 to integers truncated as
// ONNX Cast does), or fixed-point rows in full, MSB and LSB planes
// (docs/ISA.md, "Fixed-point DMA"). `pred` gates rows on the attention
// unit's predicate and value-row mask.
//
//===----------------------------------------------------------------------===//

#include "Unit.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace spatten;
using namespace spatten::sim;

namespace {

using F = fields::Dma;    // load and store; gather and scatter share these
using G = fields::Gather; // the index list of gather and scatter

class DmaUnit : UnitInstr {
public:
  DmaUnit(const UnitInstr &instr, bool toSram, bool gather)
      : UnitInstr(instr), toSram(toSram), gather(gather) {}
  Error run();

private:
  Error checkHeader(DType &dtype, TensorClass &cls) const;
  Error checkQuantized() const;
  Expected<std::vector<bool>> movedRows(uint64_t rows) const;
  Expected<std::vector<uint64_t>> rowAddresses(const std::vector<bool> &moved,
                                               uint64_t rowBytes) const;
  /// Moves the `moved` rows of `op` (rowBytes each in DRAM) and records
  /// them for the DRAM model.
  Error moveRows(const Operand &op, const std::vector<bool> &moved,
                 uint64_t rowBytes);
  /// Moves SRAM row `r` of `op` from (toSram) or to the `bytes` DRAM bytes
  /// at `addr`.
  Error moveRow(const Operand &op, uint64_t r, uint64_t addr, uint64_t bytes);
  Error loadRow(const Operand &op, uint64_t r, const uint8_t *src);
  Error storeRow(const Operand &op, uint64_t r, uint8_t *dst) const;
  Error loadElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                 const uint8_t *src);
  Error storeElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                  uint8_t *dst) const;
  Error loadQuantizedRow(const Operand &op, uint64_t r, const uint8_t *src);
  Error storeQuantizedRow(const Operand &op, uint64_t r, uint8_t *dst) const;
  /// Adds the moved bytes to the report and its layer.
  void count(TensorClass cls, uint64_t numMoved, uint64_t rowBytes);
  /// Leaves a load of every row of fp32 data in DRAM until it is read
  /// (Machine::loadLazily); false when its rows must move now.
  bool loadLazily(const Operand &op, const std::vector<bool> &moved,
                  const std::vector<uint64_t> &addrs);

  const bool toSram, gather;
  /// The fp32 SRAM buffer of the operand, its moved elements current.
  std::vector<float> *fbuf = nullptr;
};

} // namespace

Error DmaUnit::checkHeader(DType &dtype, TensorClass &cls) const {
  uint64_t dt = get(F::dtype);
  if (dt >= kDTypeNames.size())
    return error(F::dtype, llvm::formatv("{0} is not a dtype (0..{1})", dt,
                                         kDTypeNames.size() - 1));
  uint64_t c = get(F::tensorClass);
  if (c >= kNumTensorClasses)
    return error(F::tensorClass,
                 llvm::formatv("{0} is not a tensor class (0..{1})", c,
                               kNumTensorClasses - 1));
  uint64_t bits = get(F::bits), plane = get(F::plane);
  if (plane >= kPlaneNames.size())
    return error(F::plane, llvm::formatv("{0} is not a plane (0..{1})", plane,
                                         kPlaneNames.size() - 1));
  if (bits == 32 && (plane || get(F::lsbBits)))
    return error(plane ? F::plane : F::lsbBits,
                 "must be 0 for 32-bit (fp32/int32) data");
  if (bits != kWordBits &&
      (bits < kMinFixedPointBits || bits > kMaxFixedPointBits))
    return error(F::bits, llvm::formatv("{0} is not a fixed-point width "
                                        "({1}..{2}) or {3}",
                                        bits, kMinFixedPointBits,
                                        kMaxFixedPointBits, kWordBits));
  dtype = DType(dt);
  cls = TensorClass(c);
  return Error::success();
}

Error DmaUnit::checkQuantized() const {
  if (DType(get(F::dtype)) != DType::F32)
    return error(F::dtype, "fixed-point data needs dtype f32 (the SRAM side "
                           "is fp32)");
  if (Buffer(get(F::sramBuf)) == Buffer::Idx)
    return error(F::sramBuf, "fixed-point data cannot use the idx buffer");
  uint64_t bits = get(F::bits), lsb = get(F::lsbBits);
  if (Plane(get(F::plane)) == Plane::Full) {
    if (lsb)
      return error(F::lsbBits, "must be 0 for the full plane");
  } else if (lsb < 1 || lsb >= bits) {
    return error(F::lsbBits, llvm::formatv("{0} must be in 1..{1} (bits - 1) "
                                           "for an MSB or LSB plane",
                                           lsb, bits - 1));
  }
  return Error::success();
}

Expected<std::vector<bool>> DmaUnit::movedRows(uint64_t rows) const {
  uint64_t pred = get(F::pred);
  // The field is 2 bits wide: every value names a predicate.
  if (DmaPred(pred) == DmaPred::Always)
    return std::vector<bool>(rows, true);
  if (DmaPred(pred) == DmaPred::Unconfident)
    return std::vector<bool>(rows, machine.predicate);
  if (!toSram)
    return error(F::pred, "the value-row mask (2, 3) gates loads and gathers "
                          "only, not stores or scatters");
  const DeferredValues &dv = machine.deferred;
  if (!dv.valid)
    return error(F::pred, "no value-row mask is pending (an ATTN with "
                          "DeferValues sets it)");
  if (rows > dv.rowMask.size())
    return error(F::pred, llvm::formatv("{0} rows exceed the {1}-bit "
                                        "value-row mask",
                                        rows, dv.rowMask.size()));
  std::vector<bool> moved(dv.rowMask.begin(), dv.rowMask.begin() + rows);
  if (DmaPred(pred) == DmaPred::UnconfidentValueRows && !machine.predicate)
    moved.assign(rows, false);
  return moved;
}

Expected<std::vector<uint64_t>>
DmaUnit::rowAddresses(const std::vector<bool> &moved, uint64_t rowBytes) const {
  uint64_t base = get(F::dramAddr), stride = get(F::dramStride);
  uint64_t rows = moved.size();
  std::vector<uint64_t> addrs(rows);
  uint64_t idxOff = gather ? get(G::idxOff) : 0;
  // With idx_period p, row r uses index entry r % p in period r / p, each
  // period period_stride bytes further (docs/ISA.md, "gather").
  uint64_t period = gather ? get(G::idxPeriod) : 0;
  uint64_t periodStride = gather ? get(G::periodStride) : 0;
  uint64_t entries = period ? std::min(period, rows) : rows;
  const std::vector<int32_t> &idx = machine.idx;
  if (gather && idxOff + entries > idx.size())
    return error(G::idxOff, llvm::formatv("{0} indices at offset {1} run past "
                                          "the idx buffer ({2} entries)",
                                          entries, idxOff, idx.size()));
  uint64_t dramSize = machine.dram.size();
  for (uint64_t r = 0; r < rows; ++r) {
    if (!moved[r])
      continue; // a row that does not move is not addressed
    uint64_t entry = period ? r % period : r;
    int64_t row = gather ? idx[idxOff + entry] : int64_t(r);
    if (row < 0)
      return error(G::idxOff, llvm::formatv("index {0} (entry {1}) is "
                                            "negative",
                                            row, idxOff + entry));
    // The fields allow sums past 2^64; a wrapped address must not pass the
    // bounds check below.
    bool wraps = false, periodWraps = false;
    uint64_t addr =
        llvm::SaturatingMultiplyAdd(uint64_t(row), stride, base, &wraps);
    if (period)
      addr = llvm::SaturatingMultiplyAdd(r / period, periodStride, addr,
                                         &periodWraps);
    if (wraps || periodWraps)
      return error(gather ? G::idxOff : F::dramAddr,
                   llvm::formatv("row {0}: its DRAM address overflows 64 "
                                 "bits",
                                 r));
    addrs[r] = addr;
    if (addr > dramSize || rowBytes > dramSize - addr)
      return error(gather ? G::idxOff : F::dramAddr,
                   llvm::formatv("row {0} at DRAM [{1:x}, {2:x}) is past "
                                 "dram.size {3:x}",
                                 row, addrs[r], addrs[r] + rowBytes, dramSize));
  }
  return addrs;
}

Error DmaUnit::loadElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                        const uint8_t *src) {
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
    machine.setElement(op.buf, op.at(r, c), dt == DType::F32 ? fv : float(iv));
    return Error::success();
  }
  if (dt == DType::F32)
    return error(F::dtype, "f32 data cannot be loaded into the idx buffer");
  if (iv < std::numeric_limits<int32_t>::min() ||
      iv > std::numeric_limits<int32_t>::max())
    return error(F::dtype, llvm::formatv("index {0} (row {1}, col {2}) does "
                                         "not fit the int32 idx buffer",
                                         iv, r, c));
  machine.idx[op.at(r, c)] = int32_t(iv);
  return Error::success();
}

Error DmaUnit::storeElem(const Operand &op, uint64_t r, uint64_t c, DType dt,
                         uint8_t *dst) const {
  bool fromIdx = op.buf == Buffer::Idx;
  double v =
      fromIdx ? double(machine.idx[op.at(r, c)]) : double((*fbuf)[op.at(r, c)]);
  if (dt == DType::F32) {
    float fv = float(v);
    std::memcpy(dst, &fv, 4);
    return Error::success();
  }
  // fp32 -> integer truncates toward zero, as ONNX Cast does.
  double lo = dt == DType::I64 ? -9.2233720368547758e18 : -2147483648.0;
  double hi = dt == DType::I64 ? 9.2233720368547758e18 : 2147483648.0;
  if (!std::isfinite(v) || v < lo || v >= hi)
    return error(F::dtype, llvm::formatv("value {0} (row {1}, col {2}) does "
                                         "not fit {3}",
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

Error DmaUnit::loadQuantizedRow(const Operand &op, uint64_t r,
                                const uint8_t *src) {
  unsigned bits = get(F::bits), lsb = get(F::lsbBits);
  Plane plane = Plane(get(F::plane));
  float scale = 0;
  if (plane != Plane::Lsb) {
    std::memcpy(&scale, src, 4);
    if (!std::isfinite(scale) || scale < 0)
      return error(F::dramAddr,
                   llvm::formatv("row {0}: scale {1} is not a finite "
                                 "non-negative fp32",
                                 r, llvm::format("%g", double(scale))));
    src += 4;
  }
  std::vector<MsbCode> &codes = machine.msbCodes[unsigned(op.buf)];
  if (plane == Plane::Msb && codes.empty())
    codes.assign(fbuf->size(), MsbCode());
  for (uint64_t c = 0; c < op.cols; ++c) {
    uint64_t e = op.at(r, c);
    if (plane == Plane::Full) {
      machine.setElement(op.buf, e,
                         float(unpackCode(src, c, bits, true)) * scale);
    } else if (plane == Plane::Msb) {
      int64_t m = unpackCode(src, c, bits - lsb, true);
      // The midpoint of the unknown LSBs (docs/Algorithms.md).
      int64_t mid = m * (int64_t(1) << lsb) + (int64_t(1) << (lsb - 1));
      machine.setElement(op.buf, e, float(mid) * scale);
      codes[e] = MsbCode{scale, int32_t(m), uint8_t(lsb)};
    } else {
      if (codes.empty() || codes[e].lsbBits != lsb)
        return error(F::plane,
                     llvm::formatv("LSB row {0}, col {1}: {2} element {3} "
                                   "holds no MSB-plane value with "
                                   "lsb_bits={4}",
                                   r, c, kBufferNames[unsigned(op.buf)], e,
                                   lsb));
      MsbCode mc = codes[e];
      int64_t q = int64_t(mc.code) * (int64_t(1) << lsb) +
                  unpackCode(src, c, lsb, false);
      (*fbuf)[e] = float(q) * mc.scale;
    }
  }
  return Error::success();
}

Error DmaUnit::storeQuantizedRow(const Operand &op, uint64_t r,
                                 uint8_t *dst) const {
  unsigned bits = get(F::bits), lsb = get(F::lsbBits);
  Plane plane = Plane(get(F::plane));
  const std::vector<float> &buf = *fbuf;
  float maxAbs = 0;
  for (uint64_t c = 0; c < op.cols; ++c) {
    float x = buf[op.at(r, c)];
    if (!std::isfinite(x))
      return error(F::sramOff,
                   llvm::formatv("row {0}, col {1}: {2} cannot be quantized",
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

Error DmaUnit::loadRow(const Operand &op, uint64_t r, const uint8_t *src) {
  if (get(F::bits) != 32)
    return loadQuantizedRow(op, r, src);
  DType dt = DType(get(F::dtype));
  if (dt == DType::F32 && op.buf != Buffer::Idx) {
    // fp32 rows move as they are (most of a model's traffic).
    std::memcpy(fbuf->data() + op.at(r, 0), src, op.cols * 4);
    std::vector<MsbCode> &codes = machine.msbCodes[unsigned(op.buf)];
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

Error DmaUnit::storeRow(const Operand &op, uint64_t r, uint8_t *dst) const {
  if (get(F::bits) != 32)
    return storeQuantizedRow(op, r, dst);
  DType dt = DType(get(F::dtype));
  if (dt == DType::F32 && op.buf != Buffer::Idx) {
    std::memcpy(dst, fbuf->data() + op.at(r, 0), op.cols * 4);
    return Error::success();
  }
  uint64_t esz = dtypeBytes(dt);
  for (uint64_t c = 0; c < op.cols; ++c)
    if (Error e = storeElem(op, r, c, dt, dst + c * esz))
      return e;
  return Error::success();
}

Error DmaUnit::moveRow(const Operand &op, uint64_t r, uint64_t addr,
                       uint64_t bytes) {
  return toSram ? loadRow(op, r, machine.dram.forRead(addr, bytes))
                : storeRow(op, r, machine.dramForWrite(addr, bytes));
}

Error DmaUnit::moveRows(const Operand &op, const std::vector<bool> &moved,
                        uint64_t rowBytes) {
  auto addrs = rowAddresses(moved, rowBytes);
  if (!addrs)
    return addrs.takeError();
  // --timing-only keeps only the data that steers control: index lists.
  bool move = !machine.timingOnly || op.buf == Buffer::Idx;
  if (move && !(toSram && loadLazily(op, moved, *addrs))) {
    // A load overwrites the operand's elements only if it moves every row.
    bool overwrites = toSram && !llvm::is_contained(moved, false);
    if (op.buf != Buffer::Idx)
      fbuf = overwrites
                 ? &machine.bufferForOverwrite(op.buf, op.off, op.stride,
                                               op.rows, op.cols)
                 : &machine.buffer(op.buf, op.off, op.at(op.rows - 1, op.cols));
    for (uint64_t r = 0; r < op.rows; ++r)
      if (moved[r])
        if (Error e = moveRow(op, r, (*addrs)[r], rowBytes))
          return e;
  }
  for (uint64_t r = 0; r < op.rows; ++r)
    if (moved[r])
      timing::appendRow(out.dramRows, (*addrs)[r], rowBytes, !toSram);
  return Error::success();
}

bool DmaUnit::loadLazily(const Operand &op, const std::vector<bool> &moved,
                         const std::vector<uint64_t> &addrs) {
  if (gather || op.buf == Buffer::Idx || get(F::bits) != 32 ||
      DType(get(F::dtype)) != DType::F32 || llvm::is_contained(moved, false))
    return false;
  LazyLoad l{op.off, op.stride, op.rows, op.cols, addrs[0], get(F::dramStride)};
  if (!machine.loadLazily(op.buf, l))
    return false;
  std::vector<MsbCode> &codes = machine.msbCodes[unsigned(op.buf)];
  if (!codes.empty())
    for (uint64_t r = 0; r < op.rows; ++r)
      std::fill_n(codes.begin() + op.at(r, 0), op.cols, MsbCode());
  return true;
}

void DmaUnit::count(TensorClass cls, uint64_t numMoved, uint64_t rowBytes) {
  uint64_t bytes = numMoved * rowBytes;
  Report &rep = machine.rep;
  (toSram ? rep.dramRead : rep.dramWritten)[unsigned(cls)] += bytes;
  LayerCounters *l = layer();
  if (!l)
    return;
  (toSram ? l->dramRead : l->dramWritten)[unsigned(cls)] += bytes;
  if (toSram && get(F::bits) != 32 && Plane(get(F::plane)) == Plane::Lsb &&
      cls == TensorClass::KLsb)
    l->refetchedRows = l->refetchedRows.value_or(0) + numMoved;
}

Error DmaUnit::run() {
  DType dt;
  TensorClass cls;
  if (Error e = checkHeader(dt, cls))
    return e;
  if (get(F::bits) != 32)
    if (Error e = checkQuantized())
      return e;
  uint64_t rows = get(F::rows), cols = get(F::cols);
  // A load stores its elements in K and V at their width (docs/ISA.md,
  // "SRAM operands"), there only in the rows it moves.
  auto op = toSram ? output(F::sram, rows, cols, /*allowIdx=*/true,
                            unsigned(get(F::bits)))
                   : operand(F::sram, rows, cols, /*allowIdx=*/true);
  if (!op)
    return op.takeError();
  auto moved = movedRows(rows);
  if (!moved)
    return moved.takeError();
  if (toSram && !out.writes.empty())
    out.writes.back().rows = *moved;
  uint64_t numMoved = uint64_t(std::count(moved->begin(), moved->end(), true));
  if (!numMoved && DmaPred(get(F::pred)) != DmaPred::Always) {
    out.cycles = 0; // its predicate moves no row
    return Error::success();
  }
  if (!rows || !cols)
    return Error::success();
  uint64_t rowBytes = dmaRowBytes(inst);
  if (Error e = moveRows(*op, *moved, rowBytes))
    return e;
  out.cycles = dmaCycles(numMoved, rowBytes, machine.timing);
  count(cls, numMoved, rowBytes);
  return Error::success();
}

Error sim::executeDma(const UnitInstr &instr, bool toSram, bool gather) {
  return DmaUnit(instr, toSram, gather).run();
}

//===- Machine.cpp - DRAM with copy-on-write .rodata, SRAM buffers --------===//

#include "Machine.h"
#include "SimError.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cstring>

using namespace spatten;
using namespace spatten::sim;
using isa::Buffer;


llvm::Expected<Dram> Dram::create(uint64_t size, llvm::ArrayRef<uint8_t> rodata,
                                  uint64_t rodataBase) {
  Dram d;
  d.bytes.reset(
      static_cast<uint8_t *>(std::calloc(std::max<uint64_t>(size, 1), 1)));
  if (!d.bytes)
    return makeError(llvm::formatv("cannot allocate {0} bytes of simulated DRAM "
                                   "(manifest dram.size)",
                                   size));
  d.numBytes = size;
  d.rodata = rodata;
  d.rodataBase = rodataBase;
  d.rodataCopied.resize(llvm::divideCeil(rodata.size(), kRodataChunk));
  return std::move(d);
}

std::optional<std::pair<size_t, size_t>>
Dram::rodataChunks(uint64_t addr, uint64_t n) const {
  uint64_t end = rodataBase + rodata.size();
  uint64_t lo = std::max(addr, rodataBase), hi = std::min(addr + n, end);
  if (lo >= hi)
    return std::nullopt;
  return std::pair{size_t((lo - rodataBase) / kRodataChunk),
                   size_t((hi - 1 - rodataBase) / kRodataChunk)};
}

void Dram::copyInRodata(std::pair<size_t, size_t> chunks) const {
  for (size_t c = chunks.first; c <= chunks.second; ++c) {
    if (rodataCopied[c])
      continue;
    uint64_t at = c * kRodataChunk;
    uint64_t n = std::min<uint64_t>(kRodataChunk, rodata.size() - at);
    std::memcpy(bytes.get() + rodataBase + at, rodata.data() + at, n);
    rodataCopied.set(c);
  }
}

const uint8_t *Dram::forRead(uint64_t addr, uint64_t n) const {
  auto chunks = rodataChunks(addr, n);
  if (!chunks)
    return bytes.get() + addr;
  bool inside = addr >= rodataBase && addr + n <= rodataBase + rodata.size();
  if (inside && rodataCopied.find_first_in(chunks->first,
                                           chunks->second + 1) == -1)
    return rodata.data() + (addr - rodataBase);
  copyInRodata(*chunks);
  return bytes.get() + addr;
}

uint8_t *Dram::forWrite(uint64_t addr, uint64_t n) {
  if (auto chunks = rodataChunks(addr, n))
    copyInRodata(*chunks);
  return bytes.get() + addr;
}

llvm::Expected<std::unique_ptr<Machine>>
Machine::create(const binary::Image &image, HardwareConfig timing) {
  auto m = std::make_unique<Machine>();
  m->timing = std::move(timing);
  const binary::Manifest &manifest = image.manifest;
  m->sram = manifest.hardware;
  auto dram = Dram::create(manifest.dramSize, image.rodata.contiguous(),
                           manifest.rodataBase);
  if (!dram)
    return dram.takeError();
  m->dram = std::move(*dram);
  try {
    for (unsigned b = 0; b < isa::kNumBuffers; ++b) {
      if (Buffer(b) == Buffer::Idx)
        continue;
      uint64_t n = m->bufferElems(Buffer(b), isa::kMinFixedPointBits);
      m->fbufs[b].assign(n, 0.0f);
      if (HardwareConfig::holdsLoadedWidth(Buffer(b)))
        m->widths[b].assign(n, isa::kWordBits);
    }
    m->idx.assign(m->bufferElems(Buffer::Idx), 0);
  } catch (const std::bad_alloc &) {
    return makeError("cannot allocate the SRAM buffers of the manifest's "
                     "hardware configuration");
  }
  return std::move(m);
}

llvm::ThreadPoolInterface *Machine::gemmHelper() {
  if (hostThreads < 2)
    return nullptr;
  if (!helper)
    helper =
        std::make_unique<llvm::StdThreadPool>(llvm::hardware_concurrency(1));
  return helper.get();
}

void Machine::startRun() {
  for (std::vector<float> &b : fbufs)
    std::fill(b.begin(), b.end(), 0.0f);
  for (std::vector<LazyLoad> &loads : lazy)
    loads.clear();
  std::fill(idx.begin(), idx.end(), 0);
  for (std::vector<MsbCode> &codes : msbCodes)
    codes.clear();
  for (std::vector<uint8_t> &w : widths)
    std::fill(w.begin(), w.end(), isa::kWordBits);
  pq = PqPending();
  predicate = false;
  deferred = DeferredValues();
  fill = FillStatistics();
  lastAttn.reset();
  rep = Report();
}

unsigned Machine::widestWidth(Buffer b, uint64_t off, uint64_t stride,
                              uint64_t rows, uint64_t cols,
                              const std::vector<bool> *onlyRows) const {
  const std::vector<uint8_t> &w = widths[unsigned(b)];
  unsigned widest = isa::kMinFixedPointBits;
  if (w.empty())
    return isa::kWordBits;
  for (uint64_t r = 0; r < rows && widest < isa::kWordBits; ++r) {
    if (onlyRows && !(*onlyRows)[r])
      continue;
    const uint8_t *row = w.data() + off + r * stride;
    widest = std::max<unsigned>(widest, *std::max_element(row, row + cols));
  }
  return widest;
}

void Machine::setWidth(Buffer b, uint64_t e, uint64_t n, unsigned bits) {
  std::vector<uint8_t> &w = widths[unsigned(b)];
  if (!w.empty())
    std::fill_n(w.begin() + e, n, uint8_t(bits));
}

/// Loads smaller than this many bytes are copied at once: tracking them
/// would cost about what it saves.
static constexpr uint64_t kMinLazyBytes = 4096;
/// Lazy loads kept per buffer; past it the oldest is copied in, so that
/// looking them up stays cheap.
static constexpr size_t kMaxLazyLoads = 16;

static bool overlaps(uint64_t lo, uint64_t hi, uint64_t lo2, uint64_t hi2) {
  return lo < hi2 && lo2 < hi;
}

/// Where the rows x cols elements at `off` (rows `stride` apart) start in
/// `l`, when every one of them is among its elements: row `r0`, column
/// `c0`.
static bool holds(const LazyLoad &l, uint64_t off, uint64_t stride,
                  uint64_t rows, uint64_t cols, uint64_t &r0, uint64_t &c0) {
  if (off < l.sramOff || !rows || !cols)
    return false;
  uint64_t delta = off - l.sramOff;
  // A load of several rows has sramStride >= cols >= 1 (its rows do not
  // overlap); stride 0 repeats one row.
  r0 = l.rows == 1 ? 0 : delta / l.sramStride;
  c0 = l.rows == 1 ? delta : delta % l.sramStride;
  if (c0 + cols > l.cols)
    return false;
  bool oneRow = rows == 1 || stride == 0;
  if (!oneRow && (l.rows == 1 || stride != l.sramStride))
    return false;
  return r0 + (oneRow ? 0 : rows - 1) < l.rows;
}

template <typename Copy, typename Drop>
void Machine::settle(Buffer b, Copy copy, Drop drop) {
  std::vector<LazyLoad> &loads = lazy[unsigned(b)];
  float *dst = fbufs[unsigned(b)].data();
  llvm::erase_if(loads, [&](const LazyLoad &l) {
    if (drop(l))
      return true;
    if (!copy(l))
      return false;
    for (uint64_t r = 0; r < l.rows; ++r)
      std::memcpy(dst + l.sramOff + r * l.sramStride,
                  dram.forRead(l.dramAddr + r * l.dramStride, 4 * l.cols),
                  4 * l.cols);
    return true;
  });
}

uint8_t *Machine::dramForWrite(uint64_t addr, uint64_t n) {
  for (unsigned b = 0; b < isa::kNumBuffers; ++b)
    if (!lazy[b].empty())
      settle(
          Buffer(b),
          [&](const LazyLoad &l) {
            return overlaps(l.dramAddr, l.dramEnd(), addr, addr + n);
          },
          [](const LazyLoad &) { return false; });
  return dram.forWrite(addr, n);
}

std::vector<float> &Machine::buffer(Buffer b, uint64_t lo, uint64_t hi) {
  if (!lazy[unsigned(b)].empty())
    settle(
        b,
        [&](const LazyLoad &l) {
          return overlaps(l.sramOff, l.sramEnd(), lo, hi);
        },
        [](const LazyLoad &) { return false; });
  return fbufs[unsigned(b)];
}

std::vector<float> &Machine::bufferForOverwrite(Buffer b, uint64_t off,
                                                uint64_t stride, uint64_t rows,
                                                uint64_t cols) {
  if (!rows || !cols || lazy[unsigned(b)].empty())
    return fbufs[unsigned(b)];
  uint64_t hi = off + (rows - 1) * stride + cols;
  settle(
      b,
      [&](const LazyLoad &l) {
        return overlaps(l.sramOff, l.sramEnd(), off, hi);
      },
      [&](const LazyLoad &l) {
        // Every element of `l` is overwritten when `l`'s rows lie inside
        // the written rows.
        LazyLoad written{off, stride, rows, cols, 0, 0};
        uint64_t r0, c0;
        return holds(written, l.sramOff, l.sramStride, l.rows, l.cols, r0, c0);
      });
  return fbufs[unsigned(b)];
}

bool Machine::loadLazily(Buffer b, const LazyLoad &l) {
  // A float read in place must be 4-byte aligned.
  bool aligned = l.dramAddr % 4 == 0 && (l.rows == 1 || l.dramStride % 4 == 0);
  if (!aligned || l.rows * l.cols * 4 < kMinLazyBytes)
    return false;
  bufferForOverwrite(b, l.sramOff, l.sramStride, l.rows, l.cols);
  std::vector<LazyLoad> &loads = lazy[unsigned(b)];
  if (loads.size() == kMaxLazyLoads) {
    const LazyLoad oldest = loads.front();
    buffer(b, oldest.sramOff, oldest.sramOff + 1);
  }
  loads.push_back(l);
  return true;
}

const float *Machine::lazyRows(Buffer b, uint64_t off, uint64_t stride,
                               uint64_t rows, uint64_t cols,
                               uint64_t &rowStride) {
  for (const LazyLoad &l : lazy[unsigned(b)]) {
    uint64_t r0, c0;
    if (!holds(l, off, stride, rows, cols, r0, c0))
      continue;
    rowStride = rows == 1 || stride == 0 ? 0 : l.dramStride / 4;
    uint64_t first = l.dramAddr + r0 * l.dramStride + 4 * c0;
    uint64_t span = (rows - 1) * rowStride * 4 + 4 * cols;
    return reinterpret_cast<const float *>(dram.forRead(first, span));
  }
  return nullptr;
}

//===- Machine.cpp - DRAM with copy-on-write .rodata, SRAM buffers --------===//

#include "Machine.h"
#include "SimError.h"

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

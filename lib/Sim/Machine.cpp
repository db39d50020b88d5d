//===- Machine.cpp - DRAM with copy-on-write .rodata, SRAM buffers --------===//

#include "Machine.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cstring>

using namespace spatten;
using namespace spatten::sim;
using isa::Buffer;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

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
  auto dram = Dram::create(manifest.dramSize, image.rodata.contiguous(),
                           manifest.rodataBase);
  if (!dram)
    return dram.takeError();
  m->dram = std::move(*dram);
  try {
    for (unsigned b = 0; b < isa::kNumBuffers; ++b)
      if (Buffer(b) != Buffer::Idx)
        m->fbufs[b].assign(manifest.hardware.bufferElems(Buffer(b)), 0.0f);
    m->idx.assign(manifest.hardware.bufferElems(Buffer::Idx), 0);
  } catch (const std::bad_alloc &) {
    return makeError("cannot allocate the SRAM buffers of the manifest's "
                     "hardware configuration");
  }
  return std::move(m);
}

void Machine::startRun() {
  for (std::vector<float> &b : fbufs)
    std::fill(b.begin(), b.end(), 0.0f);
  std::fill(idx.begin(), idx.end(), 0);
  for (std::vector<MsbCode> &codes : msbCodes)
    codes.clear();
  pq = PqPending();
  predicate = false;
  deferred = DeferredValues();
  fill = FillStatistics();
  lastAttn.reset();
  rep = Report();
}

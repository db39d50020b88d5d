//===- SpBinFuzzer.cpp - Fuzz the .spbin loader, manifest and a run -------===//
//
// Input: a .spbin. It is loaded as spatten-sim loads it (binary::readImage:
// the ELF container, the manifest, the ranges), disassembled as
// spatten-objdump -d does, and its manifest must survive the trip through
// JSON that spatten-objdump --manifest prints. Then the simulator is set up
// (when the manifest's DRAM and SRAM fit the fuzz bounds), every input of
// the first entry point is bound to zeros, and its first kMaxSteps
// instructions execute; the outputs and the report are read back.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Disasm.h"

#include "llvm/Support/MemoryBufferRef.h"

using namespace spatten;

static void checkManifestRoundTrip(const binary::Manifest &manifest) {
  llvm::json::Value json = manifest.toJSON();
  auto again = binary::Manifest::fromJSON(json);
  fuzz::check(bool(again), "an accepted manifest's JSON is refused");
  fuzz::check(again->toJSON() == json,
              "an accepted manifest's JSON reads back different");
}

/// Binds every input of the selected entry point to zeros.
static bool bindZeroInputs(sim::Simulator &sim) {
  for (const binary::TensorInfo &t : sim.entryPoint().inputs) {
    auto type = sim::parseElemType(t.dtype);
    fuzz::check(bool(type), "the manifest reader let a bad dtype through");
    if (llvm::Error e =
            sim.setInput(t.name, sim::HostTensor::zeros(*type, t.shape))) {
      llvm::consumeError(std::move(e));
      return false;
    }
  }
  return true;
}

/// The simulator takes the image; `text` is a copy of its .text.
static void runFirstEntry(binary::Image image,
                          llvm::ArrayRef<uint8_t> text) {
  auto sim = sim::Simulator::create(std::move(image));
  if (!sim) {
    llvm::consumeError(sim.takeError());
    return;
  }
  if (!bindZeroInputs(**sim))
    return;
  fuzz::runFirstInstructions(**sim, text, (*sim)->entryPoint().entry);
  for (const binary::TensorInfo &t : (*sim)->entryPoint().outputs) {
    auto value = (*sim)->getOutput(t.name);
    if (!value)
      llvm::consumeError(value.takeError());
  }
  (void)(*sim)->report().toJSON((*sim)->timingConfig());
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  auto image = binary::readImage(llvm::MemoryBufferRef(bytes, "input.spbin"));
  if (!image) {
    llvm::consumeError(image.takeError());
    return 0;
  }
  for (size_t i = 0; i < image->text.size() / isa::kInstrBytes; ++i)
    (void)isa::formatInstructionAt(image->text, i);
  checkManifestRoundTrip(image->manifest);
  if (image->manifest.dramSize <= fuzz::kMaxDramBytes &&
      fuzz::sramFits(image->manifest.hardware)) {
    std::vector<uint8_t> text = image->text;
    runFirstEntry(std::move(*image), text);
  }
  return 0;
}

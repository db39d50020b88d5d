//===- HardwareConfigFuzzer.cpp - Fuzz the hardware configuration JSON ----===//
//
// Input: a `--hw` JSON file. It is read as the tools read it
// (HardwareConfig::parse). An accepted configuration must survive the trip
// through a binary's manifest (toJSON, then fromJSON, to the same JSON), and
// the simulator must set up its timing model with it and execute a `halt`.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "spatten/Support/HardwareConfig.h"

#include "../Unit/SimTestUtil.h"

using namespace spatten;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  auto config = HardwareConfig::parse(text, "input.json");
  if (!config) {
    llvm::consumeError(config.takeError());
    return 0;
  }
  llvm::json::Value json = config->toJSON();
  auto again = HardwareConfig::fromJSON(json);
  fuzz::check(bool(again), "an accepted configuration's JSON is refused");
  fuzz::check(again->toJSON() == json,
              "an accepted configuration's JSON reads back different");

  binary::Image image = test::haltImage(4096);
  std::vector<uint8_t> haltText = image.text;
  if (fuzz::sramFits(*config))
    image.manifest.hardware = *config;
  auto sim = sim::Simulator::create(std::move(image), *config);
  if (!sim) {
    llvm::consumeError(sim.takeError());
    return 0;
  }
  // Stepped on this thread: run()'s retire thread costs more than a halt.
  fuzz::runFirstInstructions(**sim, haltText, 0);
  return 0;
}

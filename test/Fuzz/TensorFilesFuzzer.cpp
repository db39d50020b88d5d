//===- TensorFilesFuzzer.cpp - Fuzz the .npy and TensorProto readers ------===//
//
// Input: the bytes of an `--input` file of spatten-sim. Both readers parse
// every input (hostio::parseNpy, parseTensorProto); a tensor either reads
// is written as .npy, as spatten-sim writes its outputs, and must read back
// unchanged.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "spatten/HostIO/TensorFiles.h"

using namespace spatten;

static void checkRoundTrip(llvm::Expected<sim::HostTensor> tensor) {
  if (!tensor) {
    llvm::consumeError(tensor.takeError());
    return;
  }
  auto again = hostio::parseNpy(hostio::serializeNpy(*tensor), "written.npy");
  fuzz::check(bool(again), "a tensor written as .npy does not read back");
  fuzz::check(again->type == tensor->type && again->shape == tensor->shape &&
                  again->data == tensor->data,
              "a tensor written as .npy reads back different");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  checkRoundTrip(hostio::parseNpy(bytes, "input.npy"));
  checkRoundTrip(hostio::parseTensorProto(bytes, "input.pb"));
  return 0;
}

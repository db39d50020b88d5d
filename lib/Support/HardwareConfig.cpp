//===- HardwareConfig.cpp - Presets and JSON for the hardware config -----===//
//
// The JSON keys are the snake_case names documented on each field of
// HardwareConfig. One table (kUnsignedFields) maps keys to members so that
// parsing, printing and docs/HardwareConfig.md cannot drift apart.
//
//===----------------------------------------------------------------------===//

#include "spatten/Support/HardwareConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

using namespace spatten;
using llvm::Error;
using llvm::Expected;

namespace {

llvm::Error fieldError(llvm::StringRef field, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "hardware config field '" + field +
                                     "': " + msg);
}

/// A 32-bit unsigned field of HardwareConfig and its JSON key.
struct UnsignedField {
  llvm::StringLiteral key;
  unsigned HardwareConfig::*member;
};

constexpr UnsignedField kUnsignedFields[] = {
    {"qk_multipliers", &HardwareConfig::qkMultipliers},
    {"pv_multipliers", &HardwareConfig::pvMultipliers},
    {"softmax_units", &HardwareConfig::softmaxUnits},
    {"topk_comparators", &HardwareConfig::topkComparators},
    {"max_keys_per_fill", &HardwareConfig::maxKeysPerFill},
    {"gemm_multipliers", &HardwareConfig::gemmMultipliers},
    {"vector_lanes", &HardwareConfig::vectorLanes},
    {"dram_channels", &HardwareConfig::dramChannels},
    {"dram_transaction_bytes", &HardwareConfig::dramTransactionBytes},
    {"dram_latency_cycles", &HardwareConfig::dramLatencyCycles},
};

std::string bufferKey(unsigned b) {
  return std::string(isa::kBufferNames[b]) + "_buffer_bytes";
}

/// Reads a positive integer no larger than `max` from `v`.
Expected<uint64_t> readPositive(llvm::StringRef key, const llvm::json::Value &v,
                                uint64_t max) {
  std::optional<int64_t> i = v.getAsInteger();
  if (!i)
    return fieldError(key, "expected an integer");
  if (*i <= 0)
    return fieldError(key, llvm::formatv("must be positive, got {0}", *i));
  if (uint64_t(*i) > max)
    return fieldError(key,
                      llvm::formatv("{0} is out of range (maximum {1})", *i, max));
  return uint64_t(*i);
}

/// Cross-field rules: each error names the field that must change.
Error checkConsistency(const HardwareConfig &c) {
  if (c.softmaxUnits > c.qkMultipliers)
    return fieldError("softmax_units",
                      llvm::formatv("{0} exceeds qk_multipliers ({1}): a softmax "
                                    "unit consumes at least one Q*K product",
                                    c.softmaxUnits, c.qkMultipliers));
  if (!llvm::isPowerOf2_32(c.dramTransactionBytes))
    return fieldError("dram_transaction_bytes",
                      llvm::formatv("{0} is not a power of two",
                                    c.dramTransactionBytes));
  // SRAM operands address elements with a 24-bit offset (isa::Spec.h).
  const uint64_t maxElems = uint64_t(1) << 24;
  for (unsigned b = 0; b < isa::kNumBuffers; ++b) {
    uint64_t bytes = c.bufferBytes[b];
    if (bytes % 4)
      return fieldError(bufferKey(b),
                        llvm::formatv("{0} is not a multiple of 4 (buffers hold "
                                      "32-bit elements)",
                                      bytes));
    if (bytes / 4 > maxElems)
      return fieldError(bufferKey(b),
                        llvm::formatv("{0} bytes exceed the 24-bit element "
                                      "offset of SRAM operands ({1} bytes)",
                                      bytes, maxElems * 4));
  }
  return Error::success();
}

Error applyKey(HardwareConfig &c, llvm::StringRef key,
               const llvm::json::Value &v) {
  if (key == "name") {
    std::optional<llvm::StringRef> s = v.getAsString();
    if (!s)
      return fieldError(key, "expected a string");
    c.name = s->str();
    return Error::success();
  }
  if (key == "clock_ghz") {
    std::optional<double> d = v.getAsNumber();
    if (!d)
      return fieldError(key, "expected a number");
    if (!std::isfinite(*d) || *d <= 0 || *d > 100)
      return fieldError(key, llvm::formatv("{0} is out of range (0, 100]", *d));
    c.clockGHz = *d;
    return Error::success();
  }
  if (key == "dram_bytes") {
    // dram_addr is a 48-bit field (isa::kDmaFields).
    auto n = readPositive(key, v, uint64_t(1) << 48);
    if (!n)
      return n.takeError();
    c.dramBytes = *n;
    return Error::success();
  }
  for (const UnsignedField &f : kUnsignedFields) {
    if (key != f.key)
      continue;
    auto n = readPositive(key, v, uint64_t(1) << 24);
    if (!n)
      return n.takeError();
    c.*f.member = unsigned(*n);
    return Error::success();
  }
  for (unsigned b = 0; b < isa::kNumBuffers; ++b) {
    if (key != bufferKey(b))
      continue;
    auto n = readPositive(key, v, uint64_t(1) << 32);
    if (!n)
      return n.takeError();
    c.bufferBytes[b] = *n;
    return Error::success();
  }
  return fieldError(key, "unknown field");
}

HardwareConfig makeOneEighth() {
  // The paper's SpAtten-1/8: 1/8 of the computation resources and memory
  // bandwidth (used to compare with A3 and MNNFast).
  HardwareConfig c;
  c.name = "spatten-1/8";
  c.qkMultipliers = 64;
  c.pvMultipliers = 64;
  c.softmaxUnits = 1;
  c.gemmMultipliers = 1024 / 8;
  c.vectorLanes = 64 / 8;
  c.dramChannels = 2;
  return c;
}

} // namespace

Expected<HardwareConfig> HardwareConfig::preset(llvm::StringRef name) {
  if (name == "spatten")
    return HardwareConfig();
  if (name == "spatten-1/8" || name == "spatten-1_8")
    return makeOneEighth();
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      "unknown hardware preset '" + name +
          "' (known presets: spatten, spatten-1/8)");
}

Expected<HardwareConfig> HardwareConfig::fromJSON(const llvm::json::Value &v,
                                                  HardwareConfig base) {
  const llvm::json::Object *obj = v.getAsObject();
  if (!obj)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "hardware config: expected a JSON object");
  // "preset" selects the base before the other keys override it.
  if (const llvm::json::Value *p = obj->get("preset")) {
    std::optional<llvm::StringRef> s = p->getAsString();
    if (!s)
      return fieldError("preset", "expected a string");
    auto pre = preset(*s);
    if (!pre)
      return fieldError("preset", llvm::toString(pre.takeError()));
    base = *pre;
  }
  // Sorted keys make the first reported error deterministic.
  std::vector<llvm::StringRef> keys;
  for (const auto &kv : *obj)
    keys.push_back(kv.first);
  llvm::sort(keys);
  for (llvm::StringRef key : keys) {
    if (key == "preset")
      continue;
    if (Error e = applyKey(base, key, *obj->get(key)))
      return std::move(e);
  }
  if (Error e = checkConsistency(base))
    return std::move(e);
  return base;
}

Expected<HardwareConfig> HardwareConfig::fromJSON(const llvm::json::Value &v) {
  return fromJSON(v, HardwareConfig());
}

Expected<HardwareConfig> HardwareConfig::load(llvm::StringRef presetOrPath) {
  if (!presetOrPath.ends_with(".json"))
    return preset(presetOrPath);
  auto buf = llvm::MemoryBuffer::getFile(presetOrPath, /*IsText=*/true);
  if (!buf)
    return llvm::createStringError(buf.getError(),
                                   "cannot read hardware config '" +
                                       presetOrPath +
                                       "': " + buf.getError().message());
  auto json = llvm::json::parse((*buf)->getBuffer());
  if (!json)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "hardware config '" + presetOrPath +
                                       "': invalid JSON: " +
                                       llvm::toString(json.takeError()));
  auto cfg = fromJSON(*json);
  if (!cfg)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   presetOrPath + ": " +
                                       llvm::toString(cfg.takeError()));
  return cfg;
}

llvm::json::Value HardwareConfig::toJSON() const {
  llvm::json::Object o;
  o["name"] = name;
  o["clock_ghz"] = clockGHz;
  for (const UnsignedField &f : kUnsignedFields)
    o[f.key] = int64_t(this->*f.member);
  o["dram_bytes"] = int64_t(dramBytes);
  for (unsigned b = 0; b < isa::kNumBuffers; ++b)
    o[bufferKey(b)] = int64_t(bufferBytes[b]);
  return o;
}

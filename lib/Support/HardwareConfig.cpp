//===- HardwareConfig.cpp - Presets and JSON for the hardware config -----===//
//
// The JSON keys are the snake_case names documented on each field of
// HardwareConfig. Tables (kUnsignedFields, kEnergyFields) map keys to
// members so that parsing and printing cannot drift apart; the presets are
// configs/*.json, embedded by lib/Support/CMakeLists.txt, and must spell out
// every key that toJSON prints.
//
//===----------------------------------------------------------------------===//

#include "spatten/Support/HardwareConfig.h"
#include "spatten/Support/InputFiles.h"

#include "HardwareConfigPresets.inc"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <sstream>
#include <vector>

using namespace spatten;
using llvm::Error;
using llvm::Expected;

Error spatten::configFieldError(llvm::StringRef field, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "hardware config field '" + field +
                                     "': " + msg);
}

namespace {

/// A 32-bit unsigned field of HardwareConfig and its JSON key (the dram_*
/// keys of the HBM model are HbmTiming::fields()).
struct UnsignedField {
  llvm::StringLiteral key;
  unsigned HardwareConfig::*member;
};

constexpr UnsignedField kUnsignedFields[] = {
    {"multipliers", &HardwareConfig::multipliers},
    {"qk_multipliers", &HardwareConfig::qkMultipliers},
    {"pv_multipliers", &HardwareConfig::pvMultipliers},
    {"softmax_units", &HardwareConfig::softmaxUnits},
    {"topk_comparators", &HardwareConfig::topkComparators},
    {"value_topk_engines", &HardwareConfig::valueTopkEngines},
    {"max_keys_per_fill", &HardwareConfig::maxKeysPerFill},
    {"crossbar_inputs", &HardwareConfig::crossbarInputs},
    {"crossbar_outputs", &HardwareConfig::crossbarOutputs},
    {"pipeline_queue_depth", &HardwareConfig::pipelineQueueDepth},
    {"gemm_multipliers", &HardwareConfig::gemmMultipliers},
    {"vector_lanes", &HardwareConfig::vectorLanes},
    {"dram_latency_cycles", &HardwareConfig::dramLatencyCycles},
};

/// An entry of the energy table and its key inside the `energy` object.
struct EnergyField {
  llvm::StringLiteral key;
  EnergyEntry EnergyTable::*member;
};

constexpr EnergyField kEnergyFields[] = {
    {"dram_read_pj_per_byte", &EnergyTable::dramReadPerByte},
    {"dram_write_pj_per_byte", &EnergyTable::dramWritePerByte},
    {"sram_read_pj_per_byte", &EnergyTable::sramReadPerByte},
    {"sram_write_pj_per_byte", &EnergyTable::sramWritePerByte},
    {"attn_mac_pj", &EnergyTable::attnMac},
    {"softmax_op_pj", &EnergyTable::softmaxOp},
    {"topk_compare_pj", &EnergyTable::topkCompare},
    {"gemm_mac_pj", &EnergyTable::gemmMac},
    {"vector_op_pj", &EnergyTable::vectorOp},
};

/// The presets, in the order embeddedPreset indexes them. `alias` is the
/// spelling usable in file names.
struct PresetText {
  llvm::StringLiteral name;
  llvm::StringLiteral alias;
  llvm::StringLiteral file;
  const char *text;
};

const PresetText kPresets[] = {
    {"spatten", "spatten", "configs/spatten.json", kSpattenPresetJson},
    {"spatten-1/8", "spatten-1_8", "configs/spatten-1_8.json",
     kSpattenOneEighthPresetJson},
};

std::string bufferKey(unsigned b) {
  return std::string(isa::kBufferNames[b]) + "_buffer_bytes";
}

/// Reads a positive integer no larger than `max` from `v`.
Expected<uint64_t> readPositive(llvm::StringRef key, const llvm::json::Value &v,
                                uint64_t max) {
  std::optional<int64_t> i = v.getAsInteger();
  if (!i)
    return configFieldError(key, "expected an integer");
  if (*i <= 0)
    return configFieldError(key,
                            llvm::formatv("must be positive, got {0}", *i));
  if (uint64_t(*i) > max)
    return configFieldError(
        key, llvm::formatv("{0} is out of range (maximum {1})", *i, max));
  return uint64_t(*i);
}

/// `d` as a person writes it (-0.1, not -1.000000e-01).
std::string shortNumber(double d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

/// Reads one energy entry: a number of pJ, or {"pj": number, "source":
/// string}. A bare number has no source.
Error readEnergyEntry(llvm::StringRef key, const llvm::json::Value &v,
                      EnergyEntry &e) {
  const llvm::json::Value *pj = &v;
  e.source.clear();
  if (const llvm::json::Object *o = v.getAsObject()) {
    for (const auto &kv : *o)
      if (kv.first != "pj" && kv.first != "source")
        return configFieldError((key + "." + llvm::StringRef(kv.first)).str(),
                                "unknown field");
    pj = o->get("pj");
    if (!pj)
      return configFieldError((key + ".pj").str(), "missing");
    if (const llvm::json::Value *s = o->get("source")) {
      std::optional<llvm::StringRef> str = s->getAsString();
      if (!str)
        return configFieldError((key + ".source").str(), "expected a string");
      e.source = str->str();
    }
  }
  std::optional<double> d = pj->getAsNumber();
  if (!d)
    return configFieldError(key, "expected a number of pJ or an object "
                                 "{\"pj\": number, \"source\": string}");
  // 1 uJ per access or operation is far beyond any real figure.
  if (!std::isfinite(*d) || *d < 0 || *d > 1e6)
    return configFieldError(key,
                            shortNumber(*d) + " pJ is out of range [0, 1e6]");
  e.pj = *d;
  return Error::success();
}

/// Sorted keys of `obj`, so that the first reported error is deterministic.
std::vector<llvm::StringRef> sortedKeys(const llvm::json::Object &obj) {
  std::vector<llvm::StringRef> keys;
  for (const auto &kv : obj)
    keys.push_back(kv.first);
  llvm::sort(keys);
  return keys;
}

Error applyEnergy(EnergyTable &t, const llvm::json::Value &v) {
  const llvm::json::Object *obj = v.getAsObject();
  if (!obj)
    return configFieldError("energy", "expected an object");
  for (llvm::StringRef key : sortedKeys(*obj)) {
    const EnergyField *f = llvm::find_if(
        kEnergyFields, [&](const EnergyField &f) { return f.key == key; });
    std::string name = ("energy." + key).str();
    if (f == std::end(kEnergyFields))
      return configFieldError(name, "unknown field");
    if (Error e = readEnergyEntry(name, *obj->get(key), t.*f->member))
      return e;
  }
  return Error::success();
}

Error applyScalar(HardwareConfig &c, llvm::StringRef key,
                  const llvm::json::Value &v, bool &known) {
  known = true;
  if (key == "name") {
    std::optional<llvm::StringRef> s = v.getAsString();
    if (!s)
      return configFieldError(key, "expected a string");
    c.name = s->str();
    return Error::success();
  }
  if (key == "clock_ghz") {
    std::optional<double> d = v.getAsNumber();
    if (!d)
      return configFieldError(key, "expected a number");
    if (!std::isfinite(*d) || *d <= 0 || *d > 100)
      return configFieldError(
          key, llvm::formatv("{0} is out of range (0, 100]", *d));
    c.clockGHz = *d;
    return Error::success();
  }
  if (key == "double_buffered") {
    std::optional<bool> b = v.getAsBoolean();
    if (!b)
      return configFieldError(key, "expected true or false");
    c.doubleBuffered = *b;
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
  if (key == "energy")
    return applyEnergy(c.energy, v);
  known = false;
  return Error::success();
}

Error applyKey(HardwareConfig &c, llvm::StringRef key,
               const llvm::json::Value &v) {
  bool known = false;
  if (Error e = applyScalar(c, key, v, known); e || known)
    return e;
  auto readUnsigned = [&](unsigned &member) -> Error {
    auto n = readPositive(key, v, uint64_t(1) << 24);
    if (!n)
      return n.takeError();
    member = unsigned(*n);
    return Error::success();
  };
  for (const UnsignedField &f : kUnsignedFields)
    if (key == f.key)
      return readUnsigned(c.*f.member);
  for (const HbmTiming::FieldSpec &f : HbmTiming::fields())
    if (key == f.key)
      return readUnsigned(c.hbm.*f.member);
  for (unsigned b = 0; b < isa::kNumBuffers; ++b) {
    if (key != bufferKey(b))
      continue;
    auto n = readPositive(key, v, uint64_t(1) << 32);
    if (!n)
      return n.takeError();
    c.bufferBytes[b] = *n;
    return Error::success();
  }
  return configFieldError(key, "unknown field");
}

/// Applies every key of `obj` except "preset" (handled by the caller).
Error applyObject(HardwareConfig &c, const llvm::json::Object &obj) {
  for (llvm::StringRef key : sortedKeys(obj)) {
    if (key == "preset")
      continue;
    if (Error e = applyKey(c, key, *obj.get(key)))
      return e;
  }
  return Error::success();
}

/// The attention engine's cross-field rules.
Error checkEngine(const HardwareConfig &c) {
  if (c.multipliers != c.qkMultipliers + c.pvMultipliers)
    return configFieldError(
        "multipliers",
        llvm::formatv("{0} is not qk_multipliers ({1}) + pv_multipliers ({2}) "
                      "= {3}",
                      c.multipliers, c.qkMultipliers, c.pvMultipliers,
                      c.qkMultipliers + c.pvMultipliers));
  if (c.softmaxUnits > c.qkMultipliers)
    return configFieldError(
        "softmax_units",
        llvm::formatv("{0} exceeds qk_multipliers ({1}): a softmax unit "
                      "consumes at least one Q*K product",
                      c.softmaxUnits, c.qkMultipliers));
  if (c.crossbarOutputs != c.hbm.channels)
    return configFieldError(
        "crossbar_outputs",
        llvm::formatv("{0} is not dram_channels ({1}): the fetcher's crossbar "
                      "has one output per channel",
                      c.crossbarOutputs, c.hbm.channels));
  return Error::success();
}

Error checkBuffers(const HardwareConfig &c) {
  // SRAM operands address elements with a 24-bit offset (isa::Spec.h).
  const uint64_t maxElems = uint64_t(1) << 24;
  for (unsigned b = 0; b < isa::kNumBuffers; ++b) {
    uint64_t bytes = c.bufferBytes[b];
    if (bytes % 4)
      return configFieldError(
          bufferKey(b), llvm::formatv("{0} is not a multiple of 4 (buffers "
                                      "hold 32-bit elements)",
                                      bytes));
    // K and V hold elements down to the narrowest fixed-point width.
    bool narrow = HardwareConfig::holdsLoadedWidth(isa::Buffer(b));
    unsigned bits = narrow ? isa::kMinFixedPointBits : isa::kWordBits;
    if (c.bufferElems(isa::Buffer(b), bits) > maxElems)
      return configFieldError(
          bufferKey(b),
          llvm::formatv("{0} bytes exceed the 24-bit element offset of SRAM "
                        "operands ({1} bytes{2})",
                        bytes, maxElems * bits / 8,
                        narrow ? llvm::formatv(" of {0}-bit elements", bits).str()
                               : std::string()));
  }
  if (!c.doubleBuffered)
    return Error::success();
  for (isa::Buffer b : {isa::Buffer::K, isa::Buffer::V})
    if (c.bufferBytes[unsigned(b)] % 8)
      return configFieldError(
          bufferKey(unsigned(b)),
          llvm::formatv("{0} does not split into two halves of 32-bit "
                        "elements (double_buffered)",
                        c.bufferBytes[unsigned(b)]));
  return Error::success();
}

/// Cross-field rules: each error names the field that must change.
Error checkConsistency(const HardwareConfig &c) {
  if (Error e = checkEngine(c))
    return e;
  if (Error e = c.hbm.validate())
    return e;
  return checkBuffers(c);
}

/// A preset file spells out every field, with a cited source for every
/// energy figure, so that the file alone documents the design.
Error checkComplete(const llvm::json::Object &obj,
                    const llvm::json::Object &all) {
  if (obj.get("preset"))
    return configFieldError("preset",
                            "a preset file cannot name a base preset");
  for (llvm::StringRef key : sortedKeys(all))
    if (!obj.get(key))
      return configFieldError(key, "missing (a preset spells out every field)");
  const llvm::json::Object *energy = obj.getObject("energy");
  for (const EnergyField &f : kEnergyFields) {
    const llvm::json::Object *e = energy ? energy->getObject(f.key) : nullptr;
    if (!e || !e->getString("source") || e->getString("source")->empty())
      return configFieldError(("energy." + f.key).str(),
                              "a preset gives {\"pj\": ..., \"source\": ...}");
  }
  return Error::success();
}

} // namespace

HardwareConfig::HardwareConfig() : HardwareConfig(embeddedPreset(0)) {}

Expected<HardwareConfig> HardwareConfig::parsePreset(llvm::StringRef file,
                                                     llvm::StringRef text) {
  auto fail = [&](Error e) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "embedded " + file + ": " +
                                       llvm::toString(std::move(e)));
  };
  auto json = parseJson(text);
  if (!json)
    return fail(json.takeError());
  const llvm::json::Object *obj = json->getAsObject();
  if (!obj)
    return fail(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                        "expected a JSON object"));
  HardwareConfig c{Blank{}};
  llvm::json::Value all = c.toJSON();
  if (Error e = checkComplete(*obj, *all.getAsObject()))
    return fail(std::move(e));
  if (Error e = applyObject(c, *obj))
    return fail(std::move(e));
  if (Error e = checkConsistency(c))
    return fail(std::move(e));
  return c;
}

const HardwareConfig &HardwareConfig::embeddedPreset(unsigned index) {
  // Parsed once; an invalid embedded preset is a build defect (the unit
  // tests parse both), not an input error, so it stops the program.
  static const std::vector<HardwareConfig> presets = [] {
    std::vector<HardwareConfig> v;
    for (const PresetText &p : kPresets) {
      auto c = parsePreset(p.file, p.text);
      if (!c)
        llvm::report_fatal_error(llvm::StringRef(toString(c.takeError())));
      v.push_back(std::move(*c));
    }
    return v;
  }();
  return presets[index];
}

Expected<HardwareConfig> HardwareConfig::preset(llvm::StringRef name) {
  for (unsigned i = 0; i < std::size(kPresets); ++i)
    if (name == kPresets[i].name || name == kPresets[i].alias)
      return embeddedPreset(i);
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
      return configFieldError("preset", "expected a string");
    auto pre = preset(*s);
    if (!pre)
      return configFieldError("preset", llvm::toString(pre.takeError()));
    base = *pre;
  }
  if (Error e = applyObject(base, *obj))
    return std::move(e);
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
  // A configuration is a few KB; 16 MiB bounds what a mistaken path costs.
  auto buf = readRegularFile(presetOrPath, /*isText=*/true, 16u << 20);
  if (!buf)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "hardware config: " +
                                       llvm::toString(buf.takeError()));
  return parse((*buf)->getBuffer(), presetOrPath);
}

Expected<HardwareConfig> HardwareConfig::parse(llvm::StringRef text,
                                               llvm::StringRef name) {
  auto json = parseJson(text);
  if (!json)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "hardware config '" + name +
                                       "': invalid JSON: " +
                                       llvm::toString(json.takeError()));
  auto cfg = fromJSON(*json);
  if (!cfg)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   name + ": " +
                                       llvm::toString(cfg.takeError()));
  return cfg;
}

llvm::json::Value HardwareConfig::toJSON() const {
  llvm::json::Object o;
  o["name"] = name;
  o["clock_ghz"] = clockGHz;
  o["double_buffered"] = doubleBuffered;
  for (const UnsignedField &f : kUnsignedFields)
    o[f.key] = int64_t(this->*f.member);
  for (const HbmTiming::FieldSpec &f : HbmTiming::fields())
    o[f.key] = int64_t(hbm.*f.member);
  o["dram_bytes"] = int64_t(dramBytes);
  for (unsigned b = 0; b < isa::kNumBuffers; ++b)
    o[bufferKey(b)] = int64_t(bufferBytes[b]);
  llvm::json::Object e;
  for (const EnergyField &f : kEnergyFields) {
    const EnergyEntry &entry = energy.*f.member;
    e[f.key] = llvm::json::Object{{"pj", entry.pj}, {"source", entry.source}};
  }
  o["energy"] = std::move(e);
  return o;
}

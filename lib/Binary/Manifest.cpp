//===- Manifest.cpp - The .spatten.meta manifest as JSON ------------------===//
//
// Reading checks every key's type and value and refuses unknown keys (they
// would be silently ignored otherwise); docs/BinaryFormat.md is the spec.
//
//===----------------------------------------------------------------------===//

#include "spatten/Binary/Manifest.h"
#include "Diagnostics.h"
#include "JsonFields.h"
#include "spatten/ISA/Spec.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

using namespace spatten;
using namespace spatten::binary;
using llvm::Error;
using llvm::Expected;
namespace json = llvm::json;

namespace {

/// The version that introduced `entries`, registers and `kv_cache`.
constexpr unsigned kFirstVersionWithEntries = 4;

//===--------------------------------------------------------------------===//
// Tensors and entry points.
//===--------------------------------------------------------------------===//

json::Value tensorToJSON(const TensorInfo &t) {
  json::Object o{{"name", t.name},
                 {"shape", shapeToJSON(t.shape)},
                 {"dtype", t.dtype},
                 {"dram_addr", int64_t(t.dramAddr)}};
  if (t.indexRows)
    o["index_rows"] = int64_t(*t.indexRows);
  if (t.indexRows && !t.indexWraps)
    o["index_wraps"] = false;
  if (t.valueRange)
    o["value_range"] = json::Array{t.valueRange->first, t.valueRange->second};
  return o;
}

json::Array tensorsToJSON(const std::vector<TensorInfo> &ts) {
  json::Array a;
  for (const TensorInfo &t : ts)
    a.push_back(tensorToJSON(t));
  return a;
}

Expected<TensorInfo> tensorFromJSON(const json::Value &v,
                                    const std::string &path) {
  auto o = objectWithKeys(&v, path,
                          {"name", "shape", "dtype", "dram_addr", "index_rows",
                           "index_wraps", "value_range"});
  if (!o)
    return o.takeError();
  TensorInfo t;
  std::optional<llvm::StringRef> name = (*o)->getString("name");
  if (!name || name->empty())
    return fieldError(path + ".name", "expected a non-empty string");
  t.name = name->str();
  auto dtype = dtypeFromJSON(**o, path);
  if (!dtype)
    return dtype.takeError();
  t.dtype = std::move(*dtype);
  auto shape = shapeFromJSON(**o, path, dtypeSize(t.dtype));
  if (!shape)
    return shape.takeError();
  t.shape = std::move(*shape);
  auto addr = getUInt(**o, "dram_addr", path + ".dram_addr");
  if (!addr)
    return addr.takeError();
  t.dramAddr = *addr;
  if ((*o)->get("index_rows")) {
    auto rows = getUInt(**o, "index_rows", path + ".index_rows");
    if (!rows)
      return rows.takeError();
    if (*rows == 0 || *rows > uint64_t(INT64_MAX) || t.dtype == "float32")
      return fieldError(path + ".index_rows",
                        "expected a positive row count on an integer tensor");
    t.indexRows = *rows;
  }
  if (const json::Value *wraps = (*o)->get("index_wraps")) {
    if (!wraps->getAsBoolean() || !t.indexRows)
      return fieldError(path + ".index_wraps",
                        "expected a boolean beside index_rows");
    t.indexWraps = *wraps->getAsBoolean();
  }
  if (const json::Value *range = (*o)->get("value_range")) {
    const json::Array *a = range->getAsArray();
    std::optional<int64_t> lo, hi;
    if (a && a->size() == 2) {
      lo = (*a)[0].getAsInteger();
      hi = (*a)[1].getAsInteger();
    }
    if (!lo || !hi || *lo > *hi || t.dtype == "float32")
      return fieldError(path + ".value_range",
                        "expected [lo, hi] with lo <= hi on an integer tensor");
    t.valueRange = {*lo, *hi};
  }
  return t;
}

/// The tensor list `key` of `o`; `prefix` is the path of `o`.
Expected<std::vector<TensorInfo>> tensorsFromJSON(const json::Object &o,
                                                  llvm::StringRef key,
                                                  const std::string &prefix) {
  std::string listPath = prefix + key.str();
  const json::Array *arr = o.getArray(key);
  if (!arr)
    return fieldError(listPath, "expected an array");
  std::vector<TensorInfo> out;
  llvm::StringSet<> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string path = llvm::formatv("{0}[{1}]", listPath, i).str();
    auto t = tensorFromJSON((*arr)[i], path);
    if (!t)
      return t.takeError();
    if (!names.insert(t->name).second)
      return fieldError(path + ".name", "duplicate tensor '" + t->name + "'");
    out.push_back(std::move(*t));
  }
  return out;
}

/// The optional `registers` list at `path`: unique non-empty names, at
/// most kMaxRegisters.
Expected<std::vector<std::string>> registersFromJSON(const json::Object &o,
                                                     const std::string &path) {
  const json::Value *v = o.get("registers");
  if (!v)
    return std::vector<std::string>();
  const json::Array *arr = v->getAsArray();
  if (!arr)
    return fieldError(path, "expected an array of strings");
  if (arr->size() > kMaxRegisters)
    return fieldError(path, llvm::formatv("{0} registers, at most {1}",
                                          arr->size(), kMaxRegisters));
  std::vector<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::optional<llvm::StringRef> name = (*arr)[i].getAsString();
    std::string p = llvm::formatv("{0}[{1}]", path, i).str();
    if (!name || name->empty())
      return fieldError(p, "expected a non-empty string");
    if (llvm::is_contained(names, *name))
      return fieldError(p, "duplicate register '" + *name + "'");
    names.push_back(name->str());
  }
  return names;
}

json::Value entryToJSON(const EntryPoint &e) {
  return json::Object{{"name", e.name},
                      {"entry", int64_t(e.entry)},
                      {"inputs", tensorsToJSON(e.inputs)},
                      {"outputs", tensorsToJSON(e.outputs)},
                      {"registers", json::Array(e.registers)}};
}

Expected<EntryPoint> entryFromJSON(const json::Value &v,
                                   const std::string &path) {
  auto o = objectWithKeys(&v, path,
                          {"name", "entry", "inputs", "outputs", "registers"});
  if (!o)
    return o.takeError();
  EntryPoint e;
  std::optional<llvm::StringRef> name = (*o)->getString("name");
  if (!name || name->empty())
    return fieldError(path + ".name", "expected a non-empty string");
  e.name = name->str();
  auto entry = getUInt(**o, "entry", path + ".entry");
  if (!entry)
    return entry.takeError();
  e.entry = *entry;
  auto ins = tensorsFromJSON(**o, "inputs", path + ".");
  if (!ins)
    return ins.takeError();
  auto outs = tensorsFromJSON(**o, "outputs", path + ".");
  if (!outs)
    return outs.takeError();
  auto regs = registersFromJSON(**o, path + ".registers");
  if (!regs)
    return regs.takeError();
  e.inputs = std::move(*ins);
  e.outputs = std::move(*outs);
  e.registers = std::move(*regs);
  return e;
}

/// The `entries` array: at least one entry point, names unique.
Expected<std::vector<EntryPoint>> entriesFromJSON(const json::Value &v) {
  const json::Array *arr = v.getAsArray();
  if (!arr || arr->empty())
    return fieldError("entries", "expected a non-empty array");
  std::vector<EntryPoint> entries;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string path = llvm::formatv("entries[{0}]", i).str();
    auto e = entryFromJSON((*arr)[i], path);
    if (!e)
      return e.takeError();
    for (const EntryPoint &prior : entries)
      if (prior.name == e->name)
        return fieldError(path + ".name", "duplicate entry '" + e->name + "'");
    entries.push_back(std::move(*e));
  }
  return entries;
}

/// The top-level `entry`, `inputs` and `outputs` are the first entry's.
Error checkFirstEntryMirrored(const Manifest &m) {
  const EntryPoint &first = m.entries.front();
  if (m.entry != first.entry)
    return fieldError("entry", llvm::formatv("{0} differs from "
                                             "entries[0].entry {1}",
                                             m.entry, first.entry));
  if (m.inputs != first.inputs)
    return fieldError("inputs", "differs from entries[0].inputs");
  if (m.outputs != first.outputs)
    return fieldError("outputs", "differs from entries[0].outputs");
  return Error::success();
}

//===--------------------------------------------------------------------===//
// KV cache.
//===--------------------------------------------------------------------===//

json::Value regionToJSON(const KVCacheRegion &r) {
  json::Object o{{"addr", int64_t(r.addr)},
                 {"shape", shapeToJSON(r.shape)},
                 {"dtype", r.dtype},
                 {"row_bytes", int64_t(r.rowBytes)}};
  if (r.bits != 32)
    o["bits"] = int64_t(r.bits);
  if (r.plane != "full") {
    o["plane"] = r.plane;
    o["lsb_bits"] = int64_t(r.lsbBits);
  }
  return o;
}

/// The plane a region's name gives (full when it has no other).
isa::Plane planeOf(const KVCacheRegion &r) {
  return r.plane == "msb"   ? isa::Plane::Msb
         : r.plane == "lsb" ? isa::Plane::Lsb
                            : isa::Plane::Full;
}

/// The bytes one cached row needs: D elements, or a fixed-point row.
uint64_t minRowBytes(const KVCacheRegion &r) {
  uint64_t d = uint64_t(r.shape[3]);
  return r.bits == 32 ? d * dtypeSize(r.dtype)
                      : isa::packedRowBytes(d, r.bits, planeOf(r), r.lsbBits);
}

/// `plane` and `lsb_bits`: an MSB or LSB plane splits fixed-point codes
/// 1..bits-1 bits from the bottom; a full row has no split.
Error readPlane(const json::Object &o, const std::string &path,
                KVCacheRegion &r) {
  if (const json::Value *v = o.get("plane")) {
    std::optional<llvm::StringRef> name = v->getAsString();
    if (!name || (*name != "full" && *name != "msb" && *name != "lsb"))
      return fieldError(path + ".plane", "expected full, msb or lsb");
    r.plane = name->str();
  }
  auto lsb = getUInt(o, "lsb_bits", path + ".lsb_bits", false, 0);
  if (!lsb)
    return lsb.takeError();
  r.lsbBits = *lsb;
  bool split = r.plane != "full";
  if (split != (r.lsbBits != 0) || (split && r.lsbBits >= r.bits))
    return fieldError(path + ".lsb_bits",
                      llvm::formatv("{0} for an {1} plane of {2}-bit codes",
                                    r.lsbBits, r.plane, r.bits));
  return Error::success();
}

/// A region of shape [1, H, maxContext, D] whose rows hold D elements and
/// whose extent fits in the DRAM address space.
Expected<KVCacheRegion> regionFromJSON(const json::Value *v,
                                       const std::string &path,
                                       uint64_t maxContext) {
  auto o = objectWithKeys(
      v, path,
      {"addr", "shape", "dtype", "row_bytes", "bits", "plane", "lsb_bits"});
  if (!o)
    return o.takeError();
  KVCacheRegion r;
  auto dtype = dtypeFromJSON(**o, path);
  if (!dtype)
    return dtype.takeError();
  r.dtype = std::move(*dtype);
  auto shape = shapeFromJSON(**o, path, dtypeSize(r.dtype));
  if (!shape)
    return shape.takeError();
  r.shape = std::move(*shape);
  if (r.shape.size() != 4 || r.shape[0] != 1 ||
      uint64_t(r.shape[2]) != maxContext)
    return fieldError(path + ".shape",
                      llvm::formatv("expected [1, heads, {0}, head_dim] "
                                    "(max_context positions)",
                                    maxContext));
  auto addr = getUInt(**o, "addr", path + ".addr");
  auto rowBytes = getUInt(**o, "row_bytes", path + ".row_bytes");
  if (!addr)
    return addr.takeError();
  if (!rowBytes)
    return rowBytes.takeError();
  auto bits = getUInt(**o, "bits", path + ".bits", /*required=*/false, 32);
  if (!bits)
    return bits.takeError();
  if (*bits != 32 && (*bits < 4 || *bits > 16 || r.dtype != "float32"))
    return fieldError(path + ".bits",
                      llvm::formatv("{0}: expected 4..16 (fixed-point rows "
                                    "of float32) or 32",
                                    *bits));
  r.addr = *addr;
  r.rowBytes = *rowBytes;
  r.bits = *bits;
  if (Error e = readPlane(**o, path, r))
    return std::move(e);
  if (r.rowBytes < minRowBytes(r))
    return fieldError(
        path + ".row_bytes",
        llvm::formatv("{0} bytes do not hold a row of {1} {2}{3}", r.rowBytes,
                      r.shape[3], r.dtype,
                      r.bits == 32 ? "" : " fixed-point values"));
  uint64_t rows = uint64_t(r.shape[1]) * maxContext; // bounded by the shape
  if (rows && r.rowBytes > kMaxDram / rows)
    return fieldError(path + ".row_bytes",
                      "region larger than the DRAM address space");
  return r;
}

//===--------------------------------------------------------------------===//
// Reading, piece by piece.
//===--------------------------------------------------------------------===//

/// `format_version`, `hardware`, `entry`, `num_instructions` and `dram`.
Error readHeader(const json::Object &o, Manifest &m) {
  auto version = getUInt(o, "format_version", "format_version");
  if (!version)
    return version.takeError();
  if (*version < kOldestFormatVersion || *version > kFormatVersion)
    return fieldError("format_version",
                      llvm::formatv("unsupported version {0} (this build reads "
                                    "versions {1} to {2})",
                                    *version, kOldestFormatVersion,
                                    kFormatVersion));
  m.version = unsigned(*version);
  const json::Value *hw = o.get("hardware");
  if (!hw)
    return fieldError("hardware", "missing");
  auto cfg = HardwareConfig::fromJSON(*hw);
  if (!cfg)
    return fieldError("hardware", llvm::toString(cfg.takeError()));
  m.hardware = *cfg;
  auto entry = getUInt(o, "entry", "entry", /*required=*/false);
  auto count = getUInt(o, "num_instructions", "num_instructions");
  if (!entry)
    return entry.takeError();
  if (!count)
    return count.takeError();
  m.entry = *entry;
  m.numInstructions = *count;
  auto dram = objectWithKeys(o.get("dram"), "dram", {"rodata_base", "size"});
  if (!dram)
    return dram.takeError();
  auto base = getUInt(**dram, "rodata_base", "dram.rodata_base");
  auto size = getUInt(**dram, "size", "dram.size");
  if (!base)
    return base.takeError();
  if (!size)
    return size.takeError();
  if (*size > kMaxDram)
    return fieldError("dram.size", "exceeds the 48-bit DRAM address space");
  m.rodataBase = *base;
  m.dramSize = *size;
  return Error::success();
}

/// `inputs`, `outputs`, `entries` (or the implicit `main`) and `kv_cache`.
Error readPrograms(const json::Object &o, Manifest &m) {
  auto ins = tensorsFromJSON(o, "inputs", "");
  if (!ins)
    return ins.takeError();
  auto outs = tensorsFromJSON(o, "outputs", "");
  if (!outs)
    return outs.takeError();
  m.inputs = std::move(*ins);
  m.outputs = std::move(*outs);
  for (llvm::StringRef key : {"entries", "kv_cache"})
    if (o.get(key) && m.version < kFirstVersionWithEntries)
      return fieldError(key, llvm::formatv("needs format_version 4, the "
                                           "binary has {0}",
                                           m.version));
  if (const json::Value *entries = o.get("entries")) {
    auto parsed = entriesFromJSON(*entries);
    if (!parsed)
      return parsed.takeError();
    m.entries = std::move(*parsed);
    if (Error e = checkFirstEntryMirrored(m))
      return e;
  } else {
    m.entries = {m.mainEntry()};
  }
  if (const json::Value *kv = o.get("kv_cache")) {
    auto parsed = KVCache::fromJSON(*kv);
    if (!parsed)
      return parsed.takeError();
    m.kvCache = std::move(*parsed);
  }
  return Error::success();
}

/// The `settings` record if there is one: every setting, of its type and
/// valid.
Expected<std::optional<SpAttenSettings>>
optionalSettings(const json::Object &o) {
  const json::Value *v = o.get("settings");
  if (!v)
    return std::nullopt;
  Expected<SpAttenSettings> settings = settingsFromJSON(*v, "settings");
  if (!settings)
    return fieldError("settings", llvm::toString(settings.takeError()));
  return std::optional<SpAttenSettings>(std::move(*settings));
}

Expected<json::Object> optionalObject(const json::Object &o,
                                      llvm::StringRef key) {
  const json::Value *v = o.get(key);
  if (!v)
    return json::Object();
  const json::Object *obj = v->getAsObject();
  if (!obj)
    return fieldError(key, "expected an object");
  return *obj;
}

//===--------------------------------------------------------------------===//
// Ranges.
//===--------------------------------------------------------------------===//

/// "[begin, end) beyond dram.size" for the `bytes` at `addr`, if they do
/// not fit.
std::optional<std::string> outsideDram(uint64_t addr, uint64_t bytes,
                                       uint64_t dramSize) {
  uint64_t end = addr + bytes;
  if (addr <= dramSize && end <= dramSize)
    return std::nullopt;
  return llvm::formatv("[{0:x}, {1:x}) beyond dram.size {2:x}", addr, end,
                       dramSize)
      .str();
}

Error checkTensorsInDram(const std::vector<TensorInfo> &ts,
                         llvm::StringRef key, uint64_t dramSize) {
  for (size_t i = 0; i < ts.size(); ++i)
    if (auto outside = outsideDram(ts[i].dramAddr, ts[i].bytes(), dramSize))
      return fieldError(llvm::formatv("{0}[{1}].dram_addr", key, i).str(),
                        "tensor '" + ts[i].name + "' occupies " + *outside);
  return Error::success();
}

Error checkEntryRanges(const EntryPoint &e, size_t index,
                       const Manifest &m) {
  std::string path = llvm::formatv("entries[{0}]", index).str();
  if (e.entry >= m.numInstructions)
    return fieldError(path + ".entry",
                      llvm::formatv("{0} is past the last instruction ({1})",
                                    e.entry, m.numInstructions - 1));
  if (Error err = checkTensorsInDram(e.inputs, path + ".inputs", m.dramSize))
    return err;
  return checkTensorsInDram(e.outputs, path + ".outputs", m.dramSize);
}

Error checkKVCacheInDram(const KVCache &kv, uint64_t dramSize) {
  for (size_t i = 0; i < kv.layers.size(); ++i)
    for (auto [name, region] : kv.layers[i].regions())
      if (auto outside = outsideDram(region->addr, region->bytes(), dramSize))
        return fieldError(
            llvm::formatv("kv_cache.layers[{0}].{1}.addr", i, name).str(),
            "region occupies " + *outside);
  return Error::success();
}

} // namespace

//===--------------------------------------------------------------------===//
// Public API.
//===--------------------------------------------------------------------===//

uint64_t TensorInfo::bytes() const {
  uint64_t n = dtypeSize(dtype);
  for (int64_t d : shape)
    n *= uint64_t(d);
  return n;
}

std::optional<unsigned>
EntryPoint::registerIndex(llvm::StringRef name) const {
  for (unsigned i = 0; i < registers.size(); ++i)
    if (registers[i] == name)
      return i;
  return std::nullopt;
}

uint64_t KVCacheRegion::bytes() const {
  if (shape.size() != 4)
    return 0;
  return uint64_t(shape[0]) * uint64_t(shape[1]) * uint64_t(shape[2]) *
         rowBytes;
}

json::Value KVCache::toJSON() const {
  json::Array list;
  for (const Layer &l : layers) {
    json::Object o;
    for (auto [name, region] : l.regions())
      o[name] = regionToJSON(*region);
    list.push_back(std::move(o));
  }
  return json::Object{{"max_context", int64_t(maxContext)},
                      {"layers", std::move(list)}};
}

Expected<KVCache> KVCache::fromJSON(const json::Value &v) {
  auto o = objectWithKeys(&v, "kv_cache", {"max_context", "layers"});
  if (!o)
    return o.takeError();
  KVCache kv;
  auto maxContext = getUInt(**o, "max_context", "kv_cache.max_context");
  if (!maxContext)
    return maxContext.takeError();
  if (*maxContext == 0)
    return fieldError("kv_cache.max_context", "must be positive");
  kv.maxContext = *maxContext;
  const json::Array *layers = (*o)->getArray("layers");
  if (!layers)
    return fieldError("kv_cache.layers", "expected an array");
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string path = llvm::formatv("kv_cache.layers[{0}]", i).str();
    auto layer =
        objectWithKeys(&(*layers)[i], path, {"k", "v", "k_lsb", "v_lsb"});
    if (!layer)
      return layer.takeError();
    auto k = regionFromJSON((*layer)->get("k"), path + ".k", kv.maxContext);
    if (!k)
      return k.takeError();
    auto val = regionFromJSON((*layer)->get("v"), path + ".v", kv.maxContext);
    if (!val)
      return val.takeError();
    Layer l{std::move(*k), std::move(*val), std::nullopt, std::nullopt};
    for (auto [name, msb, lsb] : {std::tuple("k_lsb", &l.k, &l.kLsb),
                                  std::tuple("v_lsb", &l.v, &l.vLsb)}) {
      bool split = msb->plane == "msb";
      if (!(*layer)->get(name)) {
        if (split)
          return fieldError(path + "." + name, "missing for an msb plane");
        continue;
      }
      auto r = regionFromJSON((*layer)->get(name), path + "." + name,
                              kv.maxContext);
      if (!r)
        return r.takeError();
      if (!split || r->plane != "lsb" || r->bits != msb->bits ||
          r->lsbBits != msb->lsbBits)
        return fieldError(path + "." + name,
                          "must be the lsb plane of an msb-plane region");
      *lsb = std::move(*r);
    }
    kv.layers.push_back(std::move(l));
  }
  return kv;
}

void Manifest::setEntries(std::vector<EntryPoint> entryPoints) {
  entries = std::move(entryPoints);
  entry = entries.front().entry;
  inputs = entries.front().inputs;
  outputs = entries.front().outputs;
}

EntryPoint Manifest::mainEntry() const {
  return EntryPoint{kMainEntryName.str(), entry, inputs, outputs, {}};
}

const EntryPoint *Manifest::findEntry(llvm::StringRef name) const {
  for (const EntryPoint &e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

unsigned Manifest::requiredVersion() const {
  bool single = entries.size() <= 1 &&
                (entries.empty() || entries.front().registers.empty());
  return single && !kvCache ? kOldestFormatVersion : kFirstVersionWithEntries;
}

json::Value Manifest::toJSON() const {
  json::Object object{
      {"format_version", int64_t(version)},
      {"hardware", hardware.toJSON()},
      {"entry", int64_t(entry)},
      {"num_instructions", int64_t(numInstructions)},
      {"dram", json::Object{{"rodata_base", int64_t(rodataBase)},
                            {"size", int64_t(dramSize)}}},
      {"inputs", tensorsToJSON(inputs)},
      {"outputs", tensorsToJSON(outputs)},
      {"extra", json::Object(extra)},
  };
  if (settings)
    object["settings"] = spatten::toJSON(*settings);
  if (version >= kFirstVersionWithEntries) {
    json::Array list;
    for (const EntryPoint &e :
         entries.empty() ? std::vector<EntryPoint>{mainEntry()} : entries)
      list.push_back(entryToJSON(e));
    object["entries"] = std::move(list);
  }
  if (kvCache)
    object["kv_cache"] = kvCache->toJSON();
  return object;
}

Expected<Manifest> Manifest::fromJSON(const json::Value &v) {
  const json::Object *o = v.getAsObject();
  if (!o)
    return makeError("manifest: expected a JSON object");
  if (Error e = rejectUnknownKeys(
          *o,
          {"format_version", "hardware", "entry", "num_instructions", "dram",
           "inputs", "outputs", "entries", "kv_cache", "settings", "extra",
           "pruning"},
          ""))
    return std::move(e);
  // Binaries written before the settings record carry an always-empty
  // `pruning` object; they stay readable, and it means nothing.
  if (const json::Value *legacy = o->get("pruning");
      legacy && !legacy->getAsObject())
    return fieldError("pruning", "expected an object");
  Manifest m;
  if (Error e = readHeader(*o, m))
    return std::move(e);
  if (Error e = readPrograms(*o, m))
    return std::move(e);
  auto settings = optionalSettings(*o);
  if (!settings)
    return settings.takeError();
  auto extra = optionalObject(*o, "extra");
  if (!extra)
    return extra.takeError();
  m.settings = std::move(*settings);
  m.extra = std::move(*extra);
  return m;
}

Error Manifest::checkRanges() const {
  if (entry >= numInstructions)
    return fieldError("entry", llvm::formatv("{0} is past the last instruction "
                                             "({1})",
                                             entry, numInstructions - 1));
  if (Error e = checkTensorsInDram(inputs, "inputs", dramSize))
    return e;
  if (Error e = checkTensorsInDram(outputs, "outputs", dramSize))
    return e;
  for (size_t i = 0; i < entries.size(); ++i)
    if (Error e = checkEntryRanges(entries[i], i, *this))
      return e;
  return kvCache ? checkKVCacheInDram(*kvCache, dramSize) : Error::success();
}

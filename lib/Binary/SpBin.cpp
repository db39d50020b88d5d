//===- SpBin.cpp - ELF64 container for SpAtten programs -------------------===//
//
// Writer: a hand-laid ELF64 image (header, .text, .rodata, .spatten.meta,
// .shstrtab, section headers) built from llvm/BinaryFormat/ELF.h structs.
// Reader: llvm::object::ELF64LEFile, then every manifest field is checked
// against the sections and the DRAM size. docs/BinaryFormat.md is the spec.
//
//===----------------------------------------------------------------------===//

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Spec.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SwapByteOrder.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace spatten;
using namespace spatten::binary;
using llvm::Error;
using llvm::Expected;

static_assert(llvm::sys::IsLittleEndianHost,
              "the .spbin writer copies ELF structs in host byte order");

namespace {

constexpr uint64_t kSectionAlign = 64;
/// Largest DRAM address plus one that a 48-bit dram_addr field can name.
constexpr uint64_t kMaxDram = uint64_t(1) << 48;

Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
Error fieldError(llvm::StringRef path, const llvm::Twine &msg) {
  return makeError("manifest field '" + path + "': " + msg);
}

uint64_t alignTo(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

unsigned dtypeSize(llvm::StringRef dtype) {
  if (dtype == "float32" || dtype == "int32")
    return 4;
  if (dtype == "int64")
    return 8;
  return 0;
}

//===--------------------------------------------------------------------===//
// Manifest JSON helpers.
//===--------------------------------------------------------------------===//

/// Reads a non-negative integer field `key` of `obj` (path names it).
Expected<uint64_t> getUInt(const llvm::json::Object &obj, llvm::StringRef key,
                           const llvm::Twine &path, bool required = true,
                           uint64_t dflt = 0) {
  const llvm::json::Value *v = obj.get(key);
  std::string p = path.str();
  if (!v) {
    if (required)
      return fieldError(p, "missing");
    return dflt;
  }
  std::optional<int64_t> i = v->getAsInteger();
  if (!i)
    return fieldError(p, "expected an integer");
  if (*i < 0)
    return fieldError(p, llvm::formatv("must be non-negative, got {0}", *i));
  return uint64_t(*i);
}

Error rejectUnknownKeys(const llvm::json::Object &obj,
                        llvm::ArrayRef<llvm::StringRef> known,
                        llvm::StringRef prefix) {
  for (const auto &kv : obj)
    if (!llvm::is_contained(known, llvm::StringRef(kv.first)))
      return fieldError((prefix + kv.first.str()).str(), "unknown field");
  return Error::success();
}

llvm::json::Value tensorToJSON(const TensorInfo &t) {
  llvm::json::Array shape;
  for (int64_t d : t.shape)
    shape.push_back(d);
  return llvm::json::Object{{"name", t.name},
                            {"shape", std::move(shape)},
                            {"dtype", t.dtype},
                            {"dram_addr", int64_t(t.dramAddr)}};
}

Expected<TensorInfo> tensorFromJSON(const llvm::json::Value &v,
                                    const std::string &path) {
  const llvm::json::Object *o = v.getAsObject();
  if (!o)
    return fieldError(path, "expected an object");
  if (Error e = rejectUnknownKeys(*o, {"name", "shape", "dtype", "dram_addr"},
                                  path + "."))
    return std::move(e);
  TensorInfo t;
  std::optional<llvm::StringRef> name = o->getString("name");
  if (!name || name->empty())
    return fieldError(path + ".name", "expected a non-empty string");
  t.name = name->str();
  std::optional<llvm::StringRef> dtype = o->getString("dtype");
  if (!dtype)
    return fieldError(path + ".dtype", "expected a string");
  if (!dtypeSize(*dtype))
    return fieldError(path + ".dtype",
                      "unsupported dtype '" + *dtype +
                          "' (expected float32, int64 or int32)");
  t.dtype = dtype->str();
  const llvm::json::Array *shape = o->getArray("shape");
  if (!shape)
    return fieldError(path + ".shape", "expected an array");
  uint64_t bytes = dtypeSize(t.dtype);
  for (size_t i = 0; i < shape->size(); ++i) {
    std::optional<int64_t> d = (*shape)[i].getAsInteger();
    std::string dp = llvm::formatv("{0}.shape[{1}]", path, i).str();
    if (!d)
      return fieldError(dp, "expected an integer");
    if (*d < 0)
      return fieldError(dp, llvm::formatv("negative dimension {0}", *d));
    if (*d && bytes > kMaxDram / uint64_t(*d))
      return fieldError(path + ".shape", "tensor larger than the DRAM address "
                                         "space");
    bytes *= uint64_t(*d);
    t.shape.push_back(*d);
  }
  auto addr = getUInt(*o, "dram_addr", path + ".dram_addr");
  if (!addr)
    return addr.takeError();
  t.dramAddr = *addr;
  return t;
}

Expected<std::vector<TensorInfo>> tensorsFromJSON(const llvm::json::Object &o,
                                                  llvm::StringRef key) {
  const llvm::json::Array *arr = o.getArray(key);
  if (!arr)
    return fieldError(key, "expected an array");
  std::vector<TensorInfo> out;
  llvm::StringSet<> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string path = llvm::formatv("{0}[{1}]", key, i).str();
    auto t = tensorFromJSON((*arr)[i], path);
    if (!t)
      return t.takeError();
    if (!names.insert(t->name).second)
      return fieldError(path + ".name", "duplicate tensor '" + t->name + "'");
    out.push_back(std::move(*t));
  }
  return out;
}

Expected<llvm::json::Object> optionalObject(const llvm::json::Object &o,
                                            llvm::StringRef key) {
  const llvm::json::Value *v = o.get(key);
  if (!v)
    return llvm::json::Object();
  const llvm::json::Object *obj = v->getAsObject();
  if (!obj)
    return fieldError(key, "expected an object");
  return *obj;
}

/// The `settings` record if there is one: every setting, of its type and
/// valid.
Expected<std::optional<SpAttenSettings>>
optionalSettings(const llvm::json::Object &o) {
  const llvm::json::Value *v = o.get("settings");
  if (!v)
    return std::nullopt;
  Expected<SpAttenSettings> settings = settingsFromJSON(*v, "settings");
  if (!settings)
    return fieldError("settings", llvm::toString(settings.takeError()));
  return std::optional<SpAttenSettings>(std::move(*settings));
}

//===--------------------------------------------------------------------===//
// Cross-checks between the manifest and the sections.
//===--------------------------------------------------------------------===//

Error checkTensorsInDram(const std::vector<TensorInfo> &ts,
                         llvm::StringRef key, uint64_t dramSize) {
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo &t = ts[i];
    uint64_t end = t.dramAddr + t.bytes();
    if (t.dramAddr > dramSize || end > dramSize)
      return fieldError(llvm::formatv("{0}[{1}].dram_addr", key, i).str(),
                        llvm::formatv("tensor '{0}' occupies [{1:x}, {2:x}) "
                                      "beyond dram.size {3:x}",
                                      t.name, t.dramAddr, end, dramSize));
  }
  return Error::success();
}

Error checkImage(const Image &img) {
  const Manifest &m = img.manifest;
  if (img.text.size() % isa::kInstrBytes)
    return makeError(llvm::formatv(
        "section .text: size {0} is not a multiple of the {1}-byte instruction",
        img.text.size(), isa::kInstrBytes));
  uint64_t n = img.text.size() / isa::kInstrBytes;
  if (m.numInstructions != n)
    return fieldError("num_instructions",
                      llvm::formatv("{0} does not match .text ({1} instructions)",
                                    m.numInstructions, n));
  if (n == 0)
    return makeError("section .text: empty program (no instructions)");
  if (m.entry >= n)
    return fieldError("entry", llvm::formatv("{0} is past the last instruction "
                                             "({1})",
                                             m.entry, n - 1));
  if (m.dramSize > m.hardware.dramBytes)
    return fieldError("dram.size",
                      llvm::formatv("{0} bytes exceed hardware.dram_bytes {1}",
                                    m.dramSize, m.hardware.dramBytes));
  uint64_t rodataSize = img.rodata.size();
  if (m.rodataBase > m.dramSize || rodataSize > m.dramSize - m.rodataBase)
    return fieldError("dram.rodata_base",
                      llvm::formatv(".rodata ({0} bytes at {1:x}) does not fit "
                                    "in dram.size {2:x}",
                                    rodataSize, m.rodataBase,
                                    m.dramSize));
  if (Error e = checkTensorsInDram(m.inputs, "inputs", m.dramSize))
    return e;
  return checkTensorsInDram(m.outputs, "outputs", m.dramSize);
}

//===--------------------------------------------------------------------===//
// ELF layout.
//===--------------------------------------------------------------------===//

void writeBytes(llvm::raw_ostream &os, llvm::ArrayRef<uint8_t> bytes) {
  os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

struct SectionPlan {
  llvm::StringRef name;
  uint32_t type;
  uint64_t flags;
  uint64_t addr;
  uint64_t align;
  const SectionBytes *data;
  uint32_t nameOffset = 0;
  uint64_t offset = 0;
};

/// A view of `bytes`, which the caller keeps alive.
SectionBytes viewOf(llvm::StringRef bytes) {
  return SectionBytes(
      llvm::ArrayRef(reinterpret_cast<const uint8_t *>(bytes.data()),
                     bytes.size()),
      nullptr);
}

/// The bytes `write` puts into a stream.
std::vector<uint8_t>
bytesOf(llvm::function_ref<void(llvm::raw_ostream &)> write) {
  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  write(os);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

template <typename T> void writeStruct(llvm::raw_ostream &os, const T &v) {
  os.write(reinterpret_cast<const char *>(&v), sizeof(T));
}

} // namespace

//===--------------------------------------------------------------------===//
// SectionBytes.
//===--------------------------------------------------------------------===//

SectionBytes::SectionBytes(std::vector<uint8_t> bytes) {
  auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  total = owned->size();
  if (total)
    pieces.push_back({0, *owned});
  owners.push_back(owned);
}

SectionBytes::SectionBytes(llvm::ArrayRef<uint8_t> bytes,
                           std::shared_ptr<const void> owner)
    : total(bytes.size()) {
  if (total)
    pieces.push_back({0, bytes});
  owners.push_back(std::move(owner));
}

SectionBytes SectionBytes::zeros(uint64_t size) {
  SectionBytes s;
  s.total = size;
  return s;
}

bool SectionBytes::place(uint64_t offset, llvm::ArrayRef<uint8_t> bytes) {
  uint64_t from = pieces.empty() ? 0
                                 : pieces.back().first +
                                       pieces.back().second.size();
  if (offset < from || offset > total || bytes.size() > total - offset)
    return false;
  if (!bytes.empty())
    pieces.push_back({offset, bytes});
  flat.reset();
  return true;
}

bool SectionBytes::placeCopy(uint64_t offset, llvm::ArrayRef<uint8_t> bytes) {
  auto copy = std::make_shared<const std::vector<uint8_t>>(bytes.begin(),
                                                           bytes.end());
  if (!place(offset, *copy))
    return false;
  owners.push_back(std::move(copy));
  return true;
}

llvm::ArrayRef<uint8_t> SectionBytes::contiguous() const {
  if (pieces.size() == 1 && pieces[0].second.size() == total)
    return pieces[0].second;
  if (!flat) {
    auto bytes = std::make_shared<std::vector<uint8_t>>(total, 0);
    for (const auto &[offset, piece] : pieces)
      std::memcpy(bytes->data() + offset, piece.data(), piece.size());
    flat = std::move(bytes);
  }
  return *flat;
}

void SectionBytes::write(llvm::raw_ostream &os) const {
  uint64_t at = 0;
  for (const auto &[offset, piece] : pieces) {
    os.write_zeros(offset - at);
    writeBytes(os, piece);
    at = offset + piece.size();
  }
  os.write_zeros(total - at);
}

uint64_t TensorInfo::bytes() const {
  uint64_t n = dtypeSize(dtype);
  for (int64_t d : shape)
    n *= uint64_t(d);
  return n;
}

llvm::json::Value Manifest::toJSON() const {
  llvm::json::Array ins, outs;
  for (const TensorInfo &t : inputs)
    ins.push_back(tensorToJSON(t));
  for (const TensorInfo &t : outputs)
    outs.push_back(tensorToJSON(t));
  llvm::json::Object object{
      {"format_version", int64_t(version)},
      {"hardware", hardware.toJSON()},
      {"entry", int64_t(entry)},
      {"num_instructions", int64_t(numInstructions)},
      {"dram", llvm::json::Object{{"rodata_base", int64_t(rodataBase)},
                                  {"size", int64_t(dramSize)}}},
      {"inputs", std::move(ins)},
      {"outputs", std::move(outs)},
      {"extra", llvm::json::Object(extra)},
  };
  if (settings)
    object["settings"] = spatten::toJSON(*settings);
  return object;
}

Expected<Manifest> Manifest::fromJSON(const llvm::json::Value &v) {
  const llvm::json::Object *o = v.getAsObject();
  if (!o)
    return makeError("manifest: expected a JSON object");
  if (Error e = rejectUnknownKeys(
          *o,
          {"format_version", "hardware", "entry", "num_instructions", "dram",
           "inputs", "outputs", "settings", "extra", "pruning"},
          ""))
    return std::move(e);
  // Binaries written before the settings record carry an always-empty
  // `pruning` object; they stay readable, and it means nothing.
  if (const llvm::json::Value *legacy = o->get("pruning");
      legacy && !legacy->getAsObject())
    return fieldError("pruning", "expected an object");
  Manifest m;
  auto version = getUInt(*o, "format_version", "format_version");
  if (!version)
    return version.takeError();
  if (*version != kFormatVersion)
    return fieldError("format_version",
                      llvm::formatv("unsupported version {0} (this build reads "
                                    "version {1})",
                                    *version, kFormatVersion));
  m.version = unsigned(*version);
  const llvm::json::Value *hw = o->get("hardware");
  if (!hw)
    return fieldError("hardware", "missing");
  auto cfg = HardwareConfig::fromJSON(*hw);
  if (!cfg)
    return fieldError("hardware", llvm::toString(cfg.takeError()));
  m.hardware = *cfg;
  auto entry = getUInt(*o, "entry", "entry", /*required=*/false);
  auto count = getUInt(*o, "num_instructions", "num_instructions");
  if (!entry)
    return entry.takeError();
  if (!count)
    return count.takeError();
  m.entry = *entry;
  m.numInstructions = *count;
  const llvm::json::Object *dram = o->getObject("dram");
  if (!dram)
    return fieldError("dram", "expected an object");
  if (Error e = rejectUnknownKeys(*dram, {"rodata_base", "size"}, "dram."))
    return std::move(e);
  auto base = getUInt(*dram, "rodata_base", "dram.rodata_base");
  auto size = getUInt(*dram, "size", "dram.size");
  if (!base)
    return base.takeError();
  if (!size)
    return size.takeError();
  if (*size > kMaxDram)
    return fieldError("dram.size", "exceeds the 48-bit DRAM address space");
  m.rodataBase = *base;
  m.dramSize = *size;
  auto ins = tensorsFromJSON(*o, "inputs");
  if (!ins)
    return ins.takeError();
  auto outs = tensorsFromJSON(*o, "outputs");
  if (!outs)
    return outs.takeError();
  m.inputs = std::move(*ins);
  m.outputs = std::move(*outs);
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

void binary::writeImage(const Image &image, llvm::raw_ostream &os) {
  std::string meta;
  llvm::raw_string_ostream(meta) << image.manifest.toJSON();
  writeSections(os, image.text, image.rodata, meta, image.manifest.rodataBase,
                image.manifest.entry);
}

std::vector<uint8_t> binary::serializeImage(const Image &image) {
  return bytesOf([&](llvm::raw_ostream &os) { writeImage(image, os); });
}

std::vector<uint8_t> binary::serializeSections(llvm::ArrayRef<uint8_t> text,
                                               const SectionBytes &rodata,
                                               llvm::StringRef meta,
                                               uint64_t rodataBase,
                                               uint64_t entry) {
  return bytesOf([&](llvm::raw_ostream &os) {
    writeSections(os, text, rodata, meta, rodataBase, entry);
  });
}

void binary::writeSections(llvm::raw_ostream &os,
                           llvm::ArrayRef<uint8_t> text,
                           const SectionBytes &rodata,
                           llvm::StringRef meta, uint64_t rodataBase,
                           uint64_t entry) {
  namespace E = llvm::ELF;
  SectionBytes textBytes(text, nullptr), metaBytes = viewOf(meta), names;
  SectionPlan secs[] = {
      {kTextSection, E::SHT_PROGBITS, E::SHF_ALLOC | E::SHF_EXECINSTR, 0,
       kSectionAlign, &textBytes},
      {kRodataSection, E::SHT_PROGBITS, E::SHF_ALLOC, rodataBase,
       kSectionAlign, &rodata},
      {kMetaSection, E::SHT_PROGBITS, 0, 0, 1, &metaBytes},
      {".shstrtab", E::SHT_STRTAB, 0, 0, 1, &names},
  };
  std::string shstrtab(1, '\0');
  for (SectionPlan &s : secs) {
    s.nameOffset = uint32_t(shstrtab.size());
    shstrtab += s.name.str();
    shstrtab.push_back('\0');
  }
  names = viewOf(shstrtab);

  uint64_t offset = sizeof(E::Elf64_Ehdr);
  for (SectionPlan &s : secs) {
    s.offset = alignTo(offset, s.align);
    offset = s.offset + s.data->size();
  }
  uint64_t shoff = alignTo(offset, 8);
  constexpr unsigned kNumSections = 5; // null + 4

  E::Elf64_Ehdr eh;
  std::memset(&eh, 0, sizeof(eh));
  std::memcpy(eh.e_ident, E::ElfMagic, 4);
  eh.e_ident[E::EI_CLASS] = E::ELFCLASS64;
  eh.e_ident[E::EI_DATA] = E::ELFDATA2LSB;
  eh.e_ident[E::EI_VERSION] = E::EV_CURRENT;
  eh.e_ident[E::EI_OSABI] = E::ELFOSABI_NONE;
  eh.e_type = E::ET_EXEC;
  eh.e_machine = E::EM_NONE;
  eh.e_version = E::EV_CURRENT;
  eh.e_entry = entry * isa::kInstrBytes;
  eh.e_shoff = shoff;
  eh.e_ehsize = sizeof(E::Elf64_Ehdr);
  eh.e_shentsize = sizeof(E::Elf64_Shdr);
  eh.e_shnum = kNumSections;
  eh.e_shstrndx = kNumSections - 1;

  // Streamed, so the weights are written once and never copied whole.
  uint64_t at = sizeof(eh);
  writeStruct(os, eh);
  for (const SectionPlan &s : secs) {
    os.write_zeros(s.offset - at);
    s.data->write(os);
    at = s.offset + s.data->size();
  }
  os.write_zeros(shoff - at);
  E::Elf64_Shdr null;
  std::memset(&null, 0, sizeof(null));
  writeStruct(os, null);
  for (const SectionPlan &s : secs) {
    E::Elf64_Shdr sh;
    std::memset(&sh, 0, sizeof(sh));
    sh.sh_name = s.nameOffset;
    sh.sh_type = s.type;
    sh.sh_flags = s.flags;
    sh.sh_addr = s.addr;
    sh.sh_offset = s.offset;
    sh.sh_size = s.data->size();
    sh.sh_addralign = s.align;
    writeStruct(os, sh);
  }
}

Error binary::writeImage(const Image &image, llvm::StringRef path) {
  if (Error e = checkImage(image))
    return makeError("refusing to write " + path + ": " +
                     llvm::toString(std::move(e)));
  return llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
    writeImage(image, os);
    return Error::success();
  });
}

namespace {

using ELFT = llvm::object::ELF64LE;

Error checkHeader(llvm::StringRef data) {
  namespace E = llvm::ELF;
  if (data.size() < 4 || std::memcmp(data.data(), E::ElfMagic, 4) != 0)
    return makeError("not an ELF file (bad magic)");
  if (data.size() < sizeof(E::Elf64_Ehdr))
    return makeError(llvm::formatv("truncated ELF header ({0} of {1} bytes)",
                                   data.size(), sizeof(E::Elf64_Ehdr)));
  if (uint8_t(data[E::EI_CLASS]) != E::ELFCLASS64 ||
      uint8_t(data[E::EI_DATA]) != E::ELFDATA2LSB)
    return makeError("not a 64-bit little-endian ELF file");
  return Error::success();
}

/// Finds the section named `name`; every .spbin must have all three.
Expected<llvm::ArrayRef<uint8_t>>
sectionBytes(const llvm::object::ELFFile<ELFT> &elf, llvm::StringRef name) {
  auto sections = elf.sections();
  if (!sections)
    return sections.takeError();
  for (const auto &sh : *sections) {
    auto n = elf.getSectionName(sh);
    if (!n)
      return n.takeError();
    if (*n != name)
      continue;
    if (sh.sh_type == llvm::ELF::SHT_NOBITS)
      return makeError("section " + name + " has no file contents");
    auto bytes = elf.getSectionContents(sh);
    if (!bytes)
      return makeError("section " + name + ": " +
                       llvm::toString(bytes.takeError()));
    return *bytes;
  }
  return makeError("missing section " + name);
}

/// Parses `data`; .rodata is viewed in `file` when given (which must hold
/// `data`), else copied.
Expected<Image> parseImage(llvm::StringRef data,
                           std::shared_ptr<const llvm::MemoryBuffer> file) {
  if (Error e = checkHeader(data))
    return std::move(e);
  auto elf = llvm::object::ELFFile<ELFT>::create(data);
  if (!elf)
    return elf.takeError();
  const auto &eh = elf->getHeader();
  if (eh.e_type != llvm::ELF::ET_EXEC || eh.e_machine != llvm::ELF::EM_NONE)
    return makeError(llvm::formatv("unexpected ELF type {0} / machine {1} "
                                   "(expected ET_EXEC / EM_NONE)",
                                   uint16_t(eh.e_type), uint16_t(eh.e_machine)));
  Image img;
  auto text = sectionBytes(*elf, kTextSection);
  if (!text)
    return text.takeError();
  auto rodata = sectionBytes(*elf, kRodataSection);
  if (!rodata)
    return rodata.takeError();
  auto meta = sectionBytes(*elf, kMetaSection);
  if (!meta)
    return meta.takeError();
  img.text.assign(text->begin(), text->end());
  img.rodata = file ? SectionBytes(*rodata, std::move(file))
                    : SectionBytes(std::vector<uint8_t>(rodata->begin(),
                                                        rodata->end()));
  llvm::StringRef metaText(reinterpret_cast<const char *>(meta->data()),
                           meta->size());
  auto json = llvm::json::parse(metaText);
  if (!json)
    return makeError("section .spatten.meta: invalid JSON: " +
                     llvm::toString(json.takeError()));
  auto manifest = Manifest::fromJSON(*json);
  if (!manifest)
    return makeError("section .spatten.meta: " +
                     llvm::toString(manifest.takeError()));
  img.manifest = std::move(*manifest);
  if (Error e = checkImage(img))
    return std::move(e);
  return img;
}

} // namespace

static Expected<Image>
readImageFrom(llvm::MemoryBufferRef buffer,
              std::shared_ptr<const llvm::MemoryBuffer> file) {
  auto img = parseImage(buffer.getBuffer(), std::move(file));
  if (!img)
    return makeError(buffer.getBufferIdentifier() + ": " +
                     llvm::toString(img.takeError()));
  return img;
}

Expected<Image> binary::readImage(llvm::MemoryBufferRef buffer) {
  return readImageFrom(buffer, nullptr);
}

Expected<Image> binary::readImageFile(llvm::StringRef path) {
  auto buf = llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/false,
                                                /*RequiresNullTerminator=*/false);
  if (!buf)
    return makeError("cannot read '" + path + "': " + buf.getError().message());
  std::shared_ptr<const llvm::MemoryBuffer> file = std::move(*buf);
  return readImageFrom(file->getMemBufferRef(), file);
}

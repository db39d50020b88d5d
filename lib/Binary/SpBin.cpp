//===- SpBin.cpp - ELF64 container for SpAtten programs -------------------===//
//
// Writer: a hand-laid ELF64 image (header, .text, .rodata, .spatten.meta,
// .shstrtab, section headers) built from llvm/BinaryFormat/ELF.h structs.
// Reader: llvm::object::ELF64LEFile, then the manifest (Manifest.cpp) is
// checked against the sections and the DRAM size. docs/BinaryFormat.md is
// the spec.
//
//===----------------------------------------------------------------------===//

#include "spatten/Binary/SpBin.h"
#include "Diagnostics.h"
#include "spatten/ISA/Spec.h"
#include "spatten/Support/InputFiles.h"

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

uint64_t alignTo(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

//===--------------------------------------------------------------------===//
// Cross-checks between the manifest and the sections.
//===--------------------------------------------------------------------===//

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
  return m.checkRanges();
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
  if (uint8_t(data[E::EI_VERSION]) != E::EV_CURRENT)
    return makeError(llvm::formatv("unexpected ELF version {0} (expected 1)",
                                   unsigned(uint8_t(data[E::EI_VERSION]))));
  if (uint8_t(data[E::EI_OSABI]) != E::ELFOSABI_NONE)
    return makeError(llvm::formatv("unexpected ELF OS/ABI {0} (expected 0, "
                                   "ELFOSABI_NONE)",
                                   unsigned(uint8_t(data[E::EI_OSABI]))));
  return Error::success();
}

/// Each section name once: a second .text or manifest would be ignored by
/// one reader and used by another.
Error checkUniqueSections(const llvm::object::ELFFile<ELFT> &elf) {
  auto sections = elf.sections();
  if (!sections)
    return sections.takeError();
  llvm::StringSet<> seen;
  for (const auto &sh : *sections) {
    auto n = elf.getSectionName(sh);
    if (!n)
      return n.takeError();
    if (!n->empty() && !seen.insert(*n).second)
      return makeError("section " + *n + " appears twice");
  }
  return Error::success();
}

/// e_entry is the byte offset in .text of the manifest's first entry
/// point, as the writer sets it.
Error checkEntry(const Image &img, uint64_t eEntry) {
  uint64_t expected = img.manifest.entry * isa::kInstrBytes;
  if (eEntry != expected)
    return makeError(llvm::formatv("ELF e_entry {0:x} is not the manifest's "
                                   "entry point (instruction {1}, offset {2:x})",
                                   eEntry, img.manifest.entry, expected));
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
  if (Error e = checkUniqueSections(*elf))
    return std::move(e);
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
  auto json = parseJson(metaText);
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
  if (Error e = checkEntry(img, eh.e_entry))
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
  auto buf = readRegularFile(path, /*isText=*/false, kMaxInputFileBytes,
                             /*allowStdin=*/true);
  if (!buf)
    return buf.takeError();
  std::shared_ptr<const llvm::MemoryBuffer> file = std::move(*buf);
  return readImageFrom(file->getMemBufferRef(), file);
}

//===- SpBin.h - The .spbin container ---------------------------*- C++ -*-===//
//
// A .spbin file is ELF64 little endian (ET_EXEC, EM_NONE) with sections:
//   .text          instruction words, isa::kInstrBytes each, entry at offset 0
//   .rodata        constants and weights; loaded at DRAM address
//                  manifest.dram.rodata_base
//   .spatten.meta  UTF-8 JSON manifest (Manifest.h)
// docs/BinaryFormat.md is the full specification.
//
// Depends only on LLVM Support/Object/BinaryFormat, never on MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_BINARY_SPBIN_H
#define SPATTEN_BINARY_SPBIN_H

#include "spatten/Binary/Manifest.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBufferRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace spatten::binary {

constexpr llvm::StringLiteral kTextSection = ".text";
constexpr llvm::StringLiteral kRodataSection = ".rodata";
constexpr llvm::StringLiteral kMetaSection = ".spatten.meta";

/// The bytes of a section, assembled without copying what they come from:
/// `size()` bytes, zero except where pieces are placed. A piece borrows its
/// bytes; the section keeps alive what they point into when it can (a copy
/// it owns, the mapped .spbin), and otherwise the builder must keep them
/// alive until the section is written: spatten-compile's constants stay in
/// their MLIR resource blobs, so BERT-base's 437 MB of weights are never
/// copied on their way to the file.
class SectionBytes {
public:
  SectionBytes() = default;
  /// Owns `bytes`.
  SectionBytes(std::vector<uint8_t> bytes);
  /// Views `bytes`, which `owner` keeps alive (null: the caller does).
  SectionBytes(llvm::ArrayRef<uint8_t> bytes,
               std::shared_ptr<const void> owner);
  /// `size` zero bytes to place pieces into.
  static SectionBytes zeros(uint64_t size);

  /// Places borrowed `bytes` at `offset`. Pieces come in ascending offset
  /// order, do not overlap and lie inside size(); returns false otherwise
  /// and places nothing.
  bool place(uint64_t offset, llvm::ArrayRef<uint8_t> bytes);
  /// place() on a copy of `bytes` that the section owns.
  bool placeCopy(uint64_t offset, llvm::ArrayRef<uint8_t> bytes);

  uint64_t size() const { return total; }
  /// All size() bytes in one array: the piece itself when one piece spans
  /// the section (images read from a file or built from a vector), else a
  /// copy made once and kept.
  llvm::ArrayRef<uint8_t> contiguous() const;
  /// Writes the size() bytes, zeros between the pieces.
  void write(llvm::raw_ostream &os) const;
  bool operator==(const SectionBytes &other) const {
    return contiguous() == other.contiguous();
  }

private:
  uint64_t total = 0;
  std::vector<std::pair<uint64_t, llvm::ArrayRef<uint8_t>>> pieces;
  std::vector<std::shared_ptr<const void>> owners;
  mutable std::shared_ptr<const std::vector<uint8_t>> flat;
};

struct Image {
  std::vector<uint8_t> text;
  /// .rodata; readImageFile views it in the mapped file.
  SectionBytes rodata;
  Manifest manifest;
};

/// Serializes `image` as ELF64 and writes it atomically (temporary file,
/// then rename) to `path`; "-" writes to stdout.
llvm::Error writeImage(const Image &image, llvm::StringRef path);
/// Serializes `image` (unchecked) as ELF64 into `os`, section by section.
void writeImage(const Image &image, llvm::raw_ostream &os);
/// Serializes to bytes (for tests and in-memory use).
std::vector<uint8_t> serializeImage(const Image &image);
/// Lays out an ELF64 .spbin from raw section contents without checking
/// them; `meta` is stored verbatim in .spatten.meta. For tests and tools
/// that must produce invalid files on purpose (serializeImage uses it).
std::vector<uint8_t> serializeSections(llvm::ArrayRef<uint8_t> text,
                                       const SectionBytes &rodata,
                                       llvm::StringRef meta,
                                       uint64_t rodataBase = 0,
                                       uint64_t entry = 0);
/// serializeSections into `os`.
void writeSections(llvm::raw_ostream &os, llvm::ArrayRef<uint8_t> text,
                   const SectionBytes &rodata, llvm::StringRef meta,
                   uint64_t rodataBase = 0, uint64_t entry = 0);
/// Parses and validates a .spbin; every error names the section or field.
/// The image copies its sections out of `buffer`.
llvm::Expected<Image> readImage(llvm::MemoryBufferRef buffer);
/// readImage on a file, which stays mapped while the image's .rodata views
/// it: a run pages in only the constants it reads.
llvm::Expected<Image> readImageFile(llvm::StringRef path);

} // namespace spatten::binary

#endif // SPATTEN_BINARY_SPBIN_H

//===- SpBin.h - The .spbin container ---------------------------*- C++ -*-===//
//
// A .spbin file is ELF64 little endian (ET_EXEC, EM_NONE) with sections:
//   .text          instruction words, isa::kInstrBytes each, entry at offset 0
//   .rodata        constants and weights; loaded at DRAM address
//                  manifest.dram.rodata_base
//   .spatten.meta  UTF-8 JSON manifest (see Manifest)
// docs/BinaryFormat.md is the full specification.
//
// Depends only on LLVM Support/Object/BinaryFormat, never on MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_BINARY_SPBIN_H
#define SPATTEN_BINARY_SPBIN_H

#include "spatten/Support/HardwareConfig.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace spatten::binary {

/// Version 2: ATTN `pq_mode` became `phase` (with `values`), DMA `pred`
/// widened to 2 bits and TOPK gained `role`. Version 3: `dep_wait` takes a
/// dependency token that a `dep_signal` pushed, instead of waiting for the
/// whole queue (docs/ISA.md, "Queues and dependencies").
constexpr unsigned kFormatVersion = 3;
constexpr llvm::StringLiteral kTextSection = ".text";
constexpr llvm::StringLiteral kRodataSection = ".rodata";
constexpr llvm::StringLiteral kMetaSection = ".spatten.meta";

/// One graph input or output living in DRAM.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;   ///< "float32" | "int64" | "int32"
  uint64_t dramAddr = 0;
  uint64_t bytes() const;
};

struct Manifest {
  unsigned version = kFormatVersion;
  HardwareConfig hardware;
  uint64_t entry = 0;           ///< first instruction index
  uint64_t numInstructions = 0;
  uint64_t rodataBase = 0;      ///< DRAM address of .rodata
  uint64_t dramSize = 0;        ///< bytes of DRAM the program touches
  std::vector<TensorInfo> inputs, outputs;
  llvm::json::Object pruning;   ///< pruning/quantization settings, verbatim
  llvm::json::Object extra;     ///< free-form compiler info (layers, ...)

  llvm::json::Value toJSON() const;
  /// Checks every field; errors name the field.
  static llvm::Expected<Manifest> fromJSON(const llvm::json::Value &v);
};

struct Image {
  std::vector<uint8_t> text;
  /// .rodata of an image built or copied in memory (compiler, tests).
  std::vector<uint8_t> rodata;
  Manifest manifest;
  /// The file readImageFile read, kept open: `mappedRodata` views .rodata
  /// in it rather than copying every weight (437 MB for BERT-base), so
  /// that only the bytes a run reads are ever paged in; `rodata` is empty.
  std::shared_ptr<const llvm::MemoryBuffer> file;
  llvm::ArrayRef<uint8_t> mappedRodata;

  /// .rodata, wherever it lives.
  llvm::ArrayRef<uint8_t> rodataBytes() const {
    return file ? mappedRodata : llvm::ArrayRef<uint8_t>(rodata);
  }
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
                                       llvm::ArrayRef<uint8_t> rodata,
                                       llvm::StringRef meta,
                                       uint64_t rodataBase = 0,
                                       uint64_t entry = 0);
/// serializeSections into `os`.
void writeSections(llvm::raw_ostream &os, llvm::ArrayRef<uint8_t> text,
                   llvm::ArrayRef<uint8_t> rodata, llvm::StringRef meta,
                   uint64_t rodataBase = 0, uint64_t entry = 0);
/// Parses and validates a .spbin; every error names the section or field.
/// The image copies its sections out of `buffer`.
llvm::Expected<Image> readImage(llvm::MemoryBufferRef buffer);
/// readImage on a file, which stays mapped (Image::file) for .rodata.
llvm::Expected<Image> readImageFile(llvm::StringRef path);

} // namespace spatten::binary

#endif // SPATTEN_BINARY_SPBIN_H

//===- Manifest.h - The .spatten.meta manifest of a .spbin ------*- C++ -*-===//
//
// What the loader needs besides the instructions and constants: the
// hardware configuration, the DRAM layout, the entry points with their graph
// inputs, outputs and host-set registers, and where a generation binary
// keeps its KV cache. docs/BinaryFormat.md, "Manifest", is the
// specification; every reader error names the JSON field.
//
// Depends only on LLVM Support, never on MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_BINARY_MANIFEST_H
#define SPATTEN_BINARY_MANIFEST_H

#include "spatten/Dialect/SpAtten/Transforms/Settings.h"
#include "spatten/Support/HardwareConfig.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spatten::binary {

/// Version 2: ATTN `pq_mode` became `phase` (with `values`), DMA `pred`
/// widened to 2 bits and TOPK gained `role`. Version 3: `dep_wait` takes a
/// dependency token that a `dep_signal` pushed, instead of waiting for the
/// whole queue (docs/ISA.md, "Queues and dependencies"). Version 4: several
/// entry points (`entries`), host-set registers and a KV cache
/// (`kv_cache`).
constexpr unsigned kFormatVersion = 4;
/// The oldest version readers accept. Writers still write it for a binary
/// with one entry point, no registers and no KV cache, so that such
/// binaries stay byte-identical to those of earlier compilers.
constexpr unsigned kOldestFormatVersion = 3;
/// Registers the host may set before an entry runs (`r0` .. `r15`).
constexpr unsigned kMaxRegisters = 16;
/// The entry point of a binary without `entries`.
constexpr llvm::StringLiteral kMainEntryName = "main";

/// One graph input or output living in DRAM.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;   ///< "float32" | "int64" | "int32"
  uint64_t dramAddr = 0;
  /// An input of token ids that indexes tables of this many rows: the host
  /// refuses ids outside [-rows, rows) and counts negative ones from the
  /// end, as ONNX Gather defines (docs/BinaryFormat.md).
  std::optional<uint64_t> indexRows;
  /// False when the program also reads the ids as values (RoBERTa's
  /// positions): counting a negative id from the end would change those,
  /// so the host refuses ids outside [0, rows) instead.
  bool indexWraps = true;
  /// An integer input the program computes with in fp32 as holding only
  /// [first, second] (OPT's positions counted from a 0/1 attention_mask):
  /// the host refuses other values.
  std::optional<std::pair<int64_t, int64_t>> valueRange;
  uint64_t bytes() const;
  bool operator==(const TensorInfo &o) const {
    return name == o.name && shape == o.shape && dtype == o.dtype &&
           dramAddr == o.dramAddr && indexRows == o.indexRows &&
           indexWraps == o.indexWraps && valueRange == o.valueRange;
  }
};

/// One program of a binary: where it starts in .text, its own graph inputs
/// and outputs, and the registers the host sets before it runs.
struct EntryPoint {
  std::string name;
  uint64_t entry = 0; ///< index of its first instruction in .text
  std::vector<TensorInfo> inputs, outputs;
  /// `registers[i]` names register `r<i>`; at most kMaxRegisters.
  std::vector<std::string> registers;

  /// The index of register `name`, if the entry has one of that name.
  std::optional<unsigned> registerIndex(llvm::StringRef name) const;
};

/// One layer's K or V cache in DRAM: shape [1, H, C, D] (heads, positions
/// up to max_context, head dimension), head-major, row by row.
struct KVCacheRegion {
  uint64_t addr = 0; ///< byte address of head 0, position 0
  std::vector<int64_t> shape;
  std::string dtype;
  /// Bytes from one cached row (one position of one head) to the next; at
  /// least D x the element size, or one fixed-point row when `bits` < 32.
  uint64_t rowBytes = 0;
  /// 32: rows of `dtype`; 4..16: fixed-point rows of float32 values, an fp32
  /// scale then D packed codes (docs/ISA.md, "Fixed-point DMA").
  uint64_t bits = 32;
  /// Of fixed-point rows: "full", or the "msb" or "lsb" plane of codes
  /// split `lsbBits` from the bottom (progressive quantization).
  std::string plane = "full";
  uint64_t lsbBits = 0;
  /// Bytes the region spans: 1 x H x C rows of rowBytes.
  uint64_t bytes() const;
};

/// Where a generation binary keeps every layer's keys and values between
/// the runs of its entry points (docs/BinaryFormat.md, "kv_cache").
struct KVCache {
  uint64_t maxContext = 0; ///< C: positions each layer can hold
  struct Layer {
    KVCacheRegion k, v;
    /// The LSB planes when `k` (or `v`) is an MSB plane.
    std::optional<KVCacheRegion> kLsb, vLsb;

    /// The regions present, named as in the manifest.
    std::vector<std::pair<const char *, const KVCacheRegion *>>
    regions() const {
      std::vector<std::pair<const char *, const KVCacheRegion *>> out = {
          {"k", &k}, {"v", &v}};
      if (kLsb)
        out.push_back({"k_lsb", &*kLsb});
      if (vLsb)
        out.push_back({"v_lsb", &*vLsb});
      return out;
    }
  };
  std::vector<Layer> layers;

  /// The manifest's `kv_cache` object.
  llvm::json::Value toJSON() const;
  /// Checks the types, each region's shape [1, H, max_context, D],
  /// bits and row_bytes (at least one row); errors name the field under
  /// `kv_cache`. Whether the regions fit in DRAM is Manifest::checkRanges'.
  static llvm::Expected<KVCache> fromJSON(const llvm::json::Value &v);
};

struct Manifest {
  unsigned version = kFormatVersion;
  HardwareConfig hardware;
  /// The first entry point's; kept for readers of version 3.
  uint64_t entry = 0;           ///< first instruction index
  uint64_t numInstructions = 0;
  uint64_t rodataBase = 0;      ///< DRAM address of .rodata
  uint64_t dramSize = 0;        ///< bytes of DRAM the program touches
  /// The first entry point's; kept for readers of version 3.
  std::vector<TensorInfo> inputs, outputs;
  /// Every entry point, in .text order. After reading, at least one, and
  /// the first one's `entry`, `inputs` and `outputs` equal the top-level
  /// fields; a manifest built in memory may leave it empty, meaning
  /// mainEntry() alone.
  std::vector<EntryPoint> entries;
  /// Generation binaries only.
  std::optional<KVCache> kvCache;
  /// The SpAtten settings it was compiled with; absent from binaries not
  /// compiled by the pipeline (hand-written tests).
  std::optional<SpAttenSettings> settings;
  llvm::json::Object extra;     ///< free-form compiler info (layers, ...)

  /// `entries`, and the top-level `entry`, `inputs` and `outputs` from
  /// the first of them (which must exist).
  void setEntries(std::vector<EntryPoint> entryPoints);
  /// The entry point `main` that the top-level fields describe.
  EntryPoint mainEntry() const;
  /// The entry point `name`, or nullptr.
  const EntryPoint *findEntry(llvm::StringRef name) const;
  /// The oldest format version that holds this manifest: 4 with more than
  /// one entry point, registers or a KV cache, else 3.
  unsigned requiredVersion() const;

  /// The manifest JSON; `entries` is written from version 4 on.
  llvm::json::Value toJSON() const;
  /// Checks every field's type and value; errors name the field.
  static llvm::Expected<Manifest> fromJSON(const llvm::json::Value &v);
  /// Checks what fromJSON cannot see alone: every entry point inside the
  /// numInstructions instructions, and every tensor and KV cache region
  /// inside dram.size. Errors name the field.
  llvm::Error checkRanges() const;
};

} // namespace spatten::binary

#endif // SPATTEN_BINARY_MANIFEST_H

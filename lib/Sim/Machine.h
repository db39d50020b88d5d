//===- Machine.h - The simulated accelerator's state ------------*- C++ -*-===//
//
// Private to lib/Sim. What the functional units (Units/) read and write
// while they execute a program: DRAM, the SRAM buffers, the attention
// unit's state between the phases of an ATTN, and the report's execution
// counters. Simulator owns one Machine and hides it behind its public API.
// Only the execute half touches it (docs/Simulator.md, "Two threads").
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_SIM_MACHINE_H
#define SPATTEN_LIB_SIM_MACHINE_H

#include "spatten/Binary/SpBin.h"
#include "spatten/Sim/Report.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/ThreadPool.h"

#include <array>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace spatten::sim {

/// The simulated DRAM: manifest `dram.size` bytes, zero but for the
/// program's .rodata at `dram.rodata_base` (docs/Simulator.md,
/// "Execution"). Addresses are byte addresses; callers check their ranges
/// against size() first.
class Dram {
public:
  Dram() = default;
  /// Allocates `size` zero bytes lazily (calloc: untouched pages are never
  /// committed); fails when the host cannot give them. `rodata` must stay
  /// mapped while the Dram lives and fit below `size` (readImage checks).
  static llvm::Expected<Dram> create(uint64_t size,
                                     llvm::ArrayRef<uint8_t> rodata,
                                     uint64_t rodataBase);

  uint64_t size() const { return numBytes; }
  /// The `n` bytes at `addr`, to read; .rodata not yet written is read
  /// from the image where it is mapped.
  const uint8_t *forRead(uint64_t addr, uint64_t n) const;

private:
  friend struct Machine; // writes go through Machine::dramForWrite
  /// The same bytes to write; the .rodata among them is copied in first.
  uint8_t *forWrite(uint64_t addr, uint64_t n);

  struct FreeDeleter {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  /// .rodata reaches `bytes` lazily, in chunks of this many bytes: a run
  /// reads most weights once, and --timing-only reads only index lists, so
  /// reads come straight from the mapped image until a chunk is written.
  static constexpr uint64_t kRodataChunk = 64 * 1024;

  /// The .rodata chunks [first, last] that bytes [addr, addr + n) overlap,
  /// if any.
  std::optional<std::pair<size_t, size_t>> rodataChunks(uint64_t addr,
                                                        uint64_t n) const;
  void copyInRodata(std::pair<size_t, size_t> chunks) const;

  std::unique_ptr<uint8_t, FreeDeleter> bytes;
  uint64_t numBytes = 0;
  llvm::ArrayRef<uint8_t> rodata;
  uint64_t rodataBase = 0;
  /// Per chunk of .rodata: copied into `bytes`. Mutable: copying in does
  /// not change what the DRAM holds.
  mutable llvm::BitVector rodataCopied;
};

/// A load of fp32 rows whose copy into SRAM is put off (docs/Simulator.md,
/// "Lazy loads"): element sramOff + r * sramStride + c of its buffer holds
/// the fp32 at DRAM byte dramAddr + r * dramStride + 4c, for r < rows and
/// c < cols. Most loads are weight tiles that one GEMM reads once; reading
/// them where they lie saves a copy of every weight on every pass.
struct LazyLoad {
  uint64_t sramOff = 0, sramStride = 0, rows = 0, cols = 0;
  uint64_t dramAddr = 0, dramStride = 0;
  /// One past its last SRAM element, and past its last DRAM byte.
  uint64_t sramEnd() const { return sramOff + (rows - 1) * sramStride + cols; }
  uint64_t dramEnd() const {
    return dramAddr + (rows - 1) * dramStride + 4 * cols;
  }
};

/// What an MSB-plane load left in an SRAM element, so that an LSB-plane
/// load into the same element can rebuild the full code (docs/ISA.md,
/// "Fixed-point DMA"). Any other write to the element clears it.
struct MsbCode {
  float scale = 0;
  int32_t code = 0;    ///< the MSB code m
  uint8_t lsbBits = 0; ///< 0: the element holds no MSB-plane value
};

/// The attention unit's probability buffer between an ATTN `decide` and
/// its `finish` (progressive quantization).
struct PqPending {
  bool valid = false;
  uint64_t lq = 0, lk = 0;
  std::vector<float> probs;      ///< lq x lk, row-major, MSB-only keys
  std::vector<bool> unconfident; ///< per query row
};

/// The attention unit between an ATTN with AttnDeferValues and its
/// `values` phase (local value pruning's V fetch, docs/ISA.md): the pruned
/// probabilities and the value-row mask that gates DMAs with `pred = 2`.
/// A later deferring ATTN replaces it; `values` clears it.
struct DeferredValues {
  bool valid = false;
  bool fill = false; ///< from an apply pass: `values` keeps the predicate
  uint64_t lq = 0, lk = 0;
  std::vector<float> probs;  ///< lq x lk, row-major, after value pruning
  std::vector<bool> rowMask; ///< lk bits: key j kept by some query row
};

/// The attention unit's softmax statistics over the fills of a key range
/// longer than one K/V buffer fill (ATTN flags AttnFillStats and
/// AttnFillApply, docs/ISA.md): per query row the running max and sum of
/// exp. A statistics pass after an apply pass starts them anew.
struct FillStatistics {
  bool valid = false;
  bool applying = false; ///< an apply pass has used them
  bool written = false;  ///< an apply pass has written O (later ones add)
  uint64_t lq = 0;
  uint64_t keys = 0;          ///< keys over every statistics pass
  std::vector<float> max, sum; ///< per query row
  /// Progressive quantization: statistics passes in phase `decide` mark
  /// the rows whose largest probability so far, 1 / sum, is below the
  /// threshold; those in phase `finish` fold the full-key scores of the
  /// marked rows into `fullMax` and `fullSum` (over `fullKeys` keys).
  bool decided = false;
  std::vector<bool> unconfident;
  /// The predicate when a later query tile of the head (`next_tile`)
  /// started: its decide statistics add to the tiles' before.
  bool predicateBefore = false;
  uint64_t fullKeys = 0;
  std::vector<float> fullMax, fullSum;
  /// Local value pruning (`vk`): each statistics pass's scores, lq x lk
  /// row-major per fill (`fullScores`: those of the finish passes), as the
  /// top-k engine sees them stream by; the first apply pass selects on
  /// them.
  std::vector<std::pair<uint64_t, std::vector<float>>> scores, fullScores;
  /// Per query row, from that selection: the kept probabilities are those
  /// above `threshold`, and the first `ties` keys equal to it.
  std::vector<float> threshold;
  std::vector<uint64_t> ties;
};

/// A decoded `bind` waiting for the instruction it patches (docs/ISA.md,
/// "bind"): its words and its index in .text, for messages.
struct PendingBind {
  isa::Instr inst;
  uint64_t pc;
};

struct Machine {
  /// DRAM from the manifest's `dram` section with `image`'s .rodata (which
  /// must outlive the Machine), and SRAM buffers from the manifest's
  /// hardware configuration. `timing` is the configuration the cycle
  /// estimate uses. Fails when the host cannot allocate them.
  static llvm::Expected<std::unique_ptr<Machine>>
  create(const binary::Image &image, HardwareConfig timing);

  /// Starts a run afresh (docs/Simulator.md, "Entry points"): SRAM zero,
  /// the attention unit without pending state, an empty report. DRAM (the
  /// KV cache) and the registers the host set stay.
  void startRun();

  /// Elements of SRAM buffer `b` for data `bits` wide (fp32, or int32 for
  /// IDX, at 32 bits): HardwareConfig::bufferElems of the manifest's
  /// configuration, the bound of an operand of that width.
  uint64_t bufferElems(isa::Buffer b, unsigned bits = isa::kWordBits) const {
    return sram.bufferElems(b, bits);
  }
  /// The widest element width among rows x cols elements of `b` from `off`,
  /// `stride` apart (only the rows set in `onlyRows` when given), at least
  /// isa::kMinFixedPointBits; the elements must be allocated.
  unsigned widestWidth(isa::Buffer b, uint64_t off, uint64_t stride,
                       uint64_t rows, uint64_t cols,
                       const std::vector<bool> *onlyRows = nullptr) const;
  /// Elements [e, e + n) of `b` now hold data `bits` wide (K and V only;
  /// other buffers hold 32-bit elements).
  void setWidth(isa::Buffer b, uint64_t e, uint64_t n, unsigned bits);
  /// Writes fp32 element `e` of `b`, which buffer() or bufferForOverwrite()
  /// made current; it no longer holds an MSB-plane code.
  void setElement(isa::Buffer b, uint64_t e, float v) {
    fbufs[unsigned(b)][e] = v;
    std::vector<MsbCode> &codes = msbCodes[unsigned(b)];
    if (!codes.empty())
      codes[e] = MsbCode();
  }

  /// The cycle estimate's configuration (unit counts, DRAM bandwidth).
  HardwareConfig timing;
  /// The manifest's configuration: the SRAM buffer sizes.
  HardwareConfig sram;
  /// Timing only (docs/Simulator.md): GEMM, VEC and ATTN skip their math.
  bool timingOnly = false;
  /// Host threads a run may use (Simulator::setHostThreads).
  unsigned hostThreads = llvm::hardware_concurrency().compute_thread_count();
  /// A thread that computes half of a large GEMM's rows (Gemm.cpp), started
  /// by the first one; null with one host thread.
  llvm::ThreadPoolInterface *gemmHelper();

  Dram dram;
  /// DRAM bytes [addr, addr + n) to write (callers check the range): the
  /// lazy loads that read them are copied into SRAM first.
  uint8_t *dramForWrite(uint64_t addr, uint64_t n);

  /// fp32 buffer `b` (not IDX), with its elements [lo, hi) current: the
  /// lazy loads among them are copied in first. The reference stays valid;
  /// the elements stay current until the next lazy load into them.
  std::vector<float> &buffer(isa::Buffer b, uint64_t lo, uint64_t hi);
  /// The same, for an instruction about to overwrite rows x cols elements
  /// from `off`, `stride` apart: a lazy load wholly among them is dropped
  /// rather than copied in.
  std::vector<float> &bufferForOverwrite(isa::Buffer b, uint64_t off,
                                         uint64_t stride, uint64_t rows,
                                         uint64_t cols);
  /// Loads `l` into fp32 buffer `b` lazily when it is worth it; false when
  /// the caller must copy its rows now.
  bool loadLazily(isa::Buffer b, const LazyLoad &l);
  /// When one lazy load holds every element of the rows x cols operand of
  /// `b` at `off` (rows `stride` apart), their address in DRAM, with
  /// `rowStride` set to the floats between rows; else nullptr. Valid until
  /// DRAM or SRAM next changes.
  const float *lazyRows(isa::Buffer b, uint64_t off, uint64_t stride,
                        uint64_t rows, uint64_t cols, uint64_t &rowStride);
  /// K and V: per element, the width in bits of the data it holds, that of
  /// the last instruction that wrote it (32 until written). Empty for the
  /// other buffers.
  std::array<std::vector<uint8_t>, isa::kNumBuffers> widths;
  std::vector<int32_t> idx;
  /// Per fp32 buffer, one entry per element; empty until the first
  /// MSB-plane load into the buffer.
  std::array<std::vector<MsbCode>, isa::kNumBuffers> msbCodes;

  /// The attention unit between phases.
  PqPending pq;
  /// Set by an ATTN `decide` with an unconfident row; DMAs with `pred = 1`
  /// run only while it is set; an ATTN `finish` clears it.
  bool predicate = false;
  DeferredValues deferred;
  FillStatistics fill;
  /// The control unit's register file (docs/ISA.md, "Registers").
  std::array<uint32_t, isa::kNumRegisters> registers{};
  /// The binds decoded since the last other instruction, in program order.
  std::vector<PendingBind> pendingBinds;

  /// The last compute instruction, when it is an ATTN (the next ATTN may
  /// stream behind it).
  std::optional<isa::Instr> lastAttn;

  /// The execution counters: everything but what the timeline defines
  /// (docs/Simulator.md, "Two threads").
  Report rep;

private:
  /// Copies lazy loads of `b` for which `copy` holds into SRAM, and drops
  /// those for which `drop` holds.
  template <typename Copy, typename Drop>
  void settle(isa::Buffer b, Copy copy, Drop drop);

  std::unique_ptr<llvm::ThreadPoolInterface> helper;
  /// IDX unused. K and V are allocated for their narrowest elements
  /// (bufferElems at isa::kMinFixedPointBits).
  std::array<std::vector<float>, isa::kNumBuffers> fbufs;
  /// Per buffer, its lazy loads, oldest first; no two share an element.
  std::array<std::vector<LazyLoad>, isa::kNumBuffers> lazy;
};

} // namespace spatten::sim

#endif // SPATTEN_LIB_SIM_MACHINE_H

//===- Simulator.h - Functional SpAtten simulator ---------------*- C++ -*-===//
//
// Loads a .spbin Image into a flat DRAM (manifest dram.size bytes, .rodata
// at dram.rodata_base), allocates the SRAM buffers from the manifest's
// hardware configuration (fp32 elements; IDX holds int32), and executes the
// instructions in order, functionally, in fp32 (Eigen). Every field is
// checked before it is used: a bad program yields an llvm::Error naming the
// instruction index, mnemonic and field, never a crash.
//
// Independent of MLIR: it reads only the binary.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_SIMULATOR_H
#define SPATTEN_SIM_SIMULATOR_H

#include "spatten/Binary/SpBin.h"
#include "spatten/Sim/Report.h"
#include "spatten/Sim/Tensor.h"
#include "spatten/Sim/Timing/AttentionPipeline.h"
#include "spatten/Sim/Timing/Engine.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringMap.h"

#include <array>
#include <cstdlib>
#include <optional>
#include <memory>
#include <vector>

namespace spatten::sim {

class Simulator {
public:
  /// `timing` is the configuration the cycle estimate uses; by default the
  /// one the binary was compiled for. SRAM sizes always come from the
  /// manifest, because the program's tiling depends on them.
  /// Allocates DRAM and SRAM; fails (instead of aborting) when the
  /// manifest asks for more memory than the host can give.
  static llvm::Expected<std::unique_ptr<Simulator>>
  create(binary::Image image,
         std::optional<HardwareConfig> timing = std::nullopt);

  /// Timing only (docs/Simulator.md): skip the arithmetic of GEMM, VEC and
  /// ATTN (attention sees uniform probabilities); DMAs, top-k and control
  /// still run. Outputs are then meaningless; cycles equal a full run's
  /// whenever the program's control does not depend on computed values.
  void setTimingOnly(bool on) { timingOnly = on; }

  const binary::Manifest &manifest() const { return image.manifest; }
  const HardwareConfig &timingConfig() const { return timing; }

  /// Binds a graph input. The name must be a manifest input, the shape must
  /// match exactly, and the dtype must match, except that int32 data is
  /// accepted (and widened) for an int64 input.
  llvm::Error setInput(llvm::StringRef name, const HostTensor &value);

  /// Runs from the entry point to HALT. Fails if an input is unbound, an
  /// instruction is invalid, or the program runs off the end of .text; the
  /// error is the first one in program order.
  /// With more than one hardware thread (llvm::hardware_concurrency), the
  /// calling thread executes and a worker thread retires (docs/Simulator.md,
  /// "Two threads"); the worker has been joined when run() returns. Outputs,
  /// report, timeline and errors are the same either way.
  llvm::Error run();

  /// Reads a graph output back from DRAM (after run()).
  llvm::Expected<HostTensor> getOutput(llvm::StringRef name) const;

  const Report &report() const { return rep; }
  /// The timeline of the last run (cycle-level model, docs/Simulator.md).
  const timing::Engine &timeline() const { return *engine; }

  /// Raw state, for unit tests.
  llvm::MutableArrayRef<uint8_t> dram() {
    return {dramForWrite(0, dramSize), dramSize};
  }
  std::vector<float> &buffer(isa::Buffer b) { return fbufs[unsigned(b)]; }
  std::vector<int32_t> &indexBuffer() { return idx; }

  /// Executes one instruction (index `pc` is for messages only) and retires
  /// it, on the calling thread.
  llvm::Error step(const isa::Instr &inst, uint64_t pc);

private:
  class Exec;
  friend class Exec;
  struct FreeDeleter {
    void operator()(uint8_t *p) const { std::free(p); }
  };

  /// One executed instruction on its way to the timeline.
  struct Executed {
    const isa::OpcodeSpec *spec = nullptr;
    timing::Work work;
    uint64_t cycles = 0; ///< its first-order estimate (Report::instrCycles)
  };

  /// A new timeline with the HBM2 model of the timing configuration.
  llvm::Error resetTimeline();
  /// The execute half of an instruction: decode, field checks, the
  /// functional run (writes SRAM, DRAM and the execution counters of `rep`)
  /// and what the timeline needs. Touches neither `engine` nor `retired`.
  llvm::Expected<Executed> execute(const isa::Instr &inst, uint64_t pc);
  /// The retire half: places `x` on the timeline and counts it in
  /// `retired`. Touches neither `rep` nor the functional state, so it may
  /// run on another thread than execute(). Errors name the instruction: a
  /// `dep_wait` with no token to take, or the host out of memory.
  llvm::Error retire(const Executed &x);
  /// retire() without its catch of host out-of-memory.
  llvm::Error placeOnTimeline(const Executed &x);
  /// Runs execute() from the entry point to HALT, handing every instruction
  /// to `handOff` in program order; stops early when `handOff` returns false
  /// (the retire half failed and holds the error).
  llvm::Error executeProgram(llvm::function_ref<bool(Executed &&)> handOff);
  /// executeProgram() with `retireOne` on a worker thread; it returns false
  /// (keeping its error) to stop execution. The worker is joined before
  /// this returns.
  llvm::Error
  runPipelined(llvm::function_ref<bool(const Executed &)> retireOne);
  /// Adds `retired` to `rep` and clears it.
  void mergeRetired();
  static bool readsResultsOf(const isa::Instr &next, const isa::Instr &prev);
  /// Adds an ATTN's attention-pipeline stage cycles to `retired`.
  void notePipeline(const timing::PipelineResult &run,
                    std::optional<unsigned> layer);
  /// Adds one instruction's interval to `retired`'s cycle counters.
  /// `busy`: the cycles it added to its queue's busy time.
  void noteTimeline(const timing::Work &work, const timing::Interval &when,
                    uint64_t busy);

  Simulator(binary::Image image, HardwareConfig timing)
      : image(std::move(image)), timing(std::move(timing)) {}

  binary::Image image;
  HardwareConfig timing;
  /// calloc'd so that untouched DRAM pages are never committed.
  std::unique_ptr<uint8_t, FreeDeleter> dramBytes;
  uint64_t dramSize = 0;
  /// .rodata reaches dramBytes lazily, in chunks of this many bytes: a run
  /// reads most weights once, and --timing-only reads only index lists, so
  /// reads come straight from the mapped image until a chunk is written.
  static constexpr uint64_t kRodataChunk = 64 * 1024;
  /// The image's .rodata (for a read image, a view of the mapped file).
  llvm::ArrayRef<uint8_t> rodata;
  /// Per chunk of .rodata: copied into dramBytes. Mutable: copying in does
  /// not change what the DRAM holds.
  mutable llvm::BitVector rodataCopied;
  /// The .rodata chunks [first, last] that DRAM bytes [addr, addr + n)
  /// overlap, if any.
  std::optional<std::pair<size_t, size_t>> rodataChunks(uint64_t addr,
                                                        uint64_t n) const;
  void copyInRodata(std::pair<size_t, size_t> chunks) const;
  /// The `n` DRAM bytes at `addr` (in range: the caller checked), to read;
  /// .rodata not yet written is read from the image where it is mapped.
  const uint8_t *dramForRead(uint64_t addr, uint64_t n) const;
  /// The same bytes to write; the .rodata among them is copied in first.
  uint8_t *dramForWrite(uint64_t addr, uint64_t n);
  std::array<std::vector<float>, isa::kNumBuffers> fbufs; ///< IDX unused
  std::vector<int32_t> idx;
  llvm::StringMap<bool> boundInputs;
  /// Written by the execute half only (while run() runs).
  Report rep;
  /// The retire half's state, written by it only (while run() runs): the
  /// timeline, and the report fields the timeline defines (cycles,
  /// queueBusy, stageBusy, byOpcode, instrCycles and the layers'
  /// firstStart, lastEnd, queueBusy and stageBusy; the rest stays empty)
  /// until mergeRetired() adds them to `rep`.
  std::unique_ptr<timing::Engine> engine;
  Report retired;
  /// The last compute instruction, when it is an ATTN (the next ATTN may
  /// stream behind it). Execute half.
  std::optional<isa::Instr> lastAttn;
  bool timingOnly = false;

  /// What an MSB-plane load left in an SRAM element, so that an LSB-plane
  /// load into the same element can rebuild the full code (docs/ISA.md,
  /// "Fixed-point DMA"). Any other write to the element clears it.
  struct MsbCode {
    float scale = 0;
    int32_t code = 0;     ///< the MSB code m
    uint8_t lsbBits = 0;  ///< 0: the element holds no MSB-plane value
  };
  /// Per fp32 buffer, one entry per element; empty until the first
  /// MSB-plane load into the buffer.
  std::array<std::vector<MsbCode>, isa::kNumBuffers> msbCodes;

  /// The attention unit's probability buffer between an ATTN `decide` and
  /// its `finish` (progressive quantization).
  struct PqPending {
    bool valid = false;
    uint64_t lq = 0, lk = 0;
    std::vector<float> probs;     ///< lq x lk, row-major, MSB-only keys
    std::vector<bool> unconfident; ///< per query row
  } pq;
  /// Set by an ATTN `decide` with an unconfident row; DMAs with `pred = 1`
  /// run only while it is set; an ATTN `finish` clears it.
  bool predicate = false;

  /// The attention unit between an ATTN with AttnDeferValues and its
  /// `values` phase (local value pruning's V fetch, docs/ISA.md): the
  /// pruned probabilities and the value-row mask that gates DMAs with
  /// `pred = 2`. A later deferring ATTN replaces it; `values` clears it.
  struct DeferredValues {
    bool valid = false;
    uint64_t lq = 0, lk = 0;
    std::vector<float> probs;  ///< lq x lk, row-major, after value pruning
    std::vector<bool> rowMask; ///< lk bits: key j kept by some query row
  } deferred;
};

} // namespace spatten::sim

#endif // SPATTEN_SIM_SIMULATOR_H

//===- Simulator.h - Functional SpAtten simulator ---------------*- C++ -*-===//
//
// Loads a .spbin Image into a flat DRAM (manifest dram.size bytes, .rodata
// at dram.rodata_base), allocates the SRAM buffers from the manifest's
// hardware configuration (fp32 elements; IDX holds int32), and executes the
// instructions of an entry point in order, functionally, in fp32 (Eigen).
// Every field is checked before it is used: a bad program yields an
// llvm::Error naming the instruction index, mnemonic and field, never a
// crash. Entry points run one after another on the same DRAM, so what one
// run stores (a KV cache) is there for the next (docs/Simulator.md, "Entry
// points").
//
// Independent of MLIR: it reads only the binary.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_SIMULATOR_H
#define SPATTEN_SIM_SIMULATOR_H

#include "spatten/Binary/SpBin.h"
#include "spatten/Sim/Report.h"
#include "spatten/Sim/Tensor.h"
#include "spatten/Sim/Timing/Engine.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringSet.h"

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace spatten::sim {

// Private to lib/Sim: the functional state the units execute on, and the
// retire half that places instructions on the timeline.
struct Machine;
class Retirement;

class Simulator {
public:
  /// `timing` is the configuration the cycle estimate uses; by default the
  /// one the binary was compiled for. SRAM sizes always come from the
  /// manifest, because the program's tiling depends on them.
  /// Allocates DRAM and SRAM; fails (instead of aborting) when the
  /// manifest asks for more memory than the host can give, or when the
  /// timing configuration has no valid DRAM model.
  static llvm::Expected<std::unique_ptr<Simulator>>
  create(binary::Image image,
         std::optional<HardwareConfig> timing = std::nullopt);
  ~Simulator();

  /// Timing only (docs/Simulator.md): skip the arithmetic of GEMM, VEC and
  /// ATTN (attention sees uniform probabilities); DMAs, top-k and control
  /// still run. Outputs are then meaningless; cycles equal a full run's
  /// whenever the program's control does not depend on computed values.
  void setTimingOnly(bool on);

  /// Host threads a run may use, at least 1; by default the host's
  /// hardware threads (llvm::hardware_concurrency). With 2 or more,
  /// execution and the timing model run on two threads, and a large GEMM
  /// computes half its rows on a third. Outputs, report and trace are the
  /// same for every count.
  void setHostThreads(unsigned n);

  /// The manifest; its `entries` are never empty (a binary without them
  /// has the one entry point `main`).
  const binary::Manifest &manifest() const { return image.manifest; }
  const HardwareConfig &timingConfig() const;

  /// Selects the entry point that setInput, getOutput, setRegister and
  /// run() use; the first one until called. Its registers start at 0. The
  /// error names `name` and lists the binary's entry points.
  llvm::Error selectEntry(llvm::StringRef name);
  /// The selected entry point.
  const binary::EntryPoint &entryPoint() const;

  /// Binds a graph input of the selected entry point. The name must be one
  /// of its inputs, the shape must match exactly, and the dtype must match,
  /// except that int32 data is accepted (and widened) for an int64 input.
  llvm::Error setInput(llvm::StringRef name, const HostTensor &value);

  /// Sets register `name` of the selected entry point (its manifest
  /// `registers`) for the runs that follow, until the next selectEntry().
  /// The error names the entry point and lists its registers.
  llvm::Error setRegister(llvm::StringRef name, uint32_t value);

  /// Runs the selected entry point from its first instruction to HALT.
  /// Each run starts with zero SRAM, no pending attention state, an empty
  /// timeline and report; DRAM keeps what earlier runs stored. Fails if
  /// one of its inputs is unbound, an instruction is invalid, or the
  /// program runs off the end of .text; the error is the first one in
  /// program order.
  /// With more than one hardware thread (llvm::hardware_concurrency), the
  /// calling thread executes and a worker thread retires (docs/Simulator.md,
  /// "Two threads"); the worker has been joined when run() returns. Outputs,
  /// report, timeline and errors are the same either way.
  llvm::Error run();

  /// Reads a graph output of the selected entry point back from DRAM
  /// (after run()).
  llvm::Expected<HostTensor> getOutput(llvm::StringRef name) const;

  /// What the last run measured.
  const Report &report() const;
  /// The timeline of the last run (cycle-level model, docs/Simulator.md).
  const timing::Engine &timeline() const;

  /// Raw state, for unit tests: all of DRAM (manifest dram.size bytes), an
  /// fp32 SRAM buffer (IDX: empty), and the int32 IDX buffer. Writing an
  /// element through buffer() leaves what an MSB-plane load recorded for it.
  /// Each call first copies in the loads still read from DRAM in place
  /// (docs/Simulator.md, "Lazy loads"), so what it returns is current until
  /// the next instruction: call it again after stepping.
  llvm::MutableArrayRef<uint8_t> dram();
  std::vector<float> &buffer(isa::Buffer b);
  std::vector<int32_t> &indexBuffer();

  /// Executes one instruction (index `pc` is for messages only) and retires
  /// it, on the calling thread. A `bind` is held for the next step.
  llvm::Error step(const isa::Instr &inst, uint64_t pc);

  /// The control unit's registers r0..r15 (docs/ISA.md, "Registers").
  /// Every run() starts with each register 0 but those set here, which
  /// keep their value for later runs as bound inputs do; setRegister also
  /// sets the register at once (for step()). It fails for an index past
  /// r15 (isa::kNumRegisters). getRegister reads the current value, e.g. a
  /// TOPK count after a run; 0 for an index past r15.
  llvm::Error setRegister(unsigned index, uint32_t value);
  uint32_t getRegister(unsigned index) const;

private:
  explicit Simulator(binary::Image image);

  binary::Image image;
  size_t selected = 0; ///< index in manifest().entries
  /// Per entry point, the inputs bound since the simulator was created.
  std::vector<llvm::StringSet<>> boundInputs;
  /// The registers each run() starts with (setRegister).
  std::array<uint32_t, isa::kNumRegisters> presetRegisters{};
  /// The execute half's state: DRAM, SRAM, the units' state and the
  /// execution counters.
  std::unique_ptr<Machine> machine;
  /// The retire half's state: the timeline and the report fields it
  /// defines.
  std::unique_ptr<Retirement> retirement;
};

} // namespace spatten::sim

#endif // SPATTEN_SIM_SIMULATOR_H

//===- Pipeline.h - The spatten-compile pass pipeline -----------*- C++ -*-===//
//
// Record the SpAtten settings -> ONNX dialect -> canonicalize (fold shape
// arithmetic) -> lift to spatten -> canonicalize + CSE -> SpAtten's
// techniques -> tile to spatten_isa -> dependency tokens. Registered with
// spatten-opt as `--spatten-compile-pipeline` so any stage can be
// reproduced from .mlir.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_PIPELINE_PIPELINE_H
#define SPATTEN_PIPELINE_PIPELINE_H

#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace spatten {

/// The last stage the pipeline runs (spatten-compile `--emit`).
enum class Stage { ONNX, SpAtten, ISA };

/// `--spatten-compile-pipeline`'s options: `hw` and every SpAtten setting
/// under its flag name (`token-keep=0.5 keep-positions=0`).
struct CompilePipelineOptions
    : public mlir::PassPipelineOptions<CompilePipelineOptions> {
  Option<std::string> hw{*this, "hw",
                         llvm::cl::desc("hardware preset or JSON file"),
                         llvm::cl::init("spatten")};
  Option<bool> generation{
      *this, "generation",
      llvm::cl::desc("split the model into prefill and decode entry points "
                     "(module attribute spatten.generation, docs/Generation.md)"),
      llvm::cl::init(false)};
  Option<uint64_t> maxMemory{
      *this, "max-memory",
      llvm::cl::desc("refuse a program needing more DRAM than this many "
                     "bytes (0: only the hardware's dram_bytes)"),
      llvm::cl::init(0)};
  SettingOptions<mlir::detail::PassOptions, setting::All> spatten{*this};
};

/// Appends the passes that take the module from `onnx` up to `last`,
/// applying `settings` (validated by the first pass, which records them on
/// the module) for hardware `hw` (a preset name or a JSON file,
/// docs/HardwareConfig.md). With `generation`, the lifted model is split
/// into prefill and decode functions (`--spatten-generation-entries`). A
/// program needing more DRAM than `hw`'s dram_bytes or a nonzero
/// `maxMemory` bytes is refused before any instruction is emitted.
void buildCompilePipeline(mlir::OpPassManager &pm,
                          const SpAttenSettings &settings,
                          llvm::StringRef hw = "spatten",
                          Stage last = Stage::ISA, bool generation = false,
                          uint64_t maxMemory = 0);

/// Every dialect the compiler reads or writes.
void registerAllDialects(mlir::DialectRegistry &registry);
/// Every SpAtten pass plus `--spatten-compile-pipeline`.
void registerAllPasses();

} // namespace spatten

#endif

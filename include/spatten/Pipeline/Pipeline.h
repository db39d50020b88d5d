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
  SettingOptions<mlir::detail::PassOptions, setting::All> spatten{*this};
};

/// Appends the passes that take the module from `onnx` up to `last`,
/// applying `settings` (validated by the first pass, which records them on
/// the module) for hardware `hw` (a preset name or a JSON file,
/// docs/HardwareConfig.md). With `generation`, the lifted model is split
/// into prefill and decode functions (`--spatten-generation-entries`).
void buildCompilePipeline(mlir::OpPassManager &pm,
                          const SpAttenSettings &settings,
                          llvm::StringRef hw = "spatten",
                          Stage last = Stage::ISA, bool generation = false);

/// Every dialect the compiler reads or writes.
void registerAllDialects(mlir::DialectRegistry &registry);
/// Every SpAtten pass plus `--spatten-compile-pipeline`.
void registerAllPasses();

} // namespace spatten

#endif

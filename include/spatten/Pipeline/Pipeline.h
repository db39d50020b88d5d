//===- Pipeline.h - The spatten-compile pass pipeline -----------*- C++ -*-===//
//
// ONNX dialect -> canonicalize (fold shape arithmetic) -> lift to spatten ->
// canonicalize + CSE -> tile to spatten_isa. Registered with spatten-opt as
// `--spatten-compile-pipeline` so any stage can be reproduced from .mlir.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_PIPELINE_PIPELINE_H
#define SPATTEN_PIPELINE_PIPELINE_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace spatten {

/// The last stage the pipeline runs (spatten-compile `--emit`).
enum class Stage { ONNX, SpAtten, ISA };

struct CompilePipelineOptions
    : public mlir::PassPipelineOptions<CompilePipelineOptions> {
  Option<std::string> hw{*this, "hw",
                         llvm::cl::desc("hardware preset or JSON file"),
                         llvm::cl::init("spatten")};
  // SpAtten techniques (docs/Algorithms.md); the defaults are dense fp32.
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP)                     \
  Option<TYPE> MEMBER{*this, FLAG, llvm::cl::desc(HELP),                      \
                      llvm::cl::init(DEFAULT)};
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP)                         \
  ListOption<TYPE> MEMBER{*this, FLAG, llvm::cl::desc(HELP)};
#include "spatten/Pipeline/SpAttenOptions.def"

  /// The first invalid setting, described for the user, or "".
  std::string validate() const;
  /// Whether any SpAtten technique is on.
  bool anySpAtten() const;
};

/// Appends the passes that take the module from `onnx` up to `last`.
void buildCompilePipeline(mlir::OpPassManager &pm,
                          const CompilePipelineOptions &options,
                          Stage last = Stage::ISA);

/// Every dialect the compiler reads or writes.
void registerAllDialects(mlir::DialectRegistry &registry);
/// Every SpAtten pass plus `--spatten-compile-pipeline`.
void registerAllPasses();

} // namespace spatten

#endif

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
  Option<double> tokenKeep{*this, "token-keep",
                           llvm::cl::desc("cascade token pruning keep ratio"),
                           llvm::cl::init(1.0)};
  Option<std::string> tokenSchedule{
      *this, "token-schedule",
      llvm::cl::desc("'paper' or a comma-separated keep fraction per layer"),
      llvm::cl::init("paper")};
  ListOption<int64_t> keepPositions{
      *this, "keep-positions",
      llvm::cl::desc("token positions never pruned (e.g. 0 for [CLS])")};
  Option<double> headKeep{*this, "head-keep",
                          llvm::cl::desc("cascade head pruning keep ratio"),
                          llvm::cl::init(1.0)};
  Option<double> valueKeep{*this, "value-keep",
                           llvm::cl::desc("local value pruning keep ratio"),
                           llvm::cl::init(1.0)};
  Option<int64_t> pqMsb{*this, "pq-msb",
                        llvm::cl::desc("progressive quantization MSB bits "
                                       "(6 or 8); 0 turns it off"),
                        llvm::cl::init(0)};
  Option<int64_t> pqLsb{*this, "pq-lsb",
                        llvm::cl::desc("progressive quantization LSB bits"),
                        llvm::cl::init(4)};
  Option<double> pqThreshold{
      *this, "pq-threshold",
      llvm::cl::desc("refetch LSBs when a row's max probability is below"),
      llvm::cl::init(0.1)};
  Option<bool> pqValues{*this, "pq-values",
                        llvm::cl::desc("fetch values progressively too"),
                        llvm::cl::init(false)};
  Option<int64_t> attnBits{*this, "attn-bits",
                           llvm::cl::desc("fixed-point width of Q, K, V; 0 "
                                          "keeps fp32"),
                           llvm::cl::init(0)};

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

//===- Pipeline.cpp - The spatten-compile pass pipeline -------------------===//

#include "spatten/Pipeline/Pipeline.h"

#include "spatten/Conversion/Passes.h"
#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Dialect/ISA/Transforms/Passes.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"
#include "spatten/Dialect/SpAtten/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace spatten;

/// The SpAtten techniques, in the order their rewrites compose:
/// quantization widths first, then the probability forms, then the cascade
/// pruning, then local value pruning on the keys each layer keeps.
static void addSpAttenPasses(OpPassManager &pm, const SpAttenSettings &s) {
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  if (s.quantization())
    fpm.addPass(createSpAttenQuantize(s));
  if (s.progressiveQuantization())
    fpm.addPass(createSpAttenProgressiveQuantization(s));
  if (s.cascadeTokenPruning() || s.kvBudgetPolicy())
    fpm.addPass(createSpAttenCascadeTokenPruning(s));
  if (s.cascadeHeadPruning())
    fpm.addPass(createSpAttenCascadeHeadPruning(s));
  // Its per-row keep count depends on the keys each layer still has.
  if (s.localValuePruning())
    fpm.addPass(createSpAttenLocalValuePruning(s));
}

void spatten::buildCompilePipeline(OpPassManager &pm,
                                   const SpAttenSettings &settings,
                                   StringRef hw, Stage last,
                                   bool generation, uint64_t maxMemory) {
  pm.addPass(createSpAttenRecordSettings(settings));
  pm.addPass(createCanonicalizerPass());
  if (last == Stage::ONNX)
    return;
  pm.addPass(createConvertONNXToSpAtten());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (generation) {
    pm.addPass(createSpAttenGenerationEntries());
    pm.addPass(createCanonicalizerPass());
  }
  addSpAttenPasses(pm, settings);
  if (last == Stage::SpAtten)
    return;
  ConvertSpAttenToISAOptions isaOptions;
  isaOptions.hardwareConfig = hw.str();
  isaOptions.maxMemory = maxMemory;
  pm.addPass(createConvertSpAttenToISA(isaOptions));
  pm.addPass(isa::createSpAttenISAInsertDependencies());
}

void spatten::registerAllDialects(DialectRegistry &registry) {
  registry.insert<onnx::ONNXDialect, SpAttenDialect, isa::ISADialect,
                  func::FuncDialect, arith::ArithDialect>();
}

void spatten::registerAllPasses() {
  registerSpAttenConversionPasses();
  registerSpAttenTransformsPasses();
  isa::registerISATransformsPasses();
  mlir::registerTransformsPasses();
  PassPipelineRegistration<CompilePipelineOptions>(
      "spatten-compile-pipeline",
      "ONNX dialect to spatten_isa: fold shapes, lift, tile",
      [](OpPassManager &pm, const CompilePipelineOptions &options) {
        buildCompilePipeline(pm, options.spatten.get(), options.hw,
                             Stage::ISA, options.generation,
                             options.maxMemory);
      });
}

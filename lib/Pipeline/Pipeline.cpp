//===- Pipeline.cpp - The spatten-compile pass pipeline -------------------===//

#include "spatten/Pipeline/Pipeline.h"

#include "spatten/Conversion/Passes.h"
#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"
#include "spatten/Dialect/SpAtten/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void spatten::buildCompilePipeline(OpPassManager &pm,
                                   const CompilePipelineOptions &options,
                                   Stage last) {
  pm.addPass(createCanonicalizerPass());
  if (last == Stage::ONNX)
    return;
  pm.addPass(createConvertONNXToSpAtten());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (last == Stage::SpAtten)
    return;
  ConvertSpAttenToISAOptions isaOptions;
  isaOptions.hardwareConfig = options.hw;
  pm.addPass(createConvertSpAttenToISA(isaOptions));
}

void spatten::registerAllDialects(DialectRegistry &registry) {
  registry.insert<onnx::ONNXDialect, SpAttenDialect, isa::ISADialect,
                  func::FuncDialect, arith::ArithDialect>();
}

void spatten::registerAllPasses() {
  registerSpAttenConversionPasses();
  registerSpAttenTransformsPasses();
  mlir::registerTransformsPasses();
  PassPipelineRegistration<CompilePipelineOptions>(
      "spatten-compile-pipeline",
      "ONNX dialect to spatten_isa: fold shapes, lift, tile",
      [](OpPassManager &pm, const CompilePipelineOptions &options) {
        buildCompilePipeline(pm, options);
      });
}

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
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace spatten;

static std::string ratioError(StringRef flag, double v) {
  if (v > 0 && v <= 1)
    return "";
  return llvm::formatv("--{0}={1}: a keep ratio must be in (0, 1]", flag, v)
      .str();
}

std::string spatten::CompilePipelineOptions::validate() const {
  for (auto [flag, v] : {std::pair<StringRef, double>{"token-keep", tokenKeep},
                         {"head-keep", headKeep},
                         {"value-keep", valueKeep}})
    if (std::string e = ratioError(flag, v); !e.empty())
      return e;
  if (tokenSchedule != "paper") {
    SmallVector<StringRef> parts;
    StringRef(tokenSchedule).split(parts, ',');
    for (StringRef p : parts) {
      double f;
      if (p.trim().getAsDouble(f) || !(f > 0 && f <= 1))
        return "--token-schedule=" + tokenSchedule +
               ": expected 'paper' or a comma-separated list of keep "
               "fractions in (0, 1]";
    }
  }
  if (pqMsb != 0 && pqMsb != 6 && pqMsb != 8)
    return "--pq-msb=" + std::to_string(pqMsb) +
           ": the ISA encodes MSB planes of 6 or 8 bits";
  if (pqLsb != 4)
    return "--pq-lsb=" + std::to_string(pqLsb) +
           ": the ISA encodes 4-bit LSB planes";
  if (!(pqThreshold > 0 && pqThreshold < 1))
    return llvm::formatv("--pq-threshold={0}: a probability threshold must "
                         "be in (0, 1)",
                         pqThreshold.getValue())
        .str();
  if (attnBits != 0 && (attnBits < 4 || attnBits > 16))
    return "--attn-bits=" + std::to_string(attnBits) +
           ": the ISA encodes 4 to 16 bits";
  if (pqValues && pqMsb == 0)
    return "--pq-values needs --pq-msb";
  return "";
}

bool spatten::CompilePipelineOptions::anySpAtten() const {
  return tokenKeep < 1 || tokenSchedule != "paper" || headKeep < 1 ||
         valueKeep < 1 || pqMsb != 0 || attnBits != 0;
}

/// The SpAtten techniques, in the order their rewrites compose:
/// quantization widths first, then the probability forms, then the cascade
/// pruning, then local value pruning on the keys each layer keeps.
static void addSpAttenPasses(OpPassManager &pm,
                             const spatten::CompilePipelineOptions &o) {
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  if (o.attnBits != 0)
    fpm.addPass(createSpAttenQuantize({o.attnBits}));
  if (o.pqMsb != 0)
    fpm.addPass(createSpAttenProgressiveQuantization(
        {o.pqMsb, o.pqLsb, o.pqThreshold, o.pqValues}));
  if (o.tokenKeep < 1 || o.tokenSchedule != "paper") {
    SpAttenCascadeTokenPruningOptions token;
    token.keepRatio = o.tokenKeep;
    token.schedule = o.tokenSchedule;
    token.keepPositions = llvm::to_vector(o.keepPositions);
    fpm.addPass(createSpAttenCascadeTokenPruning(token));
  }
  if (o.headKeep < 1)
    fpm.addPass(createSpAttenCascadeHeadPruning({o.headKeep}));
  // Its per-row keep count depends on the keys each layer still has.
  if (o.valueKeep < 1)
    fpm.addPass(createSpAttenLocalValuePruning({o.valueKeep}));
}

void spatten::buildCompilePipeline(OpPassManager &pm,
                                   const CompilePipelineOptions &options,
                                   Stage last) {
  pm.addPass(createCanonicalizerPass());
  if (last == Stage::ONNX)
    return;
  pm.addPass(createConvertONNXToSpAtten());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addSpAttenPasses(pm, options);
  if (last == Stage::SpAtten)
    return;
  ConvertSpAttenToISAOptions isaOptions;
  isaOptions.hardwareConfig = options.hw;
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
        buildCompilePipeline(pm, options);
      });
}

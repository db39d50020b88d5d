//===- spatten-opt.cpp - MLIR optimizer driver for SpAtten ----------------===//

#include "spatten/Pipeline/Pipeline.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  spatten::registerAllDialects(registry);
  spatten::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "SpAtten optimizer driver\n", registry));
}

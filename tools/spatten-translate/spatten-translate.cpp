//===- spatten-translate.cpp - SpAtten translations ------------------------===//
//
// Translations between external formats and MLIR:
//   --import-onnx   .onnx / .onnxtext  ->  onnx dialect (spatten/Target/ONNX)
//   --export-binary spatten_isa.program ->  .spbin (spatten/Target/Binary)
//
//===----------------------------------------------------------------------===//

#include "spatten/Target/Binary/BinaryEmitter.h"
#include "spatten/Target/ONNX/ONNXImporter.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

/// One line per translation; each registers its own options.
static void registerTranslations() {
  spatten::registerImportONNXTranslation();
  spatten::registerToBinaryTranslations();
}

int main(int argc, char **argv) {
  registerTranslations();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "SpAtten translation driver"));
}

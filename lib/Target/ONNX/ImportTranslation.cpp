//===- ImportTranslation.cpp - --import-onnx for mlir-translate tools -----===//

#include "spatten/Dialect/ONNX/IR/ONNXDialect.h"
#include "spatten/Target/ONNX/ONNXImporter.h"

#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace spatten {

void registerImportONNXTranslation() {
  static llvm::cl::list<std::string> shapes(
      "shape",
      llvm::cl::desc("--import-onnx: bind a dynamic input dimension, "
                     "NAME=VALUE with NAME an ONNX dim_param (repeatable)"),
      llvm::cl::value_desc("NAME=VALUE"));
  static llvm::cl::opt<std::string> maxContext(
      "max-context",
      llvm::cl::desc("--import-onnx: import the sequence at the maximum "
                     "context C for generation (docs/Generation.md)"),
      llvm::cl::value_desc("C"), llvm::cl::ValueOptional);
  static TranslateToMLIRRegistration registration(
      "import-onnx",
      "import an ONNX model (binary .onnx or ONNX text .onnxtext) into the "
      "onnx dialect",
      [](llvm::SourceMgr &sourceMgr, MLIRContext *ctx) -> OwningOpRef<Operation *> {
        ImportOptions opts;
        for (const std::string &spec : shapes) {
          std::string error = addShapeBinding(spec, opts);
          if (!error.empty()) {
            emitError(UnknownLoc::get(ctx)) << error;
            return nullptr;
          }
        }
        if (maxContext.getNumOccurrences()) {
          std::string error = setMaxContext(maxContext, opts);
          if (!error.empty()) {
            emitError(UnknownLoc::get(ctx)) << error;
            return nullptr;
          }
        }
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        return importONNXModel(buffer->getMemBufferRef(), opts, ctx);
      },
      [](DialectRegistry &registry) {
        registry.insert<onnx::ONNXDialect, func::FuncDialect>();
      });
}

} // namespace spatten

//===- ONNXImportFuzzer.cpp - Fuzz the ONNX importer ----------------------===//
//
// Input: spatten-compile's flags that shape the import, one per line
// (`--shape NAME=VALUE`, `--max-context` or `--max-context=C`), then the
// model: a binary ModelProto, or ONNX text when it starts with '<'. It is
// imported as spatten-compile imports it (importONNXModel with the
// bindings), must verify, and goes through the folding that begins the
// compile pipeline (canonicalize: the `onnx` dialect's folders and shape
// refinement, where an input's sizes first turn into work), then the lift
// into spatten ops, whose pattern matchers read whatever structure the
// graph has.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "spatten/Conversion/Passes.h"
#include "spatten/Target/ONNX/ONNXImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir;

/// Consumes the leading flag lines of `input` into `options`; false when a
/// flag is malformed (spatten-compile refuses it before reading the model).
static bool parseFlags(llvm::StringRef &input, spatten::ImportOptions &options) {
  while (input.starts_with("--")) {
    auto [line, rest] = input.split('\n');
    input = rest;
    std::string error;
    if (line.consume_front("--shape "))
      error = spatten::addShapeBinding(line, options);
    else if (line == "--max-context")
      error = spatten::setMaxContext("", options);
    else if (line.consume_front("--max-context="))
      error = spatten::setMaxContext(line, options);
    else
      return false;
    if (!error.empty())
      return false;
  }
  return true;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef input(reinterpret_cast<const char *>(data), size);
  spatten::ImportOptions options;
  if (!parseFlags(input, options))
    return 0;
  // A context per input: constants live in the context's resource blobs.
  // The importer loads the dialects it builds.
  MLIRContext context(MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  // A relative directory that does not exist: external data never resolves.
  auto buffer = llvm::MemoryBuffer::getMemBuffer(input, "fuzz-input/model.onnx",
                                                 /*RequiresNullTerminator=*/false);
  OwningOpRef<ModuleOp> module =
      spatten::importONNXModel(buffer->getMemBufferRef(), options, &context);
  if (!module)
    return 0;
  spatten::fuzz::check(succeeded(verify(*module)),
                       "the importer built a module that does not verify");
  PassManager pm(&context);
  pm.addPass(createCanonicalizerPass());
  pm.addPass(spatten::createConvertONNXToSpAtten());
  (void)pm.run(*module);
  return 0;
}

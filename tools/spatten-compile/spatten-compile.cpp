//===- spatten-compile.cpp - ONNX model to .spbin ------------------------===//
//
// spatten-compile model.onnx -o model.spbin [--shape NAME=VALUE]...
//     [--hw preset|file.json] [--emit=onnx|spatten|isa|asm|bin]
// plus MLIR's pass-manager options (--mlir-print-ir-after-all,
// --mlir-timing, ...). Exit status 1 on any diagnostic error; the output
// file is only written, atomically, on success.
//
//===----------------------------------------------------------------------===//

#include "spatten/Pipeline/Pipeline.h"
#include "spatten/ISA/Disasm.h"
#include "spatten/Target/Binary/BinaryEmitter.h"
#include "spatten/Target/ONNX/ONNXImporter.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
#include <unistd.h>

namespace cl = llvm::cl;

namespace {
enum class Emit { ONNX, SpAtten, ISA, Asm, Bin };

cl::OptionCategory category("spatten-compile options");
cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model.onnx>"),
                               cl::Required, cl::cat(category));
cl::opt<std::string> outputPath("o", cl::desc("output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));
cl::list<std::string>
    shapes("shape",
           cl::desc("bind a dynamic dimension (ONNX dim_param) to a value, "
                    "e.g. --shape seq_len=8; repeatable"),
           cl::value_desc("NAME=VALUE"), cl::cat(category));
cl::opt<std::string> hw("hw",
                        cl::desc("hardware preset (spatten, spatten-1/8) or "
                                 "JSON file (docs/HardwareConfig.md)"),
                        cl::init("spatten"), cl::cat(category));
cl::opt<std::string> maxContext(
    "max-context",
    cl::desc("build a generation binary (prefill and decode entry points, "
             "a KV cache of C positions; docs/Generation.md); without a "
             "value, C is the model's position-table size"),
    cl::value_desc("C"), cl::ValueOptional, cl::cat(category));
cl::opt<std::string> maxMemory(
    "max-memory",
    cl::desc("refuse a program needing more DRAM than this (bytes, or with a "
             "K, M or G suffix), before compiling it; the simulator holds "
             "DRAM in host memory (default: half of this host's memory; "
             "the hardware's dram_bytes always applies)"),
    cl::value_desc("BYTES"), cl::cat(category));
cl::opt<Emit> emit(
    "emit", cl::desc("what to write"), cl::init(Emit::Bin),
    cl::values(clEnumValN(Emit::ONNX, "onnx", "onnx dialect after folding"),
               clEnumValN(Emit::SpAtten, "spatten", "lifted spatten dialect"),
               clEnumValN(Emit::ISA, "isa", "spatten_isa dialect"),
               clEnumValN(Emit::Asm, "asm", "one line per instruction"),
               clEnumValN(Emit::Bin, "bin", "the .spbin binary (default)")),
    cl::cat(category));

// SpAtten techniques (docs/Algorithms.md), flags from Settings.def. Every
// default is off / dense.
cl::OptionCategory spattenCategory("SpAtten pruning and quantization");
spatten::SettingsCommandLine spattenFlags(spattenCategory);

/// Half of the host's physical memory, or 0 when it cannot be read.
uint64_t defaultMaxMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? uint64_t(pages) * uint64_t(size) / 2 : 0;
}

/// --max-memory in bytes: digits with an optional K, M or G (powers of
/// 1024).
FailureOr<uint64_t> parseMaxMemory() {
  if (maxMemory.empty())
    return defaultMaxMemory();
  llvm::StringRef text = maxMemory, digits = text;
  unsigned shift = 0;
  if (digits.ends_with_insensitive("k"))
    shift = 10;
  else if (digits.ends_with_insensitive("m"))
    shift = 20;
  else if (digits.ends_with_insensitive("g"))
    shift = 30;
  if (shift)
    digits = digits.drop_back();
  uint64_t value;
  if (digits.getAsInteger(10, value) || value == 0 ||
      value > (uint64_t(1) << 48) >> shift) {
    llvm::errs() << "spatten-compile: --max-memory expects a positive byte "
                    "count with an optional K, M or G suffix, at most 2^48 "
                    "bytes; got '"
                 << text << "'\n";
    return failure();
  }
  return value << shift;
}

spatten::Stage lastStage() {
  switch (emit) {
  case Emit::ONNX: return spatten::Stage::ONNX;
  case Emit::SpAtten: return spatten::Stage::SpAtten;
  default: return spatten::Stage::ISA;
  }
}

/// Writes what `--emit` asks for; the output appears only on success.
LogicalResult writeOutput(ModuleOp module) {
  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> out;
  if (emit != Emit::Bin) {
    out = openOutputFile(outputPath, &errorMessage);
    if (!out) {
      llvm::errs() << "spatten-compile: " << errorMessage << "\n";
      return failure();
    }
  }
  if (emit == Emit::ONNX || emit == Emit::SpAtten || emit == Emit::ISA) {
    module.print(out->os());
    out->keep();
    return success();
  }
  FailureOr<spatten::binary::Image> image = spatten::buildImage(module);
  if (failed(image))
    return failure();
  if (emit == Emit::Asm) {
    const std::vector<uint8_t> &text = image->text;
    for (size_t at = 0; at < text.size(); at += spatten::isa::kInstrBytes)
      out->os() << llvm::format_hex_no_prefix(at / spatten::isa::kInstrBytes, 6)
                << ": "
                << spatten::isa::formatInstructionAt(
                       text, at / spatten::isa::kInstrBytes)
                << "\n";
    out->keep();
    return success();
  }
  if (llvm::Error err = spatten::binary::writeImage(*image, outputPath)) {
    llvm::errs() << "spatten-compile: " << outputPath << ": "
                 << llvm::toString(std::move(err)) << "\n";
    return failure();
  }
  return success();
}

/// `model.onnx: node 'Softmax_91'` for the importer's NameLoc(node, file)
/// locations; MLIR's own form otherwise.
std::string describe(Location loc) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (auto name = dyn_cast<NameLoc>(loc)) {
    if (auto file = dyn_cast<FileLineColLoc>(name.getChildLoc()))
      os << file.getFilename().getValue() << ": ";
    os << "node '" << name.getName().getValue() << "'";
  } else if (auto file = dyn_cast<FileLineColLoc>(loc)) {
    os << file.getFilename().getValue();
    if (file.getLine())
      os << ":" << file.getLine() << ":" << file.getColumn();
  } else {
    loc.print(os);
  }
  return text;
}

LogicalResult printDiagnostic(Diagnostic &diag) {
  auto print = [](Diagnostic &d, StringRef kind) {
    llvm::errs() << describe(d.getLocation()) << ": " << kind << ": " << d
                 << "\n";
  };
  StringRef kind = diag.getSeverity() == DiagnosticSeverity::Error ? "error"
                   : diag.getSeverity() == DiagnosticSeverity::Warning
                       ? "warning"
                       : "remark";
  print(diag, kind);
  for (Diagnostic &note : diag.getNotes())
    print(note, "note");
  return success();
}

LogicalResult run(MLIRContext &context) {
  const spatten::SpAttenSettings &settings = spattenFlags.settings();
  if (llvm::Error error = settings.validate()) {
    llvm::errs() << "spatten-compile: " << llvm::toString(std::move(error))
                 << "\n";
    return failure();
  }
  spatten::ImportOptions importOptions;
  for (const std::string &binding : shapes) {
    std::string error = spatten::addShapeBinding(binding, importOptions);
    if (!error.empty()) {
      llvm::errs() << "spatten-compile: --shape " << binding << ": " << error
                   << "\n";
      return failure();
    }
  }
  if (maxContext.getNumOccurrences()) {
    std::string error = spatten::setMaxContext(maxContext, importOptions);
    if (!error.empty()) {
      llvm::errs() << "spatten-compile: " << error << "\n";
      return failure();
    }
  }
  OwningOpRef<ModuleOp> module =
      spatten::importONNXModel(inputPath, importOptions, &context);
  if (!module)
    return failure();
  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  DefaultTimingManager tm;
  applyDefaultTimingManagerCLOptions(tm);
  TimingScope timing = tm.getRootScope();
  pm.enableTiming(timing);
  FailureOr<uint64_t> memoryLimit = parseMaxMemory();
  if (failed(memoryLimit))
    return failure();
  spatten::buildCompilePipeline(pm, settings, hw, lastStage(),
                                importOptions.maxContext != 0, *memoryLimit);
  if (failed(pm.run(*module)))
    return failure();
  return writeOutput(*module);
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  // libLLVM registers every backend's options; show ours and MLIR's.
  cl::HideUnrelatedOptions({&category, &spattenCategory});
  for (auto &entry : cl::getRegisteredOptions())
    if (entry.first.starts_with("mlir-"))
      entry.second->setHiddenFlag(cl::NotHidden);
  cl::ParseCommandLineOptions(
      argc, argv,
      "spatten-compile: ONNX transformer -> SpAtten accelerator binary\n");

  DialectRegistry registry;
  spatten::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler diagHandler(&context, printDiagnostic);
  return failed(run(context)) ? 1 : 0;
}

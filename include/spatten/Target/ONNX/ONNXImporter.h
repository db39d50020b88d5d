//===- ONNXImporter.h - ONNX model to onnx dialect ---------------*- C++ -*-===//
//
// Imports an ONNX model (binary ModelProto or ONNX text format) into a module
// holding one `func.func @main` of `onnx` dialect ops.
//
//===----------------------------------------------------------------------===//
#ifndef SPATTEN_TARGET_ONNX_ONNXIMPORTER_H
#define SPATTEN_TARGET_ONNX_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBufferRef.h"

#include <string>

namespace spatten {

struct ImportOptions {
  /// `--shape NAME=VALUE`: the value (>= 0) given to every graph-input dim whose
  /// dim_param is NAME, before ONNX shape inference. A NAME that no graph
  /// input uses is an error, so typos do not pass silently.
  llvm::StringMap<int64_t> shapeBindings;
  /// `spatten-compile --max-context=C` (docs/Generation.md): when non-zero,
  /// the sequence dimension (the dim_param of axis 1 of the token ids, the
  /// first integer `[batch, sequence]` graph input) is imported at the
  /// maximum context C instead of its `--shape` binding, which becomes the
  /// prompt length; -1 takes C from the position table (the rows of the
  /// `[positions, width]` initializer a Gather reads with other indices
  /// than the token ids, at most the side M of a `[batch, 1, M, M]` causal
  /// mask input). Both are recorded as `kGenerationAttrName`
  /// (GenerationAttrs.h). The token ids' batch is 1 (bound when `--shape`
  /// leaves it unbound). Position ids that index the position table are
  /// bound to `0 .. C-1`; a causal mask input is marked
  /// `kCausalMaskAttrName` (docs/Generation.md, "Inputs of a generation
  /// model").
  int64_t maxContext = 0;
};


/// Parses one `NAME=VALUE` binding into `opts`. Returns an error message, or
/// an empty string on success.
std::string addShapeBinding(llvm::StringRef spec, ImportOptions &opts);
/// Parses `--max-context[=C]` (an empty `value`: the position table's size)
/// into `opts`. Returns an error message, or an empty string on success.
std::string setMaxContext(llvm::StringRef value, ImportOptions &opts);

/// Imports the model at `path`. The format is ONNX text (onnx/defs/parser.h)
/// when the file name ends in `.onnxtext` or the content starts with `<`, and
/// a binary ModelProto otherwise.
///
/// Steps: parse; read external data files, which must be relative to the
/// model's directory, without `..` and not through symlinks; sort nodes
/// topologically; run onnx::checker::check_model; bind `--shape` dims; run
/// strict ONNX shape inference with data propagation; build ops.
///
/// Opsets 7-17 of the default domain are accepted. Ops follow opset-13
/// semantics: the attribute forms of older opsets (Squeeze/Unsqueeze/
/// ReduceSum axes, Split split, Slice-1 starts/ends/axes) become constant
/// operands, and Softmax/LogSoftmax before 13 is accepted only on the last
/// axis, where both definitions agree.
///
/// The module carries `onnx.opset_version` (the model's opset) and
/// `onnx.producer`. @main's arguments are the graph inputs that have no
/// initializer and its results the graph outputs, each with an `onnx.name`
/// attribute. Initializers become `onnx.Constant` ops holding
/// `dense_resource` blobs (tensors above 64 bytes) or `dense` values. Op
/// locations are `NameLoc(node name, FileLineColLoc(path, 0, 0))`; an unnamed
/// node is named after its first output.
///
/// Every failure (unreadable or malformed file, checker or shape inference
/// error, unsupported op type or attribute, bad external data) is reported as
/// an MLIR diagnostic naming the file and node, tensor or value, and a null
/// module is returned.
mlir::OwningOpRef<mlir::ModuleOp> importONNXModel(llvm::StringRef path,
                                                  const ImportOptions &opts,
                                                  mlir::MLIRContext *ctx);

/// Same, for a model already in memory; `buffer`'s identifier is the path used
/// for locations and for resolving external data.
mlir::OwningOpRef<mlir::ModuleOp>
importONNXModel(llvm::MemoryBufferRef buffer, const ImportOptions &opts,
                mlir::MLIRContext *ctx);

/// Registers the `--import-onnx` translation and its `--shape` option with
/// mlir-translate's registry.
void registerImportONNXTranslation();

} // namespace spatten

#endif

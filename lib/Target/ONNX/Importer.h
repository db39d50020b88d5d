//===- Importer.h - The ONNX importer's steps, shared by its files -*- C++ -*-===//
//
// Private to lib/Target/ONNX: PrepareModel.cpp parses, orders, checks and
// shape-infers the ModelProto; ONNXImporter.cpp turns it into onnx ops.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_TARGET_ONNX_IMPORTER_H
#define SPATTEN_LIB_TARGET_ONNX_IMPORTER_H

#include "spatten/Target/ONNX/ONNXImporter.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBuffer.h"

#include <onnx/onnx_pb.h>

namespace spatten::onnx_import {

using namespace mlir;

/// Oldest and newest default-domain opsets accepted (libonnx 1.12 knows 17).
constexpr int64_t kMinOpset = 7, kMaxOpset = 17;

class Importer {
public:
  Importer(MLIRContext *ctx, StringRef path, const ImportOptions &opts)
      : ctx(ctx), builder(ctx), path(path.str()), opts(opts),
        bindings(opts.shapeBindings),
        fileLoc(FileLineColLoc::get(ctx, path, 0, 0)) {}

  OwningOpRef<ModuleOp> run(llvm::MemoryBufferRef buffer);

private:
  LogicalResult parse(llvm::MemoryBufferRef buffer);
  LogicalResult loadExternalData(::onnx::TensorProto &tensor);
  LogicalResult sortNodes();
  LogicalResult checkModel();
  LogicalResult hoistConstants();
  LogicalResult bindGenerationContext();
  void emptyPastDims(const ::onnx::GraphProto &graph,
                     const ::onnx::ValueInfoProto &ids);
  LogicalResult bindOneSequence(const ::onnx::ValueInfoProto &ids);
  void bindPositionIds(ArrayRef<const ::onnx::ValueInfoProto *> positionIds);
  /// A sequence longer than the position table a computed position lookup
  /// reads is refused, naming both (it would fail later as a broadcast).
  LogicalResult checkPositionTable();
  LogicalResult bindShapes();
  void recordGenerationContext(ModuleOp module);
  /// `kShapeBindingsAttrName`: the bindings applied, if any.
  void recordShapeBindings(ModuleOp module);
  LogicalResult inferShapes();
  LogicalResult buildFunction(ModuleOp module);
  LogicalResult buildNode(const ::onnx::NodeProto &node, size_t index);

  FailureOr<Type> convertType(const ::onnx::TypeProto &type, Location loc,
                              StringRef what);
  FailureOr<ElementsAttr> convertTensor(::onnx::TensorProto &tensor,
                                        Location loc);
  FailureOr<Attribute> convertAttribute(const ::onnx::AttributeProto &attr,
                                        Location loc);
  Value makeI64Constant(ArrayRef<int64_t> values, Location loc);
  LogicalResult upgradeToOpset13(const ::onnx::NodeProto &node, Location loc,
                                 SmallVectorImpl<Value> &operands,
                                 SmallVectorImpl<bool> &present,
                                 NamedAttrList &attrs);
  Location nodeLoc(const ::onnx::NodeProto &node, size_t index);

  MLIRContext *ctx;
  OpBuilder builder;
  std::string path;
  const ImportOptions &opts;
  /// `--shape` bindings, the sequence at the maximum context for generation.
  llvm::StringMap<int64_t> bindings;
  /// Generation only (bindGenerationContext): C and the prompt length.
  int64_t maxContext = 0, prefillLength = 0;
  /// Generation only: inputs marked as the standard causal mask
  /// (`kCausalMaskAttrName` on their arguments).
  SmallVector<std::string> causalMaskInputs;
  Location fileLoc;
  ::onnx::ModelProto model;
  int64_t opset = 0;
  /// Value name -> SSA value, filled in node order.
  llvm::StringMap<Value> values;
  /// Value name -> ONNX type after shape inference.
  llvm::StringMap<const ::onnx::TypeProto *> typeOf;
  /// Initializer name -> name of the Constant node it was hoisted from.
  llvm::StringMap<std::string> hoistedFrom;
};

/// `node 'name' (OpType)`, for diagnostics; unnamed nodes go by their first
/// output.
std::string describe(const ::onnx::NodeProto &node);

} // namespace spatten::onnx_import

#endif

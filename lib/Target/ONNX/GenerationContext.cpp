//===- GenerationContext.cpp - Import a language model at its context ----===//
//
// `spatten-compile --max-context`: a generation binary's decode program
// serves every position up to the maximum context C, so the graph is
// imported with its sequence dimension at C; the prompt length the user
// bound with `--shape` becomes the prefill's (docs/Generation.md).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/StringSet.h"

#include "onnx/onnx_pb.h"

using namespace mlir;

namespace spatten::onnx_import {

/// The token ids: the first graph input (not an initializer) of integer
/// elements and rank 2, `[batch, sequence]`.
static const ::onnx::ValueInfoProto *
tokenIdsInput(const ::onnx::GraphProto &graph) {
  llvm::StringSet<> initializers;
  for (const auto &init : graph.initializer())
    initializers.insert(init.name());
  for (const auto &input : graph.input()) {
    if (initializers.contains(input.name()) || !input.type().has_tensor_type())
      continue;
    const auto &tensor = input.type().tensor_type();
    int32_t elem = tensor.elem_type();
    bool integer = elem == ::onnx::TensorProto::INT64 ||
                   elem == ::onnx::TensorProto::INT32;
    if (integer && tensor.has_shape() && tensor.shape().dim_size() == 2)
      return &input;
  }
  return nullptr;
}

/// Whether `value` is the token ids, possibly reshaped or cast (ops that
/// keep the ids' values).
static bool isTokenIds(llvm::StringRef value, llvm::StringRef tokenIds,
                       const llvm::StringMap<const ::onnx::NodeProto *> &producer) {
  static constexpr llvm::StringLiteral kKeepValues[] = {
      "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Cast", "Identity"};
  while (value != tokenIds) {
    auto it = producer.find(value);
    if (it == producer.end() || !it->second->input_size() ||
        !llvm::is_contained(kKeepValues, it->second->op_type()))
      return false;
    value = it->second->input(0);
  }
  return true;
}

/// Rows of the position table: the rank-2 initializer that a Gather reads
/// with indices other than the token ids (GPT-2's `wpe`, gathered by
/// position ids computed from the sequence length). 0 when there is none.
static int64_t positionTableRows(const ::onnx::GraphProto &graph,
                                 llvm::StringRef tokenIds) {
  llvm::StringMap<const ::onnx::TensorProto *> initializers;
  for (const auto &init : graph.initializer())
    initializers[init.name()] = &init;
  llvm::StringMap<const ::onnx::NodeProto *> producer;
  for (const auto &node : graph.node())
    for (const std::string &out : node.output())
      producer[out] = &node;
  for (const auto &node : graph.node()) {
    if (node.op_type() != "Gather" || node.input_size() < 2 ||
        isTokenIds(node.input(1), tokenIds, producer))
      continue;
    auto it = initializers.find(node.input(0));
    if (it != initializers.end() && it->second->dims_size() == 2)
      return it->second->dims(0);
  }
  return 0;
}

LogicalResult Importer::bindGenerationContext() {
  if (opts.maxContext == 0)
    return success();
  const ::onnx::GraphProto &graph = model.graph();
  const ::onnx::ValueInfoProto *ids = tokenIdsInput(graph);
  if (!ids)
    return emitError(fileLoc) << "--max-context: the model has no token-ids "
                                 "input (an integer [batch, sequence] graph "
                                 "input)";
  const auto &seq = ids->type().tensor_type().shape().dim(1);
  if (!seq.has_dim_param())
    return emitError(fileLoc)
           << "--max-context: the sequence dimension of input '" << ids->name()
           << "' is fixed; generation needs it dynamic (an ONNX dim_param)";
  auto prompt = bindings.find(seq.dim_param());
  if (prompt == bindings.end())
    return emitError(fileLoc) << "--max-context: bind the prompt length with "
                                 "--shape "
                              << seq.dim_param() << "=LENGTH";
  int64_t context = opts.maxContext;
  if (context < 0) {
    context = positionTableRows(graph, ids->name());
    if (context == 0)
      return emitError(fileLoc)
             << "--max-context: no position table (a Gather of a [positions, "
                "width] initializer) gives the model's context; give it as "
                "--max-context=C";
  }
  if (context < prompt->second)
    return emitError(fileLoc)
           << "--max-context=" << context << " is shorter than the prompt ("
           << "--shape " << seq.dim_param() << "=" << prompt->second << ")";
  prefillLength = prompt->second;
  maxContext = context;
  prompt->second = context;
  emptyPastDims(graph, *ids);
  return success();
}

/// The prefill starts with an empty KV cache: a dynamic dimension of
/// another input that the token ids do not have and `--shape` leaves
/// unbound (`past_sequence` of `past_key_values.*`) is imported as 0.
void Importer::emptyPastDims(const ::onnx::GraphProto &graph,
                             const ::onnx::ValueInfoProto &ids) {
  llvm::StringSet<> idDims;
  for (const auto &dim : ids.type().tensor_type().shape().dim())
    if (dim.has_dim_param())
      idDims.insert(dim.dim_param());
  for (const auto &input : graph.input()) {
    if (input.name() == ids.name() || !input.type().has_tensor_type())
      continue;
    for (const auto &dim : input.type().tensor_type().shape().dim())
      if (dim.has_dim_param() && !idDims.contains(dim.dim_param()) &&
          !bindings.count(dim.dim_param()))
        bindings[dim.dim_param()] = 0;
  }
}

void Importer::recordGenerationContext(ModuleOp module) {
  if (!maxContext)
    return;
  module->setAttr(
      kGenerationAttrName,
      builder.getDictionaryAttr(
          {builder.getNamedAttr("max_context",
                                builder.getI64IntegerAttr(maxContext)),
           builder.getNamedAttr("prefill_length",
                                builder.getI64IntegerAttr(prefillLength))}));
}

} // namespace spatten::onnx_import

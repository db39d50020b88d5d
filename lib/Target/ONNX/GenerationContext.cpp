//===- GenerationContext.cpp - Import a language model at its context ----===//
//
// `spatten-compile --max-context`: a generation binary's decode program
// serves every position up to the maximum context C, so the graph is
// imported with its sequence dimension at C; the prompt length the user
// bound with `--shape` becomes the prefill's (docs/Generation.md).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/StringSet.h"

#include "onnx/onnx_pb.h"

using namespace mlir;

namespace spatten::onnx_import {

/// The graph's tensor inputs without an initializer: those a run feeds.
static SmallVector<const ::onnx::ValueInfoProto *>
runTimeInputs(const ::onnx::GraphProto &graph) {
  llvm::StringSet<> initializers;
  for (const auto &init : graph.initializer())
    initializers.insert(init.name());
  SmallVector<const ::onnx::ValueInfoProto *> inputs;
  for (const auto &input : graph.input())
    if (!initializers.contains(input.name()) && input.type().has_tensor_type())
      inputs.push_back(&input);
  return inputs;
}

/// The token ids: the first graph input (not an initializer) of integer
/// elements and rank 2, `[batch, sequence]`.
static const ::onnx::ValueInfoProto *
tokenIdsInput(const ::onnx::GraphProto &graph) {
  for (const ::onnx::ValueInfoProto *input : runTimeInputs(graph)) {
    const auto &tensor = input->type().tensor_type();
    int32_t elem = tensor.elem_type();
    bool integer = elem == ::onnx::TensorProto::INT64 ||
                   elem == ::onnx::TensorProto::INT32;
    if (integer && tensor.has_shape() && tensor.shape().dim_size() == 2)
      return input;
  }
  return nullptr;
}

namespace {
/// A graph's initializers and each value's producing node, by name.
struct GraphIndex {
  llvm::StringMap<const ::onnx::TensorProto *> initializers;
  llvm::StringMap<const ::onnx::NodeProto *> producer;

  explicit GraphIndex(const ::onnx::GraphProto &graph) {
    for (const auto &init : graph.initializer())
      initializers[init.name()] = &init;
    for (const auto &node : graph.node())
      for (const std::string &out : node.output())
        producer[out] = &node;
  }
};
} // namespace

/// The value `value` is computed from through ops that keep its values
/// (reshapes and casts): a graph input's name when it is one.
static llvm::StringRef
keptSource(llvm::StringRef value,
           const llvm::StringMap<const ::onnx::NodeProto *> &producer) {
  static constexpr llvm::StringLiteral kKeepValues[] = {
      "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Cast", "Identity"};
  while (true) {
    auto it = producer.find(value);
    if (it == producer.end() || !it->second->input_size() ||
        !llvm::is_contained(kKeepValues, it->second->op_type()))
      return value;
    value = it->second->input(0);
  }
}

namespace {
/// What a generation model has besides its token ids: the position table,
/// and the inputs the compiler binds because generation gives them one
/// meaning (docs/Generation.md, "Inputs of a generation model").
struct GenerationInputs {
  /// The `[positions, width]` initializer a Gather reads with indices other
  /// than the token ids (GPT-2's `wpe`); rows 0 when there is none.
  std::string positionTable;
  int64_t positionRows = 0;
  /// Integer `[batch, sequence]` inputs that are those indices (Megatron's
  /// `position_ids`): bound to the positions 0 .. C-1.
  SmallVector<const ::onnx::ValueInfoProto *> positionIds;
  /// Float `[batch, 1, M, M]` inputs (Megatron's `attention_mask`): marked
  /// as the standard lower-triangular 0/1 causal mask for the lift.
  SmallVector<const ::onnx::ValueInfoProto *> causalMasks;
  int64_t maskSide = 0;

  void find(const ::onnx::GraphProto &graph,
            const ::onnx::ValueInfoProto &ids);

private:
  void findPositionTable(const ::onnx::GraphProto &graph,
                         const ::onnx::ValueInfoProto &ids);
};
} // namespace

static const ::onnx::TensorShapeProto &shapeOf(const ::onnx::ValueInfoProto &v) {
  return v.type().tensor_type().shape();
}

/// Whether `input` is `[batch, sequence]` over the token ids' sequence.
static bool alongTokenIds(const ::onnx::ValueInfoProto &input,
                          const ::onnx::ValueInfoProto &ids) {
  const auto &shape = shapeOf(input);
  return shape.dim_size() == 2 && shape.dim(1).has_dim_param() &&
         shape.dim(1).dim_param() == shapeOf(ids).dim(1).dim_param();
}

void GenerationInputs::findPositionTable(const ::onnx::GraphProto &graph,
                                         const ::onnx::ValueInfoProto &ids) {
  GraphIndex index(graph);
  const auto &[initializers, producer] = index;
  SmallVector<const ::onnx::ValueInfoProto *> fed = runTimeInputs(graph);
  for (const auto &node : graph.node()) {
    if (node.op_type() != "Gather" || node.input_size() < 2)
      continue;
    llvm::StringRef indices = keptSource(node.input(1), producer);
    auto table = initializers.find(node.input(0));
    if (indices == ids.name() || table == initializers.end() ||
        table->second->dims_size() != 2 ||
        (!positionTable.empty() && positionTable != table->first()))
      continue;
    positionTable = table->first().str();
    positionRows = table->second->dims(0);
    for (const ::onnx::ValueInfoProto *input : fed)
      if (input->name() == indices && alongTokenIds(*input, ids) &&
          !llvm::is_contained(positionIds, input))
        positionIds.push_back(input);
  }
}

void GenerationInputs::find(const ::onnx::GraphProto &graph,
                            const ::onnx::ValueInfoProto &ids) {
  findPositionTable(graph, ids);
  for (const ::onnx::ValueInfoProto *input : runTimeInputs(graph)) {
    const auto &tensor = input->type().tensor_type();
    const auto &shape = tensor.shape();
    if (tensor.elem_type() != ::onnx::TensorProto::FLOAT ||
        shape.dim_size() != 4 || shape.dim(1).dim_value() != 1 ||
        !shape.dim(2).has_dim_value() ||
        shape.dim(2).dim_value() != shape.dim(3).dim_value())
      continue;
    causalMasks.push_back(input);
    int64_t side = shape.dim(2).dim_value();
    maskSide = maskSide ? std::min(maskSide, side) : side;
  }
}

/// The context: `--max-context=C`, or else the largest the model allows
/// (the position table's rows, at most the causal mask's side).
static FailureOr<int64_t> chooseContext(int64_t requested,
                                        const GenerationInputs &inputs,
                                        Location loc) {
  int64_t context = requested;
  if (context < 0) {
    context = inputs.positionRows;
    if (inputs.maskSide && (!context || inputs.maskSide < context))
      context = inputs.maskSide;
    if (context == 0)
      return emitError(loc)
             << "--max-context: no position table (a Gather of a [positions, "
                "width] initializer) gives the model's context; give it as "
                "--max-context=C";
  }
  if (!inputs.positionIds.empty() && context > inputs.positionRows)
    return emitError(loc) << "--max-context=" << context << " exceeds the "
                          << inputs.positionRows << " rows of the position "
                          << "table '" << inputs.positionTable
                          << "' that input '"
                          << inputs.positionIds.front()->name() << "' indexes";
  // Computed position ids (a Range, LLaMA's rotary tables) would read past
  // the table's last row.
  if (inputs.positionRows && context > inputs.positionRows)
    return emitError(loc) << "--max-context=" << context << " exceeds the "
                          << inputs.positionRows << " rows of the position "
                          << "table '" << inputs.positionTable
                          << "' (the positions the model embeds)";
  if (inputs.maskSide && context > inputs.maskSide)
    return emitError(loc) << "--max-context=" << context << " exceeds the "
                          << inputs.maskSide << " x " << inputs.maskSide
                          << " causal mask input '"
                          << inputs.causalMasks.front()->name() << "'";
  return context;
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
  // Before taking an iterator into the bindings, which this may grow.
  if (failed(bindOneSequence(*ids)))
    return failure();
  auto prompt = bindings.find(seq.dim_param());
  if (prompt == bindings.end())
    return emitError(fileLoc) << "--max-context: bind the prompt length with "
                                 "--shape "
                              << seq.dim_param() << "=LENGTH";
  GenerationInputs inputs;
  inputs.find(graph, *ids);
  FailureOr<int64_t> context =
      chooseContext(opts.maxContext, inputs, fileLoc);
  if (failed(context))
    return failure();
  if (*context < prompt->second)
    return emitError(fileLoc)
           << "--max-context=" << *context << " is shorter than the prompt ("
           << "--shape " << seq.dim_param() << "=" << prompt->second << ")";
  prefillLength = prompt->second;
  maxContext = *context;
  prompt->second = *context;
  for (const auto *mask : inputs.causalMasks)
    causalMaskInputs.push_back(mask->name());
  bindPositionIds(inputs.positionIds);
  emptyPastDims(graph, *ids);
  return success();
}

/// Generation runs one sequence: the token ids' batch dimension is 1, and
/// bound to 1 when `--shape` leaves it unbound.
LogicalResult Importer::bindOneSequence(const ::onnx::ValueInfoProto &ids) {
  const auto &dim = shapeOf(ids).dim(0);
  if (!dim.has_dim_value() && !dim.has_dim_param())
    return success();
  int64_t batch = dim.has_dim_value()
                      ? dim.dim_value()
                      : bindings.try_emplace(dim.dim_param(), 1).first->second;
  if (batch == 1)
    return success();
  return emitError(fileLoc)
         << "--max-context: generation runs one sequence, but the batch "
            "dimension "
         << (dim.has_dim_param() ? "'" + dim.dim_param() + "' " : "")
         << "of input '" << ids.name() << "' is " << batch;
}

/// Position ids in generation are the positions of the tokens: each bound
/// input becomes a default (an initializer of the same name, which the
/// importer compiles in) `[1, C]` holding 0 .. C-1.
void Importer::bindPositionIds(
    ArrayRef<const ::onnx::ValueInfoProto *> positionIds) {
  for (const ::onnx::ValueInfoProto *input : positionIds) {
    ::onnx::TensorProto *init = model.mutable_graph()->add_initializer();
    init->set_name(input->name());
    init->set_data_type(input->type().tensor_type().elem_type());
    init->add_dims(1);
    init->add_dims(maxContext);
    bool wide = init->data_type() == ::onnx::TensorProto::INT64;
    for (int64_t p = 0; p < maxContext; ++p)
      wide ? init->add_int64_data(p) : init->add_int32_data(int32_t(p));
  }
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

/// What computes the indices of a position lookup: a Slice of a stored
/// position-ids buffer (Hugging Face's `position_ids[:, :sequence]`) or a
/// Range over the sequence, through value-keeping ops.
static const ::onnx::NodeProto *
positionIndices(const ::onnx::NodeProto &gather,
                const llvm::StringMap<const ::onnx::NodeProto *> &producer) {
  auto it = producer.find(keptSource(gather.input(1), producer));
  if (it == producer.end())
    return nullptr;
  llvm::StringRef op = it->second->op_type();
  return op == "Slice" || op == "Range" ? it->second : nullptr;
}

/// The rows a computed position lookup can reach: a Slice clamps at its
/// buffer's extent, a Range reaches the sequence length.
static int64_t
reachableRows(const ::onnx::NodeProto &indices, int64_t length,
              const llvm::StringMap<const ::onnx::TensorProto *> &initializers) {
  if (indices.op_type() == "Range")
    return length;
  auto buffer = initializers.find(indices.input(0));
  if (buffer == initializers.end() || !buffer->second->dims_size())
    return 0;
  return *llvm::max_element(buffer->second->dims());
}

LogicalResult Importer::checkPositionTable() {
  const ::onnx::GraphProto &graph = model.graph();
  const ::onnx::ValueInfoProto *ids = tokenIdsInput(graph);
  if (!ids)
    return success();
  const auto &seq = shapeOf(*ids).dim(1);
  // An unbound sequence looks up as 0: nothing to check.
  int64_t length = seq.has_dim_value() ? seq.dim_value()
                                       : bindings.lookup(seq.dim_param());
  GraphIndex index(graph);
  const auto &[initializers, producer] = index;
  for (const auto &node : graph.node()) {
    auto table = node.op_type() == "Gather" && node.input_size() == 2
                     ? initializers.find(node.input(0))
                     : initializers.end();
    if (table == initializers.end() || table->second->dims_size() != 2)
      continue;
    int64_t rows = table->second->dims(0);
    const ::onnx::NodeProto *indices = positionIndices(node, producer);
    if (!indices || rows >= length ||
        reachableRows(*indices, length, initializers) >= length)
      continue;
    InFlightDiagnostic diag = emitError(nodeLoc(node, 0))
                              << "sequence length " << length
                              << " exceeds the model's position table of "
                              << rows << " rows ('" << node.input(0) << "')";
    if (seq.has_dim_param())
      diag << "; bind --shape " << seq.dim_param() << "=" << rows
           << " or less";
    return failure();
  }
  return success();
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
  for (auto func : module.getOps<func::FuncOp>())
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (auto name = func.getArgAttrOfType<StringAttr>(i, onnx::kNameAttrName);
          name && llvm::is_contained(causalMaskInputs, name.getValue()))
        func.setArgAttr(i, kCausalMaskAttrName, builder.getUnitAttr());
}

} // namespace spatten::onnx_import

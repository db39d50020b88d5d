//===- PrepareModel.cpp - Parse, order, check and infer an ONNX model ----===//
//
// libonnx does the ONNX work (parsing, checking, shape inference); this file
// reads external data safely, orders nodes and binds dynamic dimensions
// (docs/ONNXImport.md, "Import steps" 1-6).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Support/InputFiles.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <onnx/checker.h>
#include <onnx/defs/parser.h>
#include <onnx/shape_inference/implementation.h>

#include <queue>

using namespace mlir;
using namespace spatten::onnx_import;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

//===----------------------------------------------------------------------===//
// Parsing and external data
//===----------------------------------------------------------------------===//

/// ONNX text starts with `<` after blanks and `#` comment lines; a binary
/// ModelProto starts with a field tag byte (0x08 for ir_version).
static bool looksLikeText(StringRef text) {
  while (true) {
    text = text.ltrim();
    if (!text.starts_with("#"))
      return text.starts_with("<");
    text = text.drop_until([](char c) { return c == '\n'; });
  }
}

LogicalResult Importer::parse(llvm::MemoryBufferRef buffer) {
  StringRef text = buffer.getBuffer();
  bool isText = StringRef(path).ends_with(".onnxtext") || looksLikeText(text);
  if (isText) {
    std::string copy = text.str(); // the parser needs a NUL-terminated string
    // The parser reads numbers with std::stof and friends, which throw on
    // a literal that is not a number or does not fit.
    try {
      auto status = ::onnx::OnnxParser::Parse(model, copy.c_str());
      if (!status.IsOK())
        return emitError(fileLoc) << "cannot parse ONNX text: "
                                  << status.ErrorMessage();
    } catch (const std::exception &e) {
      return emitError(fileLoc) << "cannot parse ONNX text: bad number ("
                                << e.what() << ")";
    }
  } else if (text.size() > (size_t)INT_MAX ||
             !model.ParseFromArray(text.data(), (int)text.size())) {
    return emitError(fileLoc)
           << "cannot parse as an ONNX ModelProto (binary protobuf)";
  }
  if (!model.has_graph())
    return emitError(fileLoc) << "model has no graph";
  for (auto &tensor : *model.mutable_graph()->mutable_initializer())
    if (failed(loadExternalData(tensor)))
      return failure();
  for (auto &node : *model.mutable_graph()->mutable_node())
    for (auto &attr : *node.mutable_attribute())
      if (attr.has_t() && failed(loadExternalData(*attr.mutable_t())))
        return failure();
  return success();
}

/// Replaces an external-data reference by the bytes it names. The file must
/// lie under the model's directory: relative, without `..`, and no component
/// may be a symlink, so a model cannot make the compiler read other files.
LogicalResult Importer::loadExternalData(::onnx::TensorProto &tensor) {
  if (tensor.data_location() != ::onnx::TensorProto::EXTERNAL)
    return success();
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &entry : tensor.external_data()) {
    StringRef value = entry.value();
    if (entry.key() == "location")
      location = value.str();
    else if ((entry.key() == "offset" && value.getAsInteger(10, offset)) ||
             (entry.key() == "length" && value.getAsInteger(10, length)))
      return emitError(fileLoc) << "tensor '" << tensor.name()
                                << "': bad external data " << entry.key()
                                << " '" << value << "'";
  }
  auto fail = [&](const Twine &why) {
    return emitError(fileLoc) << "tensor '" << tensor.name()
                              << "': external data file '" << location
                              << "' " << why;
  };
  if (location.empty())
    return fail("is not named (no 'location' entry)");
  if (path::is_absolute(location) || path::is_absolute(location, path::Style::windows))
    return fail("is an absolute path; it must be relative to the model");
  SmallString<256> full(path::parent_path(path));
  if (full.empty())
    full = ".";
  for (auto it = path::begin(location), e = path::end(location); it != e; ++it) {
    if (*it == "..")
      return fail("contains '..'; it must stay inside the model directory");
    path::append(full, *it);
    if (fs::is_symlink_file(full))
      return fail("goes through the symlink '" + full + "'");
  }
  uint64_t size;
  if (fs::file_size(full, size))
    return fail("cannot be read (looked for '" + full + "')");
  // A FIFO or device would block or never end.
  if (llvm::Error e = checkRegularFile(full))
    return fail(llvm::toString(std::move(e)));
  if (offset < 0 || (uint64_t)offset > size)
    return fail("is shorter than offset " + Twine(offset));
  if (length < 0)
    length = size - offset;
  if ((uint64_t)(offset + length) > size)
    return fail("holds " + Twine(size) + " bytes, fewer than offset + length = " +
                Twine(offset + length));
  auto buf = llvm::MemoryBuffer::getFileSlice(full, length, offset);
  if (!buf)
    return fail("cannot be read: " + buf.getError().message());
  tensor.set_raw_data((*buf)->getBufferStart(), (*buf)->getBufferSize());
  tensor.clear_external_data();
  tensor.set_data_location(::onnx::TensorProto::DEFAULT);
  return success();
}

//===----------------------------------------------------------------------===//
// Graph preparation: order, check, bind, infer
//===----------------------------------------------------------------------===//

/// Kahn's algorithm, taking ready nodes in file order so sorted graphs keep
/// their order.
LogicalResult Importer::sortNodes() {
  auto *graph = model.mutable_graph();
  int n = graph->node_size();
  llvm::StringSet<> defined;
  for (const auto &in : graph->input())
    defined.insert(in.name());
  for (const auto &init : graph->initializer())
    defined.insert(init.name());
  llvm::StringMap<int> producer;
  for (int i = 0; i < n; ++i)
    for (const auto &out : graph->node(i).output())
      if (!out.empty() && !producer.try_emplace(out, i).second)
        return emitError(nodeLoc(graph->node(i), i))
               << describe(graph->node(i)) << " redefines value '" << out
               << "'";
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (int i = 0; i < n; ++i) {
    for (const auto &in : graph->node(i).input()) {
      if (in.empty() || defined.contains(in))
        continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return emitError(nodeLoc(graph->node(i), i))
               << describe(graph->node(i)) << " uses '" << in
               << "', which no node, graph input or initializer defines";
      ++pending[i];
      users[it->second].push_back(i);
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0)
      ready.push(i);
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[i])
      if (--pending[u] == 0)
        ready.push(u);
  }
  if ((int)order.size() != n) {
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0)
        return emitError(nodeLoc(graph->node(i), i))
               << "graph has a cycle through " << describe(graph->node(i));
  }
  // Unnamed nodes are named after their first output, so the checker's and
  // shape inference's messages name them as the op locations do.
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> sorted;
  for (int i : order) {
    ::onnx::NodeProto *node = sorted.Add();
    *node = graph->node(i);
    if (node->name().empty() && node->output_size())
      node->set_name(node->output(0));
  }
  graph->mutable_node()->Swap(&sorted);
  return success();
}

LogicalResult Importer::checkModel() {
  for (const auto &id : model.opset_import())
    if (id.domain().empty() || id.domain() == "ai.onnx")
      opset = id.version();
  if (opset == 0)
    return emitError(fileLoc) << "model imports no opset of the default ONNX domain";
  if (opset < kMinOpset || opset > kMaxOpset)
    return emitError(fileLoc) << "opset " << opset
                              << " is not supported (supported: " << kMinOpset
                              << "-" << kMaxOpset << ")";
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    return emitError(fileLoc) << "ONNX checker rejected the model: " << e.what();
  }
  return success();
}

/// Turns `Constant` nodes into initializers. Same values, but libonnx 1.12's
/// data propagation reads initializers and not Constant nodes, so shape
/// inference then sees the axes, shapes and indices exporters put there.
LogicalResult Importer::hoistConstants() {
  auto *graph = model.mutable_graph();
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> kept;
  for (int i = 0; i < graph->node_size(); ++i) {
    const auto &node = graph->node(i);
    bool hoist = node.op_type() == "Constant" && node.domain().empty() &&
                 node.attribute_size() == 1 && node.output_size() == 1;
    ::onnx::TensorProto tensor;
    if (hoist) {
      const auto &attr = node.attribute(0);
      StringRef kind = attr.name();
      if (kind == "value") {
        tensor = attr.t();
      } else if (kind == "value_float") {
        tensor.set_data_type(::onnx::TensorProto::FLOAT);
        tensor.add_float_data(attr.f());
      } else if (kind == "value_int") {
        tensor.set_data_type(::onnx::TensorProto::INT64);
        tensor.add_int64_data(attr.i());
      } else if (kind == "value_floats") {
        tensor.set_data_type(::onnx::TensorProto::FLOAT);
        tensor.add_dims(attr.floats_size());
        *tensor.mutable_float_data() = attr.floats();
      } else if (kind == "value_ints") {
        tensor.set_data_type(::onnx::TensorProto::INT64);
        tensor.add_dims(attr.ints_size());
        *tensor.mutable_int64_data() = attr.ints();
      } else {
        hoist = false; // value_string, sparse_value: buildNode reports them
      }
    }
    if (!hoist) {
      *kept.Add() = node;
      continue;
    }
    tensor.set_name(node.output(0));
    hoistedFrom[node.output(0)] =
        node.name().empty() ? node.output(0) : node.name();
    *graph->add_initializer() = std::move(tensor);
  }
  graph->mutable_node()->Swap(&kept);
  // IR < 4 only lets inference see initializers that are also inputs; the
  // checker has already validated the model against its own IR version.
  if (model.ir_version() < 4)
    model.set_ir_version(4);
  return success();
}

LogicalResult Importer::bindShapes() {
  llvm::StringSet<> used;
  for (auto &input : *model.mutable_graph()->mutable_input()) {
    if (!input.type().has_tensor_type())
      continue;
    for (auto &dim : *input.mutable_type()->mutable_tensor_type()
                          ->mutable_shape()->mutable_dim()) {
      if (!dim.has_dim_param())
        continue;
      auto it = bindings.find(dim.dim_param());
      if (it == bindings.end())
        continue;
      used.insert(it->first());
      dim.set_dim_value(it->second);
    }
  }
  for (const auto &binding : bindings) {
    if (used.contains(binding.first()))
      continue;
    std::string known;
    for (const auto &input : model.graph().input())
      for (const auto &dim : input.type().tensor_type().shape().dim())
        if (dim.has_dim_param() && known.find("'" + dim.dim_param() + "'") == std::string::npos)
          known += (known.empty() ? "'" : ", '") + dim.dim_param() + "'";
    if (known.empty())
      return emitError(fileLoc)
             << "--shape " << binding.first()
             << ": the model's inputs have no named (dynamic) dimensions; "
                "their shapes are fixed, so there is nothing to bind";
    return emitError(fileLoc) << "--shape " << binding.first()
                              << ": no graph input has a dimension named '"
                              << binding.first() << "' (dimension names: "
                              << known << ")";
  }
  return success();
}

void Importer::recordShapeBindings(ModuleOp module) {
  if (bindings.empty())
    return;
  SmallVector<NamedAttribute> named;
  for (const auto &b : bindings)
    named.push_back(builder.getNamedAttr(b.first(),
                                         builder.getI64IntegerAttr(b.second)));
  module->setAttr(onnx::kShapeBindingsAttrName,
                  builder.getDictionaryAttr(named));
}

/// Strict inference (error_mode 1) so a node whose shape cannot be inferred
/// is reported rather than imported with a guessed type. Declared value_info
/// and output shapes are dropped first: exporters leave stale ones (GPT-2's
/// declared output width), and inference would fail merging them.
LogicalResult Importer::inferShapes() {
  auto *graph = model.mutable_graph();
  graph->clear_value_info();
  for (auto &out : *graph->mutable_output())
    if (out.type().has_tensor_type())
      out.mutable_type()->mutable_tensor_type()->clear_shape();
  try {
    ::onnx::ShapeInferenceOptions options(/*check_type=*/true,
                                          /*strict_mode=*/1,
                                          /*data_prop=*/true);
    ::onnx::shape_inference::InferShapes(
        model, ::onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception &e) {
    // libonnx lists every failing node; the first few name the problem.
    SmallVector<StringRef> lines;
    StringRef(e.what()).trim().split(lines, '\n');
    auto diag = emitError(fileLoc) << "ONNX shape inference failed: ";
    for (size_t i = 0; i < lines.size() && i < 4; ++i)
      diag << (i ? "\n  " : "") << lines[i];
    if (lines.size() > 4)
      diag << "\n  ... and " << lines.size() - 4 << " more";
    return failure();
  }
  for (const auto &vi : graph->input())
    typeOf[vi.name()] = &vi.type();
  for (const auto &vi : graph->value_info())
    typeOf[vi.name()] = &vi.type();
  for (const auto &vi : graph->output())
    typeOf[vi.name()] = &vi.type();
  return success();
}


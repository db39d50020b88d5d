//===- ONNXImporter.cpp - ONNX model to onnx dialect -----------------------===//
//
// libonnx does the ONNX work (parsing, checking, shape inference); this file
// only orders nodes, validates external data paths and maps protos to ops.
//
//===----------------------------------------------------------------------===//

#include "spatten/Target/ONNX/ONNXImporter.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <onnx/checker.h>
#include <onnx/defs/parser.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <queue>

using namespace mlir;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace spatten {

std::string addShapeBinding(StringRef spec, ImportOptions &opts) {
  auto [name, value] = spec.split('=');
  int64_t v;
  if (name.empty() || value.empty() || value.getAsInteger(10, v) || v <= 0)
    return ("--shape expects NAME=VALUE with VALUE > 0, got '" + spec + "'")
        .str();
  opts.shapeBindings[name] = v;
  return "";
}

namespace {

/// Oldest and newest default-domain opsets accepted (libonnx 1.12 knows 17).
constexpr int64_t kMinOpset = 7, kMaxOpset = 17;

class Importer {
public:
  Importer(MLIRContext *ctx, StringRef path, const ImportOptions &opts)
      : ctx(ctx), builder(ctx), path(path.str()), opts(opts),
        fileLoc(FileLineColLoc::get(ctx, path, 0, 0)) {}

  OwningOpRef<ModuleOp> run(llvm::MemoryBufferRef buffer);

private:
  LogicalResult parse(llvm::MemoryBufferRef buffer);
  LogicalResult loadExternalData(::onnx::TensorProto &tensor);
  LogicalResult sortNodes();
  LogicalResult checkModel();
  LogicalResult hoistConstants();
  LogicalResult bindShapes();
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

Location Importer::nodeLoc(const ::onnx::NodeProto &node, size_t index) {
  std::string name = node.name();
  if (name.empty())
    name = node.output_size() ? node.output(0)
                              : node.op_type() + "_" + std::to_string(index);
  return NameLoc::get(StringAttr::get(ctx, name), fileLoc);
}

static std::string describe(const ::onnx::NodeProto &node) {
  std::string name = node.name().empty() && node.output_size()
                         ? node.output(0)
                         : node.name();
  return "node '" + name + "' (" + node.op_type() + ")";
}

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
    auto status = ::onnx::OnnxParser::Parse(model, copy.c_str());
    if (!status.IsOK())
      return emitError(fileLoc) << "cannot parse ONNX text: "
                                << status.ErrorMessage();
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
      auto it = opts.shapeBindings.find(dim.dim_param());
      if (it == opts.shapeBindings.end())
        continue;
      used.insert(it->first());
      dim.set_dim_value(it->second);
    }
  }
  for (const auto &binding : opts.shapeBindings) {
    if (used.contains(binding.first()))
      continue;
    std::string known;
    for (const auto &input : model.graph().input())
      for (const auto &dim : input.type().tensor_type().shape().dim())
        if (dim.has_dim_param() && known.find("'" + dim.dim_param() + "'") == std::string::npos)
          known += (known.empty() ? "'" : ", '") + dim.dim_param() + "'";
    return emitError(fileLoc) << "--shape " << binding.first()
                              << ": no graph input has a dimension named '"
                              << binding.first() << "' (dimension names: "
                              << (known.empty() ? "none" : known) << ")";
  }
  return success();
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

//===----------------------------------------------------------------------===//
// Types, tensors, attributes
//===----------------------------------------------------------------------===//

FailureOr<Type> Importer::convertType(const ::onnx::TypeProto &type,
                                      Location loc, StringRef what) {
  if (!type.has_tensor_type())
    return emitError(loc) << what << " is not a tensor";
  const auto &tt = type.tensor_type();
  Type elem = onnx::getElementTypeForONNX(tt.elem_type(), ctx);
  if (!elem)
    return emitError(loc) << what << " has unsupported element type "
                          << ::onnx::TensorProto::DataType_Name(
                                 (::onnx::TensorProto::DataType)tt.elem_type());
  // libonnx 1.12 cannot see through Constant nodes in data propagation, so
  // some Reshape results have unknown rank here; -canonicalize ranks them.
  if (!tt.has_shape())
    return Type(UnrankedTensorType::get(elem));
  SmallVector<int64_t> dims;
  for (const auto &d : tt.shape().dim())
    dims.push_back(d.has_dim_value() ? d.dim_value() : ShapedType::kDynamic);
  return Type(RankedTensorType::get(dims, elem));
}

/// Appends `values` as little-endian `width`-byte elements.
template <typename Range>
static void appendLE(std::string &out, const Range &values, int width) {
  for (auto v : values) {
    uint64_t bits = 0;
    if constexpr (std::is_floating_point_v<decltype(v)>) {
      if (width == 4) {
        float f = v;
        std::memcpy(&bits, &f, 4);
      } else {
        double d = v;
        std::memcpy(&bits, &d, 8);
      }
    } else {
      bits = (uint64_t)v;
    }
    out.append(reinterpret_cast<const char *>(&bits), width);
  }
}

/// `bytes` as a resource blob, without copying them when they are aligned
/// for any element type (weights are most of a model's size).
static AsmResourceBlob takeBytes(std::string bytes) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t))
    return HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(bytes.data(), bytes.size()), alignof(uint64_t));
  auto *owned = new std::string(std::move(bytes));
  return AsmResourceBlob(
      ArrayRef<char>(owned->data(), owned->size()), alignof(uint64_t),
      [owned](void *, size_t, size_t) { delete owned; },
      /*dataIsMutable=*/true);
}

FailureOr<ElementsAttr> Importer::convertTensor(::onnx::TensorProto &t,
                                                Location loc) {
  Type elem = onnx::getElementTypeForONNX(t.data_type(), ctx);
  if (!elem)
    return emitError(loc) << "tensor '" << t.name()
                          << "' has unsupported data type "
                          << ::onnx::TensorProto::DataType_Name(
                                 (::onnx::TensorProto::DataType)t.data_type());
  SmallVector<int64_t> dims(t.dims().begin(), t.dims().end());
  auto type = RankedTensorType::get(dims, elem);
  int64_t width = elem.isInteger(1) ? 1 : elem.getIntOrFloatBitWidth() / 8;
  std::string bytes;
  using DT = ::onnx::TensorProto;
  if (t.has_raw_data()) {
    bytes = std::move(*t.mutable_raw_data()); // the importer reads it once
  } else {
    switch (t.data_type()) {
    case DT::FLOAT: appendLE(bytes, t.float_data(), 4); break;
    case DT::DOUBLE: appendLE(bytes, t.double_data(), 8); break;
    case DT::INT64: appendLE(bytes, t.int64_data(), 8); break;
    case DT::UINT32:
    case DT::UINT64: appendLE(bytes, t.uint64_data(), width); break;
    default: appendLE(bytes, t.int32_data(), width); break;
    }
  }
  if ((int64_t)bytes.size() != type.getNumElements() * width)
    return emitError(loc) << "tensor '" << t.name() << "' has " << bytes.size()
                          << " bytes of data, expected "
                          << type.getNumElements() * width << " for " << type;
  if (elem.isInteger(1)) {
    SmallVector<bool> bits;
    for (char c : bytes)
      bits.push_back(c != 0);
    return ElementsAttr(DenseElementsAttr::get(type, bits));
  }
  if ((int64_t)bytes.size() <= 64)
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(
        type, ArrayRef<char>(bytes.data(), bytes.size())));
  // Resource keys must be printable identifiers; ONNX names contain ':' '/'.
  std::string key = "onnx_" + t.name();
  for (char &c : key)
    if (!llvm::isAlnum(c) && c != '_' && c != '.')
      c = '_';
  return ElementsAttr(
      DenseResourceElementsAttr::get(type, key, takeBytes(std::move(bytes))));
}


FailureOr<Attribute>
Importer::convertAttribute(const ::onnx::AttributeProto &attr, Location loc) {
  using AP = ::onnx::AttributeProto;
  switch (attr.type()) {
  case AP::INT:
    return Attribute(builder.getI64IntegerAttr(attr.i()));
  case AP::FLOAT:
    return Attribute(builder.getF32FloatAttr(attr.f()));
  case AP::STRING:
    return Attribute(builder.getStringAttr(attr.s()));
  case AP::INTS:
    return Attribute(builder.getDenseI64ArrayAttr(
        SmallVector<int64_t>(attr.ints().begin(), attr.ints().end())));
  case AP::FLOATS:
    return Attribute(builder.getDenseF32ArrayAttr(
        SmallVector<float>(attr.floats().begin(), attr.floats().end())));
  case AP::STRINGS: {
    SmallVector<Attribute> strs;
    for (const auto &s : attr.strings())
      strs.push_back(builder.getStringAttr(s));
    return Attribute(builder.getArrayAttr(strs));
  }
  case AP::TENSOR: {
    ::onnx::TensorProto tensor = attr.t();
    auto t = convertTensor(tensor, loc);
    if (failed(t))
      return failure();
    return Attribute(*t);
  }
  default:
    return emitError(loc) << "attribute '" << attr.name() << "' has type "
                          << AP::AttributeType_Name(attr.type())
                          << ", which is not supported";
  }
}

Value Importer::makeI64Constant(ArrayRef<int64_t> values, Location loc) {
  auto type = RankedTensorType::get({(int64_t)values.size()}, builder.getI64Type());
  return onnx::ConstantOp::create(builder, loc, type,
                                  DenseElementsAttr::get(type, values));
}

//===----------------------------------------------------------------------===//
// Nodes
//===----------------------------------------------------------------------===//

/// Rewrites the attribute forms of opsets < 13 into the opset-13 operand
/// forms the dialect defines (see ONNXDialect.td).
LogicalResult Importer::upgradeToOpset13(const ::onnx::NodeProto &node,
                                         Location loc,
                                         SmallVectorImpl<Value> &operands,
                                         SmallVectorImpl<bool> &present,
                                         NamedAttrList &attrs) {
  StringRef op = node.op_type();
  auto moveToOperand = [&](StringRef name, unsigned position) {
    Attribute attr = attrs.erase(name);
    if (!attr)
      return;
    auto ints = cast<DenseI64ArrayAttr>(attr).asArrayRef();
    while (operands.size() < position) {
      operands.push_back({});
      present.push_back(false);
    }
    operands.insert(operands.begin() + position, makeI64Constant(ints, loc));
    present.insert(present.begin() + position, true);
  };
  if (opset < 13 && (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum"))
    moveToOperand("axes", 1);
  if (opset < 13 && op == "Split")
    moveToOperand("split", 1);
  if (opset < 10 && op == "Slice") {
    moveToOperand("starts", 1);
    moveToOperand("ends", 2);
    moveToOperand("axes", 3);
  }
  if (opset < 13 && (op == "Softmax" || op == "LogSoftmax")) {
    // Before opset 13 the input is coerced to 2-D at `axis` (default 1);
    // that is the opset-13 op when `axis` is the last dim. Where the rank is
    // not known yet, coerce_2d records the old semantics for canonicalize.
    auto axisAttr = dyn_cast_or_null<IntegerAttr>(attrs.get("axis"));
    int64_t axis = axisAttr ? axisAttr.getInt() : 1;
    auto ranked = dyn_cast<RankedTensorType>(operands[0].getType());
    if (ranked && (axis == -1 || axis == ranked.getRank() - 1)) {
      attrs.set("axis", builder.getI64IntegerAttr(-1));
    } else {
      attrs.set("axis", builder.getI64IntegerAttr(axis));
      attrs.set("coerce_2d", builder.getUnitAttr());
    }
  }
  return success();
}

/// Segment sizes of the schema's formal parameters (Single = 1, Optional =
/// present?, Variadic = rest), as AttrSized{Operand,Result}Segments expects.
static SmallVector<int32_t>
segmentSizes(const std::vector<::onnx::OpSchema::FormalParameter> &formals,
             ArrayRef<bool> present) {
  SmallVector<int32_t> sizes;
  size_t pos = 0;
  for (const auto &formal : formals) {
    if (formal.GetOption() == ::onnx::OpSchema::Variadic) {
      sizes.push_back(present.size() - pos);
      pos = present.size();
    } else {
      bool here = pos < present.size() && present[pos];
      sizes.push_back(here ? 1 : 0);
      ++pos;
    }
  }
  return sizes;
}

LogicalResult Importer::buildNode(const ::onnx::NodeProto &node, size_t index) {
  Location loc = nodeLoc(node, index);
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    return emitError(loc) << "unsupported op type '" << node.domain() << "."
                          << node.op_type() << "' in " << describe(node)
                          << ": only the default ONNX domain is supported";
  std::string name = "onnx." + node.op_type();
  auto opName = RegisteredOperationName::lookup(name, ctx);
  if (!opName)
    return emitError(loc) << "unsupported op type '" << node.op_type()
                          << "' in " << describe(node);

  NamedAttrList attrs;
  for (const auto &attr : node.attribute()) {
    auto converted = convertAttribute(attr, loc);
    if (failed(converted))
      return failure();
    attrs.set(attr.name(), *converted);
  }
  if (node.op_type() == "Constant") {
    // value_float, value_ints, ... are spellings of one `value`.
    if (attrs.getAttrs().size() != 1)
      return emitError(loc) << describe(node) << " must have exactly one value attribute";
    NamedAttribute only = attrs.getAttrs().front();
    Attribute value = only.getValue();
    StringRef kind = only.getName().getValue();
    auto scalarType = [&](Type t) { return RankedTensorType::get({}, t); };
    if (kind == "value_float")
      value = DenseElementsAttr::get(scalarType(builder.getF32Type()),
                                     cast<FloatAttr>(value).getValue());
    else if (kind == "value_int")
      value = DenseElementsAttr::get(scalarType(builder.getI64Type()),
                                     cast<IntegerAttr>(value).getValue());
    else if (kind == "value_ints") {
      auto ints = cast<DenseI64ArrayAttr>(value).asArrayRef();
      value = DenseElementsAttr::get(
          RankedTensorType::get({(int64_t)ints.size()}, builder.getI64Type()), ints);
    } else if (kind == "value_floats") {
      auto floats = cast<DenseF32ArrayAttr>(value).asArrayRef();
      value = DenseElementsAttr::get(
          RankedTensorType::get({(int64_t)floats.size()}, builder.getF32Type()),
          floats);
    } else if (kind != "value")
      return emitError(loc) << describe(node) << ": attribute '" << kind
                            << "' is not supported";
    auto elements = cast<ElementsAttr>(value);
    auto op = onnx::ConstantOp::create(
        builder, loc, cast<RankedTensorType>(elements.getType()), elements);
    values[node.output(0)] = op.getResult();
    return success();
  }

  SmallVector<Value> operands;
  SmallVector<bool> present;
  for (const auto &in : node.input()) {
    present.push_back(!in.empty());
    operands.push_back(in.empty() ? Value() : values.lookup(in));
  }
  if (failed(upgradeToOpset13(node, loc, operands, present, attrs)))
    return failure();
  // Trailing absent inputs are the same as omitted ones.
  while (!present.empty() && !present.back()) {
    present.pop_back();
    operands.pop_back();
  }

  const auto *schema =
      ::onnx::OpSchemaRegistry::Schema(node.op_type(), kMaxOpset, "");
  OperationState state(loc, *opName);
  for (Value v : operands)
    if (v)
      state.operands.push_back(v);
  if (opName->hasTrait<OpTrait::AttrSizedOperandSegments>())
    attrs.set("operandSegmentSizes",
              builder.getDenseI32ArrayAttr(segmentSizes(schema->inputs(), present)));

  SmallVector<bool> outPresent;
  SmallVector<std::string> outNames;
  for (const auto &out : node.output()) {
    outPresent.push_back(!out.empty());
    if (out.empty())
      continue;
    auto it = typeOf.find(out);
    if (it == typeOf.end())
      return emitError(loc) << "shape inference gave no type for '" << out
                            << "', output of " << describe(node);
    auto type = convertType(*it->second, loc, "value '" + out + "'");
    if (failed(type))
      return failure();
    state.types.push_back(*type);
    outNames.push_back(out);
  }
  if (opName->hasTrait<OpTrait::AttrSizedResultSegments>())
    attrs.set("resultSegmentSizes",
              builder.getDenseI32ArrayAttr(segmentSizes(schema->outputs(), outPresent)));
  state.attributes = attrs;
  Operation *op = builder.create(state);
  for (auto [r, out] : llvm::zip(op->getResults(), outNames))
    values[out] = r;
  return success();
}

LogicalResult Importer::buildFunction(ModuleOp module) {
  const auto &graph = model.graph();
  builder.setInsertionPointToEnd(module.getBody());
  llvm::StringSet<> initNames;
  for (const auto &init : graph.initializer())
    initNames.insert(init.name());

  // Inputs that also have an initializer are defaults (IR >= 4): the model
  // is compiled with the initializer's value, so they are not arguments.
  SmallVector<Type> argTypes, resultTypes;
  SmallVector<std::string> argNames;
  for (const auto &in : graph.input()) {
    if (initNames.contains(in.name()))
      continue;
    auto type = convertType(in.type(), fileLoc, "graph input '" + in.name() + "'");
    if (failed(type))
      return failure();
    argTypes.push_back(*type);
    argNames.push_back(in.name());
  }
  auto func = func::FuncOp::create(builder, fileLoc, "main",
                                   builder.getFunctionType(argTypes, resultTypes));
  for (size_t i = 0; i < argNames.size(); ++i)
    func.setArgAttr(i, onnx::kNameAttrName, builder.getStringAttr(argNames[i]));

  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  for (auto [name, arg] : llvm::zip(argNames, entry->getArguments()))
    values[name] = arg;
  for (auto &init : *model.mutable_graph()->mutable_initializer()) {
    auto hoisted = hoistedFrom.find(init.name());
    Location loc = NameLoc::get(
        builder.getStringAttr(hoisted == hoistedFrom.end() ? init.name()
                                                           : hoisted->second),
        fileLoc);
    auto value = convertTensor(init, loc);
    if (failed(value))
      return failure();
    values[init.name()] = onnx::ConstantOp::create(
        builder, loc, cast<RankedTensorType>(value->getType()), *value);
  }
  for (int i = 0; i < graph.node_size(); ++i)
    if (failed(buildNode(graph.node(i), i)))
      return failure();

  // Result types are the inferred ones: declared output shapes can be stale.
  SmallVector<Value> results;
  for (const auto &out : graph.output()) {
    Value v = values.lookup(out.name());
    if (!v)
      return emitError(fileLoc) << "graph output '" << out.name()
                                << "' is not defined by any node, input or initializer";
    results.push_back(v);
    resultTypes.push_back(v.getType());
  }
  func::ReturnOp::create(builder, fileLoc, results);
  func.setFunctionType(builder.getFunctionType(argTypes, resultTypes));
  for (int i = 0; i < graph.output_size(); ++i)
    func.setResultAttr(i, onnx::kNameAttrName,
                       builder.getStringAttr(graph.output(i).name()));
  return success();
}

OwningOpRef<ModuleOp> Importer::run(llvm::MemoryBufferRef buffer) {
  ctx->loadDialect<onnx::ONNXDialect, func::FuncDialect>();
  if (failed(parse(buffer)) || failed(sortNodes()) || failed(checkModel()) ||
      failed(hoistConstants()) || failed(bindShapes()) ||
      failed(inferShapes()))
    return nullptr;
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  (*module)->setAttr(onnx::kOpsetAttrName, builder.getI64IntegerAttr(opset));
  if (!model.producer_name().empty())
    (*module)->setAttr(
        "onnx.producer",
        builder.getStringAttr(model.producer_version().empty()
                                  ? model.producer_name()
                                  : model.producer_name() + " " +
                                        model.producer_version()));
  if (failed(buildFunction(*module)) || failed(verify(*module)))
    return nullptr;
  return module;
}

} // namespace

OwningOpRef<ModuleOp> importONNXModel(llvm::MemoryBufferRef buffer,
                                      const ImportOptions &opts,
                                      MLIRContext *ctx) {
  Importer importer(ctx, buffer.getBufferIdentifier(), opts);
  return importer.run(buffer);
}

OwningOpRef<ModuleOp> importONNXModel(StringRef path, const ImportOptions &opts,
                                      MLIRContext *ctx) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    emitError(FileLineColLoc::get(ctx, path, 0, 0))
        << "cannot read '" << path << "': " << buffer.getError().message();
    return nullptr;
  }
  return importONNXModel((*buffer)->getMemBufferRef(), opts, ctx);
}

} // namespace spatten

//===- ONNXImporter.cpp - ONNX model to onnx dialect -----------------------===//
//
// Maps the prepared ModelProto (PrepareModel.cpp) to one func.func of onnx
// dialect ops: types, initializers as resource blobs, attributes, and the
// few opset 7-12 forms rewritten to opset 13 (docs/ONNXImport.md).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Support/InputFiles.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"

#include <onnx/defs/schema.h>

using namespace mlir;

namespace spatten {

std::string addShapeBinding(StringRef spec, ImportOptions &opts) {
  auto [name, value] = spec.split('=');
  int64_t v;
  if (name.empty() || value.empty() || value.getAsInteger(10, v) || v < 0)
    return ("--shape expects NAME=VALUE with VALUE >= 0, got '" + spec + "'")
        .str();
  opts.shapeBindings[name] = v;
  return "";
}

std::string setMaxContext(StringRef value, ImportOptions &opts) {
  opts.maxContext = -1; // the position table's rows
  if (value.empty())
    return "";
  if (value.getAsInteger(10, opts.maxContext) || opts.maxContext < 1)
    return ("--max-context expects a positive number of positions, got '" +
            value + "'")
        .str();
  return "";
}

using namespace onnx_import;

std::string onnx_import::describe(const ::onnx::NodeProto &node) {
  std::string name = node.name().empty() && node.output_size()
                         ? node.output(0)
                         : node.name();
  return "node '" + name + "' (" + node.op_type() + ")";
}

Location Importer::nodeLoc(const ::onnx::NodeProto &node, size_t index) {
  std::string name = node.name();
  if (name.empty())
    name = node.output_size() ? node.output(0)
                              : node.op_type() + "_" + std::to_string(index);
  return NameLoc::get(StringAttr::get(ctx, name), fileLoc);
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
      failed(hoistConstants()) || failed(bindGenerationContext()) ||
      failed(checkPositionTable()) || failed(bindShapes()) ||
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
  recordGenerationContext(*module);
  recordShapeBindings(*module);
  return module;
}

OwningOpRef<ModuleOp> importONNXModel(llvm::MemoryBufferRef buffer,
                                      const ImportOptions &opts,
                                      MLIRContext *ctx) {
  Importer importer(ctx, buffer.getBufferIdentifier(), opts);
  return importer.run(buffer);
}

OwningOpRef<ModuleOp> importONNXModel(StringRef path, const ImportOptions &opts,
                                      MLIRContext *ctx) {
  auto buffer = readRegularFile(path);
  if (!buffer) {
    emitError(FileLineColLoc::get(ctx, path, 0, 0))
        << llvm::toString(buffer.takeError());
    return nullptr;
  }
  return importONNXModel((*buffer)->getMemBufferRef(), opts, ctx);
}

} // namespace spatten

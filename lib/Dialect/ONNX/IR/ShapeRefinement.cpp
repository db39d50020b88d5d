//===- ShapeRefinement.cpp - static result types via libonnx ---------------===//
//
// After folding turns shape computations into constants, result types that
// were dynamic at import (Reshape targets, Range lengths, ...) can be made
// static. Rather than re-implement every op's shape function, this pattern
// rebuilds a one-node ONNX graph (NodeProto + input TypeProtos + constant
// input TensorProtos) and calls the op schema's own TypeAndShapeInference
// function from libonnx, then keeps every inferred static dim.
//
//===----------------------------------------------------------------------===//

#include "ONNXUtils.h"
#include "ShapeRefinement.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/PatternMatch.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <deque>

using namespace mlir;

namespace spatten::onnx {
namespace {

/// Opset whose schemas are queried: the ops carry opset-13 semantics and the
/// 14-17 schemas of these ops are supersets, so the newest one (17, the
/// highest libonnx 1.12 knows) accepts every op.
constexpr int kSchemaOpset = 17;
/// Constant operands up to this many elements are handed to the inference
/// function as data (shape-like inputs: Reshape shape, Range bounds, ...).
constexpr int64_t kMaxDataElements = 1 << 16;

bool toTypeProto(Type type, ::onnx::TypeProto &proto) {
  auto tensorType = dyn_cast<TensorType>(type);
  if (!tensorType)
    return false;
  auto dt = getONNXDataType(tensorType.getElementType());
  if (!dt)
    return false;
  auto *tensor = proto.mutable_tensor_type();
  tensor->set_elem_type(*dt);
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return true; // no shape: rank unknown
  auto *shape = tensor->mutable_shape();
  for (int64_t d : ranked.getShape()) {
    auto *dim = shape->add_dim();
    if (!ShapedType::isDynamic(d))
      dim->set_dim_value(d);
  }
  return true;
}

bool toTensorProto(const ConstTensor &t, ::onnx::TensorProto &proto) {
  auto dt = getONNXDataType(t.type.getElementType());
  if (!dt)
    return false;
  proto.set_data_type(*dt);
  for (int64_t d : t.shape())
    proto.add_dims(d);
  std::string raw;
  raw.reserve(t.size() * t.elemBytes);
  for (int64_t i = 0, n = t.size(); i < n; ++i)
    raw.append(t.at(i), t.elemBytes);
  proto.set_raw_data(std::move(raw));
  return true;
}

/// Inherent attributes become ONNX attributes; segment sizes are MLIR-only.
bool toAttributeProto(NamedAttribute named, ::onnx::AttributeProto &proto) {
  proto.set_name(named.getName().str());
  if (isa<UnitAttr>(named.getValue()))
    return false; // coerce_2d: MLIR-only, callers skip it
  Attribute attr = named.getValue();
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    proto.set_type(::onnx::AttributeProto::INT);
    proto.set_i(i.getInt());
  } else if (auto f = dyn_cast<FloatAttr>(attr)) {
    proto.set_type(::onnx::AttributeProto::FLOAT);
    proto.set_f(f.getValueAsDouble());
  } else if (auto s = dyn_cast<StringAttr>(attr)) {
    proto.set_type(::onnx::AttributeProto::STRING);
    proto.set_s(s.str());
  } else if (auto ints = dyn_cast<DenseI64ArrayAttr>(attr)) {
    proto.set_type(::onnx::AttributeProto::INTS);
    for (int64_t v : ints.asArrayRef())
      proto.add_ints(v);
  } else if (auto elements = dyn_cast<ElementsAttr>(attr)) {
    auto t = ConstTensor::get(elements);
    proto.set_type(::onnx::AttributeProto::TENSOR);
    return t && toTensorProto(*t, *proto.mutable_t());
  } else {
    return false;
  }
  return true;
}

/// Runs the libonnx shape function of `op`; returns one TypeProto per result,
/// or nothing when the op has no schema or inference throws.
std::optional<std::vector<::onnx::TypeProto>> inferWithONNX(Operation *op) {
  StringRef opType = op->getName().stripDialect();
  const auto *schema = ::onnx::OpSchemaRegistry::Schema(opType.str(),
                                                        kSchemaOpset, "");
  if (!schema)
    return std::nullopt;
  ::onnx::NodeProto node;
  node.set_op_type(opType.str());
  for (NamedAttribute attr : op->getAttrs()) {
    if (attr.getName() == "operandSegmentSizes" ||
        attr.getName() == "resultSegmentSizes" ||
        isa<UnitAttr>(attr.getValue()) ||
        attr.getName().getValue().contains('.'))
      continue;
    if (!toAttributeProto(attr, *node.add_attribute()))
      return std::nullopt;
  }
  // Operands map to schema inputs in order; absent optionals are "".
  std::deque<::onnx::TypeProto> types;
  std::deque<::onnx::TensorProto> tensors;
  std::unordered_map<std::string, ::onnx::TypeProto *> typeByName;
  std::unordered_map<std::string, const ::onnx::TensorProto *> dataByName;
  auto segments = op->getAttrOfType<DenseI32ArrayAttr>("operandSegmentSizes");
  unsigned next = 0;
  auto addInput = [&](Value v) {
    std::string name = "in" + std::to_string(next++);
    node.add_input(name);
    if (!toTypeProto(v.getType(), types.emplace_back()))
      return false;
    typeByName[name] = &types.back();
    if (auto t = getConstTensor(v); t && t->size() <= kMaxDataElements) {
      if (!toTensorProto(*t, tensors.emplace_back()))
        return false;
      dataByName[name] = &tensors.back();
    }
    return true;
  };
  if (segments) {
    unsigned pos = 0;
    for (int32_t size : segments.asArrayRef()) {
      if (size == 0)
        node.add_input("");
      for (int32_t k = 0; k < size; ++k)
        if (!addInput(op->getOperand(pos++)))
          return std::nullopt;
    }
  } else {
    for (Value v : op->getOperands())
      if (!addInput(v))
        return std::nullopt;
  }
  for (unsigned i = 0; i < op->getNumResults(); ++i)
    node.add_output("out" + std::to_string(i));
  try {
    ::onnx::shape_inference::InferenceContextImpl ctx(node, typeByName,
                                                      dataByName, {});
    schema->GetTypeAndShapeInferenceFunction()(ctx);
    std::vector<::onnx::TypeProto> out;
    for (unsigned i = 0; i < op->getNumResults(); ++i)
      out.push_back(*ctx.getOutputType(i));
    return out;
  } catch (const std::exception &) {
    // Inference failure is not an error here: the type simply stays as is.
    return std::nullopt;
  }
}

/// LessOrEqual and GreaterOrEqual, which libonnx 1.12 defines as functions
/// (Or of Less/Greater and Equal) whose shape function infers no shape: a
/// bool of the operands' broadcast shape (Hugging Face's decoder masks
/// compare with <=).
std::optional<std::vector<::onnx::TypeProto>> inferOrEqual(Operation *op) {
  if (!isa<LessOrEqualOp, GreaterOrEqualOp>(op))
    return std::nullopt;
  auto a = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
  auto b = dyn_cast<RankedTensorType>(op->getOperand(1).getType());
  SmallVector<int64_t> shape;
  std::vector<::onnx::TypeProto> out(1);
  if (!a || !b ||
      !OpTrait::util::getBroadcastedShape(a.getShape(), b.getShape(), shape) ||
      !toTypeProto(RankedTensorType::get(shape, IntegerType::get(
                                                    op->getContext(), 1)),
                   out[0]))
    return std::nullopt;
  return out;
}

/// `current` with each dynamic dim replaced by the inferred static one;
/// null when the inferred type has another rank or element type or a
/// conflicting static dim.
RankedTensorType refine(TensorType currentType,
                        const ::onnx::TypeProto &inferred) {
  if (!inferred.has_tensor_type() || !inferred.tensor_type().has_shape())
    return {};
  const auto &shape = inferred.tensor_type().shape();
  auto current = dyn_cast<RankedTensorType>(currentType);
  if (!current) // unranked: the inferred rank is news
    current = RankedTensorType::get(
        SmallVector<int64_t>(shape.dim_size(), ShapedType::kDynamic),
        currentType.getElementType());
  if (shape.dim_size() != current.getRank())
    return {};
  SmallVector<int64_t> dims(current.getShape());
  for (int64_t d = 0; d < current.getRank(); ++d) {
    const auto &dim = shape.dim(d);
    if (!dim.has_dim_value())
      continue;
    if (dim.dim_value() < 0)
      return {}; // from a negative constant: the verifiers name it
    if (ShapedType::isDynamic(dims[d]))
      dims[d] = dim.dim_value();
    else if (dims[d] != dim.dim_value())
      return {};
  }
  return RankedTensorType::get(dims, current.getElementType(),
                               current.getEncoding());
}

struct RefineResultTypes : RewritePattern {
  RefineResultTypes(MLIRContext *ctx)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (!isa<ONNXDialect>(op->getDialect()) ||
        llvm::all_of(op->getResultTypes(), [](Type t) {
          auto r = dyn_cast<RankedTensorType>(t);
          return r && r.hasStaticShape();
        }))
      return failure();
    auto inferred = inferOrEqual(op);
    if (!inferred)
      inferred = inferWithONNX(op);
    if (!inferred)
      return failure();
    SmallVector<std::pair<OpResult, RankedTensorType>> updates;
    for (OpResult r : op->getResults()) {
      auto current = dyn_cast<TensorType>(r.getType());
      if (!current)
        continue;
      auto refined = refine(current, (*inferred)[r.getResultNumber()]);
      if (refined && refined != current)
        updates.emplace_back(r, refined);
    }
    if (updates.empty())
      return failure();
    rewriter.modifyOpInPlace(op, [&] {
      for (auto &[r, t] : updates)
        r.setType(t);
    });
    // Users see new operand types: revisit them (their own types may refine).
    for (auto &[r, t] : updates)
      for (Operation *user : r.getUsers())
        rewriter.modifyOpInPlace(user, [] {});
    return success();
  }
};

/// func.return operands refined past the function's declared result types:
/// update the signature of functions nobody calls (the imported @main).
struct RefineFunctionResults : OpRewritePattern<func::ReturnOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(func::ReturnOp ret,
                                PatternRewriter &rewriter) const override {
    auto func = dyn_cast<func::FuncOp>(ret->getParentOp());
    if (!func || func.getResultTypes() == ret.getOperandTypes())
      return failure();
    for (auto [declared, actual] :
         llvm::zip(func.getResultTypes(), ret.getOperandTypes()))
      if (failed(verifyCompatibleShape(declared, actual)))
        return failure();
    Operation *symbolTable = SymbolTable::getNearestSymbolTable(func->getParentOp());
    if (symbolTable && !SymbolTable::symbolKnownUseEmpty(func, symbolTable))
      return failure();
    rewriter.modifyOpInPlace(func, [&] {
      func.setFunctionType(FunctionType::get(
          func.getContext(), func.getArgumentTypes(), ret.getOperandTypes()));
    });
    return success();
  }
};

} // namespace

void populateShapeRefinementPatterns(RewritePatternSet &patterns) {
  patterns.add<RefineResultTypes, RefineFunctionResults>(patterns.getContext());
}

} // namespace spatten::onnx

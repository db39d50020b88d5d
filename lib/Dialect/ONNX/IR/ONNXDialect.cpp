//===- ONNXDialect.cpp - ONNX dialect --------------------------------------===//

#include "spatten/Dialect/ONNX/IR/ONNXDialect.h"
#include "ProjectionSplit.h"
#include "ShapeRefinement.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace spatten::onnx;

#include "spatten/Dialect/ONNX/IR/ONNXOpsDialect.cpp.inc"

#define GET_OP_CLASSES
#include "spatten/Dialect/ONNX/IR/ONNXOps.cpp.inc"

void ONNXDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "spatten/Dialect/ONNX/IR/ONNXOps.cpp.inc"
      >();
}

Operation *ONNXDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, cast<RankedTensorType>(type),
                            elements);
}

void ONNXDialect::getCanonicalizationPatterns(
    RewritePatternSet &results) const {
  populateShapeRefinementPatterns(results);
  populateProjectionSplitPatterns(results);
}

//===- FiniteParameters.cpp - Model parameters must be finite -------------===//
//
// A NaN or infinite weight, bias, embedding row or norm parameter poisons
// every output it reaches, and fixed-point formats cannot hold it (the
// simulator would stop at the first quantized row). The compiler refuses
// it at the op that reads it, naming the operand and the element, before
// any instruction is emitted. Constants that may legitimately be infinite
// (additive masks of -inf) are not parameters and are not checked.
//
//===----------------------------------------------------------------------===//

#include "FiniteParameters.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace spatten;

namespace {

/// The index of the first non-finite element of `value` (f32), if any.
std::optional<int64_t> firstNonFinite(ElementsAttr value) {
  if (auto res = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt; // the emitter reports a blob without data
    ArrayRef<char> bytes = blob->getData();
    for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
      float x;
      std::memcpy(&x, bytes.data() + i, 4);
      if (!std::isfinite(x))
        return int64_t(i / 4);
    }
    return std::nullopt;
  }
  auto dense = dyn_cast<DenseFPElementsAttr>(value);
  if (!dense)
    return std::nullopt;
  int64_t i = 0;
  for (APFloat x : dense.getValues<APFloat>()) {
    if (!x.isFinite())
      return i;
    if (dense.isSplat())
      break;
    ++i;
  }
  return std::nullopt;
}

/// Refuses a constant `operand` (named `what`) of `op` holding a
/// non-finite element.
LogicalResult checkOperand(Operation *op, Value operand, StringRef what) {
  if (!operand)
    return success();
  auto constant = operand.getDefiningOp<arith::ConstantOp>();
  auto value = constant ? dyn_cast<ElementsAttr>(constant.getValue())
                        : ElementsAttr();
  if (!value || !value.getElementType().isF32())
    return success();
  std::optional<int64_t> at = firstNonFinite(value);
  if (!at)
    return success();
  return op->emitOpError("reads a ")
         << what << " holding a non-finite value at element " << *at
         << " (flat index); model parameters must be finite";
}

/// The operands of `op` that are model parameters, with their names.
SmallVector<std::pair<Value, StringRef>, 2> parametersOf(Operation *op) {
  if (auto linear = dyn_cast<LinearOp>(op))
    return {{linear.getWeight(), "weight"}, {linear.getBias(), "bias"}};
  if (auto lookup = dyn_cast<EmbeddingOp>(op))
    return {{lookup.getTable(), "table"}};
  if (auto norm = dyn_cast<LayerNormOp>(op))
    return {{norm.getGamma(), "gamma"}, {norm.getBeta(), "beta"}};
  return {};
}

} // namespace

LogicalResult spatten::isa::checkFiniteParameters(ModuleOp module) {
  WalkResult r = module.walk([&](Operation *op) {
    for (auto [operand, what] : parametersOf(op))
      if (failed(checkOperand(op, operand, what)))
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return failure(r.wasInterrupted());
}

//===- ConstTensor.h - element access to onnx constants ----------*- C++ -*-===//
//
// Folders read constants that are either `dense<...>` or `dense_resource<...>`
// (initializer blobs), so they go through this view rather than
// DenseElementsAttr::getValues, which does not see resource blobs.
//
//===----------------------------------------------------------------------===//
#ifndef SPATTEN_LIB_DIALECT_ONNX_IR_CONSTTENSOR_H
#define SPATTEN_LIB_DIALECT_ONNX_IR_CONSTTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>
#include <vector>

namespace spatten::onnx {

/// Row-major elements of a constant tensor. Element i occupies `elemBytes`
/// little-endian bytes at `data + i * elemBytes` (i1 uses one byte per
/// element); a splat stores one element for all.
struct ConstTensor {
  mlir::RankedTensorType type;
  int64_t elemBytes = 0;
  bool splat = false;
  llvm::ArrayRef<char> data;
  std::vector<char> owned; // backing store when `data` is not the attr's own

  /// Views `attr` (dense or dense_resource, static shape). Returns nullopt
  /// for other attributes, dynamic shapes, released blobs and element types
  /// that are neither int nor float.
  static std::optional<ConstTensor> get(mlir::Attribute attr);
  ConstTensor() = default;
  ConstTensor(const ConstTensor &other) { *this = other; }
  ConstTensor &operator=(const ConstTensor &other);

  int64_t size() const { return type.getNumElements(); }
  llvm::ArrayRef<int64_t> shape() const { return type.getShape(); }
  const char *at(int64_t i) const {
    return data.data() + (splat ? 0 : i * elemBytes);
  }
  bool isFloat() const { return llvm::isa<mlir::FloatType>(type.getElementType()); }
  int64_t getInt(int64_t i) const;
  double getDouble(int64_t i) const;
};

/// Bytes per element of `type` in ConstTensor layout (i1 -> 1), or 0 if
/// unsupported.
int64_t elementBytes(mlir::Type type);

/// Builds the attribute for `type` from row-major element bytes. Tensors above
/// kDenseLimitBytes become `dense_resource` blobs so weights are never
/// expanded into textual dense<> form.
mlir::ElementsAttr makeElements(mlir::RankedTensorType type,
                                llvm::ArrayRef<char> bytes);
inline constexpr int64_t kDenseLimitBytes = 64;

/// Writes `v` (integer value or float value) as element `i` of `bytes`.
void storeInt(mlir::Type elemType, char *bytes, int64_t i, int64_t v);
void storeDouble(mlir::Type elemType, char *bytes, int64_t i, double v);

/// The integer entries of a 1-D/0-D constant (e.g. shapes, axes), if `value`
/// is produced by a constant.
std::optional<llvm::SmallVector<int64_t>> getConstInts(mlir::Value value);
/// The constant attribute behind `value` viewed as a ConstTensor.
std::optional<ConstTensor> getConstTensor(mlir::Value value);

} // namespace spatten::onnx

#endif

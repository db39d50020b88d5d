//===- FoldUtils.h - helpers shared by the onnx folders ----------*- C++ -*-===//
//
// The folders are split by concept (ONNXFold.cpp: elementwise math, shapes
// and data movement; ContractionFold.cpp: Einsum and MatMul; MaskFold.cpp:
// Trilu, Tile, CumSum); they share the element walks below.
//
//===----------------------------------------------------------------------===//
#ifndef SPATTEN_LIB_DIALECT_ONNX_IR_FOLDUTILS_H
#define SPATTEN_LIB_DIALECT_ONNX_IR_FOLDUTILS_H

#include "ONNXUtils.h"

#include "mlir/IR/OpDefinition.h"

#include <functional>

namespace spatten::onnx {

/// Element count bounds: elementwise math runs per element in double, so it is
/// limited to shape-sized and mask-sized tensors; data movement copies bytes
/// and is allowed up to 64 Mi elements (embedding tables, weights).
inline constexpr int64_t kMathLimit = 1 << 20;
inline constexpr int64_t kMoveLimit = 64ll << 20;

/// The type of `v` when it is ranked with static dims whose element count
/// fits int64, else null.
mlir::RankedTensorType staticType(mlir::Value v);
/// `attr` viewed as a ConstTensor (nullopt for non-constants).
std::optional<ConstTensor> constOf(mlir::Attribute attr);
/// Every attribute viewed as a ConstTensor; nullopt unless all are constants.
std::optional<llvm::SmallVector<ConstTensor>>
constsOf(llvm::ArrayRef<mlir::Attribute> attrs);
/// Row-major strides, in elements, of `shape`.
llvm::SmallVector<int64_t> stridesOf(llvm::ArrayRef<int64_t> shape);

/// For each element of `outShape` (row-major), the index of the element of a
/// tensor of shape `inShape` that numpy broadcasting reads.
void forEachBroadcast(llvm::ArrayRef<int64_t> outShape,
                      llvm::ArrayRef<int64_t> inShape,
                      llvm::function_ref<void(int64_t, int64_t)> fn);

/// Copies elements of `src` into a new tensor of type `type`, element o taken
/// from src index `srcIndex(o)`.
mlir::ElementsAttr
gatherElements(mlir::RankedTensorType type, const ConstTensor &src,
               llvm::function_ref<int64_t(int64_t)> srcIndex);

/// gatherElements where the source index is the sum over output dims d of
/// `term(d, x)`, x the output element's coordinate along d (Transpose,
/// Slice, Split, Tile).
mlir::ElementsAttr
gatherByCoordinates(mlir::RankedTensorType type, const ConstTensor &src,
                    llvm::function_ref<int64_t(int64_t, int64_t)> term);

using DoubleFn = std::function<std::optional<double>(llvm::ArrayRef<double>)>;
using IntFn = std::function<std::optional<int64_t>(llvm::ArrayRef<int64_t>)>;

/// Evaluates an n-ary elementwise op with broadcasting. Values are computed in
/// double when the operands are float (`dfn`), else in int64 (`ifn`); the
/// result is stored in the result element type (i1 for comparisons). A null
/// function, or one returning nullopt, leaves the op unfolded.
mlir::OpFoldResult foldElementwise(mlir::Operation *op,
                                   llvm::ArrayRef<mlir::Attribute> operands,
                                   DoubleFn dfn, IntFn ifn);

} // namespace spatten::onnx

#endif

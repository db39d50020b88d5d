//===- Tensor.h - Host tensors ----------------------------------*- C++ -*-===//
//
// A HostTensor is a dense, C-order (row-major) array in host memory, the
// unit the simulator exchanges with the outside world (Simulator::setInput,
// getOutput). Its files (.npy, ONNX TensorProto) are
// spatten/HostIO/TensorFiles.h.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TENSOR_H
#define SPATTEN_SIM_TENSOR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace spatten::sim {

/// Element types the simulator exchanges; names match the manifest
/// ("float32", "int64", "int32").
enum class ElemType : uint8_t { F32, I64, I32 };

llvm::StringRef elemTypeName(ElemType t);
unsigned elemTypeBytes(ElemType t);
/// Parses a manifest dtype name; error names the dtype.
llvm::Expected<ElemType> parseElemType(llvm::StringRef name);
/// A shape as messages print it, e.g. "[1, 8, 768]".
std::string shapeString(llvm::ArrayRef<int64_t> shape);

struct HostTensor {
  ElemType type = ElemType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data; ///< numElements() * elemTypeBytes(type) bytes, LE

  uint64_t numElements() const;
  std::string shapeString() const; ///< e.g. "[1, 8, 768]"

  template <typename T> const T *as() const {
    return reinterpret_cast<const T *>(data.data());
  }
  template <typename T> T *as() { return reinterpret_cast<T *>(data.data()); }

  static HostTensor zeros(ElemType t, std::vector<int64_t> shape);
};

} // namespace spatten::sim

#endif // SPATTEN_SIM_TENSOR_H

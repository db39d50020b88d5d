//===- Tensor.h - Host tensors and their file formats -----------*- C++ -*-===//
//
// A HostTensor is a dense, C-order (row-major) array in host memory, the
// unit the simulator exchanges with the outside world. Files are NumPy .npy
// (format v1-v3, dtypes '<f4', '<i8', '<i4', C order) or ONNX TensorProto
// .pb (the format of ONNX `test_data_set_*`, parsed with libonnx's
// onnx_proto). docs/Simulator.md lists what is accepted.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TENSOR_H
#define SPATTEN_SIM_TENSOR_H

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

/// Reads a .npy file. Errors name the file and the header key at fault
/// (unsupported descr, fortran_order, truncated data).
llvm::Expected<HostTensor> readNpy(llvm::StringRef path);
/// Parses .npy bytes; `name` is used in errors.
llvm::Expected<HostTensor> parseNpy(llvm::StringRef bytes, llvm::StringRef name);
/// Serializes as .npy format 1.0 (2.0 when the header needs it).
std::string serializeNpy(const HostTensor &t);
/// Writes `t` as .npy atomically (temporary file, then rename).
llvm::Error writeNpy(const HostTensor &t, llvm::StringRef path);

/// Reads an ONNX TensorProto (.pb): raw_data or the typed fields
/// float_data / int64_data / int32_data. External data is rejected.
llvm::Expected<HostTensor> readTensorProto(llvm::StringRef path);

/// Dispatches on the extension: ".npy" or ".pb".
llvm::Expected<HostTensor> readTensorFile(llvm::StringRef path);

} // namespace spatten::sim

#endif // SPATTEN_SIM_TENSOR_H

//===- TensorFiles.h - .npy and ONNX TensorProto files ----------*- C++ -*-===//
//
// The file formats in which tensors reach and leave the simulator on the
// host: NumPy .npy (format v1-v3, dtypes '<f4', '<i8', '<i4', C order) and
// ONNX TensorProto .pb (the format of ONNX `test_data_set_*`, parsed with
// libonnx's onnx_proto). docs/Simulator.md, "Tensor files", lists what is
// accepted. Library SpAttenHostIO: the simulator library itself reads no
// files and does not link libonnx.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_HOSTIO_TENSORFILES_H
#define SPATTEN_HOSTIO_TENSORFILES_H

#include "spatten/Sim/Tensor.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace spatten::hostio {

/// Reads a .npy file. Errors name the file and the header key at fault
/// (unsupported descr, fortran_order, truncated data).
llvm::Expected<sim::HostTensor> readNpy(llvm::StringRef path);
/// Parses .npy bytes; `name` is used in errors.
llvm::Expected<sim::HostTensor> parseNpy(llvm::StringRef bytes,
                                         llvm::StringRef name);
/// Serializes as .npy format 1.0 (2.0 when the header needs it), the data
/// 64-byte aligned.
std::string serializeNpy(const sim::HostTensor &t);
/// Writes `t` as .npy atomically (temporary file, then rename).
llvm::Error writeNpy(const sim::HostTensor &t, llvm::StringRef path);

/// Reads an ONNX TensorProto (.pb): raw_data or the typed fields
/// float_data / int64_data / int32_data. External data is rejected.
llvm::Expected<sim::HostTensor> readTensorProto(llvm::StringRef path);
/// Parses TensorProto bytes; `name` is used in errors.
llvm::Expected<sim::HostTensor> parseTensorProto(llvm::StringRef bytes,
                                                 llvm::StringRef name);

/// Dispatches on the extension: ".npy" or ".pb"; any other is an error
/// naming the file.
llvm::Expected<sim::HostTensor> readTensorFile(llvm::StringRef path);

} // namespace spatten::hostio

#endif // SPATTEN_HOSTIO_TENSORFILES_H

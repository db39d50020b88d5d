//===- Tensor.cpp - Host tensors ------------------------------------------===//

#include "spatten/Sim/Tensor.h"

using namespace spatten::sim;
using llvm::Expected;

llvm::StringRef spatten::sim::elemTypeName(ElemType t) {
  switch (t) {
  case ElemType::F32: return "float32";
  case ElemType::I64: return "int64";
  case ElemType::I32: return "int32";
  }
  return "?";
}

unsigned spatten::sim::elemTypeBytes(ElemType t) {
  return t == ElemType::I64 ? 8 : 4;
}

Expected<ElemType> spatten::sim::parseElemType(llvm::StringRef name) {
  if (name == "float32")
    return ElemType::F32;
  if (name == "int64")
    return ElemType::I64;
  if (name == "int32")
    return ElemType::I32;
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "unsupported dtype '" + name + "'");
}

uint64_t HostTensor::numElements() const {
  uint64_t n = 1;
  for (int64_t d : shape)
    n *= uint64_t(d);
  return n;
}

std::string spatten::sim::shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string HostTensor::shapeString() const { return sim::shapeString(shape); }

HostTensor HostTensor::zeros(ElemType t, std::vector<int64_t> shape) {
  HostTensor h;
  h.type = t;
  h.shape = std::move(shape);
  h.data.assign(h.numElements() * elemTypeBytes(t), 0);
  return h;
}

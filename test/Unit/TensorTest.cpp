//===- TensorTest.cpp - .npy and TensorProto files ------------------------===//

#include "spatten/HostIO/TensorFiles.h"

#include "TestUtil.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <cstring>

using namespace spatten::hostio;
using namespace spatten::sim;

namespace {

/// A temporary file removed at scope exit.
struct TempFile {
  llvm::SmallString<128> path;
  explicit TempFile(llvm::StringRef ext) {
    EXPECT_FALSE(llvm::sys::fs::createTemporaryFile("t", ext, path));
  }
  ~TempFile() { llvm::sys::fs::remove(path); }
  void write(llvm::StringRef bytes) {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << bytes;
  }
};

HostTensor iota(ElemType t, std::vector<int64_t> shape) {
  HostTensor h = HostTensor::zeros(t, std::move(shape));
  for (uint64_t i = 0; i < h.numElements(); ++i) {
    if (t == ElemType::F32)
      h.as<float>()[i] = float(i) * 0.5f - 1;
    else if (t == ElemType::I64)
      h.as<int64_t>()[i] = int64_t(i) * 1000000007;
    else
      h.as<int32_t>()[i] = -int32_t(i);
  }
  return h;
}

/// A .npy file with the given header dict and payload (version 1 or 2).
std::string npyBytes(llvm::StringRef dict, llvm::StringRef payload,
                     int version = 1) {
  std::string header = dict.str() + "\n";
  std::string out("\x93NUMPY", 6);
  out.push_back(char(version));
  out.push_back(0);
  uint32_t n = uint32_t(header.size());
  out.append(reinterpret_cast<const char *>(&n), version == 1 ? 2 : 4);
  return out + header + payload.str();
}

TEST(Npy, RoundTripEveryDtypeAndRank) {
  for (ElemType t : {ElemType::F32, ElemType::I64, ElemType::I32})
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{}, {5}, {2, 3}, {1, 2, 3, 2}, {0, 4}}) {
      HostTensor h = iota(t, shape);
      std::string bytes = serializeNpy(h);
      // numpy requires the data to start 64-byte aligned.
      size_t headerLen = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8);
      EXPECT_EQ((10 + headerLen) % 64, 0u);
      auto back = parseNpy(bytes, "x.npy");
      ASSERT_OK(back);
      EXPECT_EQ(back->type, t);
      EXPECT_EQ(back->shape, shape);
      EXPECT_EQ(back->data, h.data);
    }
}

TEST(Npy, ReadsVersion2AndNumpySpacing) {
  float v[3] = {1, 2, 3};
  llvm::StringRef payload(reinterpret_cast<const char *>(v), 12);
  auto t = parseNpy(
      npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
               payload, 2),
      "v2.npy");
  ASSERT_OK(t);
  EXPECT_EQ(t->shape, std::vector<int64_t>{3});
  EXPECT_EQ(t->as<float>()[2], 3.0f);
}

TEST(Npy, RejectsWhatItCannotRead) {
  std::string four(4, '\0');
  EXPECT_ERR(parseNpy("PK\x03\x04 zip", "a.npy"), "a.npy: not a .npy file");
  EXPECT_ERR(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': True, "
                               "'shape': (1,), }",
                               four),
                      "f.npy"),
             "f.npy: Fortran-order .npy arrays are not supported");
  EXPECT_ERR(parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, "
                               "'shape': (1,), }",
                               std::string(8, '\0')),
                      "d.npy"),
             "unsupported .npy dtype '<f8'");
  EXPECT_ERR(parseNpy(npyBytes("{'descr': '>f4', 'fortran_order': False, "
                               "'shape': (1,), }",
                               four),
                      "b.npy"),
             "unsupported .npy dtype '>f4'");
  EXPECT_ERR(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (2,), }",
                               four),
                      "t.npy"),
             "t.npy: .npy data is 4 bytes, but shape [2] of float32 needs 8");
  EXPECT_ERR(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (1099511627776, 1099511627776), }",
                               four),
                      "huge.npy"),
             "huge.npy: .npy shape [1099511627776, 1099511627776] is too large");
  std::string good = serializeNpy(iota(ElemType::F32, {4}));
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(bool(parseNpy(good.substr(0, n), "cut.npy"))) << n;
}

TEST(Npy, HeaderIsReadWhole) {
  std::string four(4, '\0');
  auto header = [&](llvm::StringRef dict) {
    return parseNpy(npyBytes(dict, four), "h.npy");
  };
  ASSERT_OK(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"));
  ASSERT_OK(header("{'shape': (1,), 'descr': '<f4', 'fortran_order': False, }"));
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), "
                    "'shape': (1,), }"),
             "h.npy: .npy header has key 'shape' twice");
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), "
                    "'extra': 1, }"),
             "h.npy: .npy header has unknown key 'extra'");
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) "
                    "junk}"),
             "h.npy: .npy header has junk after key 'shape'");
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,)}"),
             "h.npy: .npy header has no 'fortran_order' flag");
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': False}"),
             "h.npy: .npy header has no 'shape' tuple");
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x"),
             "h.npy: .npy header is not a dict literal");
  EXPECT_ERR(header("{'descr': '<f4', 'fortran_order': False, 'shape': (,)}"),
             "h.npy: bad .npy dimension ''");
}

TEST(Npy, FileRoundTripAndMissingFile) {
  TempFile f("npy");
  HostTensor h = iota(ElemType::F32, {2, 2});
  ASSERT_NO_ERR(writeNpy(h, f.path));
  auto back = readTensorFile(f.path);
  ASSERT_OK(back);
  EXPECT_EQ(back->data, h.data);
  EXPECT_ERR(readNpy("/nonexistent.npy"), "cannot read '/nonexistent.npy'");
  EXPECT_ERR(readTensorFile("x.csv"), "unknown tensor file type");
}

TEST(TensorProto, RawAndTypedData) {
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::INT64);
  p.add_dims(1);
  p.add_dims(3);
  for (int64_t v : {7, -2, 50257})
    p.add_int64_data(v);
  TempFile typed("pb");
  typed.write(p.SerializeAsString());
  auto t = readTensorProto(typed.path);
  ASSERT_OK(t);
  EXPECT_EQ(t->type, ElemType::I64);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(t->as<int64_t>()[2], 50257);

  onnx::TensorProto r;
  r.set_data_type(onnx::TensorProto::FLOAT);
  r.add_dims(2);
  float v[2] = {0.25f, -4};
  r.set_raw_data(std::string(reinterpret_cast<char *>(v), 8));
  TempFile raw("pb");
  raw.write(r.SerializeAsString());
  auto f = readTensorFile(raw.path);
  ASSERT_OK(f);
  EXPECT_EQ(f->as<float>()[1], -4.0f);

  r.set_raw_data(std::string(4, '\0'));
  raw.write(r.SerializeAsString());
  EXPECT_ERR(readTensorProto(raw.path), "raw_data is 4 bytes, shape [2] needs 8");
  r.set_data_type(onnx::TensorProto::DOUBLE);
  raw.write(r.SerializeAsString());
  EXPECT_ERR(readTensorProto(raw.path), "data_type 11 is not supported");
  onnx::TensorProto huge;
  huge.set_data_type(onnx::TensorProto::FLOAT);
  huge.add_dims(int64_t(1) << 40);
  raw.write(huge.SerializeAsString());
  EXPECT_ERR(readTensorProto(raw.path), "TensorProto holds 0 values, shape "
                                        "[1099511627776] needs 1099511627776");
  huge.add_dims(int64_t(1) << 40);
  raw.write(huge.SerializeAsString());
  EXPECT_ERR(readTensorProto(raw.path), "is too large");
  raw.write("\xff\xff\xff garbage");
  EXPECT_ERR(readTensorProto(raw.path), "not a valid ONNX TensorProto");
}

} // namespace

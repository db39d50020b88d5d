//===- SimulatorTest.cpp - Functional execution against hand results ------===//
//
// Each instruction runs on a fresh simulator whose SRAM/DRAM the test fills
// directly; expected values are computed here by plain loops in double, an
// implementation independent of the simulator's Eigen code.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Simulator.h"
#include "spatten/Sim/Timing/Latency.h"

#include "SimTestUtil.h"
#include "TestUtil.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstring>
#include <limits>
#include <random>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;
using spatten::test::asmLine;
using spatten::test::haltImage;
using spatten::test::SimTest;

namespace {

//===----------------------------------------------------------------------===//
// DMA
//===----------------------------------------------------------------------===//

TEST_F(SimTest, LoadIsStrided2D) {
  std::vector<float> rows(24);
  for (int i = 0; i < 24; ++i)
    rows[i] = float(i);
  poke(0x100, rows); // 3 rows of 8 floats (32 bytes)
  ASSERT_NO_ERR(exec("load tensor_class=activations dtype=f32 bits=32 "
                     "dram_addr=0x104 dram_stride=32 sram_buf=act sram_off=5 "
                     "sram_stride=3 rows=3 cols=2"));
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c)
      EXPECT_EQ(buf(Buffer::Act)[5 + r * 3 + c], float(r * 8 + c + 1));
  EXPECT_EQ(sim->report().dramRead[unsigned(TensorClass::Activation)], 24u);
}

TEST(SimRodata, ReadsUnwrittenRodataAndSeesWrites) {
  // .rodata (two 64 KiB copy-in chunks and a bit) at 0x1000: loads read it
  // in place until a store writes into it; the store then copies its whole
  // chunk in, so untouched bytes of that chunk keep their values.
  binary::Image img = haltImage(0x40000);
  img.manifest.rodataBase = 0x1000;
  std::vector<uint8_t> rodata(2 * 65536 + 100);
  for (size_t i = 0; i < rodata.size(); i += 4) {
    float v = float(i / 4);
    std::memcpy(rodata.data() + i, &v, 4);
  }
  img.rodata = binary::SectionBytes(std::move(rodata));
  auto s = Simulator::create(img);
  ASSERT_OK(s);
  Simulator &sim = **s;
  auto load = [&](uint64_t addr) {
    return sim.step(asmLine("load tensor_class=weights dtype=f32 bits=32 "
                            "dram_addr=" + std::to_string(addr) +
                            " sram_buf=wgt rows=1 cols=2"),
                    0);
  };
  ASSERT_NO_ERR(load(0x1000 + 65536 + 8));
  EXPECT_EQ(sim.buffer(Buffer::Wgt)[0], float(16384 + 2));
  sim.buffer(Buffer::Acc)[0] = -1.0f;
  ASSERT_NO_ERR(sim.step(asmLine("store tensor_class=activations dtype=f32 "
                                 "bits=32 dram_addr=" +
                                 std::to_string(0x1000 + 65536 + 4) +
                                 " sram_buf=acc rows=1 cols=1"),
                         1));
  ASSERT_NO_ERR(load(0x1000 + 65536));
  EXPECT_EQ(sim.buffer(Buffer::Wgt)[0], float(16384));
  EXPECT_EQ(sim.buffer(Buffer::Wgt)[1], -1.0f);
  // A row across the end of .rodata reads both sides.
  ASSERT_NO_ERR(load(0x1000 + 2 * 65536 + 96));
  EXPECT_EQ(sim.buffer(Buffer::Wgt)[0], float(32768 + 24));
  EXPECT_EQ(sim.buffer(Buffer::Wgt)[1], 0.0f);
}

TEST_F(SimTest, LoadConvertsIntegers) {
  poke<int64_t>(0, {3, -1, 70000});
  poke<int32_t>(64, {9, 8});
  ASSERT_NO_ERR(exec("load tensor_class=index dtype=i64 bits=32 dram_addr=0 "
                     "sram_buf=idx sram_off=1 rows=1 cols=3"));
  EXPECT_EQ(sim->indexBuffer()[1], 3);
  EXPECT_EQ(sim->indexBuffer()[2], -1);
  EXPECT_EQ(sim->indexBuffer()[3], 70000);
  ASSERT_NO_ERR(exec("load tensor_class=activations dtype=i64 bits=32 "
                     "dram_addr=0 sram_buf=act rows=1 cols=3"));
  EXPECT_EQ(buf(Buffer::Act)[2], 70000.0f);
  ASSERT_NO_ERR(exec("load tensor_class=index dtype=i32 bits=32 dram_addr=64 "
                     "sram_buf=idx rows=1 cols=2"));
  EXPECT_EQ(sim->indexBuffer()[1], 8);
  EXPECT_EQ(sim->report().dramRead[unsigned(TensorClass::Index)], 32u);
}

TEST_F(SimTest, LoadConversionErrors) {
  EXPECT_ERR(exec("load tensor_class=index dtype=f32 bits=32 sram_buf=idx "
                  "rows=1 cols=1"),
             "instruction 7 (load): field 'dtype': f32 data cannot be loaded "
             "into the idx buffer");
  poke<int64_t>(0, {int64_t(1) << 40});
  EXPECT_ERR(exec("load tensor_class=index dtype=i64 bits=32 sram_buf=idx "
                  "rows=1 cols=1"),
             "index 1099511627776 (row 0, col 0) does not fit the int32 idx");
}

TEST_F(SimTest, StoreConvertsAndIsStrided) {
  fill(Buffer::Acc, 0, 2, 2, 2, {1.5f, -2.7f, 2.7f, 4});
  ASSERT_NO_ERR(exec("store tensor_class=q dtype=f32 bits=32 dram_addr=16 "
                     "dram_stride=64 sram_buf=acc sram_stride=2 rows=2 cols=2"));
  EXPECT_EQ(peek<float>(16), 1.5f);
  EXPECT_EQ(peek<float>(20), -2.7f);
  EXPECT_EQ(peek<float>(80), 2.7f);
  EXPECT_EQ(peek<float>(84), 4.0f);
  EXPECT_EQ(sim->report().dramWritten[unsigned(TensorClass::Q)], 16u);
  ASSERT_NO_ERR(exec("store tensor_class=activations dtype=i64 bits=32 "
                     "dram_addr=256 sram_buf=acc rows=1 cols=4"));
  EXPECT_EQ(peek<int64_t>(256), 1);
  EXPECT_EQ(peek<int64_t>(264), -2); // truncation toward zero (ONNX Cast)
  EXPECT_EQ(peek<int64_t>(272), 2);
  buf(Buffer::Acc)[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_ERR(exec("store tensor_class=activations dtype=i32 bits=32 "
                  "dram_addr=256 sram_buf=acc rows=1 cols=1"),
             "field 'dtype': value nan (row 0, col 0) does not fit i32");
}

TEST_F(SimTest, GatherSelectsRowsByTheIndexList) {
  std::vector<float> table(12);
  for (int i = 0; i < 12; ++i)
    table[i] = float(10 * i);
  poke(0x200, table); // 4 rows x 3 floats
  sim->indexBuffer()[4] = 2;
  sim->indexBuffer()[5] = 0;
  sim->indexBuffer()[6] = 3;
  ASSERT_NO_ERR(exec("gather tensor_class=weights dtype=f32 bits=32 "
                     "dram_addr=0x200 dram_stride=12 sram_buf=k sram_off=1 "
                     "sram_stride=3 rows=3 cols=3 idx_off=4"));
  int expectRow[3] = {2, 0, 3};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(buf(Buffer::K)[1 + r * 3 + c], float(10 * (expectRow[r] * 3 + c)));
  EXPECT_EQ(sim->report().dramRead[unsigned(TensorClass::Weight)], 36u);
  sim->indexBuffer()[4] = -1;
  EXPECT_ERR(exec("gather tensor_class=weights dtype=f32 bits=32 dram_stride=12 "
                  "sram_buf=k rows=1 cols=3 idx_off=4"),
             "field 'idx_off': index -1 (entry 4) is negative");
  sim->indexBuffer()[4] = 1000;
  EXPECT_ERR(exec("gather tensor_class=weights dtype=f32 bits=32 dram_stride=12 "
                  "sram_buf=k rows=1 cols=3 idx_off=4"),
             "row 1000 at DRAM [0x2ee0, 0x2eec) is past dram.size 0x1000");
  EXPECT_ERR(exec("gather tensor_class=weights dtype=f32 bits=32 "
                  "sram_buf=k sram_stride=1 rows=2 cols=1 idx_off=4095"),
             "field 'idx_off': 2 indices at offset 4095 run past the idx buffer");
}

TEST_F(SimTest, DmaFieldsAreChecked) {
  const std::string tail = " bits=32 sram_buf=act sram_stride=4 rows=2 cols=4";
  EXPECT_ERR(exec("load tensor_class=weights dtype=f32 dram_addr=4090" + tail),
             "instruction 7 (load): field 'dram_addr': row 0 at DRAM");
  EXPECT_ERR(exec("load tensor_class=weights dtype=f32 bits=17 sram_buf=act "
                  "rows=1 cols=1"),
             "field 'bits': 17 is not a fixed-point width (2..16) or 32");
  EXPECT_ERR(exec("load tensor_class=weights dtype=9" + tail),
             "field 'dtype': 9 is not a dtype");
  EXPECT_ERR(exec("store tensor_class=12 dtype=f32" + tail),
             "instruction 7 (store): field 'tensor_class': 12 is not a tensor "
             "class");
  EXPECT_ERR(exec("load tensor_class=weights dtype=f32 bits=32 sram_buf=9 "
                  "rows=1 cols=1"),
             "field 'sram_buf': 9 is not a buffer");
  EXPECT_ERR(exec("load tensor_class=weights dtype=f32 bits=32 sram_buf=act "
                  "sram_off=65535 sram_stride=2 rows=2 cols=1"),
             "field 'sram_off': 2 rows x 1 cols at offset 65535 with stride 2 "
             "reach element 65538, past the act buffer (65536 elements)");
}

//===----------------------------------------------------------------------===//
// GEMM
//===----------------------------------------------------------------------===//

class GemmTest : public SimTest {
protected:
  void SetUp() override {
    SimTest::SetUp();
    fill(Buffer::Act, 0, 3, 2, 3, a);
    fill(Buffer::Wgt, 0, 2, 3, 2, b);
    fill(Buffer::Wgt, 100, 3, 2, 3, bT);
    fill(Buffer::Wgt, 200, 2, 1, 2, bias);
  }
  float ab(int i, int j) {
    double s = 0;
    for (int k = 0; k < 3; ++k)
      s += double(a[i * 3 + k]) * b[k * 2 + j];
    return float(s);
  }
  float out(int i, int j) { return buf(Buffer::Acc)[10 + i * 4 + j]; }

  std::vector<float> a = {1, 2, 3, -1, 0.5f, 4};
  std::vector<float> b = {2, -1, 0, 3, 1, 1};
  std::vector<float> bT = {2, 0, 1, -1, 3, 1}; // b transposed, [n,k]
  std::vector<float> bias = {10, 20};
  const std::string ops = " a_buf=act a_stride=3 b_buf=wgt b_stride=2 c_buf=acc "
                          "c_off=10 c_stride=4 bias_buf=wgt bias_off=200 m=2 "
                          "n=2 k=3";
};

TEST_F(GemmTest, Plain) {
  ASSERT_NO_ERR(exec("gemm flags=0" + ops));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_FLOAT_EQ(out(i, j), ab(i, j));
  EXPECT_FLOAT_EQ(out(0, 0), 5.0f); // 1*2 + 2*0 + 3*1
}

TEST_F(GemmTest, TransposedB) {
  ASSERT_NO_ERR(exec("gemm flags=4 a_buf=act a_stride=3 b_buf=wgt b_off=100 "
                     "b_stride=3 c_buf=acc c_off=10 c_stride=4 m=2 n=2 k=3"));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_FLOAT_EQ(out(i, j), ab(i, j));
}

TEST_F(GemmTest, BiasAndAccumulate) {
  fill(Buffer::Acc, 10, 4, 2, 2, {1, 2, 3, 4});
  ASSERT_NO_ERR(exec("gemm flags=3" + ops));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_FLOAT_EQ(out(i, j), ab(i, j) + bias[j] + float(1 + i * 2 + j));
}

TEST_F(GemmTest, AccumulateWithoutBias) {
  fill(Buffer::Acc, 10, 4, 2, 2, {1, 2, 3, 4});
  ASSERT_NO_ERR(exec("gemm flags=1" + ops));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_FLOAT_EQ(out(i, j), ab(i, j) + float(1 + i * 2 + j));
  EXPECT_EQ(buf(Buffer::Acc)[10 + 2], 0.0f); // between C's rows: untouched
}

/// A GEMM large enough to split its rows across two host threads gives the
/// bits it gives on one, rows past the split and remainder rows included.
TEST_F(GemmTest, SplitAcrossThreadsKeepsTheBits) {
  const uint64_t m = 203, n = 160, k = 136;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(m * k), b(k * n);
  for (float &x : a)
    x = dist(rng);
  for (float &x : b)
    x = dist(rng);
  fill(Buffer::Act, 0, k, m, k, a);
  fill(Buffer::Wgt, 0, n, k, n, b);
  std::string gemm = llvm::formatv(
      "gemm flags=0 a_buf=act a_stride={1} b_buf=wgt b_stride={0} c_buf=acc "
      "c_stride={0} m={2} n={0} k={1}", n, k, m);
  std::vector<float> results[2];
  for (unsigned threads : {1, 2}) {
    sim->setHostThreads(threads);
    ASSERT_NO_ERR(exec(gemm));
    results[threads - 1].assign(buf(Buffer::Acc).begin(),
                                buf(Buffer::Acc).begin() + m * n);
  }
  EXPECT_EQ(0, std::memcmp(results[0].data(), results[1].data(),
                           m * n * sizeof(float)));
  EXPECT_FLOAT_EQ(results[1][(m - 1) * n + 3], [&] {
    double s = 0;
    for (uint64_t i = 0; i < k; ++i)
      s += double(a[(m - 1) * k + i]) * b[i * n + 3];
    return float(s);
  }());
}

/// Attention products and elementwise functions large enough to split
/// across two host threads give the bits they give on one.
TEST_F(SimTest, LargeAttentionAndVectorWorkKeepTheirBitsOnTwoThreads) {
  const uint64_t lq = 203, lk = 330, d = 64; // 4.3 M multiply-accumulates
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (Buffer b : {Buffer::Q, Buffer::K, Buffer::V})
    for (uint64_t i = 0; i < (b == Buffer::Q ? lq : lk) * d; ++i)
      buf(b)[i] = dist(rng);
  for (uint64_t i = 0; i < 256 * 256; ++i)
    buf(Buffer::Act)[i] = 4 * dist(rng);
  std::string attn = llvm::formatv(
      "attn q_buf=q q_stride={2} k_buf=k k_stride={2} v_buf=v v_stride={2} "
      "o_buf=act o_stride={2} mask_buf=mask lq={0} lk={1} d={2} "
      "mask_kind=none scale=0.125",
      lq, lk, d);
  // 256 x 256 elements: the split threshold.
  std::string gelu = "vec func=gelu_tanh x_buf=act x_stride=256 z_buf=acc "
                     "z_stride=256 rows=256 cols=256";
  std::vector<float> attnOut[2], geluOut[2];
  // Two threads first: a row they left out must not find the one-thread
  // result in reused memory.
  for (unsigned threads : {2, 1}) {
    sim->setHostThreads(threads);
    ASSERT_NO_ERR(exec(attn));
    attnOut[threads - 1].assign(buf(Buffer::Act).begin(),
                                buf(Buffer::Act).begin() + lq * d);
    ASSERT_NO_ERR(exec(gelu));
    geluOut[threads - 1].assign(buf(Buffer::Acc).begin(),
                                buf(Buffer::Acc).begin() + 256 * 256);
  }
  EXPECT_EQ(attnOut[0], attnOut[1]);
  EXPECT_EQ(geluOut[0], geluOut[1]);
  // Not trivially equal: the last query row's first output, in double.
  std::vector<double> s(lk);
  double mx = -INFINITY, sum = 0, o = 0;
  for (uint64_t j = 0; j < lk; ++j) {
    double dot = 0;
    for (uint64_t t = 0; t < d; ++t)
      dot +=
          double(buf(Buffer::Q)[(lq - 1) * d + t]) * buf(Buffer::K)[j * d + t];
    mx = std::max(mx, s[j] = 0.125 * dot);
  }
  for (uint64_t j = 0; j < lk; ++j)
    sum += (s[j] = std::exp(s[j] - mx));
  for (uint64_t j = 0; j < lk; ++j)
    o += s[j] / sum * buf(Buffer::V)[j * d];
  EXPECT_NEAR(attnOut[1][(lq - 1) * d], o, 1e-5);
}

TEST_F(GemmTest, OperandErrors) {
  EXPECT_ERR(exec("gemm flags=8" + ops), "instruction 7 (gemm): field 'flags': "
                                         "unknown bits 0x8");
  EXPECT_ERR(exec("gemm a_buf=idx b_buf=wgt c_buf=acc m=1 n=1 k=1"),
             "field 'a_buf': the idx buffer holds int32 indices");
  EXPECT_ERR(exec("gemm a_buf=act b_buf=wgt c_buf=acc c_off=65535 m=1 n=2 k=1"),
             "instruction 7 (gemm): field 'c_off'");
  EXPECT_ERR(exec("gemm flags=2 a_buf=act b_buf=wgt c_buf=acc bias_buf=mask "
                  "bias_off=4095 m=1 n=2 k=1"),
             "field 'bias_off'");
}

//===----------------------------------------------------------------------===//
// Whole programs, decoding and the report
//===----------------------------------------------------------------------===//

/// x[2,2] f32 at 0 -> y = x + 1 at 64; ids[1,3] int64 at 128 (unused).
binary::Image addOneProgram() {
  binary::Image img;
  const char *lines[] = {
      "load dep_signal=2 tensor_class=activations dtype=f32 bits=32 "
      "dram_addr=0 dram_stride=8 sram_buf=act sram_stride=2 rows=2 cols=2",
      "vec dep_wait=1 func=add flags=1 x_buf=act x_stride=2 z_buf=act "
      "z_stride=2 rows=2 cols=2 imm=1",
      "sync",
      "store tensor_class=activations dtype=f32 bits=32 dram_addr=64 "
      "dram_stride=8 sram_buf=act sram_stride=2 rows=2 cols=2",
      "halt",
  };
  for (const char *l : lines) {
    size_t at = img.text.size();
    img.text.resize(at + kInstrBytes);
    asmLine(l).encode(img.text.data() + at);
  }
  binary::Manifest &m = img.manifest;
  m.numInstructions = 5;
  m.dramSize = 256;
  m.inputs = {{"x", {2, 2}, "float32", 0}, {"ids", {1, 3}, "int64", 128}};
  m.outputs = {{"y", {2, 2}, "float32", 64}};
  return img;
}

HostTensor tensorOf(std::vector<int64_t> shape, std::vector<float> v) {
  HostTensor t = HostTensor::zeros(ElemType::F32, std::move(shape));
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

TEST(SimProgram, RunsAndReports) {
  auto s = Simulator::create(addOneProgram());
  ASSERT_OK(s);
  Simulator &sim = **s;
  ASSERT_NO_ERR(sim.setInput("x", tensorOf({2, 2}, {1, 2, 3, 4})));
  HostTensor ids32 = HostTensor::zeros(ElemType::I32, {1, 3});
  ids32.as<int32_t>()[2] = -7;
  ASSERT_NO_ERR(sim.setInput("ids", ids32)); // int32 accepted for int64
  int64_t widened;
  std::memcpy(&widened, sim.dram().data() + 128 + 16, 8);
  EXPECT_EQ(widened, -7);
  ASSERT_NO_ERR(sim.run());
  auto y = sim.getOutput("y");
  ASSERT_OK(y);
  EXPECT_EQ(y->shape, (std::vector<int64_t>{2, 2}));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(y->as<float>()[i], float(i + 2));
  const Report &r = sim.report();
  EXPECT_EQ(r.totalInstructions(), 5u);
  EXPECT_EQ(r.byOpcode[unsigned(Opcode::Load)].count, 1u);
  EXPECT_EQ(r.byOpcode[unsigned(Opcode::Vec)].count, 1u);
  EXPECT_EQ(r.dramRead[unsigned(TensorClass::Activation)], 16u);
  EXPECT_EQ(r.dramWritten[unsigned(TensorClass::Activation)], 16u);
  // First-order serial estimate: DMA 100 + ceil(16/512) each, VEC
  // ceil(4/64) * 1.
  EXPECT_EQ(r.serialCycles(), 203u);
  // Cycle-level (HBM2 defaults): x's two 8-byte rows at 0 and 8 are one
  // 32-byte block of channel 0, bank 0, row 0: ACT + READ 14 + 14 + 1, then
  // the second burst, 30. The vec waits for the load (dep_wait=1): 1. The
  // store (after sync) writes to 64, the same open row: 14 + 1 + 1 = 16.
  EXPECT_EQ(r.byOpcode[unsigned(Opcode::Load)].cycles, 30u);
  EXPECT_EQ(r.byOpcode[unsigned(Opcode::Vec)].cycles, 1u);
  EXPECT_EQ(r.byOpcode[unsigned(Opcode::Store)].cycles, 16u);
  EXPECT_EQ(r.cycles, 47u);
  llvm::json::Value j = r.toJSON(sim.timingConfig());
  auto *o = j.getAsObject();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->getObject("instructions")->getObject("by_opcode")
                ->getInteger("load"),
            1);
  EXPECT_EQ(o->getObject("dram_bytes")->getObject("read")
                ->getInteger("activations"),
            16);
  EXPECT_EQ(o->getObject("cycles")->getInteger("total"), 47);
  EXPECT_EQ(o->getObject("cycles")->getInteger("serial_first_order"), 203);
  EXPECT_TRUE(o->getArray("layers"));
}

TEST(SimProgram, TimingConfigOverride) {
  auto hw = HardwareConfig::preset("spatten-1/8");
  ASSERT_OK(hw);
  auto s = Simulator::create(addOneProgram(), *hw);
  ASSERT_OK(s);
  ASSERT_NO_ERR((*s)->setInput("x", tensorOf({2, 2}, {1, 2, 3, 4})));
  ASSERT_NO_ERR((*s)->setInput("ids", HostTensor::zeros(ElemType::I64, {1, 3})));
  ASSERT_NO_ERR((*s)->run());
  EXPECT_EQ((*s)->timingConfig().name, "spatten-1/8");
  llvm::json::Value j = (*s)->report().toJSON((*s)->timingConfig());
  EXPECT_EQ(j.getAsObject()->getString("hardware"), "spatten-1/8");
}

TEST(SimProgram, InputErrors) {
  auto s = Simulator::create(addOneProgram());
  ASSERT_OK(s);
  Simulator &sim = **s;
  EXPECT_ERR(sim.setInput("z", tensorOf({2, 2}, {1, 2, 3, 4})),
             "unknown input 'z' (the program's inputs: x, ids)");
  EXPECT_ERR(sim.setInput("x", tensorOf({4}, {1, 2, 3, 4})),
             "input 'x': shape [4] does not match the compiled shape [2, 2]");
  EXPECT_ERR(sim.setInput("ids", tensorOf({1, 3}, {1, 2, 3})),
             "input 'ids': dtype float32 does not match the compiled int64");
  ASSERT_NO_ERR(sim.setInput("x", tensorOf({2, 2}, {1, 2, 3, 4})));
  EXPECT_ERR(sim.run(), "missing input 'ids' (shape [1, 3], int64)");
  EXPECT_ERR(sim.getOutput("w"), "unknown output 'w'");
}

TEST(SimProgram, DecodeErrors) {
  auto s = Simulator::create(haltImage(64));
  ASSERT_OK(s);
  Instr bad;
  bad.words[0] = 0x42;
  EXPECT_ERR((*s)->step(bad, 3),
             "instruction 3: field 'opcode': 0x42 is not an opcode");
  Instr reserved = asmLine("sync");
  reserved.words[5] = 1;
  EXPECT_ERR((*s)->step(reserved, 4),
             "instruction 4 (sync): reserved bits 0x1 set in word 5");
  Instr dma = asmLine("load tensor_class=weights dtype=f32 bits=32 sram_buf=act "
                      "rows=1 cols=1");
  dma.words[0] |= uint64_t(1) << 40;
  EXPECT_ERR((*s)->step(dma, 5), "reserved bits 0x10000000000 set in word 0");
}

TEST(SimProgram, RunningOffTheEndIsAnError) {
  binary::Image img = haltImage(64);
  asmLine("sync").encode(img.text.data());
  auto s = Simulator::create(std::move(img));
  ASSERT_OK(s);
  EXPECT_ERR((*s)->run(), "instruction 1: ran past the end of .text (1 "
                          "instructions) without halt");
}

TEST(CycleEstimate, Formulas) {
  HardwareConfig hw;
  EXPECT_EQ(estimateCycles(asmLine("gemm m=64 n=64 k=64"), hw), 256u);
  // Q*K 4*8*64/512 + softmax 32/16 + prob*V 4*8*64/512.
  EXPECT_EQ(estimateCycles(asmLine("attn lq=4 lk=8 d=64"), hw), 4u + 2 + 4);
  EXPECT_EQ(estimateCycles(asmLine("vec func=layer_norm rows=2 cols=768"), hw),
            24u * 3);
  EXPECT_EQ(estimateCycles(asmLine("gather dtype=i64 rows=100 cols=16"), hw),
            100u + 25);
  EXPECT_EQ(estimateCycles(asmLine("halt"), hw), 0u);
  auto eighth = HardwareConfig::preset("spatten-1/8");
  ASSERT_OK(eighth);
  EXPECT_EQ(estimateCycles(asmLine("gemm m=64 n=64 k=64"), *eighth), 2048u);
  // 2 channels x 32 B = 64 B per cycle.
  EXPECT_EQ(estimateCycles(asmLine("gather dtype=i64 rows=100 cols=16"),
                           *eighth),
            100u + 200);
  // A decide or a deferring ATTN skips prob*V; phase values is prob*V only.
  EXPECT_EQ(estimateCycles(asmLine("attn phase=decide lq=4 lk=8 d=64"), hw),
            4u + 2);
  EXPECT_EQ(estimateCycles(asmLine("attn flags=8 lq=4 lk=8 d=64"), hw),
            4u + 2);
  EXPECT_EQ(estimateCycles(asmLine("attn phase=values lq=4 lk=8 d=64"), hw),
            4u);
  // Q*K 4*8*64/64 + softmax 32/2 + prob*V 32.
  EXPECT_EQ(estimateCycles(asmLine("attn lq=4 lk=8 d=64"), *eighth),
            32u + 16 + 32);
}

} // namespace

namespace {

TEST_F(SimTest, OutputRowsMustNotOverlap) {
  EXPECT_ERR(exec("vec func=copy x_buf=act z_buf=acc z_stride=1 rows=2 cols=2"),
             "instruction 7 (vec): field 'z_stride': 1 is less than the 2 "
             "columns written per row");
  EXPECT_ERR(exec("load tensor_class=weights dtype=f32 bits=32 sram_buf=act "
                  "rows=2 cols=2"),
             "field 'sram_stride'");
  // Reading overlapping rows (a broadcast) is fine.
  ASSERT_NO_ERR(exec("store tensor_class=weights dtype=f32 bits=32 "
                     "dram_stride=8 sram_buf=act rows=2 cols=2"));
}

/// Random instructions of every opcode must end in success or an error,
/// never a crash or an uncaught exception.
TEST(SimFuzz, RandomInstructionsNeverCrash) {
  auto s = Simulator::create(haltImage(1 << 16));
  ASSERT_OK(s);
  uint64_t state = 0x243F6A8885A308D3ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  unsigned ok = 0, failed = 0;
  for (unsigned iter = 0; iter < 20000; ++iter) {
    const OpcodeSpec &spec = kOpcodeSpecs[iter % kNumOpcodes];
    Instr inst;
    inst.set(kOpcodeField, uint64_t(spec.opcode));
    for (unsigned i = 0; i < spec.numFields; ++i) {
      const Field &f = spec.fields[i];
      // Mostly small values so that some instructions pass the checks.
      uint64_t v = next();
      if (v % 4 != 0)
        v %= (f.name == "scale" || f.name == "imm") ? 1 : 9;
      if (f.name == "bits" && iter % 3)
        v = 32;
      inst.set(f, v & fieldMask(f));
    }
    if (iter % 97 == 0)
      inst.words[next() % kInstrWords] ^= next();
    if (llvm::Error e = (*s)->step(inst, iter)) {
      ++failed;
      llvm::consumeError(std::move(e));
    } else {
      ++ok;
    }
  }
  EXPECT_GT(ok, 100u);
  EXPECT_GT(failed, 100u);
}

} // namespace

//===- SimVectorTest.cpp - VEC against hand results -----------------------===//
//
// Each instruction runs on a fresh simulator whose SRAM/DRAM the test fills
// directly; expected values are computed here by plain loops in double, an
// implementation independent of the simulator's Eigen code.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Simulator.h"

#include "SimTestUtil.h"
#include "TestUtil.h"

#include <cmath>

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;
using spatten::test::SimTest;

namespace {

//===----------------------------------------------------------------------===//
// VEC
//===----------------------------------------------------------------------===//

class VecTest : public SimTest {
protected:
  void SetUp() override {
    SimTest::SetUp();
    fill(Buffer::Act, 0, 3, 2, 3, x);
    fill(Buffer::Wgt, 0, 3, 2, 3, y);
  }
  float z(int r, int c) { return buf(Buffer::Acc)[r * 3 + c]; }
  llvm::Error run(const std::string &fn, const std::string &extra = "") {
    return exec("vec func=" + fn +
                " x_buf=act x_stride=3 y_buf=wgt y_stride=3 z_buf=acc "
                "z_stride=3 rows=2 cols=3 " +
                extra);
  }
  static void expectSame(float got, double want, const std::string &what) {
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(got)) << what;
    else if (std::isinf(want))
      EXPECT_EQ(double(got), want) << what;
    else
      EXPECT_NEAR(got, want, 1e-6 * std::max(1.0, std::fabs(want))) << what;
  }
  /// Row r of x: its mean and (population) variance.
  std::pair<double, double> meanVar(int r) const {
    double mean = 0, var = 0;
    for (int c = 0; c < 3; ++c)
      mean += x[r * 3 + c] / 3.0;
    for (int c = 0; c < 3; ++c)
      var += (x[r * 3 + c] - mean) * (x[r * 3 + c] - mean) / 3.0;
    return {mean, var};
  }
  std::vector<float> x = {-1.5f, -0.2f, 0.3f, 2.0f, 0.0f, 1.0f};
  std::vector<float> y = {2.0f, 0.5f, -3.0f, 1.5f, 4.0f, 0.25f};
};

TEST_F(VecTest, UnaryFunctions) {
  const double kSqrt2OverPi = std::sqrt(2.0 / M_PI);
  std::pair<const char *, double (*)(double)> cases[] = {
      {"copy", [](double a) { return a; }},
      {"neg", [](double a) { return -a; }},
      {"exp", [](double a) { return std::exp(a); }},
      {"log", [](double a) { return std::log(a); }},
      {"sqrt", [](double a) { return std::sqrt(a); }},
      {"recip", [](double a) { return 1 / a; }},
      {"tanh", [](double a) { return std::tanh(a); }},
      {"erf", [](double a) { return std::erf(a); }},
      {"sigmoid", [](double a) { return 1 / (1 + std::exp(-a)); }},
      {"relu", [](double a) { return a > 0 ? a : 0.0; }},
      {"abs", [](double a) { return std::fabs(a); }},
      {"silu", [](double a) { return a / (1 + std::exp(-a)); }},
      {"gelu_erf", [](double a) { return 0.5 * a * (1 + std::erf(a / M_SQRT2)); }},
  };
  for (auto [name, fn] : cases) {
    ASSERT_NO_ERR(run(name));
    for (int i = 0; i < 6; ++i) {
      if (std::string(name) == "recip" && x[i] == 0)
        continue;
      expectSame(z(i / 3, i % 3), fn(x[i]), name);
    }
  }
  ASSERT_NO_ERR(run("gelu_tanh"));
  for (int i = 0; i < 6; ++i) {
    double a = x[i];
    expectSame(z(i / 3, i % 3),
               0.5 * a * (1 + std::tanh(kSqrt2OverPi * (a + 0.044715 * a * a * a))),
               "gelu_tanh");
  }
}

TEST_F(VecTest, BinaryFunctionsAndFlags) {
  std::pair<const char *, double (*)(double, double)> cases[] = {
      {"add", [](double a, double b) { return a + b; }},
      {"sub", [](double a, double b) { return a - b; }},
      {"mul", [](double a, double b) { return a * b; }},
      {"div", [](double a, double b) { return a / b; }},
      {"pow", [](double a, double b) { return std::pow(a, b); }},
      {"max", [](double a, double b) { return std::max(a, b); }},
      {"min", [](double a, double b) { return std::min(a, b); }},
  };
  for (auto [name, fn] : cases) {
    ASSERT_NO_ERR(run(name));
    for (int i = 0; i < 6; ++i)
      expectSame(z(i / 3, i % 3), fn(x[i], y[i]), name);
    ASSERT_NO_ERR(run(name, "flags=1 imm=0.5")); // Imm
    for (int i = 0; i < 6; ++i)
      expectSame(z(i / 3, i % 3), fn(x[i], 0.5), std::string(name) + " imm");
    ASSERT_NO_ERR(run(name, "flags=5 imm=3")); // Imm | Swap
    for (int i = 0; i < 6; ++i)
      expectSame(z(i / 3, i % 3), fn(3, x[i]), std::string(name) + " swap");
  }
  // PerRow: y holds one value per row, y_stride apart.
  buf(Buffer::Wgt)[40] = 10;
  buf(Buffer::Wgt)[42] = -1;
  ASSERT_NO_ERR(exec("vec func=sub flags=2 x_buf=act x_stride=3 y_buf=wgt "
                     "y_off=40 y_stride=2 z_buf=acc z_stride=3 rows=2 cols=3"));
  for (int i = 0; i < 6; ++i)
    expectSame(z(i / 3, i % 3), x[i] - (i < 3 ? 10 : -1), "per-row");
  // y_stride 0 broadcasts one row of y (a bias add).
  ASSERT_NO_ERR(exec("vec func=add x_buf=act x_stride=3 y_buf=wgt y_stride=0 "
                     "z_buf=acc z_stride=3 rows=2 cols=3"));
  for (int i = 0; i < 6; ++i)
    expectSame(z(i / 3, i % 3), x[i] + y[i % 3], "row broadcast");
}

TEST_F(VecTest, LayerNormPerRow) {
  fill(Buffer::Wgt, 10, 0, 1, 3, {1.0f, 2.0f, 0.5f});  // gamma
  fill(Buffer::Wgt, 20, 0, 1, 3, {0.0f, -1.0f, 3.0f}); // beta
  ASSERT_NO_ERR(exec("vec func=layer_norm x_buf=act x_stride=3 y_buf=wgt "
                     "y_off=10 w_buf=wgt w_off=20 z_buf=acc z_stride=3 rows=2 "
                     "cols=3 imm=1e-5"));
  double gamma[3] = {1, 2, 0.5}, beta[3] = {0, -1, 3};
  for (int r = 0; r < 2; ++r) {
    auto [mean, var] = meanVar(r);
    for (int c = 0; c < 3; ++c)
      expectSame(z(r, c),
                 (x[r * 3 + c] - mean) / std::sqrt(var + 1e-5) * gamma[c] +
                     beta[c],
                 "layer_norm");
  }
  EXPECT_ERR(exec("vec func=layer_norm x_buf=act y_buf=wgt w_buf=wgt z_buf=acc "
                  "rows=1 cols=3 imm=-1"),
             "field 'imm': layer_norm epsilon must be finite and >= 0");
}

TEST_F(VecTest, SoftmaxPerRow) {
  ASSERT_NO_ERR(run("softmax"));
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (int c = 0; c < 3; ++c)
      sum += std::exp(double(x[r * 3 + c]));
    for (int c = 0; c < 3; ++c)
      expectSame(z(r, c), std::exp(double(x[r * 3 + c])) / sum, "softmax");
  }
}

TEST_F(VecTest, RmsNormPerRow) {
  fill(Buffer::Wgt, 10, 0, 1, 3, {1.0f, 2.0f, 0.5f}); // gamma
  double gamma[3] = {1, 2, 0.5};
  for (bool outside : {false, true}) {
    ASSERT_NO_ERR(exec(std::string("vec func=rms_norm x_buf=act x_stride=3 "
                                   "y_buf=wgt y_off=10 z_buf=acc z_stride=3 "
                                   "rows=2 cols=3 imm=1e-3 flags=") +
                       (outside ? "8" : "0")));
    for (int r = 0; r < 2; ++r) {
      double ms = 0;
      for (int c = 0; c < 3; ++c)
        ms += double(x[r * 3 + c]) * x[r * 3 + c] / 3.0;
      double div = outside ? std::sqrt(ms) + 1e-3 : std::sqrt(ms + 1e-3);
      for (int c = 0; c < 3; ++c)
        expectSame(z(r, c), x[r * 3 + c] / div * gamma[c], "rms_norm");
    }
  }
  EXPECT_ERR(exec("vec func=rms_norm x_buf=act y_buf=wgt z_buf=acc rows=1 "
                  "cols=3 imm=-1"),
             "field 'imm': rms_norm epsilon must be finite and >= 0");
  EXPECT_ERR(exec("vec func=rms_norm x_buf=act y_buf=wgt z_buf=acc rows=1 "
                  "cols=3 flags=1"),
             "field 'flags': unknown bits 0x1");
}

TEST_F(VecTest, LayerNormEpsilonOutsideSqrt) {
  fill(Buffer::Wgt, 10, 0, 1, 3, {1.0f, 1.0f, 1.0f});
  fill(Buffer::Wgt, 20, 0, 1, 3, {0.0f, 0.0f, 0.0f});
  ASSERT_NO_ERR(exec("vec func=layer_norm flags=8 x_buf=act x_stride=3 "
                     "y_buf=wgt y_off=10 w_buf=wgt w_off=20 z_buf=acc "
                     "z_stride=3 rows=2 cols=3 imm=0.5"));
  for (int r = 0; r < 2; ++r) {
    auto [mean, var] = meanVar(r);
    for (int c = 0; c < 3; ++c)
      expectSame(z(r, c), (x[r * 3 + c] - mean) / (std::sqrt(var) + 0.5),
                 "layer_norm eps outside");
  }
}

TEST_F(VecTest, LogSoftmaxPerRow) {
  ASSERT_NO_ERR(run("log_softmax"));
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (int c = 0; c < 3; ++c)
      sum += std::exp(double(x[r * 3 + c]));
    for (int c = 0; c < 3; ++c)
      expectSame(z(r, c), x[r * 3 + c] - std::log(sum), "log_softmax");
  }
}

TEST_F(VecTest, RowReductionsWriteOneColumn) {
  // z is rows x 1 with stride 1: the two results are adjacent.
  for (const char *fn : {"row_sum", "row_mean", "row_max"}) {
    ASSERT_NO_ERR(exec(std::string("vec func=") + fn +
                       " x_buf=act x_stride=3 z_buf=acc z_off=40 z_stride=1 "
                       "rows=2 cols=3"));
    for (int r = 0; r < 2; ++r) {
      const float *row = &x[r * 3];
      double sum = double(row[0]) + row[1] + row[2];
      double want = std::string(fn) == "row_sum"    ? sum
                    : std::string(fn) == "row_mean" ? sum / 3
                                                    : *std::max_element(row, row + 3);
      expectSame(buf(Buffer::Acc)[40 + r], want, fn);
    }
  }
}

TEST_F(VecTest, RowCumSumRunsAlongEachRow) {
  // flags 16: exclusive, 32: reverse (ONNX CumSum's attributes).
  for (unsigned flags : {0u, 16u, 32u, 48u}) {
    ASSERT_NO_ERR(run("row_cumsum", "flags=" + std::to_string(flags)));
    bool exclusive = flags & 16, reverse = flags & 32;
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) {
        double want = 0;
        for (int i = 0; i < 3; ++i) {
          bool before = reverse ? i > c : i < c;
          if (before || (i == c && !exclusive))
            want += x[r * 3 + i];
        }
        expectSame(z(r, c), want, "row_cumsum flags=" + std::to_string(flags));
      }
  }
  EXPECT_ERR(run("row_cumsum", "flags=1"), "field 'flags': unknown bits 0x1");
}

TEST_F(VecTest, RotaryRotatesHalfPairs) {
  // Rows of 4 (one head): x in act, cos in wgt, sin in wgt at 8; pair
  // (i, i + 2) rotates by the angle whose cos/sin sit at columns i, i + 2.
  std::vector<float> xs = {1.0f, 2.0f, 3.0f, 4.0f, -1.0f, 0.5f, 2.0f, -3.0f};
  std::vector<float> cs = {0.6f, 1.0f, 0.6f, 1.0f, -0.8f, 0.0f, -0.8f, 0.0f};
  std::vector<float> sn = {0.8f, 0.0f, 0.8f, 0.0f, 0.6f, 1.0f, 0.6f, 1.0f};
  fill(Buffer::Act, 0, 4, 2, 4, xs);
  fill(Buffer::Wgt, 0, 4, 2, 4, cs);
  fill(Buffer::Wgt, 8, 4, 2, 4, sn);
  ASSERT_NO_ERR(exec("vec func=rotary x_buf=act x_stride=4 y_buf=wgt "
                     "y_stride=4 w_buf=wgt w_off=8 w_stride=4 z_buf=acc "
                     "z_stride=4 rows=2 cols=4"));
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c) {
      int i = r * 4 + c;
      double rotated = c < 2 ? -xs[i + 2] : xs[i - 2];
      expectSame(buf(Buffer::Acc)[i], xs[i] * cs[i] + rotated * sn[i],
                 "rotary");
    }
  EXPECT_ERR(exec("vec func=rotary x_buf=act x_stride=3 y_buf=wgt "
                  "w_buf=wgt z_buf=acc z_stride=3 rows=1 cols=3"),
             "field 'cols': rotary needs an even row width");
  EXPECT_ERR(run("rotary", "flags=8"), "field 'flags': unknown bits 0x8");
}

TEST_F(VecTest, PartialRotaryInPlaceKeepsTheOtherColumns) {
  // GPT-NeoX: heads of 4 columns, the first 2 rotated in place (z = x);
  // columns 2..3 of each row are never written.
  std::vector<float> xs = {1.0f, 2.0f, 3.0f, 4.0f, -1.0f, 0.5f, 2.0f, -3.0f};
  std::vector<float> cs = {0.6f, 0.6f, -0.8f, -0.8f};
  std::vector<float> sn = {0.8f, 0.8f, 0.6f, 0.6f};
  fill(Buffer::Act, 0, 4, 2, 4, xs);
  fill(Buffer::Wgt, 0, 2, 2, 2, cs);
  fill(Buffer::Wgt, 8, 2, 2, 2, sn);
  ASSERT_NO_ERR(exec("vec func=rotary x_buf=act x_stride=4 y_buf=wgt "
                     "y_stride=2 w_buf=wgt w_off=8 w_stride=2 z_buf=act "
                     "z_stride=4 rows=2 cols=2"));
  for (int r = 0; r < 2; ++r) {
    const float *x0 = &xs[r * 4];
    float c = cs[r * 2], s = sn[r * 2];
    expectSame(buf(Buffer::Act)[r * 4], x0[0] * c - x0[1] * s, "rotary");
    expectSame(buf(Buffer::Act)[r * 4 + 1], x0[1] * c + x0[0] * s, "rotary");
    EXPECT_EQ(buf(Buffer::Act)[r * 4 + 2], x0[2]);
    EXPECT_EQ(buf(Buffer::Act)[r * 4 + 3], x0[3]);
  }
}

TEST_F(VecTest, InPlaceIsAllowed) {
  ASSERT_NO_ERR(exec("vec func=mul flags=1 x_buf=act x_stride=3 z_buf=act "
                     "z_stride=3 rows=2 cols=3 imm=2"));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(buf(Buffer::Act)[i], 2 * x[i]);
}

TEST_F(VecTest, FieldErrors) {
  EXPECT_ERR(exec("vec func=30 x_buf=act z_buf=acc rows=1 cols=1"),
             "instruction 7 (vec): field 'func': 30 is not a vector function");
  EXPECT_ERR(run("exp", "flags=1"), "field 'flags': unknown bits 0x1");
  EXPECT_ERR(run("add", "flags=3"), "field 'flags': Imm and PerRow are exclusive");
  EXPECT_ERR(exec("vec func=add x_buf=act z_buf=acc z_off=16777215 rows=1 "
                  "cols=2"),
             "field 'z_off'");
  EXPECT_ERR(exec("vec func=add x_buf=act y_buf=idx z_buf=acc rows=1 cols=2"),
             "field 'y_buf': the idx buffer");
}

} // namespace

//===- SramWidthTest.cpp - K/V capacity follows the loaded width ----------===//
//
// The K and V buffers hold each element at the width it was loaded with
// (docs/ISA.md, "SRAM operands"): on the `spatten` preset the 196 KiB K
// buffer holds 50,176 fp32 elements but 133,802 of 12 bits, so 1024 keys of
// width 64 fit only at 12 bits.
//
//===----------------------------------------------------------------------===//

#include "spatten/ISA/Disasm.h"
#include "spatten/Sim/Simulator.h"

#include "SimTestUtil.h"
#include "TestUtil.h"

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

namespace {

/// 1024 rows x 64 columns: 65,536 elements, past the K buffer's 50,176
/// fp32 elements and within its 133,802 of 12 bits.
const std::string kRows = " rows=1024 cols=64";

class SramWidthTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Simulator::create(test::haltImage(1 << 19));
    ASSERT_OK(s);
    sim = std::move(*s);
  }
  llvm::Error exec(const std::string &text) {
    return test::stepText(*sim, text, 3);
  }
  /// A 12-bit load of 1024 rows of 64 (DRAM rows of 4 + 96 bytes, zero).
  llvm::Error load12(const std::string &buf, uint64_t off = 0) {
    return exec("load tensor_class=" + buf + " dtype=f32 bits=12 "
                "dram_stride=100 sram_buf=" + buf + " sram_off=" +
                std::to_string(off) + " sram_stride=64" + kRows);
  }
  llvm::Error loadFp32(const std::string &buf, uint64_t rows) {
    return exec("load tensor_class=" + buf + " dtype=f32 bits=32 "
                "dram_stride=256 sram_buf=" + buf + " sram_stride=64 rows=" +
                std::to_string(rows) + " cols=64");
  }
  /// One query row against 1024 keys of K and V at `kOff`.
  llvm::Error attn(uint64_t kOff = 0) {
    return exec("attn q_buf=q k_buf=k k_off=" + std::to_string(kOff) +
                " k_stride=64 v_buf=v v_stride=64 o_buf=acc o_stride=64 "
                "mask_kind=none lq=1 lk=1024 d=64 scale=0.125");
  }
  std::unique_ptr<Simulator> sim;
};

TEST_F(SramWidthTest, TwelveBitKeysFitWhereFp32DoNot) {
  ASSERT_NO_ERR(load12("k"));
  ASSERT_NO_ERR(load12("v"));
  ASSERT_NO_ERR(attn());
  EXPECT_ERR(loadFp32("k", 1024),
             "instruction 3 (load): field 'sram_off': 1024 rows x 64 cols at "
             "offset 0 with stride 64 reach element 65536, past the k buffer "
             "(50176 elements of 32 bits)");
}

TEST_F(SramWidthTest, TheNarrowestWidthBoundsEveryLoad) {
  // Two blocks of 1024 12-bit rows fit (131,072 elements, double
  // buffering), but not from offset 70,000.
  ASSERT_NO_ERR(load12("k", 65536));
  EXPECT_ERR(load12("k", 70000), "reach element 135536, past the k buffer "
                                 "(133802 elements of 12 bits)");
  // So does Q, the query rows of progressive quantization's one ATTN.
  ASSERT_NO_ERR(load12("q", 65536));
}

TEST_F(SramWidthTest, AttnReadsAtTheWidestWidthOfItsRows) {
  ASSERT_NO_ERR(load12("k"));
  ASSERT_NO_ERR(load12("v"));
  // One fp32 row among the 12-bit keys: the keys read are as wide as it.
  ASSERT_NO_ERR(loadFp32("k", 1));
  EXPECT_ERR(attn(), "instruction 3 (attn): field 'k_off': 1024 rows x 64 "
                     "cols at offset 0 with stride 64 reach element 65536, "
                     "past the k buffer (50176 elements of 32 bits)");
  // Rewritten at 12 bits, the row is narrow again.
  ASSERT_NO_ERR(load12("k"));
  ASSERT_NO_ERR(attn());
  // Past what the buffer holds at its narrowest width (2 bits).
  EXPECT_ERR(attn(800000), "reach element 865536, past the k buffer (802816 "
                           "elements of 2 bits)");
}

TEST_F(SramWidthTest, UnwrittenElementsCountAs32Bits) {
  EXPECT_ERR(attn(), "past the k buffer (50176 elements of 32 bits)");
}

TEST_F(SramWidthTest, ValuesReadOnlyTheRowsOfTheValueRowMask) {
  ASSERT_NO_ERR(load12("k"));
  // V: every row fp32 but the first 24, which a 12-bit load rewrites; a
  // deferring ATTN that keeps only key 0 reads only V row 0 at `values`.
  ASSERT_NO_ERR(exec("load tensor_class=v dtype=f32 bits=32 dram_stride=256 "
                     "sram_buf=v sram_stride=64 rows=784 cols=64"));
  ASSERT_NO_ERR(exec("load tensor_class=v dtype=f32 bits=12 dram_stride=100 "
                     "sram_buf=v sram_stride=64 rows=24 cols=64"));
  ASSERT_NO_ERR(exec("attn q_buf=q k_buf=k k_stride=64 v_buf=v v_stride=64 "
                     "o_buf=acc o_stride=64 mask_kind=causal lq=1 lk=1024 "
                     "d=64 scale=0.125 flags=8 vk=1"));
  ASSERT_NO_ERR(exec("attn phase=values v_buf=v v_stride=64 o_buf=acc "
                     "o_stride=64 lq=1 lk=1024 d=64"));
}

} // namespace

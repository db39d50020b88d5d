//===- LazyLoadTest.cpp - Lazy loads leave every result as copies do ------===//
//
// A load of fp32 rows of 4 KiB or more stays in DRAM until it is read
// (Machine::loadLazily); a load of one shorter row is copied at once. So a
// random program, and the same program with every load split into single
// rows, must leave the same SRAM and DRAM bit for bit, whatever reads the
// loaded rows in place, overwrites them, or overwrites their DRAM source in
// between.
//
//===----------------------------------------------------------------------===//

#include "SimTestUtil.h"
#include "TestUtil.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstring>
#include <optional>
#include <random>

using namespace spatten;
using namespace spatten::isa;
using spatten::test::asmLine;
using spatten::test::haltImage;

namespace {

constexpr uint64_t kDramBytes = 1 << 16;
/// Every operand stays below this element of its buffer.
constexpr uint64_t kSramElems = 1 << 14;
const char *const kBuffers[] = {"act", "wgt", "acc"};

/// An SRAM region: rows x cols elements of `buf` from `off`, `stride` apart.
struct Region {
  std::string buf;
  uint64_t off, stride, rows, cols;
  std::string fields(const char *prefix) const {
    return llvm::formatv(" {0}_buf={1} {0}_off={2} {0}_stride={3}", prefix,
                         buf, off, stride);
  }
};

class RandomProgram {
public:
  explicit RandomProgram(unsigned seed) : rng(seed) {}

  /// The next instruction, as it runs in the lazy program and as the
  /// copying program runs it (a load split into rows).
  std::pair<std::vector<std::string>, std::vector<std::string>> next() {
    unsigned kind = pick(10);
    if (kind < 5)
      return load();
    std::string one = kind < 7 ? gemm() : kind < 9 ? store() : copy();
    return {{one}, {one}};
  }

private:
  uint64_t pick(uint64_t n) { return rng() % n; }

  Region region(uint64_t rows, uint64_t cols) {
    uint64_t stride = cols + 4 * pick(3);
    uint64_t span = (rows - 1) * stride + cols;
    return {kBuffers[pick(3)], pick(kSramElems - span), stride, rows, cols};
  }

  /// A region inside the last load half the time (read there in place),
  /// else anywhere.
  Region operand(uint64_t rows, uint64_t cols) {
    if (!last || pick(2) || rows > last->rows || cols > last->cols)
      return region(rows, cols);
    uint64_t r0 = pick(last->rows - rows + 1), c0 = pick(last->cols - cols + 1);
    return {last->buf, last->off + r0 * last->stride + c0, last->stride, rows,
            cols};
  }

  std::pair<std::vector<std::string>, std::vector<std::string>> load() {
    const uint64_t widths[] = {64, 100, 256};
    uint64_t rows = 1 + pick(24), cols = widths[pick(3)];
    // DRAM rows apart, adjacent, or overlapping.
    uint64_t dramStride = 4 * (cols + pick(9)) - (pick(4) ? 0 : 4 * cols / 2);
    uint64_t span = (rows - 1) * dramStride + 4 * cols;
    uint64_t addr = 4 * pick((kDramBytes - span) / 4);
    Region r = region(rows, cols);
    last = r;
    auto text = [&](uint64_t a, const Region &at, uint64_t n) {
      return llvm::formatv("load tensor_class=weights dtype=f32 bits=32 "
                           "dram_addr={0} dram_stride={1} sram_buf={2} "
                           "sram_off={3} sram_stride={4} rows={5} cols={6}",
                           a, dramStride, at.buf, at.off, at.stride, n, cols)
          .str();
    };
    std::vector<std::string> rowByRow;
    for (uint64_t i = 0; i < rows; ++i)
      rowByRow.push_back(text(addr + i * dramStride,
                              {r.buf, r.off + i * r.stride, 0, 1, cols}, 1));
    return {{text(addr, r, rows)}, rowByRow};
  }

  std::string gemm() {
    uint64_t m = 1 + pick(8), n = 1 + pick(64), k = 1 + pick(24);
    bool transB = pick(2);
    Region a = operand(m, k);
    Region b = transB ? operand(n, k) : operand(k, n);
    Region c = region(m, n);
    return llvm::formatv("gemm flags={0}{1}{2}{3} m={4} n={5} k={6}",
                         (transB ? 4 : 0) | pick(2), a.fields("a"),
                         b.fields("b"), c.fields("c"), m, n, k)
        .str();
  }

  std::string store() {
    Region s = operand(1 + pick(8), 1 + pick(64));
    uint64_t addr = 4 * pick((kDramBytes - 4 * s.rows * 64 * 4) / 4);
    return llvm::formatv("store tensor_class=activations dtype=f32 bits=32 "
                         "dram_addr={0} dram_stride=256 sram_buf={1} "
                         "sram_off={2} sram_stride={3} rows={4} cols={5}",
                         addr, s.buf, s.off, s.stride, s.rows, s.cols)
        .str();
  }

  std::string copy() {
    uint64_t rows = 1 + pick(8), cols = 1 + pick(64);
    Region x = operand(rows, cols), z = region(rows, cols);
    return llvm::formatv("vec func=copy{0}{1} rows={2} cols={3}",
                         x.fields("x"), z.fields("z"), rows, cols)
        .str();
  }

  std::mt19937_64 rng;
  std::optional<Region> last;
};

std::unique_ptr<sim::Simulator> filledSimulator() {
  auto s = sim::Simulator::create(haltImage(kDramBytes));
  if (!s) {
    ADD_FAILURE() << llvm::toString(s.takeError());
    return nullptr;
  }
  llvm::MutableArrayRef<uint8_t> dram = (*s)->dram();
  for (uint64_t i = 0; i < kDramBytes; i += 4) {
    float v = float(i % 997) / 61.0f - 7.0f;
    std::memcpy(dram.data() + i, &v, 4);
  }
  return std::move(*s);
}

TEST(LazyLoad, RandomProgramsGiveTheBitsOfCopyingLoads) {
  for (unsigned seed = 0; seed < 300; ++seed) {
    SCOPED_TRACE(seed);
    std::unique_ptr<sim::Simulator> lazy = filledSimulator(),
                                    copying = filledSimulator();
    ASSERT_TRUE(lazy && copying);
    RandomProgram program(seed);
    uint64_t pc = 0;
    for (unsigned i = 0; i < 12; ++i) {
      auto [asLazy, asCopies] = program.next();
      for (const std::string &text : asLazy)
        ASSERT_NO_ERR(lazy->step(asmLine(text), pc++));
      for (const std::string &text : asCopies)
        ASSERT_NO_ERR(copying->step(asmLine(text), pc++));
    }
    for (Buffer b : {Buffer::Act, Buffer::Wgt, Buffer::Acc})
      ASSERT_EQ(lazy->buffer(b), copying->buffer(b));
    ASSERT_EQ(0, std::memcmp(lazy->dram().data(), copying->dram().data(),
                             kDramBytes));
  }
}

/// More lazy loads than a buffer keeps: the oldest are copied in, and every
/// load still reads back as it was loaded.
TEST(LazyLoad, ManyLoadsIntoOneBufferKeepTheirRows) {
  std::unique_ptr<sim::Simulator> s = filledSimulator();
  ASSERT_TRUE(s);
  const uint64_t loads = 40, rows = 4, cols = 256;
  for (uint64_t i = 0; i < loads; ++i)
    ASSERT_NO_ERR(s->step(
        asmLine(llvm::formatv("load tensor_class=weights dtype=f32 bits=32 "
                              "dram_addr={0} dram_stride={1} sram_buf=wgt "
                              "sram_off={2} sram_stride={3} rows={4} cols={3}",
                              1024 * i, 2048, rows * cols * i, cols, rows)),
        i));
  // Overwriting DRAM after the loads changes none of them.
  std::memset(s->dram().data(), 0xff, kDramBytes);
  std::unique_ptr<sim::Simulator> fresh = filledSimulator();
  const uint8_t *original = fresh->dram().data();
  const std::vector<float> &wgt = s->buffer(Buffer::Wgt);
  for (uint64_t i = 0; i < loads; ++i)
    for (uint64_t r = 0; r < rows; ++r)
      ASSERT_EQ(0, std::memcmp(&wgt[(i * rows + r) * cols],
                               original + 1024 * i + 2048 * r, 4 * cols))
          << "load " << i << ", row " << r;
}

} // namespace

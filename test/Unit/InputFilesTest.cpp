//===- InputFilesTest.cpp - Bounded JSON nesting and regular files --------===//

#include "spatten/Support/InputFiles.h"

#include "TestUtil.h"

#include "llvm/Support/FileSystem.h"

#include <string>

using spatten::test::errorOf;

namespace {

std::string nested(unsigned depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(InputFiles, JsonNestsAtMostTheLimit) {
  EXPECT_EQ(errorOf(spatten::parseJson(nested(spatten::kMaxJsonDepth))), "");
  EXPECT_EQ(errorOf(spatten::parseJson(nested(spatten::kMaxJsonDepth + 1))),
            "JSON nests deeper than 64 levels (at byte 64)");
  EXPECT_EQ(errorOf(spatten::parseJson(nested(100000))),
            "JSON nests deeper than 64 levels (at byte 64)");
  // Brackets inside strings, escaped quotes included, are not nesting.
  std::string quoted = "[\"\\\"" + std::string(1000, '[') + "\"]";
  EXPECT_EQ(errorOf(spatten::parseJson(quoted)), "");
  // Closing brackets do not go below zero: the parser reports the error.
  EXPECT_NE(errorOf(spatten::parseJson("]]][")), "");
}

TEST(InputFiles, JsonNumbersFollowTheGrammar) {
  for (const char *ok : {"[0, -0.5, 10, 1e05, 1E+5, 2.0e-3, -120]",
                         "{\"a+\": \"007\"}"})
    EXPECT_EQ(errorOf(spatten::parseJson(ok)), "") << ok;
  EXPECT_EQ(errorOf(spatten::parseJson("[1, +1]")),
            "JSON numbers may not start with '+' (at byte 4)");
  EXPECT_EQ(errorOf(spatten::parseJson("{\"a\": 00}")),
            "JSON numbers may not have leading zeros (at byte 6)");
  EXPECT_EQ(errorOf(spatten::parseJson("[-012]")),
            "JSON numbers may not have leading zeros (at byte 2)");
}

TEST(InputFiles, JsonObjectsHaveEachKeyOnce) {
  EXPECT_EQ(errorOf(spatten::parseJson("{\"a\": 1, \"b\": {\"a\": 2}}")), "");
  EXPECT_EQ(errorOf(spatten::parseJson("[{\"a\": 1}, {\"a\": 2}]")), "");
  EXPECT_EQ(errorOf(spatten::parseJson("{\"a\": 1, \"b\": [\"a\"], \"a\": 2}")),
            "JSON object has key 'a' twice (at byte 21)");
}

TEST(InputFiles, OnlyRegularFilesOfBoundedSizeAreRead) {
  EXPECT_EQ(errorOf(spatten::readRegularFile("/dev/zero")),
            "'/dev/zero' is not a regular file");
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("inputfiles", dir));
  EXPECT_EQ(errorOf(spatten::readRegularFile(dir)),
            "'" + std::string(dir) + "' is not a regular file");
  llvm::SmallString<128> file(dir);
  file.append("/four.bin");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(file, ec);
    ASSERT_FALSE(ec);
    os << "1234";
  }
  auto four = spatten::readRegularFile(file);
  ASSERT_TRUE(bool(four));
  EXPECT_EQ((*four)->getBuffer(), "1234");
  EXPECT_EQ(errorOf(spatten::readRegularFile(file, false, 3)),
            "'" + std::string(file) +
                "' holds 4 bytes, more than the limit of 3");
  llvm::sys::fs::remove(file);
  llvm::sys::fs::remove(dir);
  EXPECT_NE(errorOf(spatten::readRegularFile(file)).find("cannot read '"),
            std::string::npos);
}

} // namespace

//===- TestUtil.h - llvm::Error helpers for GoogleTest ----------*- C++ -*-===//
//
// The LLVM 22 packages do not ship LLVMTestingSupport, so these stand in for
// ASSERT_THAT_EXPECTED / FailedWithMessage.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_TEST_UNIT_TESTUTIL_H
#define SPATTEN_TEST_UNIT_TESTUTIL_H

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>
#include <string>

namespace spatten::test {

/// The message of a failed Expected (consumes it), "" on success.
template <typename T> std::string errorOf(llvm::Expected<T> &e) {
  return e ? std::string() : llvm::toString(e.takeError());
}
template <typename T> std::string errorOf(llvm::Expected<T> &&e) {
  return errorOf(e);
}
inline std::string errorOf(llvm::Error e) {
  return e ? llvm::toString(std::move(e)) : std::string();
}

} // namespace spatten::test

/// Asserts an Expected holds a value, printing the error otherwise.
#define ASSERT_OK(x) ASSERT_TRUE(bool(x)) << ::spatten::test::errorOf(x)
/// Asserts an llvm::Error expression is success.
#define ASSERT_NO_ERR(expr)                                                    \
  do {                                                                         \
    std::string msg_ = ::spatten::test::errorOf(expr);                         \
    ASSERT_TRUE(msg_.empty()) << msg_;                                         \
  } while (0)
/// Expects `expr` (Error or Expected) to fail with a message containing
/// `sub`.
#define EXPECT_ERR(expr, sub)                                                  \
  do {                                                                         \
    std::string msg_ = ::spatten::test::errorOf(expr);                         \
    EXPECT_FALSE(msg_.empty()) << "expected an error containing: " << (sub);   \
    EXPECT_NE(msg_.find(sub), std::string::npos) << "error was: " << msg_;     \
  } while (0)

#endif

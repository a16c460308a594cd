#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace sluice {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return make_error(Errc::kInvalidInput, "odd");
  return n / 2;
}

TEST(Result, HoldsValueOnSuccess) {
  auto r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
}

TEST(Result, HoldsErrorOnFailure) {
  auto r = half(3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidInput);
  EXPECT_EQ(r.error().message(), "invalid-input: odd");
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Result, StatusDefaultsToOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status failed = make_error(Errc::kTimeout, "slow");
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(failed.error().temporary());
}

// Which failures a caller may retry: this decides 4xx versus 5xx answers.
TEST(Result, ClassifiesTemporaryAndPermanentErrors) {
  EXPECT_TRUE(is_temporary(Errc::kTimeout));
  EXPECT_TRUE(is_temporary(Errc::kUnavailable));
  EXPECT_TRUE(is_temporary(Errc::kIo));
  EXPECT_FALSE(is_temporary(Errc::kInvalidInput));
  EXPECT_FALSE(is_temporary(Errc::kTooLong));
  EXPECT_FALSE(is_temporary(Errc::kConfig));
}

TEST(ResultDeathTest, AbortsWhenValueOfFailureIsUsed) {
  auto r = half(3);
  EXPECT_DEATH((void)*r, "");
}

}  // namespace
}  // namespace sluice

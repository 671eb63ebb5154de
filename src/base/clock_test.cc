#include "base/clock.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(Clock, Rfc3339NanoTrimsLikeGo) {
  EXPECT_EQ(rfc3339_nano({0, 0}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339_nano({1700000000, 120000000}), "2023-11-14T22:13:20.12Z");
  EXPECT_EQ(rfc3339_nano({1700000000, 1}), "2023-11-14T22:13:20.000000001Z");
}

TEST(Clock, NowIsCurrentYearOrLater) {
  std::string now = now_rfc3339_nano();
  ASSERT_GE(now.size(), 20u);
  EXPECT_GE(std::stoi(now.substr(0, 4)), 2024);
  EXPECT_EQ(now.back(), 'Z');
}

}  // namespace
}  // namespace berth

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

TEST(ParseRfc3339Nano, ParsesWhatRfc3339NanoWrites) {
  struct timespec t{1700000000, 123456789};
  long long n = 0;
  ASSERT_TRUE(berth::parse_rfc3339_nano(berth::rfc3339_nano(t), &n));
  EXPECT_EQ(n, 1700000000123456789LL);
  ASSERT_TRUE(berth::parse_rfc3339_nano("2023-11-14T22:13:20Z", &n));
  EXPECT_EQ(n, 1700000000LL * 1000000000LL);
  ASSERT_TRUE(berth::parse_rfc3339_nano("2023-11-14T23:13:20.5+01:00", &n));
  EXPECT_EQ(n, 1700000000500000000LL);
}

TEST(ParseRfc3339Nano, RejectsMalformed) {
  long long n = 0;
  EXPECT_FALSE(berth::parse_rfc3339_nano("2023-11-14 22:13:20Z", &n));
  EXPECT_FALSE(berth::parse_rfc3339_nano("2023-11-14T22:13:20", &n));
  EXPECT_FALSE(berth::parse_rfc3339_nano("2023-11-14T22:13:20.Z", &n));
  EXPECT_FALSE(berth::parse_rfc3339_nano("yesterday", &n));
}

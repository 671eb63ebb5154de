#include "api/filters.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

TEST(ParseTimeParam, UnixSecondsFractionsAndRfc3339) {
  EXPECT_EQ(parse_time_param(""), 0);
  EXPECT_EQ(parse_time_param("1700000000"), 1700000000LL * 1000000000LL);
  EXPECT_EQ(parse_time_param("1700000000.5"), 1700000000500000000LL);
  EXPECT_EQ(parse_time_param("2023-11-14T22:13:20Z"), 1700000000LL * 1000000000LL);
  EXPECT_THROW(parse_time_param("yesterday"), ApiError);
  EXPECT_THROW(parse_time_param("1.x"), ApiError);
}

}  // namespace
}  // namespace berth::api

#include "base/strings.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace berth {
namespace {

using Strings = std::vector<std::string>;

TEST(Split, KeepsEmptyFields) {
  EXPECT_EQ(split("a,b,c", ','), (Strings{"a", "b", "c"}));
  EXPECT_EQ(split("", ','), (Strings{""}));
  EXPECT_EQ(split(",", ','), (Strings{"", ""}));
  EXPECT_EQ(split("/a//b/", '/'), (Strings{"", "a", "", "b", ""}));
  EXPECT_EQ(split("no-sep", ','), (Strings{"no-sep"}));
}

TEST(Join, InsertsSeparatorBetweenOnly) {
  EXPECT_EQ(join({}, ","), "");
  EXPECT_EQ(join({"a"}, ","), "a");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join({"", ""}, "/"), "/");
}

TEST(Join, InvertsSplit) {
  for (std::string s : {"", "a", "a,b", ",x,,y,"}) EXPECT_EQ(join(split(s, ','), ","), s);
}

TEST(Trim, StripsAsciiWhitespaceBothEnds) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \n\t "), "");
  EXPECT_EQ(trim("\n40\n"), "40");
}

TEST(ParseUint64, AcceptsOnlyPlainDecimal) {
  unsigned long long v = 7;
  EXPECT_TRUE(parse_uint64("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_uint64("18446744073709551615", &v));
  EXPECT_EQ(v, 18446744073709551615ULL);
  EXPECT_TRUE(parse_uint64("0042", &v));
  EXPECT_EQ(v, 42u);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "18446744073709551616", "1.5"})
    EXPECT_FALSE(parse_uint64(bad, &v)) << bad;
}

TEST(ParseInt64, AcceptsSignedDecimal) {
  long long v = 7;
  EXPECT_TRUE(parse_int64("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(parse_int64("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(parse_int64("-1", &v));
  EXPECT_EQ(v, -1);
  for (const char* bad : {"", "-", "+1", "9223372036854775808", "-9223372036854775809", "12x", " 3"})
    EXPECT_FALSE(parse_int64(bad, &v)) << bad;
}

}  // namespace
}  // namespace berth

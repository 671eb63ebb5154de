#include "base/base64.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("alice:s3cret"), "YWxpY2U6czNjcmV0");
}

TEST(Base64, DecodesPaddedUnpaddedAndUrlSafe) {
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");
  EXPECT_EQ(base64_decode(base64_encode(std::string("\xfb\xff\x00\x01", 4))), std::string("\xfb\xff\x00\x01", 4));
  EXPECT_EQ(base64_decode("-_8"), "\xfb\xff");  // URL-safe spelling of "+/8="
}

TEST(Base64, RejectsGarbage) {
  EXPECT_THROW(base64_decode("a b="), Error);
  EXPECT_THROW(base64_decode("Zm9vY"), Error);  // a lone trailing sextet
  EXPECT_THROW(base64_decode("Zm9v!"), Error);
}

}  // namespace
}  // namespace berth

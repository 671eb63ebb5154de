#include "shim/json_log.h"

#include <gtest/gtest.h>

namespace berth::shim {
namespace {

std::string enc(std::string_view s) {
  std::string out;
  append_json_string(&out, s);
  return out;
}

TEST(JsonLog, EscapesLikeGo) {
  EXPECT_EQ(enc("a\"b\\c\n\r\t"), R"("a\"b\\c\n\r\t")");
  EXPECT_EQ(enc(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(enc("<a&b>"), R"("\u003ca\u0026b\u003e")");
  EXPECT_EQ(enc("\b\f"), R"("\u0008\u000c")");
}

TEST(JsonLog, KeepsValidUtf8) {
  EXPECT_EQ(enc("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\xb3"), "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\xb3\"");
  EXPECT_EQ(enc("\xe2\x80\xa8\xe2\x80\xa9"), R"("\u2028\u2029")");
}

TEST(JsonLog, ReplacesEachInvalidByte) {
  EXPECT_EQ(enc("a\xff" "b"), R"("a\ufffdb")");
  // Truncated 3-byte sequence: Go's DecodeRune consumes one byte at a time.
  EXPECT_EQ(enc("\xe2\x82"), R"("\ufffd\ufffd")");
  EXPECT_EQ(enc("\xc0\xaf"), R"("\ufffd\ufffd")");          // overlong '/'
  EXPECT_EQ(enc("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(enc("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
}

TEST(JsonLog, LineMatchesDocker) {
  EXPECT_EQ(json_log_line("hi\n", "stdout", {1700000000, 5}),
            "{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.000000005Z\"}\n");
}

}  // namespace
}  // namespace berth::shim

#include "image/digest.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "image/test_util.h"

namespace berth::image {
namespace {

TEST(Digest, KnownVectors) {
  EXPECT_EQ(sha256_of("").str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_of("abc").str(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, StreamingEqualsOneShot) {
  std::string data(1000000, 'a');
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 999) h.update(std::string_view(data).substr(i, 999));
  EXPECT_EQ(h.size(), data.size());
  // NIST: one million 'a'.
  EXPECT_EQ(h.finish().str(), "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Digest, FileAndFd) {
  testing::TempDir t;
  write_file(t / "f", "abc");
  EXPECT_EQ(sha256_of_file(t / "f"), sha256_of("abc"));
  EXPECT_THROW(sha256_of_file(t / "missing"), Error);
}

TEST(Digest, ParseAccessors) {
  std::string s = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  Digest d = Digest::parse(s);
  EXPECT_EQ(d.str(), s);
  EXPECT_EQ(d.algorithm(), "sha256");
  EXPECT_EQ(d.hex(), s.substr(7));
  EXPECT_EQ(d.short_str(), "sha256:ba7816bf8f01");
  EXPECT_EQ(Digest::from_hex(s.substr(7)), d);
}

TEST(Digest, RejectsInvalid) {
  std::string hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  auto msg = [](std::string_view s) {
    try {
      Digest::parse(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg("sha512:" + hex).find("unsupported digest algorithm \"sha512\""), std::string::npos);
  EXPECT_NE(msg("sha256:" + hex.substr(1)).find("64 hex digits, got 63"), std::string::npos);
  EXPECT_NE(msg("sha256:" + hex + "0").find("got 65"), std::string::npos);
  std::string upper = hex;
  upper[0] = 'B';
  EXPECT_NE(msg("sha256:" + upper).find("lowercase hex"), std::string::npos);
  EXPECT_NE(msg("sha256:" + hex.substr(1) + "g").find("lowercase hex"), std::string::npos);
  EXPECT_NE(msg(hex).find("missing algorithm"), std::string::npos);
  Digest d = sha256_of("");
  EXPECT_FALSE(Digest::try_parse("sha256:xyz", &d));
  EXPECT_EQ(d, sha256_of(""));
  EXPECT_TRUE(Digest::try_parse("sha256:" + hex, &d));
  EXPECT_EQ(d.hex(), hex);
}

}  // namespace
}  // namespace berth::image

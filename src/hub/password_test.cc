#include "hub/password.h"

#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "base/base64.h"
#include "base/error.h"

namespace berth::hub {
namespace {

std::string unpadded_b64(std::string_view data) {
  std::string s = base64_encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string hex_decode(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

TEST(Password, RoundTrip) {
  std::string stored = hash_password("correct horse", kTestScryptCost);
  EXPECT_TRUE(verify_password("correct horse", stored));
  EXPECT_FALSE(verify_password("correct hors", stored));
  EXPECT_FALSE(verify_password("correct horse ", stored));
  EXPECT_FALSE(verify_password("", stored));
}

TEST(Password, SelfDescribingFormat) {
  std::string stored = hash_password("pw", kTestScryptCost);
  // 16-byte salt -> 22 characters, 32-byte hash -> 43 characters.
  EXPECT_TRUE(std::regex_match(stored, std::regex(R"(\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43})")))
      << stored;
}

TEST(Password, DefaultCostIsRecordedAndVerifies) {
  std::string stored = hash_password("hunter2");
  EXPECT_EQ(stored.rfind("$scrypt$ln=15,r=8,p=1$", 0), 0u) << stored;
  EXPECT_TRUE(verify_password("hunter2", stored));
  EXPECT_FALSE(verify_password("hunter3", stored));
}

TEST(Password, SaltIsRandom) {
  std::string a = hash_password("same", kTestScryptCost);
  std::string b = hash_password("same", kTestScryptCost);
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify_password("same", a));
  EXPECT_TRUE(verify_password("same", b));
}

// RFC 7914 section 12, third vector (its first 32 bytes: scrypt's output
// for a shorter length is a prefix): proves the stored parameters and the
// base64 fields are read as scrypt means them, independently of
// hash_password.
TEST(Password, VerifiesRfc7914Vector) {
  std::string dk = hex_decode("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162");
  std::string stored = "$scrypt$ln=10,r=8,p=16$" + unpadded_b64("NaCl") + "$" + unpadded_b64(dk);
  EXPECT_TRUE(verify_password("password", stored));
  EXPECT_FALSE(verify_password("Password", stored));
  // The same hash under another recorded cost does not match.
  std::string other = "$scrypt$ln=10,r=8,p=15$" + unpadded_b64("NaCl") + "$" + unpadded_b64(dk);
  EXPECT_FALSE(verify_password("password", other));
}

TEST(Password, MalformedStoredStringsAreFalseNotErrors) {
  std::string good = hash_password("pw", kTestScryptCost);
  std::string flipped = good;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  const std::string salt = unpadded_b64("0123456789abcdef"), hash = unpadded_b64(std::string(32, 'x'));
  const std::vector<std::string> bad = {
      "",
      "pw",
      "$scrypt$",
      "$scrypt$ln=4,r=8,p=1$",
      "$scrypt$ln=4,r=8,p=1$" + salt,
      "$scrypt$ln=4,r=8,p=1$" + salt + "$",
      "$scrypt$ln=4,r=8,p=1$" + salt + "$" + hash + "$",
      "$argon2id$ln=4,r=8,p=1$" + salt + "$" + hash,
      "scrypt$ln=4,r=8,p=1$" + salt + "$" + hash,
      "$scrypt$ln=4,r=8$" + salt + "$" + hash,
      "$scrypt$ln=x,r=8,p=1$" + salt + "$" + hash,
      "$scrypt$ln=4,r=8,p=1,q=2$" + salt + "$" + hash,
      "$scrypt$ln=-4,r=8,p=1$" + salt + "$" + hash,
      "$scrypt$ln=+4,r=8,p=1$" + salt + "$" + hash,
      "$scrypt$ln=0,r=8,p=1$" + salt + "$" + hash,
      "$scrypt$ln=4,r=0,p=1$" + salt + "$" + hash,
      "$scrypt$ln=4,r=8,p=0$" + salt + "$" + hash,
      // Costs too high to compute on a login: rejected before any work.
      "$scrypt$ln=40,r=8,p=1$" + salt + "$" + hash,
      "$scrypt$ln=24,r=64,p=64$" + salt + "$" + hash,
      "$scrypt$ln=4,r=4294967295,p=1$" + salt + "$" + hash,
      "$scrypt$ln=4,r=8,p=1$!!!!$" + hash,
      "$scrypt$ln=4,r=8,p=1$" + salt + "$" + hash + "==",
      "$scrypt$ln=4,r=8,p=1$" + salt + "$" + "AAAA",  // 3-byte hash
      "$scrypt$ln=4,r=8,p=1$$" + hash,                 // empty salt
      good.substr(0, good.size() - 1),
      good.substr(0, good.size() - 4),  // 29 bytes: a prefix of the real hash
      good + "AAAA",
      "$scrypt$ln=4,r=8,p=1$" + salt + "$" + unpadded_b64(std::string(64, 'x')),
      flipped,
  };
  for (const auto& s : bad) {
    bool ok = true;
    EXPECT_NO_THROW(ok = verify_password("pw", s)) << s;
    EXPECT_FALSE(ok) << s;
  }
}

TEST(Password, CostLimits) {
  EXPECT_TRUE(ScryptCost{}.acceptable());
  EXPECT_TRUE(kTestScryptCost.acceptable());
  EXPECT_FALSE((ScryptCost{0, 8, 1}.acceptable()));
  EXPECT_FALSE((ScryptCost{25, 1, 1}.acceptable()));
  EXPECT_FALSE((ScryptCost{20, 16, 1}.acceptable()));  // 2 GiB
  EXPECT_TRUE((ScryptCost{15, 8, 64}.acceptable()));   // 64x the default's work: the limit
  EXPECT_FALSE((ScryptCost{16, 8, 64}.acceptable()));  // 128x
  EXPECT_EQ((ScryptCost{15, 8, 1}.memory_bytes()), 128u * 8 * (32768 + 1 + 2));
  EXPECT_THROW(hash_password("pw", ScryptCost{30, 8, 1}), Error);
}

TEST(RandomToken, UrlSafeAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string t = random_token(32);
    EXPECT_EQ(t.size(), 43u);
    EXPECT_TRUE(std::regex_match(t, std::regex("[A-Za-z0-9_-]+"))) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(random_token(0), "");
  // Round-trips through the URL-safe decoder to the requested length.
  EXPECT_EQ(base64_decode(random_token(9)).size(), 9u);
}

TEST(RandomToken, LooksLikeTokenKnowsItsShape) {
  for (size_t bytes : {9, 12, 32}) EXPECT_TRUE(looks_like_token(random_token(bytes), bytes)) << bytes;
  EXPECT_TRUE(looks_like_token("AbC-_09zAbC-_09z", 12));
  EXPECT_FALSE(looks_like_token("AbC-_09zAbC-_09", 12)) << "too short";
  EXPECT_FALSE(looks_like_token("AbC-_09zAbC-_09z", 9)) << "another length";
  EXPECT_FALSE(looks_like_token("AbC-_09zAbC-_0.z", 12)) << "not base64url";
  EXPECT_FALSE(looks_like_token("deliveries", 12));
}

}  // namespace
}  // namespace berth::hub

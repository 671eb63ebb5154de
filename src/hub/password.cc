#include "hub/password.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <memory>
#include <vector>

#include "base/base64.h"
#include "base/error.h"

namespace berth::hub {

namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

std::string b64_unpadded(std::string_view data) {
  std::string s = base64_encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string scrypt(std::string_view password, std::string_view salt, const ScryptCost& cost, size_t out_len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (!kdf) fail("scrypt: OpenSSL has no SCRYPT KDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf), EVP_KDF_CTX_free);
  EVP_KDF_free(kdf);  // the context holds its own reference
  if (!ctx) fail("scrypt: cannot create KDF context");
  uint64_t n = uint64_t{1} << cost.log2_n;
  uint32_t r = cost.r, p = cost.p;
  // OpenSSL's default cap (32 MiB) is just below what the default cost needs.
  uint64_t maxmem = cost.memory_bytes();
  // OSSL_PARAM wants non-const pointers but only reads inputs.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()), password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  std::string out(out_len, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), out.size(), params) != 1) {
    fail("scrypt: derivation failed (ln={}, r={}, p={})", cost.log2_n, cost.r, cost.p);
  }
  return out;
}

// Parses a decimal number that must make up all of s.
template <typename T>
bool parse_number(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool consume(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// "ln=15,r=8,p=1"
bool parse_cost(std::string_view s, ScryptCost* cost) {
  if (!consume(&s, "ln=")) return false;
  size_t comma = s.find(',');
  if (comma == std::string_view::npos || !parse_number(s.substr(0, comma), &cost->log2_n)) return false;
  s.remove_prefix(comma + 1);
  if (!consume(&s, "r=")) return false;
  comma = s.find(',');
  if (comma == std::string_view::npos || !parse_number(s.substr(0, comma), &cost->r)) return false;
  s.remove_prefix(comma + 1);
  return consume(&s, "p=") && parse_number(s, &cost->p);
}

// Standard base64 without padding, as hash_password writes it; false on
// anything else.
bool decode_b64(std::string_view s, std::string* out) {
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return false;
  }
  try {
    *out = base64_decode(s);
  } catch (const Error&) {
    return false;
  }
  return b64_unpadded(*out) == s;  // one value, one spelling
}

}  // namespace

uint64_t ScryptCost::memory_bytes() const {
  if (log2_n < 0 || log2_n > 62) return UINT64_MAX;
  return uint64_t{128} * r * ((uint64_t{1} << log2_n) + p + 2);
}

bool ScryptCost::acceptable() const {
  if (log2_n < 1 || log2_n > 24 || r < 1 || r > 64 || p < 1 || p > 64) return false;
  return memory_bytes() <= (uint64_t{256} << 20) && (uint64_t{1} << log2_n) * r * p <= (uint64_t{1} << 24);
}

std::string hash_password(std::string_view password, const ScryptCost& cost) {
  if (!cost.acceptable()) fail("hash password: scrypt cost ln={}, r={}, p={} out of range", cost.log2_n, cost.r, cost.p);
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) != 1) {
    fail("hash password: random generator failed");
  }
  std::string hash = scrypt(password, salt, cost, kHashBytes);
  return fmt::format("$scrypt$ln={},r={},p={}${}${}", cost.log2_n, cost.r, cost.p, b64_unpadded(salt), b64_unpadded(hash));
}

bool verify_password(std::string_view password, std::string_view stored) {
  // "", "scrypt", cost, salt, hash
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t dollar = stored.find('$', start);
    parts.push_back(stored.substr(start, dollar == std::string_view::npos ? std::string_view::npos : dollar - start));
    if (dollar == std::string_view::npos) break;
    start = dollar + 1;
  }
  if (parts.size() != 5 || !parts[0].empty() || parts[1] != "scrypt") return false;
  ScryptCost cost;
  std::string salt, want;
  if (!parse_cost(parts[2], &cost) || !cost.acceptable()) return false;
  if (!decode_b64(parts[3], &salt) || salt.empty() || salt.size() > 64) return false;
  // Exactly the length hash_password writes: scrypt's shorter outputs are
  // prefixes of its longer ones, so a truncated record would still match.
  if (!decode_b64(parts[4], &want) || want.size() != kHashBytes) return false;
  std::string got;
  try {
    got = scrypt(password, salt, cost, want.size());
  } catch (const Error&) {
    return false;
  }
  return CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

std::string random_token(size_t bytes) {
  if (bytes > INT_MAX) fail("random token: {} bytes is too many", bytes);
  std::string raw(bytes, '\0');
  if (bytes > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    fail("random token: random generator failed");
  }
  std::string s = b64_unpadded(raw);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

bool looks_like_token(std::string_view s, size_t bytes) {
  if (s.size() != (bytes * 4 + 2) / 3) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace berth::hub

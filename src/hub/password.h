// Password hashing for hub accounts and access tokens, and random tokens.
//
// Contract:
// - hash_password returns one self-describing string,
//   "$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>" (salt: 16 random bytes,
//   hash: 32 bytes, both standard base64 without padding, as in the PHC
//   string format), so the cost can be raised later without invalidating
//   stored hashes: verify_password reads the cost (and the salt, whatever
//   its length) from the string itself; the hash must be 32 bytes.
// - verify_password never throws on malformed input and returns false for
//   it; the hash comparison is constant-time. Stored strings whose cost is
//   not ScryptCost::acceptable() are rejected (false) rather than computed,
//   so a corrupted or hostile row cannot make a login use gigabytes of
//   memory or minutes of CPU.
// - random_token returns URL-safe base64 (no padding) of `bytes` bytes from
//   OpenSSL's CSPRNG; throws Error if the generator fails. looks_like_token
//   says whether s has that shape (tells ids in a path from names).
// - Failures of OpenSSL itself (out of memory) throw berth::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::hub {

// scrypt's cost: N = 2^log2_n, block size r, parallelism p. The default
// (N=2^15, r=8, p=1: 32 MiB, tens of milliseconds) follows OWASP's
// recommendation for interactive logins.
struct ScryptCost {
  int log2_n = 15;
  uint32_t r = 8;
  uint32_t p = 1;

  // Memory scrypt needs for this cost, in bytes (128 * r * (N + p + 2)).
  uint64_t memory_bytes() const;
  // log2_n in [1, 24], r and p in [1, 64], at most 256 MiB of memory and
  // at most 64 times the default's work (N * r * p <= 2^24).
  bool acceptable() const;
};

// Deliberately weak (N=2^4, 2 KiB): only for tests, where the default's cost
// would dominate the run time.
inline constexpr ScryptCost kTestScryptCost{4, 8, 1};
// Throws Error if !cost.acceptable().
std::string hash_password(std::string_view password, const ScryptCost& cost = {});
bool verify_password(std::string_view password, std::string_view stored);

std::string random_token(size_t bytes);
bool looks_like_token(std::string_view s, size_t bytes);

}  // namespace berth::hub

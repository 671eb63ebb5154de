// TokenSigner: signs and verifies the hub token service's JWTs, the bearer
// tokens of the docker registry token protocol (distribution's
// registry/auth/token): ES256 over an ECDSA P-256 key.
//
// Contract:
// - Tokens are compact JWS: base64url (no padding) of the header
//   {"alg":"ES256","kid":<key_id()>,"typ":"JWT"}, of the claims, and of the
//   JOSE signature (r||s, 32 bytes each; RFC 7518 3.4), not DER.
// - key_id() is libtrust's key ID, which distribution matches against the
//   token's "kid": SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits,
//   base32 (RFC 4648, no padding), in 12 groups of 4 joined by ':'.
// - verify() returns the claims only if the token is well formed, its
//   header says alg ES256 and this key's kid and has no "crit", the
//   signature is valid, and the claims object has a numeric "exp" with
//   now <= exp + 60 and, if present, a numeric "nbf" with nbf - 60 <= now
//   (the leeway absorbs clock skew between replicas). It returns nullopt
//   for any untrusted input and never throws for it.
// - load_or_create() reads a PEM private key (PKCS#8 or SEC1, unencrypted),
//   or, if the file does not exist, generates one and writes it with mode
//   0600 atomically and exclusively: if several replicas race to create
//   it, all end up using the key that landed on disk. The directory must
//   exist.
// - A TokenSigner is immutable; copies share the key and may be used from
//   any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

typedef struct evp_pkey_st EVP_PKEY;

namespace berth::hub {

class TokenSigner {
 public:
  // Throws Error if the file cannot be read or written, or does not hold
  // an EC P-256 private key.
  static TokenSigner load_or_create(const std::string& pem_path);
  // From PEM text (see load_or_create); throws Error otherwise.
  static TokenSigner from_pem(std::string_view private_key_pem);
  // A fresh key that lives only in memory (tests, one-off tools).
  static TokenSigner generate();

  // claims must be a JSON object; throws Error otherwise.
  std::string sign(const nlohmann::json& claims) const;
  std::optional<nlohmann::json> verify(std::string_view jwt, int64_t now_unix) const;

  const std::string& key_id() const { return kid_; }
  // {"keys":[{"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"alg":"ES256","use":"sig"}]}
  nlohmann::json jwks() const;
  // The public key as a PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY").
  std::string public_key_pem() const;
  std::string private_key_pem() const;

 private:
  explicit TokenSigner(std::shared_ptr<EVP_PKEY> key);

  std::shared_ptr<EVP_PKEY> key_;
  std::string kid_;
};

// base64url without padding (RFC 7515 section 2).
std::string base64url_encode(std::string_view data);
// Strict inverse: only the URL-safe alphabet, no padding; false otherwise.
bool base64url_decode(std::string_view text, std::string* out);

}  // namespace berth::hub

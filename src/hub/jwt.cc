#include "hub/jwt.h"

#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cmath>

#include "base/error.h"
#include "base/fs.h"
#include "hub/password.h"

namespace berth::hub {

namespace {

constexpr int64_t kLeewaySeconds = 60;
constexpr size_t kCoordBytes = 32;  // P-256 field and order size

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

// The first queued OpenSSL error, for messages; clears the queue so a later
// failure does not report a stale reason.
std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string spki_der(EVP_PKEY* key) {
  int n = i2d_PUBKEY(key, nullptr);
  if (n <= 0) fail("encode public key: {}", openssl_error());
  std::string der(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(key, &p) != n) fail("encode public key: {}", openssl_error());
  return der;
}

// libtrust's keyIDFromCryptoKey.
std::string libtrust_key_id(EVP_PKEY* key) {
  std::string der = spki_der(key);
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(der.data(), der.size(), hash, &len, EVP_sha256(), nullptr) != 1) fail("sha256: {}", openssl_error());
  // 240 bits: exactly 48 base32 characters, so no padding arises.
  constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string b32;
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 30; ++i) {
    acc = (acc << 8) | hash[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      b32 += kBase32[(acc >> bits) & 31];
    }
  }
  std::string kid;
  for (size_t i = 0; i < b32.size(); i += 4) {
    if (i > 0) kid += ':';
    kid += b32.substr(i, 4);
  }
  return kid;
}

void check_p256(EVP_PKEY* key) {
  char name[80];
  size_t len = 0;
  if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_group_name(key, name, sizeof name, &len) != 1 ||
      OBJ_sn2nid(name) != NID_X9_62_prime256v1) {
    fail("not an EC P-256 key");
  }
}

std::string coordinate(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) fail("read public key {}: {}", param, openssl_error());
  BnPtr bn(raw);
  std::string out(kCoordBytes, '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), kCoordBytes) != static_cast<int>(kCoordBytes)) {
    fail("read public key {}: too large", param);
  }
  return out;
}

// Never prompts on a terminal for an encrypted key (OpenSSL's default would).
int no_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::string base64url_encode(std::string_view data) {
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : data) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

bool base64url_decode(std::string_view text, std::string* out) {
  if (text.size() % 4 == 1) return false;
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero: one token, one spelling.
  if ((acc & ((1u << bits) - 1)) != 0) return false;
  *out = std::move(bytes);
  return true;
}

TokenSigner::TokenSigner(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {
  check_p256(key_.get());
  kid_ = libtrust_key_id(key_.get());
}

TokenSigner TokenSigner::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!key) fail("generate P-256 key: {}", openssl_error());
  return TokenSigner(std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free));
}

TokenSigner TokenSigner::from_pem(std::string_view private_key_pem) {
  BioPtr bio(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  if (!bio) fail("read private key: {}", openssl_error());
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  if (!key) fail("read private key: {}", openssl_error());
  return TokenSigner(std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free));
}

TokenSigner TokenSigner::load_or_create(const std::string& pem_path) {
  auto load = [&](const std::string& pem) {
    try {
      return from_pem(pem);
    } catch (const Error& e) {
      throw e.wrap(fmt::format("token signing key {}", pem_path));
    }
  };
  std::string pem;
  if (read_file_if_exists(pem_path, &pem)) return load(pem);

  TokenSigner created = generate();
  // Written completely under a private name first, then linked into place:
  // link(2), unlike rename(2), fails if another process created the key in
  // the meantime, and then that key is the one everybody uses.
  std::string tmp = fmt::format("{}.new-{}", pem_path, random_token(9));
  write_file_atomic(tmp, created.private_key_pem(), 0600);
  int rc = ::link(tmp.c_str(), pem_path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc == 0) return created;
  if (err != EEXIST) {
    errno = err;
    fail_errno("create token signing key {}", pem_path);
  }
  return load(read_file(pem_path));
}

std::string TokenSigner::private_key_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("encode private key: {}", openssl_error());
  }
  return bio_contents(bio.get());
}

std::string TokenSigner::public_key_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) fail("encode public key: {}", openssl_error());
  return bio_contents(bio.get());
}

nlohmann::json TokenSigner::jwks() const {
  nlohmann::json jwk = {
      {"kty", "EC"},
      {"crv", "P-256"},
      {"x", base64url_encode(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X))},
      {"y", base64url_encode(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y))},
      {"kid", kid_},
      {"alg", "ES256"},
      {"use", "sig"},
  };
  return {{"keys", nlohmann::json::array({jwk})}};
}

std::string TokenSigner::sign(const nlohmann::json& claims) const {
  if (!claims.is_object()) fail("sign token: claims must be a JSON object");
  nlohmann::json header = {{"typ", "JWT"}, {"alg", "ES256"}, {"kid", kid_}};
  std::string input;
  try {
    input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  } catch (const nlohmann::json::exception& e) {  // e.g. a string that is not UTF-8
    fail("sign token: {}", e.what());
  }

  MdCtxPtr md(EVP_MD_CTX_new());
  size_t der_len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    fail("sign token: {}", openssl_error());
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    fail("sign token: {}", openssl_error());
  }
  // OpenSSL produces DER (SEQUENCE of two INTEGERs); JOSE wants r||s.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) fail("sign token: {}", openssl_error());
  std::string jose(2 * kCoordBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(jose.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kCoordBytes) != static_cast<int>(kCoordBytes) ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kCoordBytes, kCoordBytes) != static_cast<int>(kCoordBytes)) {
    fail("sign token: signature does not fit P-256");
  }
  return input + "." + base64url_encode(jose);
}

std::optional<nlohmann::json> TokenSigner::verify(std::string_view jwt, int64_t now_unix) const {
  size_t dot1 = jwt.find('.');
  if (dot1 == std::string_view::npos) return std::nullopt;
  size_t dot2 = jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos) return std::nullopt;
  std::string_view input = jwt.substr(0, dot2);
  std::string header_text, claims_text, jose;
  if (!base64url_decode(jwt.substr(0, dot1), &header_text) ||
      !base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1), &claims_text) ||
      !base64url_decode(jwt.substr(dot2 + 1), &jose) || jose.size() != 2 * kCoordBytes) {
    return std::nullopt;
  }

  // The signature is checked before any JSON is parsed: there is only one
  // algorithm to check it with, and an unauthenticated sender then cannot
  // feed the parser anything (e.g. nesting deep enough to exhaust the stack).
  const auto* rs = reinterpret_cast<const unsigned char*>(jose.data());
  SigPtr sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(rs, kCoordBytes, nullptr));
  BnPtr s(BN_bin2bn(rs + kCoordBytes, kCoordBytes, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  r.release();  // now owned by sig
  s.release();
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> der_owner(der, [](unsigned char* p) { OPENSSL_free(p); });
  MdCtxPtr md(EVP_MD_CTX_new());
  bool valid = md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
               EVP_DigestVerify(md.get(), der, static_cast<size_t>(der_len),
                                reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  ERR_clear_error();  // a bad signature leaves errors queued
  if (!valid) return std::nullopt;

  // Signed by us, but the header is still checked: a token minted by
  // another key or for another algorithm must not pass by accident.
  nlohmann::json header = nlohmann::json::parse(header_text, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return std::nullopt;
  auto alg = header.find("alg");
  auto kid = header.find("kid");
  if (alg == header.end() || *alg != "ES256" || kid == header.end() || *kid != kid_ || header.contains("crit")) {
    return std::nullopt;
  }
  nlohmann::json claims = nlohmann::json::parse(claims_text, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return std::nullopt;
  auto now = static_cast<double>(now_unix);
  auto exp = claims.find("exp");
  if (exp == claims.end() || !exp->is_number() || now > exp->get<double>() + kLeewaySeconds) return std::nullopt;
  auto nbf = claims.find("nbf");
  if (nbf != claims.end() && (!nbf->is_number() || now < nbf->get<double>() - kLeewaySeconds)) return std::nullopt;
  return claims;
}

}  // namespace berth::hub

#include "hub/jwt.h"

#include <sys/stat.h>

#include <filesystem>
#include <regex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"

namespace berth::hub {
namespace {

constexpr int64_t kNow = 1700000000;

nlohmann::json claims_expiring(int64_t exp) {
  return {{"iss", "berth-hub"},
          {"sub", "alice"},
          {"aud", "registry"},
          {"exp", exp},
          {"iat", kNow},
          {"jti", "abc"},
          {"access", {{{"type", "repository"}, {"name", "alice/app"}, {"actions", {"pull", "push"}}}}}};
}

std::vector<std::string> segments(const std::string& jwt) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot; (dot = jwt.find('.', start)) != std::string::npos; start = dot + 1) out.push_back(jwt.substr(start, dot - start));
  out.push_back(jwt.substr(start));
  return out;
}

std::string decoded(const std::string& segment) {
  std::string out;
  EXPECT_TRUE(base64url_decode(segment, &out)) << segment;
  return out;
}

TEST(Base64Url, RoundTripAndStrictness) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\xfe\xfd\x00\x01"}) {
    std::string enc = base64url_encode(s), dec;
    EXPECT_EQ(enc.find('='), std::string::npos);
    ASSERT_TRUE(base64url_decode(enc, &dec)) << enc;
    EXPECT_EQ(dec, s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  std::string out;
  EXPECT_FALSE(base64url_decode("QQ==", &out));  // padding
  EXPECT_FALSE(base64url_decode("+/8", &out));   // standard alphabet
  EXPECT_FALSE(base64url_decode("Q", &out));     // impossible length
  EXPECT_FALSE(base64url_decode("QR", &out));    // non-zero leftover bits
  EXPECT_TRUE(base64url_decode("QQ", &out));
  EXPECT_EQ(out, "A");
}

TEST(TokenSigner, RoundTrip) {
  TokenSigner signer = TokenSigner::generate();
  nlohmann::json claims = claims_expiring(kNow + 300);
  claims["nbf"] = kNow - 1;
  std::string jwt = signer.sign(claims);
  auto got = signer.verify(jwt, kNow);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, claims);

  auto parts = segments(jwt);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(decoded(parts[0])),
            (nlohmann::json{{"typ", "JWT"}, {"alg", "ES256"}, {"kid", signer.key_id()}}));
  EXPECT_EQ(decoded(parts[2]).size(), 64u);  // r||s, not DER
}

TEST(TokenSigner, SignRejectsNonObjects) {
  TokenSigner signer = TokenSigner::generate();
  EXPECT_THROW(signer.sign(nlohmann::json::array()), Error);
  EXPECT_THROW(signer.sign("claims"), Error);
}

TEST(TokenSigner, RejectsTampering) {
  TokenSigner signer = TokenSigner::generate();
  std::string jwt = signer.sign(claims_expiring(kNow + 300));
  auto parts = segments(jwt);
  ASSERT_TRUE(signer.verify(jwt, kNow));

  // Payload swapped for one granting more.
  nlohmann::json more = claims_expiring(kNow + 300);
  more["sub"] = "root";
  EXPECT_FALSE(signer.verify(parts[0] + "." + base64url_encode(more.dump()) + "." + parts[2], kNow));

  // Every byte of the signature matters.
  std::string sig = decoded(parts[2]);
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    std::string bad = sig;
    bad[i] ^= 1;
    EXPECT_FALSE(signer.verify(parts[0] + "." + parts[1] + "." + base64url_encode(bad), kNow)) << i;
  }
  // The DER form of a signature is not accepted either, nor none.
  EXPECT_FALSE(signer.verify(parts[0] + "." + parts[1] + ".", kNow));
  EXPECT_FALSE(signer.verify(parts[0] + "." + parts[1] + "." + base64url_encode(sig + "x"), kNow));

  // alg=none, with or without the original signature.
  std::string none = base64url_encode(R"({"typ":"JWT","alg":"none","kid":")" + signer.key_id() + "\"}");
  EXPECT_FALSE(signer.verify(none + "." + parts[1] + ".", kNow));
  EXPECT_FALSE(signer.verify(none + "." + parts[1] + "." + parts[2], kNow));

  // A token from another key.
  TokenSigner other = TokenSigner::generate();
  EXPECT_NE(other.key_id(), signer.key_id());
  EXPECT_FALSE(signer.verify(other.sign(claims_expiring(kNow + 300)), kNow));
}

TEST(TokenSigner, MalformedTokensAreRejectedWithoutThrowing) {
  TokenSigner signer = TokenSigner::generate();
  std::string jwt = signer.sign(claims_expiring(kNow + 300));
  for (std::string bad : {std::string(), std::string("."), std::string(".."), std::string("a.b"), std::string("a.b.c"),
                          jwt + ".", jwt + "=", "." + jwt, jwt.substr(0, jwt.size() - 1), std::string(100000, '['),
                          std::string(jwt).replace(jwt.find('.'), 1, "=")}) {
    std::optional<nlohmann::json> got;
    EXPECT_NO_THROW(got = signer.verify(bad, kNow)) << bad;
    EXPECT_FALSE(got.has_value()) << bad;
  }
}

TEST(TokenSigner, ExpiryAndNotBeforeWithLeeway) {
  TokenSigner signer = TokenSigner::generate();
  EXPECT_TRUE(signer.verify(signer.sign(claims_expiring(kNow - 60)), kNow));
  EXPECT_FALSE(signer.verify(signer.sign(claims_expiring(kNow - 61)), kNow));
  EXPECT_FALSE(signer.verify(signer.sign(claims_expiring(kNow - 3600)), kNow));

  nlohmann::json c = claims_expiring(kNow + 300);
  c["nbf"] = kNow + 60;
  EXPECT_TRUE(signer.verify(signer.sign(c), kNow));
  c["nbf"] = kNow + 61;
  EXPECT_FALSE(signer.verify(signer.sign(c), kNow));
  c["nbf"] = "0";
  EXPECT_FALSE(signer.verify(signer.sign(c), kNow));

  c = claims_expiring(kNow + 300);
  c.erase("exp");  // a token that never expires is never ours
  EXPECT_FALSE(signer.verify(signer.sign(c), kNow));
  c["exp"] = std::to_string(kNow + 300);
  EXPECT_FALSE(signer.verify(signer.sign(c), kNow));
  c["exp"] = kNow + 300.5;
  EXPECT_TRUE(signer.verify(signer.sign(c), kNow));
}

TEST(TokenSigner, KeyIdIsLibtrustFormat) {
  TokenSigner signer = TokenSigner::generate();
  EXPECT_TRUE(std::regex_match(signer.key_id(), std::regex("([A-Z2-7]{4}:){11}[A-Z2-7]{4}"))) << signer.key_id();
}

TEST(TokenSigner, KeyIsPersistedPrivatelyAndReloaded) {
  test::TempDir dir;
  std::string path = dir / "token.pem";
  TokenSigner a = TokenSigner::load_or_create(path);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(read_file(path).find("BEGIN PRIVATE KEY"), std::string::npos);

  TokenSigner b = TokenSigner::load_or_create(path);
  EXPECT_EQ(a.key_id(), b.key_id());
  EXPECT_EQ(a.jwks(), b.jwks());
  EXPECT_TRUE(b.verify(a.sign(claims_expiring(kNow + 300)), kNow));
  EXPECT_EQ(TokenSigner::from_pem(a.private_key_pem()).key_id(), a.key_id());

  // Only the key itself is left in the directory (no temporaries).
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(TokenSigner, ConcurrentCreatorsAgreeOnOneKey) {
  test::TempDir dir;
  std::string path = dir / "token.pem";
  std::vector<std::string> kids(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kids.size(); ++i) {
    threads.emplace_back([&, i] { kids[i] = TokenSigner::load_or_create(path).key_id(); });
  }
  for (auto& t : threads) t.join();
  std::string on_disk = TokenSigner::load_or_create(path).key_id();
  for (const auto& kid : kids) EXPECT_EQ(kid, on_disk);
}

TEST(TokenSigner, RejectsKeysThatAreNotP256) {
  test::TempDir dir;
  std::string path = dir / "token.pem";
  write_file(path, "not a key\n", 0600);
  try {
    TokenSigner::load_or_create(path);
    FAIL() << "garbage accepted as a key";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  // A valid EC key on another curve.
  ProcessResult p384 = run_process({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"});
  if (p384.ok()) {
    EXPECT_THROW(TokenSigner::from_pem(p384.out), Error);
  }
  // Nor may an encrypted key make OpenSSL prompt on the terminal.
  ProcessResult enc = run_process({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                                   "-aes-128-cbc", "-pass", "pass:secret"});
  if (enc.ok()) {
    EXPECT_THROW(TokenSigner::from_pem(enc.out), Error);
  }
}

// An independent implementation (python's `cryptography`) checks our
// signature with the key from jwks() (JOSE r||s encoding, JWK coordinates),
// recomputes the kid from the DER public key (libtrust format), and mints
// tokens with our private key that we must accept or reject.
constexpr char kPythonInterop[] = R"PY(
import sys, json, base64, hashlib
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature, decode_dss_signature
from cryptography.hazmat.primitives import hashes, serialization

def b64d(s): return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
def b64e(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()

inp = json.load(sys.stdin)
jwk = inp['jwks']['keys'][0]
assert jwk['kty'] == 'EC' and jwk['crv'] == 'P-256' and jwk['alg'] == 'ES256'
x, y = b64d(jwk['x']), b64d(jwk['y'])
assert len(x) == 32 and len(y) == 32
pub = ec.EllipticCurvePublicNumbers(int.from_bytes(x, 'big'), int.from_bytes(y, 'big'), ec.SECP256R1()).public_key()
h, p, s = inp['token'].split('.')
sig = b64d(s)
assert len(sig) == 64
pub.verify(encode_dss_signature(int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big')),
           (h + '.' + p).encode(), ec.ECDSA(hashes.SHA256()))
assert json.loads(b64d(h)) == {'typ': 'JWT', 'alg': 'ES256', 'kid': jwk['kid']}

der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
kid = ':'.join(b32[i:i + 4] for i in range(0, len(b32), 4))

priv = serialization.load_pem_private_key(inp['private_pem'].encode(), None)
def mint(header, claims):
    si = b64e(json.dumps(header).encode()) + '.' + b64e(json.dumps(claims).encode())
    r, s_ = decode_dss_signature(priv.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    return si + '.' + b64e(r.to_bytes(32, 'big') + s_.to_bytes(32, 'big'))
claims = {'iss': 'python', 'exp': inp['exp']}
print(json.dumps({
    'kid': kid,
    'good': mint({'typ': 'JWT', 'alg': 'ES256', 'kid': kid}, claims),
    'wrong_kid': mint({'typ': 'JWT', 'alg': 'ES256', 'kid': 'AAAA:BBBB'}, claims),
    'no_kid': mint({'typ': 'JWT', 'alg': 'ES256'}, claims),
    'alg_hs256': mint({'typ': 'JWT', 'alg': 'HS256', 'kid': kid}, claims),
    'crit': mint({'alg': 'ES256', 'kid': kid, 'crit': ['exp'], 'exp': 1}, claims),
    'array_claims': mint({'alg': 'ES256', 'kid': kid}, [claims]),
}))
)PY";

TEST(TokenSigner, InteroperatesWithPythonCryptography) {
  if (!run_process({"python3", "-c", "import cryptography"}).ok()) GTEST_SKIP() << "python3 with `cryptography` not available";
  TokenSigner signer = TokenSigner::generate();
  nlohmann::json input = {{"jwks", signer.jwks()},
                          {"token", signer.sign(claims_expiring(kNow + 300))},
                          {"private_pem", signer.private_key_pem()},
                          {"exp", kNow + 300}};
  ProcessResult r = run_process({"python3", "-c", kPythonInterop}, input.dump());
  ASSERT_TRUE(r.ok()) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["kid"], signer.key_id());
  EXPECT_EQ(signer.jwks()["keys"][0]["kid"], signer.key_id());

  auto good = signer.verify(out["good"].get<std::string>(), kNow);
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ((*good)["iss"], "python");
  for (const char* name : {"wrong_kid", "no_kid", "alg_hs256", "crit", "array_claims"}) {
    EXPECT_FALSE(signer.verify(out[name].get<std::string>(), kNow)) << name;
  }

  // And python rejects a signature we did not make (the check can fail).
  std::string token = input["token"];
  token[token.size() - 2] = token[token.size() - 2] == 'A' ? 'B' : 'A';
  input["token"] = token;
  EXPECT_FALSE(run_process({"python3", "-c", kPythonInterop}, input.dump()).ok());
}

}  // namespace
}  // namespace berth::hub

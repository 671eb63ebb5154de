#include "image/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.h"
#include "base/fs.h"
#include "base/fd.h"

namespace berth::image {

namespace {

constexpr std::string_view kPrefix = "sha256:";

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Empty string when valid, else why not.
std::string check(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return "missing algorithm (want sha256:<hex>)";
  std::string_view alg = s.substr(0, colon), hex = s.substr(colon + 1);
  if (alg != "sha256") return fmt::format("unsupported digest algorithm \"{}\" (only sha256)", std::string(alg));
  if (hex.size() != 64) return fmt::format("sha256 digest must have 64 hex digits, got {}", hex.size());
  if (!is_lower_hex(hex)) return "sha256 digest must be lowercase hex";
  return "";
}

}  // namespace

Digest Digest::parse(std::string_view s) {
  std::string why = check(s);
  if (!why.empty()) fail("invalid digest \"{}\": {}", std::string(s.substr(0, 100)), why);
  return Digest(std::string(s));
}

bool Digest::try_parse(std::string_view s, Digest* out) {
  if (!check(s).empty()) return false;
  *out = Digest(std::string(s));
  return true;
}

Digest Digest::from_hex(std::string_view hex) { return parse(std::string(kPrefix) + std::string(hex)); }

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) fail("sha256: cannot initialise OpenSSL digest");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t n) {
  if (finished_) fail("sha256: update after finish");
  if (n == 0) return;
  if (EVP_DigestUpdate(ctx_->md, data, n) != 1) fail("sha256: digest update failed");
  size_ += n;
}

Digest Sha256::finish() {
  if (finished_) fail("sha256: finish called twice");
  finished_ = true;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1 || len != 32) fail("sha256: digest final failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(kPrefix);
  for (unsigned i = 0; i < len; ++i) {
    s += kHex[out[i] >> 4];
    s += kHex[out[i] & 15];
  }
  return Digest::parse(s);
}

Digest sha256_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

Digest sha256_of_fd(int fd, const std::string& name) {
  Sha256 h;
  read_chunks(fd, name, [&](const char* p, size_t n) { h.update(p, n); });
  return h.finish();
}

Digest sha256_of_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("open {}", path);
  return sha256_of_fd(fd.get(), path);
}

}  // namespace berth::image

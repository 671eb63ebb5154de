// Content digests: the "sha256:<64 lowercase hex>" strings that name blobs,
// layers and images (OCI image-spec "descriptor digest").
//
// Contract: a Digest value is always valid; Digest::parse throws berth::Error
// for anything else (other algorithms, wrong length, uppercase or non-hex).
// Sha256 hashes a stream incrementally (OpenSSL EVP); the sha256_of_*
// helpers hash whole inputs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace berth::image {

class Digest {
 public:
  // "sha256:<hex>"; throws Error naming the bad input otherwise.
  static Digest parse(std::string_view s);
  // Same, but returns false instead of throwing.
  static bool try_parse(std::string_view s, Digest* out);
  // From 64 lowercase hex characters (no algorithm prefix).
  static Digest from_hex(std::string_view hex);

  const std::string& str() const { return s_; }
  std::string_view algorithm() const { return std::string_view(s_).substr(0, 6); }
  std::string_view hex() const { return std::string_view(s_).substr(7); }
  // "sha256:ab12cd34ef56" (12 hex digits), for messages.
  std::string short_str() const { return s_.substr(0, 19); }

  friend bool operator==(const Digest& a, const Digest& b) { return a.s_ == b.s_; }
  friend auto operator<=>(const Digest& a, const Digest& b) { return a.s_ <=> b.s_; }

 private:
  explicit Digest(std::string s) : s_(std::move(s)) {}
  std::string s_;
};

// Streaming sha256. finish() may be called once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t n);
  void update(std::string_view data) { update(data.data(), data.size()); }
  Digest finish();
  // Bytes hashed so far.
  unsigned long long size() const { return size_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  unsigned long long size_ = 0;
  bool finished_ = false;
};

Digest sha256_of(std::string_view data);
// Reads fd to EOF; name is used in error messages.
Digest sha256_of_fd(int fd, const std::string& name);
Digest sha256_of_file(const std::string& path);

}  // namespace berth::image

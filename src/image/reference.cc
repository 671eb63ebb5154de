// A hand-written matcher for distribution/reference's ReferenceRegexp
// (std::regex recurses per character, so a long hostile input could
// overflow the stack). It keeps the regexp's one quirk: an optional domain
// that does not match lets the whole name be read as a path, so
// "a_b.c/foo" parses with an empty domain, as it does in Go.
#include "image/reference.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "base/error.h"
#include "base/strings.h"

namespace berth::image {

namespace {

constexpr std::string_view kDefaultDomain = "docker.io";
constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kOfficialPrefix = "library/";
constexpr size_t kNameTotalLengthMax = 255;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)*
bool is_path_component(std::string_view s) {
  size_t i = 0, n = s.size();
  auto alnums = [&] {
    size_t start = i;
    while (i < n && is_lower_alnum(s[i])) ++i;
    return i > start;
  };
  if (!alnums()) return false;
  while (i < n) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < n && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < n && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnums()) return false;
  }
  return true;
}

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

bool is_port(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// host [":" port]; host is a dns name or "[ipv6]".
bool is_domain(std::string_view s) {
  std::string_view host = s, port;
  if (s.starts_with('[')) {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view v6 = s.substr(1, close - 1);
    if (!std::all_of(v6.begin(), v6.end(), [](char c) { return is_hex(c) || c == ':'; })) return false;
    std::string_view after = s.substr(close + 1);
    if (after.empty()) return true;
    return after.starts_with(':') && is_port(after.substr(1));
  }
  if (size_t colon = s.find(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (!is_port(port)) return false;
  }
  for (auto& c : split(host, '.'))
    if (!is_domain_component(c)) return false;
  return true;
}

// algorithm ":" hex, the regexp's shape only (go-digest checks the rest).
bool is_digest_shape(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view alg = s.substr(0, colon), hex = s.substr(colon + 1);
  bool start = true;
  for (char c : alg) {
    if (start) {
      if (!std::isalpha(static_cast<unsigned char>(c))) return false;
      start = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      start = true;
    } else if (!is_alnum(c)) {
      return false;
    }
  }
  if (start) return false;
  return hex.size() >= 32 && std::all_of(hex.begin(), hex.end(), is_hex);
}

// go-digest's Parse/Validate.
void check_digest(std::string_view s) {
  size_t colon = s.find(':');
  std::string_view alg = s.substr(0, colon), hex = s.substr(colon + 1);
  size_t want = alg == "sha256" ? 64 : alg == "sha384" ? 96 : alg == "sha512" ? 128 : 0;
  if (want == 0) fail("unsupported digest algorithm");
  if (hex.size() != want) fail("invalid checksum digest length");
  if (!std::all_of(hex.begin(), hex.end(), [](char c) { return is_lower_alnum(c) && is_hex(c); }))
    fail("invalid checksum digest format");
}

// ReferenceRegexp, anchored. Fills *out on a match.
bool match(std::string_view s, Reference* out) {
  Reference r;
  std::string_view rest = s;
  if (size_t at = s.find('@'); at != std::string_view::npos) {
    std::string_view dg = s.substr(at + 1);
    if (!is_digest_shape(dg)) return false;
    r.digest = std::string(dg);
    rest = s.substr(0, at);
  }
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (!is_valid_tag(tag)) return false;
    r.tag = std::string(tag);
    rest = rest.substr(0, colon);
  }
  std::vector<std::string> parts = split(rest, '/');
  auto all_path = [&](size_t from) {
    for (size_t i = from; i < parts.size(); ++i)
      if (!is_path_component(parts[i])) return false;
    return from < parts.size();
  };
  if (parts.size() >= 2 && is_domain(parts[0]) && all_path(1)) {
    r.domain = parts[0];
    r.path = std::string(rest.substr(parts[0].size() + 1));
  } else if (all_path(0)) {
    r.path = std::string(rest);
  } else {
    return false;
  }
  *out = std::move(r);
  return true;
}

bool is_anchored_identifier(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return is_lower_alnum(c) && is_hex(c); });
}

}  // namespace

bool is_valid_tag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !is_word(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_word(c) || c == '.' || c == '-'; });
}

std::string Reference::name() const { return domain.empty() ? path : domain + "/" + path; }

std::string Reference::str() const {
  std::string s = name();
  if (tag) s += ":" + *tag;
  if (digest) s += "@" + *digest;
  return s;
}

std::string Reference::familiar_name() const {
  if (domain != kDefaultDomain) return name();
  if (path.starts_with(kOfficialPrefix)) {
    std::string_view rest = std::string_view(path).substr(kOfficialPrefix.size());
    if (rest.find('/') == std::string_view::npos) return std::string(rest);
  }
  return path;
}

std::string Reference::familiar() const {
  std::string s = familiar_name();
  if (tag) s += ":" + *tag;
  if (digest) s += "@" + *digest;
  return s;
}

Reference parse_reference(std::string_view s) {
  if (is_anchored_identifier(s))
    fail("invalid repository name ({}), cannot specify 64-byte hexadecimal strings", std::string(s));
  // splitDockerDomain
  std::string domain, remainder;
  size_t i = s.find('/');
  std::string_view first = i == std::string_view::npos ? s : s.substr(0, i);
  if (i == std::string_view::npos ||
      (first.find_first_of(".:") == std::string_view::npos && first != "localhost" && lower(first) == first)) {
    domain = kDefaultDomain;
    remainder = s;
  } else {
    domain = first;
    remainder = s.substr(i + 1);
  }
  if (domain == kLegacyDefaultDomain) domain = kDefaultDomain;
  if (domain == kDefaultDomain && remainder.find('/') == std::string::npos)
    remainder = std::string(kOfficialPrefix) + remainder;
  std::string remote = remainder.substr(0, remainder.find(':'));
  if (lower(remote) != remote) fail("invalid reference format: repository name must be lowercase");

  // Parse
  std::string full = domain + "/" + remainder;
  Reference r;
  if (!match(full, &r)) {
    Reference ignored;
    if (match(lower(full), &ignored)) fail("invalid reference format: repository name must be lowercase");
    fail("invalid reference format");
  }
  if (r.name().size() > kNameTotalLengthMax) fail("repository name must not be more than 255 characters");
  if (r.digest) check_digest(*r.digest);
  return r;
}

Reference with_default_tag(Reference r) {
  if (!r.tag && !r.digest) r.tag = "latest";
  return r;
}

}  // namespace berth::image

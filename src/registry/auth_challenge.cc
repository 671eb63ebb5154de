#include "registry/auth_challenge.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace berth::registry {

namespace {

// RFC 2616 token characters and linear white space, as docker's octetTypes.
bool is_token_char(unsigned char c) {
  return c > 31 && c < 127 && !std::strchr(" \t\"(),/:;<=>?@[]\\{}", c);
}
bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view skip_space(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Splits the leading token off s (empty when s does not start with one).
std::string_view expect_token(std::string_view* s) {
  size_t i = 0;
  while (i < s->size() && is_token_char(static_cast<unsigned char>((*s)[i]))) ++i;
  std::string_view tok = s->substr(0, i);
  s->remove_prefix(i);
  return tok;
}

// A token or a quoted-string with backslash escapes. "" for an unterminated
// quote, which (like an empty value) ends parsing, as in docker.
std::string expect_token_or_quoted(std::string_view* s) {
  if (s->empty() || s->front() != '"') return std::string(expect_token(s));
  std::string out;
  for (size_t i = 1; i < s->size(); ++i) {
    char c = (*s)[i];
    if (c == '\\' && i + 1 < s->size()) {
      out += (*s)[++i];
    } else if (c == '\\') {
      break;
    } else if (c == '"') {
      s->remove_prefix(i + 1);
      return out;
    } else {
      out += c;
    }
  }
  *s = {};
  return {};
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// docker's parseValueAndParams: scheme, then ", key=value" pairs; the first
// thing that is not such a pair ends the challenge.
AuthChallenge parse_one(std::string_view s) {
  AuthChallenge ch;
  ch.scheme = lower(expect_token(&s));
  if (ch.scheme.empty()) return ch;
  // The first parameter follows the scheme after white space, not a comma;
  // pretending there was one lets a single loop read them all.
  std::string rest = "," + std::string(skip_space(s));
  s = rest;
  while (!s.empty() && s.front() == ',') {
    s = skip_space(s.substr(1));
    std::string key = lower(expect_token(&s));
    if (key.empty() || s.empty() || s.front() != '=') break;
    s.remove_prefix(1);
    std::string value = expect_token_or_quoted(&s);
    if (value.empty()) break;
    ch.params[key] = std::move(value);
    s = skip_space(s);
  }
  return ch;
}

// Go's url.QueryEscape: unreserved characters stay, space becomes '+'.
std::string query_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else if (c == ' ')
      out += '+';
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's url.QueryUnescape; false on a malformed %-escape.
bool query_unescape(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      *out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return false;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      *out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *out += s[i];
    }
  }
  return true;
}

}  // namespace

std::string AuthChallenge::param(const std::string& key) const {
  auto it = params.find(key);
  return it == params.end() ? std::string() : it->second;
}

std::vector<AuthChallenge> parse_auth_challenges(const std::vector<std::string>& header_values) {
  std::vector<AuthChallenge> out;
  for (const auto& v : header_values) {
    AuthChallenge ch = parse_one(v);
    if (!ch.scheme.empty()) out.push_back(std::move(ch));
  }
  return out;
}

std::string token_request_url(const AuthChallenge& challenge, const std::vector<std::string>& scopes,
                              std::string_view account) {
  std::string realm = challenge.param("realm");
  if (realm.empty()) fail("no realm specified for token auth challenge");
  realm = realm.substr(0, realm.find('#'));  // a fragment is never sent
  size_t q = realm.find('?');
  std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(realm).substr(q + 1);

  // Go's url.Values: the realm's own parameters survive (pairs that do not
  // decode, or hold a ';', are dropped as Go drops them) and all are
  // re-encoded, keys sorted, values of one key in order.
  std::multimap<std::string, std::string> values;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!query_unescape(pair.substr(0, eq), &key)) continue;
    if (eq != std::string_view::npos && !query_unescape(pair.substr(eq + 1), &value)) continue;
    values.emplace(std::move(key), std::move(value));
  }
  std::string service = challenge.param("service");
  if (!service.empty()) values.emplace("service", service);
  for (const auto& s : scopes) values.emplace("scope", s);
  if (!account.empty()) values.emplace("account", std::string(account));

  std::string url = realm.substr(0, q);
  char sep = '?';
  for (const auto& [k, v] : values) {
    url += sep;
    url += query_escape(k) + "=" + query_escape(v);
    sep = '&';
  }
  return url;
}

std::string repository_scope(const std::string& repo_path, bool push) {
  return fmt::format("repository:{}:{}", repo_path, push ? "pull,push" : "pull");
}

BearerToken parse_token_response(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) fail("token response: not valid JSON");
  if (!j.is_object()) fail("token response: not a JSON object");

  // Go's decoder leaves a field alone for JSON null and rejects other types.
  auto string_field = [&](const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return std::string();
    if (!it->is_string()) fail("token response: \"{}\" is not a string", name);
    return it->get<std::string>();
  };
  BearerToken t;
  // Both are decoded (and type-checked); "access_token" wins when set.
  std::string token = string_field("token");
  t.token = string_field("access_token");
  if (t.token.empty()) t.token = std::move(token);
  if (t.token.empty()) fail("token response: authorization server did not include a token in the response");
  t.issued_at = string_field("issued_at");
  t.refresh_token = string_field("refresh_token");

  long long expires = 0;
  if (auto it = j.find("expires_in"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) fail("token response: \"expires_in\" is not an integer");
    expires = it->get<long long>();
  }
  // docker's minimumTokenLifetimeSeconds: also the default when absent.
  t.expires_in = std::chrono::seconds(std::max(expires, 60LL));
  return t;
}

}  // namespace berth::registry

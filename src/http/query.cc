#include "http/query.h"

#include <algorithm>
#include <cctype>

#include "base/strings.h"

namespace berth::http {

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        throw HttpError(400, fmt::format("invalid URL escape \"{}\"", s.substr(i, std::min<size_t>(3, s.size() - i))));
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Query Query::parse(std::string_view raw) {
  Query q;
  // Go accepts both separators historically; ';' is rejected by Go 1.17+, so
  // only '&' is a separator here.
  for (const std::string& part : split(raw, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view key = std::string_view(part).substr(0, eq);
    std::string_view value = eq == std::string::npos ? std::string_view() : std::string_view(part).substr(eq + 1);
    q.pairs_.emplace_back(url_decode(key, true), url_decode(value, true));
  }
  return q;
}

bool Query::has(std::string_view key) const {
  return std::any_of(pairs_.begin(), pairs_.end(), [&](const auto& p) { return p.first == key; });
}

std::string Query::get(std::string_view key, std::string_view def) const {
  for (const auto& [k, v] : pairs_) {
    if (k == key) return v;
  }
  return std::string(def);
}

std::vector<std::string> Query::get_all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : pairs_) {
    if (k == key) out.push_back(v);
  }
  return out;
}

bool Query::get_bool(std::string_view key) const {
  std::string v = get(key);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return !(v.empty() || v == "0" || v == "no" || v == "false" || v == "none");
}

long long Query::get_int(std::string_view key, long long def) const {
  std::string v = get(key);
  if (v.empty()) return def;
  long long n = 0;
  if (!parse_int64(v, &n)) throw HttpError(400, fmt::format("invalid value for {}: \"{}\"", key, v));
  return n;
}

}  // namespace berth::http

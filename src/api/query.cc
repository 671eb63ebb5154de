#include "api/query.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/strings.h"

namespace berth::api {

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
        throw ApiError(400, fmt::format("invalid URL escape \"{}\"", s.substr(i, std::min<size_t>(3, s.size() - i))));
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
  if (!parse_int64(v, &n)) throw ApiError(400, fmt::format("invalid value for {}: \"{}\"", key, v));
  return n;
}

Filters Query::filters() const {
  std::string raw = get("filters");
  if (raw.empty()) return {};
  return parse_filters(raw);
}

Filters parse_filters(std::string_view text) {
  Filters out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw ApiError(400, fmt::format("invalid filter: {}", text));
  for (const auto& [key, val] : j.items()) {
    std::vector<std::string>& values = out[key];
    if (val.is_object()) {  // {"label": {"a=b": true}}
      for (const auto& [v, enabled] : val.items()) {
        if (!enabled.is_boolean()) throw ApiError(400, fmt::format("invalid filter: {}", text));
        if (enabled.get<bool>()) values.push_back(v);
      }
    } else if (val.is_array()) {  // legacy {"label": ["a=b"]}
      for (const auto& v : val) {
        if (!v.is_string()) throw ApiError(400, fmt::format("invalid filter: {}", text));
        values.push_back(v.get<std::string>());
      }
    } else {
      throw ApiError(400, fmt::format("invalid filter: {}", text));
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
  }
  return out;
}

int64_t parse_time_param(const std::string& v) {
  if (v.empty()) return 0;
  long long n = 0;
  if (parse_rfc3339_nano(v, &n)) return n;
  auto dot = v.find('.');
  long long secs = 0;
  if (!parse_int64(v.substr(0, dot), &secs)) throw ApiError(400, fmt::format("invalid time value {:?}", v));
  int64_t nanos = secs * 1000000000LL;
  if (dot != std::string::npos) {
    std::string frac = v.substr(dot + 1, 9);
    while (frac.size() < 9) frac.push_back('0');
    long long f = 0;
    if (!parse_int64(frac, &f)) throw ApiError(400, fmt::format("invalid time value {:?}", v));
    nanos += f;
  }
  return nanos;
}

bool labels_match(const nlohmann::json& labels, const std::vector<std::string>& wanted) {
  if (wanted.empty()) return true;
  if (!labels.is_object()) return false;
  for (const auto& v : wanted) {
    auto eq = v.find('=');
    std::string key = v.substr(0, eq);
    if (!labels.contains(key)) return false;
    if (eq != std::string::npos && labels[key] != v.substr(eq + 1)) return false;
  }
  return true;
}

}  // namespace berth::api

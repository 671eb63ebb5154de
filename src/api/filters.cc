#include "api/filters.h"

#include <algorithm>

#include "base/clock.h"
#include "base/strings.h"

namespace berth::api {

Filters query_filters(const Query& query) {
  std::string raw = query.get("filters");
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

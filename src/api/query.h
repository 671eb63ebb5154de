// Query strings and docker's `filters` parameter.
//
// Contract: Query::parse decodes application/x-www-form-urlencoded text the
// way Go's url.ParseQuery does ("+" is a space, %XX escapes, repeated keys
// keep every value in order) and throws ApiError(400) on a malformed escape.
// Boolean parameters follow dockerd's httputils.BoolValue: absent, "", "0",
// "no", "false" and "none" (any case) are false, anything else true.
// Filters accept both encodings docker clients send: the current
// {"key": {"value": true}} and the legacy {"key": ["value"]}.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace berth::api {

// An error with the HTTP status the client should see; handlers throw it for
// 4xx answers (anything else that escapes a handler is a 500).
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& msg) : Error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Decodes %XX escapes (and "+" as space when plus_is_space). Throws ApiError(400).
std::string url_decode(std::string_view s, bool plus_is_space);

// filters: key -> values, sorted, duplicates removed.
using Filters = std::map<std::string, std::vector<std::string>>;

// docker's `label` filter: every "key" must be present and every
// "key=value" equal in labels (a JSON object; null matches nothing).
bool labels_match(const nlohmann::json& labels, const std::vector<std::string>& wanted);

class Query {
 public:
  Query() = default;
  static Query parse(std::string_view raw);

  bool has(std::string_view key) const;
  // The first value of key, or def when absent.
  std::string get(std::string_view key, std::string_view def = {}) const;
  std::vector<std::string> get_all(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  // Integer value; def when absent or empty, ApiError(400) when not a number.
  long long get_int(std::string_view key, long long def) const;
  // The `filters` parameter (empty when absent); ApiError(400) on bad JSON.
  Filters filters() const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// docker's since/until values: unix seconds with an optional fraction
// ("1700000000.5") or RFC 3339; nanoseconds since the epoch, 0 for "".
// Throws ApiError(400) otherwise.
int64_t parse_time_param(const std::string& v);

// Parses a filters JSON document (either encoding). Throws ApiError(400).
Filters parse_filters(std::string_view json);

}  // namespace berth::api

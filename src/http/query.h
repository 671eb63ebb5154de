// Query strings.
//
// Contract: Query::parse decodes application/x-www-form-urlencoded text the
// way Go's url.ParseQuery does ("+" is a space, %XX escapes, repeated keys
// keep every value in order) and throws HttpError(400) on a malformed escape.
// Boolean parameters follow dockerd's httputils.BoolValue: absent, "", "0",
// "no", "false" and "none" (any case) are false, anything else true.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace berth::http {

// An error with the HTTP status the client should see; handlers throw it for
// 4xx answers (anything else that escapes a handler is a 500).
class HttpError : public Error {
 public:
  HttpError(int status, const std::string& msg) : Error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Decodes %XX escapes (and "+" as space when plus_is_space). Throws HttpError(400).
std::string url_decode(std::string_view s, bool plus_is_space);

class Query {
 public:
  Query() = default;
  static Query parse(std::string_view raw);

  bool has(std::string_view key) const;
  // The first value of key, or def when absent.
  std::string get(std::string_view key, std::string_view def = {}) const;
  std::vector<std::string> get_all(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  // Integer value; def when absent or empty, HttpError(400) when not a number.
  long long get_int(std::string_view key, long long def) const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

}  // namespace berth::http

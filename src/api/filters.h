// docker's `filters` query parameter, label filters and time parameters.
//
// Contract: filters accept both encodings docker clients send: the current
// {"key": {"value": true}} and the legacy {"key": ["value"]}. Malformed input
// throws ApiError(400).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http.h"

namespace berth::api {

// filters: key -> values, sorted, duplicates removed.
using Filters = std::map<std::string, std::vector<std::string>>;

// The `filters` parameter of a request's query (empty when absent).
Filters query_filters(const Query& query);

// Parses a filters JSON document (either encoding).
Filters parse_filters(std::string_view json);

// docker's `label` filter: every "key" must be present and every
// "key=value" equal in labels (a JSON object; null matches nothing).
bool labels_match(const nlohmann::json& labels, const std::vector<std::string>& wanted);

// docker's since/until values: unix seconds with an optional fraction
// ("1700000000.5") or RFC 3339; nanoseconds since the epoch, 0 for "".
int64_t parse_time_param(const std::string& v);

}  // namespace berth::api

// Docker's human-facing numbers, times and strings (go-units, Go's strconv
// and time, docker's formatter helpers), so berth prints what docker prints.
//
// Contract: pure functions. Sizes: human_size is go-units
// HumanSizeWithPrecision (decimal "1.98MB"), bytes_size is BytesSize
// (binary "1.5MiB"), ram_in_bytes parses "512m"/"1g"/"1.5GiB" like
// RAMInBytes. Durations: human_duration is HumanDuration ("Less than a
// second", "About a minute", "3 hours"); parse_go_duration is Go's
// time.ParseDuration ("1m30s"). Parse failures throw berth::Error worded as
// docker words them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::cli {

std::string human_size(double bytes, int precision = 3);
std::string bytes_size(double bytes);
int64_t ram_in_bytes(std::string_view s);
// go-units FromHumanSize: decimal units ("1.2MB", "10k").
int64_t from_human_size(std::string_view s);

std::string human_duration(int64_t nanos);
// human_duration(now - then) + " ago"; both in unix seconds.
std::string time_ago(int64_t then_sec, int64_t now_sec);
int64_t parse_go_duration(std::string_view s);  // nanoseconds
// Go's Duration.String(): "1m30s", "500ms", "0s".
std::string go_duration_string(int64_t nanos);
// Go's time.Time.String() for a unix time in the local zone:
// "2006-01-02 15:04:05 -0700 MST".
std::string go_time_string(int64_t unix_sec);

// docker's GetTimestamp for --since/--until: a Go duration is taken as "that
// long before now", an RFC 3339 date (optionally without zone or time) as is,
// a unix timestamp "sec[.nanos]" as is. Returns "sec.nanos" as the API wants.
std::string api_timestamp(std::string_view value, int64_t now_nanos);

// docker's formatter.Ellipsis: at most `width` characters, the last one "…".
std::string ellipsis(std::string_view s, size_t width);
// Go's strconv.Quote.
std::string go_quote(std::string_view s);
// stringid.TruncateID: drops an "algo:" prefix, keeps 12 characters.
std::string truncate_id(std::string_view id);

}  // namespace berth::cli
